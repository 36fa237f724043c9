//! A method's companions: an inherent `impl` cannot hold a module or a type, so a method `m`
//! gets sibling methods `m_batch`, `m_fill`, `m_pipeline` and consts `M_DIM`, `M_SHAPE`, which
//! wrap `self.m` in the runtime's `FnRow`.
//!
//! They are written next to the function, so a `crate = path` is used as written.
//!
//! In a trait impl the siblings cannot exist, and each is its own "not a member of trait"
//! error. An attribute on an impl item cannot see the impl it is in, and rustc reports every
//! extra item and does not stop at the first, so the errors cannot be made one; the first of
//! them is a hidden const whose name says what to do, spanned on the method's name.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
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
    let docs = docs(
        spec,
        &format!("self.{name}()"),
        [&format!("self.{name}_batch"), &format!("self.{name}_fill")],
    );
    let (batch_doc, fill_doc, dim_doc, shape_doc) =
        (&docs.batch, &docs.fill, &docs.dim, &docs.shape);
    let pipeline_doc = &docs.pipeline;
    let policy = spec.policy_type(private);

    let named = name_elided_lifetimes(&spec.sig.function.item_ty);
    let item_ty = &named.ty;
    let generics = generics_with(&spec.sig.function.generics, &named);
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
        __PreallocateOut: #private::OutBuffer<'__preallocate_out, #dtype, #batch_dim>
    ));
    let (batch_params, _, where_clause) = batch_generics.split_for_impl();
    let (fill_params, _, _) = fill_generics.split_for_impl();

    let body = spec.row_body(|args| quote!(self.#name(#args)));
    let new_row_fn = quote! {
        #private::FnRow::<_, #dtype, #axes, #error, #policy, #overwrites>::new(
            move |__preallocate_item: #item_ty, __preallocate_row: &mut [#dtype]|
                -> ::core::result::Result<bool, #failure> #body
        )
    };
    let row_fn = quote!(let mut __preallocate_rows = #new_row_fn;);

    let upper = name.to_string().trim_start_matches("r#").to_uppercase();
    let dim_const = format_ident!("{}_DIM", upper);
    let shape_const = format_ident!("{}_SHAPE", upper);
    let batch_fn = format_ident!("{}_batch", name);
    let pipeline_fn = format_ident!("{}_pipeline", name);
    let (pipeline_params, _, pipeline_where) = generics.split_for_impl();
    let fill_fn = format_ident!("{}_fill", name);
    let parallel = Parallel {
        name,
        vis,
        attrs: quote!(#(#cfgs)* #(#companion_attrs)*),
        receiver,
        receiver_span: func.sig.receiver().map_or_else(
            || (Span::call_site(), Span::call_site()),
            |r| (r.span(), r.self_token.span),
        ),
        generics: &generics,
        item_ty,
        error: &error,
        batch_ret: &batch_ret,
        fill_ret: &fill_ret,
        out_param: &fill_generics.params[fill_generics.params.len() - 1],
        docs: [&docs.par_batch, &docs.par_fill],
    }
    .siblings(spec, &new_row_fn);
    let dim = spec.dim_tokens();
    let shape = spec.shape_tokens();
    // Reading the const checks the row length, as the siblings do when they are used.
    let len_checks_const: TokenStream = spec
        .len_assertions()
        .map(|(_, assertion)| quote!(#assertion;))
        .collect();

    let hint = format_ident!(
        "__preallocate_{}_batch_and_fill_need_an_inherent_impl",
        name.to_string().trim_start_matches("r#"),
        span = name.span()
    );

    quote! {
        #func

        #(#cfgs)*
        #[doc(hidden)]
        #[allow(dead_code, non_upper_case_globals)]
        const #hint: () = ();

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
            #private::fill(&mut __preallocate_rows, items, #private::OutBuffer::__preallocate_view(out))
        }

        #private::if_parallel! { #parallel }
    }
}

/// What the parallel siblings `m_par_batch` and `m_par_fill` are written from.
struct Parallel<'a> {
    name: &'a syn::Ident,
    vis: &'a syn::Visibility,
    /// The `cfg`s and lint attributes every sibling carries.
    attrs: TokenStream,
    receiver: Receiver,
    /// Where the method's `&self` or `&mut self` starts and ends.
    receiver_span: (Span, Span),
    /// The method's generics, with the item type's lifetimes.
    generics: &'a syn::Generics,
    item_ty: &'a syn::Type,
    error: &'a TokenStream,
    batch_ret: &'a TokenStream,
    fill_ret: &'a TokenStream,
    /// `__PreallocateOut: OutBuffer<..>` (the facade's buffer trait).
    out_param: &'a syn::GenericParam,
    docs: [&'a String; 2],
}

impl Parallel<'_> {
    /// The two siblings: for `&self`, the parallel entry points; for `&mut self`, stand-ins
    /// whose only use is the error that says why there are none.
    fn siblings(&self, spec: &Spec, new_row_fn: &TokenStream) -> TokenStream {
        let private = &spec.private();
        let item_ty = self.item_ty;
        let rayon = quote!(#private::rayon::iter);
        let items = quote!(__PreallocateItems);
        let mut batch_generics = self.generics.clone();
        batch_generics
            .params
            .push(syn::parse_quote!(#items: #rayon::IntoParallelIterator<Item = #item_ty>));
        let predicates = &mut batch_generics.make_where_clause().predicates;
        predicates.push(syn::parse_quote!(
            <#items as #rayon::IntoParallelIterator>::Iter: #rayon::IndexedParallelIterator
        ));
        let mut fill_generics = batch_generics.clone();
        fill_generics.params.insert(
            0,
            syn::GenericParam::Lifetime(syn::LifetimeParam::new(syn::Lifetime::new(
                "'__preallocate_out",
                Span::call_site(),
            ))),
        );
        fill_generics.params.push(self.out_param.clone());

        let name = self.name;
        let batch_fn = format_ident!("{}_par_batch", name);
        let fill_fn = format_ident!("{}_par_fill", name);
        let (batch_ret, fill_ret) = (self.batch_ret, self.fill_ret);
        let [batch_doc, fill_doc] = self.docs;
        // A bound's span is its trait path's: from the receiver's `&` to its `self`, so that
        // "required by this bound" underlines `&self` or `&mut self`.
        let (first, last) = self.receiver_span;
        let marker = |name: &str| {
            let name = syn::Ident::new(name, last);
            quote_spanned!(first=> ::core::marker::#name)
        };
        let attrs = &self.attrs;
        match self.receiver {
            Receiver::Shared => {
                // Each thread gets a copy of the closure, which holds `&self`: `Self` must be
                // `Sync`, and a row's error must cross threads. Both bounds are stated here,
                // under a binder, so that a type that is neither is told so where the sibling
                // is called, not where the method is declared.
                let error = self.error;
                let sync = marker("Sync");
                let shared: syn::WherePredicate = syn::parse_quote_spanned!(first=>
                    for<'__preallocate_threads> Self: #sync
                );
                let sent: syn::WherePredicate = syn::parse_quote!(
                    for<'__preallocate_threads> #error: ::core::marker::Send
                );
                for generics in [&mut batch_generics, &mut fill_generics] {
                    let predicates = &mut generics.make_where_clause().predicates;
                    predicates.push(shared.clone());
                    predicates.push(sent.clone());
                }
                let (batch_params, _, batch_where) = batch_generics.split_for_impl();
                let (fill_params, _, fill_where) = fill_generics.split_for_impl();
                let vis = self.vis;
                quote! {
                    #attrs
                    #[doc = #batch_doc]
                    #[must_use]
                    #vis fn #batch_fn #batch_params (&self, items: #items) -> #batch_ret #batch_where {
                        let __preallocate_rows = #new_row_fn;
                        #private::par_batch(&__preallocate_rows, items)
                    }

                    #attrs
                    #[doc = #fill_doc]
                    #vis fn #fill_fn #fill_params (&self, items: #items, out: __PreallocateOut) -> #fill_ret #fill_where {
                        let __preallocate_rows = #new_row_fn;
                        #private::par_fill(&__preallocate_rows, items, #private::OutBuffer::__preallocate_view(out))
                    }
                }
            }
            Receiver::Mutable => {
                // No parallel siblings: the row function changes `self` row by row, so threads
                // cannot share it. These exist only to say so where they are called: a bound
                // on a trait that is never implemented and whose message says why and what to
                // do, under a binder so that it is checked at the call, and spanned on the
                // `&mut self` that is the reason.
                let never: syn::WherePredicate = syn::parse_quote_spanned!(first=>
                    for<'__preallocate_threads> &'__preallocate_threads mut Self: #private::MutSelfHasNoParallelSiblings
                );
                for generics in [&mut batch_generics, &mut fill_generics] {
                    generics.make_where_clause().predicates.push(never.clone());
                }
                let (batch_params, _, batch_where) = batch_generics.split_for_impl();
                let (fill_params, _, fill_where) = fill_generics.split_for_impl();
                let note = format!(
                    "`{name}` takes `&mut self`: it has no parallel siblings (see the compile error at the call)"
                );
                let vis = self.vis;
                quote! {
                    #attrs
                    #[doc(hidden)]
                    #[allow(unused_variables, clippy::unused_self)]
                    #vis fn #batch_fn #batch_params (&mut self, items: #items) -> #batch_ret #batch_where {
                        ::core::unreachable!(#note)
                    }

                    #attrs
                    #[doc(hidden)]
                    #[allow(unused_variables, clippy::unused_self)]
                    #vis fn #fill_fn #fill_params (&mut self, items: #items, out: __PreallocateOut) -> #fill_ret #fill_where {
                        ::core::unreachable!(#note)
                    }
                }
            }
        }
    }
}
