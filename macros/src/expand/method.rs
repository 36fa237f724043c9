//! A method's companions: an inherent `impl` cannot hold a module or a type, so a method `m`
//! gets sibling methods `m_batch`, `m_fill`, `m_pipeline` and consts `M_DIM`, `M_SHAPE`, which
//! wrap `self.m` in the runtime's `FnRow`.
//!
//! They are written next to the function, so a `crate = path` is used as written.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote};
use syn::ItemFn;

use super::docs::docs;
use super::lifetimes::{generics_with, name_elided_lifetimes};
use super::tokens::carried_attributes;
use crate::model::Receiver;
use crate::spec::Spec;

pub fn emit(func: &ItemFn, spec: &Spec, receiver: Receiver) -> TokenStream {
    let name = &func.sig.ident;
    let vis = &func.vis;
    let (cfgs, companion_attrs) = carried_attributes(func);
    let private = &spec.private();
    let dtype = spec.dtype_path(private);
    let this = match receiver {
        Receiver::Shared => quote!(&self),
        Receiver::Mutable => quote!(&mut self),
    };
    let error = spec.error_type();
    let failure = spec.failure_type(private, &error);
    let batch_ret = spec.batch_return(private, &error);
    let fill_ret = spec.fill_return(private, &error);
    let batch_dim = spec.batch_dim(private);
    let axes = spec.axes_type(private);
    let overwrites = spec.overwrites_row();
    let docs = docs(spec, &format!("self.{name}()"));
    let (batch_doc, fill_doc, dim_doc, shape_doc) =
        (&docs.batch, &docs.fill, &docs.dim, &docs.shape);
    let pipeline_doc = &docs.pipeline;
    let policy = spec.policy_type(private);

    let named = name_elided_lifetimes(&spec.sig.item_ty);
    let item_ty = &named.ty;
    let generics = generics_with(&spec.sig.generics, &named);
    let mut batch_generics = generics.clone();
    batch_generics
        .params
        .push(syn::parse_quote!(__PreallocateItems: ::core::iter::IntoIterator<Item = #item_ty>));
    let mut fill_generics = batch_generics.clone();
    fill_generics.params.insert(
        0,
        syn::GenericParam::Lifetime(syn::LifetimeParam::new(syn::Lifetime::new(
            "'__preallocate_out",
            Span::call_site(),
        ))),
    );
    fill_generics.params.push(syn::parse_quote!(
        __PreallocateOut: ::core::convert::Into<#private::ndarray::ArrayViewMut<'__preallocate_out, #dtype, #batch_dim>>
    ));
    let (batch_params, _, where_clause) = batch_generics.split_for_impl();
    let (fill_params, _, _) = fill_generics.split_for_impl();

    let body = spec.row_body(|args| quote!(self.#name(#args)));
    let row_fn = quote! {
        let mut __preallocate_rows = #private::FnRow::<_, #dtype, #axes, #error, #policy, #overwrites>::new(
            move |__preallocate_item: #item_ty, __preallocate_row: &mut [#dtype]|
                -> ::core::result::Result<bool, #failure> #body
        );
    };

    let upper = name.to_string().trim_start_matches("r#").to_uppercase();
    let dim_const = format_ident!("{}_DIM", upper);
    let shape_const = format_ident!("{}_SHAPE", upper);
    let batch_fn = format_ident!("{}_batch", name);
    let pipeline_fn = format_ident!("{}_pipeline", name);
    let (pipeline_params, _, pipeline_where) = generics.split_for_impl();
    let fill_fn = format_ident!("{}_fill", name);
    let dim = spec.dim_tokens();
    let shape = spec.shape_tokens();
    // Reading the const checks the row length, as the siblings do when they are used.
    let len_checks_const: TokenStream = spec
        .len_assertions()
        .map(|(_, assertion)| quote!(#assertion;))
        .collect();

    quote! {
        #func

        #(#cfgs)*
        #(#companion_attrs)*
        #[doc = #dim_doc]
        #vis const #dim_const: usize = { #len_checks_const #dim };

        #(#cfgs)*
        #(#companion_attrs)*
        #[doc = #shape_doc]
        #vis const #shape_const: &'static [usize] = #shape;

        #(#cfgs)*
        #(#companion_attrs)*
        #[doc = #batch_doc]
        #[must_use]
        #vis fn #batch_fn #batch_params (#this, items: __PreallocateItems) -> #batch_ret #where_clause {
            #row_fn
            #private::batch(&mut __preallocate_rows, items)
        }

        #(#cfgs)*
        #(#companion_attrs)*
        #[doc = #pipeline_doc]
        #[must_use]
        #vis fn #pipeline_fn #pipeline_params (#this) -> #private::Pipeline<
            impl #private::RowFn<#item_ty, Error = #error, Policy = #policy, Dtype = #dtype, Dim = #batch_dim> + '_,
        > #pipeline_where {
            #row_fn
            #private::Pipeline::new(__preallocate_rows)
        }

        #(#cfgs)*
        #(#companion_attrs)*
        #[doc = #fill_doc]
        #vis fn #fill_fn #fill_params (#this, items: __PreallocateItems, out: __PreallocateOut) -> #fill_ret #where_clause {
            #row_fn
            #private::fill(&mut __preallocate_rows, items, out.into())
        }
    }
}
