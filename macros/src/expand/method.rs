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

use super::docs::{docs, Docs};
use super::lifetimes::{generics_with, name_elided_lifetimes};
use super::tokens::{carried_attributes, lend_item, python_item_binding, python_where};
use crate::model::Receiver;
use crate::spec::Spec;

pub fn emit(func: &ItemFn, spec: &Spec, receiver: Receiver) -> TokenStream {
    let method = Method::new(func, spec, receiver);
    let consts = method.consts(spec);
    let sequential = method.sequential(spec);
    let parallel = method.parallel();
    let python = method.python(func, spec);
    let private = &method.private;
    quote! {
        #func

        #consts

        #sequential

        #private::if_parallel! { #parallel }

        #python
    }
}

/// What the siblings are written from.
struct Method<'a> {
    name: &'a syn::Ident,
    vis: &'a syn::Visibility,
    /// The method's `#[cfg]`s, which every sibling carries.
    cfgs: Vec<&'a syn::Attribute>,
    /// The `cfg`s and lint attributes every sibling carries.
    attrs: TokenStream,
    receiver: Receiver,
    /// Where the method's `&self` or `&mut self` starts and ends.
    receiver_span: (Span, Span),
    private: TokenStream,
    dtype: TokenStream,
    error: TokenStream,
    batch_ret: TokenStream,
    fill_ret: TokenStream,
    policy: TokenStream,
    /// The item type, with its elided lifetimes named; `__PreallocateItem` when items that lend
    /// the referent are taken.
    item_ty: syn::Type,
    /// The method's generics, with the item type's lifetimes.
    generics: syn::Generics,
    /// `__PreallocateOut: OutBuffer<..>` (the facade's buffer trait).
    out_param: syn::GenericParam,
    /// `FnRow::new(..)` over `self.m`.
    new_row_fn: TokenStream,
    docs: Docs,
}

impl<'a> Method<'a> {
    fn new(func: &'a ItemFn, spec: &Spec, receiver: Receiver) -> Self {
        let name = &func.sig.ident;
        let (cfgs, companion_attrs) = carried_attributes(func);
        let private = spec.private();
        let dtype = spec.dtype_path(&private);
        let error = spec.error_type();
        let failure = spec.failure_type(&private, &error);
        let batch_dim = spec.batch_dim(&private);
        let axes = spec.axes_type(&private);
        let overwrites = spec.overwrites_row();
        let policy = spec.policy_type(&private);
        let named = name_elided_lifetimes(&spec.sig.function.item_ty);
        let body = spec.row_body(|args| quote!(self.#name(#args)));
        // Items that lend a `&T` are taken through a generic parameter, lent for the call.
        let lent = spec.lent_referent().map(|referent| {
            let param: syn::GenericParam =
                syn::parse_quote!(__PreallocateItem: #private::ItemRef<#referent>);
            (referent.clone(), param)
        });
        let (item_ty, new_row_fn) = match &lent {
            Some((referent, _)) => (syn::parse_quote!(__PreallocateItem), {
                let lend = lend_item(referent, &private);
                quote! {
                #private::FnRow::<_, #dtype, #axes, #error, #policy, #overwrites>::new(
                    move |__preallocate_given: __PreallocateItem, __preallocate_row: &mut [#dtype]|
                        -> ::core::result::Result<bool, #failure> {
                        #lend
                        #body
                    }
                )
                }
            }),
            None => {
                let item_ty = &named.ty;
                (
                    named.ty.clone(),
                    quote! {
                        #private::FnRow::<_, #dtype, #axes, #error, #policy, #overwrites>::new(
                            move |__preallocate_item: #item_ty, __preallocate_row: &mut [#dtype]|
                                -> ::core::result::Result<bool, #failure> #body
                        )
                    },
                )
            }
        };
        let mut generics = generics_with(&spec.sig.function.generics, &named);
        if let Some((_, param)) = lent {
            generics.params.push(param);
        }
        let docs = docs(
            spec,
            &format!("self.{name}()"),
            [&format!("self.{name}_batch"), &format!("self.{name}_fill")],
        );
        Method {
            name,
            vis: &func.vis,
            attrs: quote!(#(#cfgs)* #(#companion_attrs)*),
            cfgs,
            receiver,
            receiver_span: func.sig.receiver().map_or_else(
                || (Span::call_site(), Span::call_site()),
                |r| (r.span(), r.self_token.span),
            ),
            batch_ret: spec.batch_return(&private, &error),
            fill_ret: spec.fill_return(&private, &error),
            out_param: syn::parse_quote!(
                __PreallocateOut: #private::OutBuffer<'__preallocate_out, #dtype, #batch_dim>
            ),
            generics,
            item_ty,
            new_row_fn,
            docs,
            policy,
            private,
            dtype,
            error,
        }
    }

    /// `m_python()` (feature `python`), for a `&self` method whose items convert from Python
    /// objects: the row function over a clone of `self`, as a Python object (`RowFunction`)
    /// that a `#[pyclass]` hands out. Its bounds are stated under a binder, so that they are
    /// checked where it is called.
    fn python(&self, func: &ItemFn, spec: &Spec) -> Option<TokenStream> {
        if self.receiver != Receiver::Shared {
            return None;
        }
        let owned = spec.owned_item()?;
        let Method {
            name,
            vis,
            attrs,
            private,
            dtype,
            error,
            policy,
            ..
        } = self;
        let axes = spec.axes_type(private);
        let overwrites = spec.overwrites_row();
        let failure = spec.failure_type(private, error);
        let body = spec.row_body(|args| quote!(__preallocate_this.#name(#args)));
        let lend = python_item_binding(spec.lent_referent(), private);
        let python_fn = format_ident!("{}_python", name);
        let name_str = name.to_string();
        let name_str = name_str.trim_start_matches("r#");
        let doc = format!(
            "`self.{name_str}()` as a Python object (feature `python`), over a clone of `self`: its `batch(items)`, `par_batch(items)`, `fill(items, out)` and `chunks(items)` give numpy arrays. Return it from a `#[pyclass]` getter."
        );
        let (fn_params, _, _) = func.sig.generics.split_for_impl();
        let where_clause = python_where(&func.sig.generics, &owned, error, private);
        Some(quote! {
            #private::if_python! {
                #attrs
                #[doc = #doc]
                #[must_use]
                #vis fn #python_fn #fn_params (&self) -> #private::python::RowFunction #where_clause {
                    let __preallocate_this = ::core::clone::Clone::clone(self);
                    let __preallocate_rows = #private::FnRow::<_, #dtype, #axes, #error, #policy, #overwrites>::new(
                        move |__preallocate_given: #owned, __preallocate_row: &mut [#dtype]|
                            -> ::core::result::Result<bool, #failure> {
                            #lend
                            #body
                        }
                    );
                    #private::python::function::<_, #owned, #private::python::NoArrays>(
                        #name_str,
                        __preallocate_rows,
                    )
                }
            }
        })
    }

    /// The method's generics with `items` (and for `fill`, the buffer) added.
    fn generics_with_items(&self, items: syn::GenericParam) -> (syn::Generics, syn::Generics) {
        let mut batch_generics = self.generics.clone();
        batch_generics.params.push(items);
        let mut fill_generics = batch_generics.clone();
        fill_generics.params.insert(
            0,
            syn::GenericParam::Lifetime(syn::LifetimeParam::new(syn::Lifetime::new(
                "'__preallocate_out",
                Span::call_site(),
            ))),
        );
        fill_generics.params.push(self.out_param.clone());
        (batch_generics, fill_generics)
    }

    /// The hint for a trait impl, `M_DIM` and `M_SHAPE`.
    fn consts(&self, spec: &Spec) -> TokenStream {
        let Method {
            name,
            vis,
            cfgs,
            attrs,
            docs,
            ..
        } = self;
        let (dim_doc, shape_doc) = (&docs.dim, &docs.shape);
        let upper = name.to_string().trim_start_matches("r#").to_uppercase();
        let dim_const = format_ident!("{}_DIM", upper);
        let shape_const = format_ident!("{}_SHAPE", upper);
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
            #(#cfgs)*
            #[doc(hidden)]
            #[allow(dead_code, non_upper_case_globals)]
            const #hint: () = ();

            #attrs
            #[doc = #dim_doc]
            #vis const #dim_const: usize = { #len_checks_const #dim };

            #attrs
            #[doc = #shape_doc]
            #vis const #shape_const: &'static [usize] = #shape;
        }
    }

    /// `m_batch`, `m_pipeline` and `m_fill`.
    fn sequential(&self, spec: &Spec) -> TokenStream {
        let Method {
            name,
            vis,
            attrs,
            private,
            dtype,
            error,
            batch_ret,
            fill_ret,
            policy,
            item_ty,
            new_row_fn,
            docs,
            ..
        } = self;
        let this = match self.receiver {
            Receiver::Shared => quote!(&self),
            Receiver::Mutable => quote!(&mut self),
        };
        let batch_dim = spec.batch_dim(private);
        let (batch_doc, fill_doc, pipeline_doc) = (&docs.batch, &docs.fill, &docs.pipeline);
        let (batch_generics, fill_generics) = self.generics_with_items(syn::parse_quote!(
            __PreallocateItems: ::core::iter::IntoIterator<Item = #item_ty>
        ));
        let (batch_params, _, where_clause) = batch_generics.split_for_impl();
        let (fill_params, _, _) = fill_generics.split_for_impl();
        let (pipeline_params, _, pipeline_where) = self.generics.split_for_impl();
        let row_fn = quote!(let mut __preallocate_rows = #new_row_fn;);
        let batch_fn = format_ident!("{}_batch", name);
        let pipeline_fn = format_ident!("{}_pipeline", name);
        let fill_fn = format_ident!("{}_fill", name);
        quote! {
            #attrs
            #[doc = #batch_doc]
            #[must_use]
            #vis fn #batch_fn #batch_params (#this, items: __PreallocateItems) -> #batch_ret #where_clause {
                #row_fn
                #private::batch(&mut __preallocate_rows, items)
            }

            #attrs
            #[doc = #pipeline_doc]
            #[must_use]
            #vis fn #pipeline_fn #pipeline_params (#this) -> #private::Pipeline<
                impl #private::RowFn<#item_ty, Error = #error, Policy = #policy, Dtype = #dtype, Dim = #batch_dim> + '_,
            > #pipeline_where {
                #row_fn
                #private::Pipeline::new(__preallocate_rows)
            }

            #attrs
            #[doc = #fill_doc]
            #vis fn #fill_fn #fill_params (#this, items: __PreallocateItems, out: __PreallocateOut) -> #fill_ret #where_clause {
                #row_fn
                #private::fill(&mut __preallocate_rows, items, #private::OutBuffer::__preallocate_view(out))
            }
        }
    }

    /// `m_par_batch` and `m_par_fill`: for `&self`, the parallel entry points; for `&mut self`,
    /// stand-ins whose only use is the error that says why there are none.
    fn parallel(&self) -> TokenStream {
        let private = &self.private;
        let item_ty = &self.item_ty;
        let rayon = quote!(#private::rayon::iter);
        let items = quote!(__PreallocateItems);
        let (mut batch_generics, mut fill_generics) = self.generics_with_items(syn::parse_quote!(
            #items: #rayon::IntoParallelIterator<Item = #item_ty>
        ));
        let indexed: syn::WherePredicate = syn::parse_quote!(
            <#items as #rayon::IntoParallelIterator>::Iter: #rayon::IndexedParallelIterator
        );
        for generics in [&mut batch_generics, &mut fill_generics] {
            generics
                .make_where_clause()
                .predicates
                .push(indexed.clone());
        }
        // The bounds that make the siblings what they are, on both.
        let bounds = match self.receiver {
            Receiver::Shared => self.shared_bounds(),
            Receiver::Mutable => self.mutable_bounds(),
        };
        for generics in [&mut batch_generics, &mut fill_generics] {
            generics
                .make_where_clause()
                .predicates
                .extend(bounds.clone());
        }
        match self.receiver {
            Receiver::Shared => self.par_siblings(&batch_generics, &fill_generics),
            Receiver::Mutable => self.par_stand_ins(&batch_generics, &fill_generics),
        }
    }

    /// Each thread gets a copy of the closure, which holds `&self`: `Self` must be `Sync`, and a
    /// row's error must cross threads. Both bounds are stated on the siblings, under a binder, so
    /// that a type that is neither is told so where the sibling is called, not where the method
    /// is declared.
    fn shared_bounds(&self) -> Vec<syn::WherePredicate> {
        // A bound's span is its trait path's: from the receiver's `&` to its `self`, so that
        // "required by this bound" underlines `&self` or `&mut self`.
        let (first, last) = self.receiver_span;
        let sync = syn::Ident::new("Sync", last);
        let sync = quote_spanned!(first=> ::core::marker::#sync);
        let error = &self.error;
        vec![
            syn::parse_quote_spanned!(first=>
                for<'__preallocate_threads> Self: #sync
            ),
            syn::parse_quote!(
                for<'__preallocate_threads> #error: ::core::marker::Send
            ),
        ]
    }

    /// No parallel siblings: the row function changes `self` row by row, so threads cannot
    /// share it. The stand-ins exist only to say so where they are called: a bound on a trait
    /// that is never implemented and whose message says why and what to do, under a binder so
    /// that it is checked at the call, and spanned on the `&mut self` that is the reason.
    fn mutable_bounds(&self) -> Vec<syn::WherePredicate> {
        let (first, _) = self.receiver_span;
        let private = &self.private;
        vec![syn::parse_quote_spanned!(first=>
            for<'__preallocate_threads> &'__preallocate_threads mut Self: #private::MutSelfHasNoParallelSiblings
        )]
    }

    fn par_siblings(
        &self,
        batch_generics: &syn::Generics,
        fill_generics: &syn::Generics,
    ) -> TokenStream {
        let Method {
            name,
            vis,
            attrs,
            private,
            batch_ret,
            fill_ret,
            new_row_fn,
            docs,
            ..
        } = self;
        let (batch_params, _, batch_where) = batch_generics.split_for_impl();
        let (fill_params, _, fill_where) = fill_generics.split_for_impl();
        let (batch_fn, fill_fn) = (
            format_ident!("{}_par_batch", name),
            format_ident!("{}_par_fill", name),
        );
        let (batch_doc, fill_doc) = (&docs.par_batch, &docs.par_fill);
        quote! {
            #attrs
            #[doc = #batch_doc]
            #[must_use]
            #vis fn #batch_fn #batch_params (&self, items: __PreallocateItems) -> #batch_ret #batch_where {
                let __preallocate_rows = #new_row_fn;
                #private::par_batch(&__preallocate_rows, items)
            }

            #attrs
            #[doc = #fill_doc]
            #vis fn #fill_fn #fill_params (&self, items: __PreallocateItems, out: __PreallocateOut) -> #fill_ret #fill_where {
                let __preallocate_rows = #new_row_fn;
                #private::par_fill(&__preallocate_rows, items, #private::OutBuffer::__preallocate_view(out))
            }
        }
    }

    fn par_stand_ins(
        &self,
        batch_generics: &syn::Generics,
        fill_generics: &syn::Generics,
    ) -> TokenStream {
        let Method {
            name,
            vis,
            attrs,
            batch_ret,
            fill_ret,
            ..
        } = self;
        let (batch_params, _, batch_where) = batch_generics.split_for_impl();
        let (fill_params, _, fill_where) = fill_generics.split_for_impl();
        let (batch_fn, fill_fn) = (
            format_ident!("{}_par_batch", name),
            format_ident!("{}_par_fill", name),
        );
        let note = format!(
            "`{name}` takes `&mut self`: it has no parallel siblings (see the compile error at the call)"
        );
        quote! {
            #attrs
            #[doc(hidden)]
            #[allow(unused_variables, clippy::unused_self)]
            #vis fn #batch_fn #batch_params (&mut self, items: __PreallocateItems) -> #batch_ret #batch_where {
                ::core::unreachable!(#note)
            }

            #attrs
            #[doc(hidden)]
            #[allow(unused_variables, clippy::unused_self)]
            #vis fn #fill_fn #fill_params (&mut self, items: __PreallocateItems, out: __PreallocateOut) -> #fill_ret #fill_where {
                ::core::unreachable!(#note)
            }
        }
    }
}
