//! A row method with several outputs (`rows = Struct`): siblings `m_batch`, `m_fill`,
//! `m_pipeline`, and for a `&self` method `m_par_batch` and `m_par_fill`, each wrapping `self.m`
//! in the runtime's `FnRows`.
//!
//! They are written next to the method, so a `crate = path` is used as written.

use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use syn::ItemFn;

use super::lifetimes::{generics_with, name_elided_lifetimes};
use super::tokens::{carried_attributes, lend_item, python_item_binding, python_where};
use crate::errors::shown;
use crate::model::Receiver;
use crate::spec::RowsSpec;

/// What every sibling is written from.
struct Siblings<'a> {
    name: &'a syn::Ident,
    vis: &'a syn::Visibility,
    /// The `cfg`s and lint attributes every sibling carries.
    attrs: TokenStream,
    private: TokenStream,
    /// The method's generics, with the item type's lifetimes.
    generics: syn::Generics,
    item: syn::Type,
    rows_ty: &'a syn::Path,
    error_ty: TokenStream,
    batch_ret: TokenStream,
    fill_ret: TokenStream,
    /// `Multi(FnRows::new(..))` over `self.m`.
    new_rows: TokenStream,
    policy: TokenStream,
}

const ITEMS: &str = "__PreallocateItems";

pub fn emit(func: &ItemFn, spec: &RowsSpec, receiver: Receiver) -> TokenStream {
    let siblings = Siblings::new(func, spec);
    let sequential = siblings.sequential(receiver);
    let parallel = (receiver == Receiver::Shared).then(|| siblings.parallel());
    let python = (receiver == Receiver::Shared)
        .then(|| python(func, spec))
        .flatten();
    quote! {
        #func

        #sequential

        #parallel

        #python
    }
}

/// `m_python()` (feature `python`), for a `&self` method whose items convert from Python
/// objects: the row function over a clone of `self`, as a Python object (`RowFunction`) whose
/// entry points give a dict of arrays, one per field. Its bounds are stated under a binder, so
/// that they are checked where it is called.
fn python(func: &ItemFn, spec: &RowsSpec) -> Option<TokenStream> {
    let owned = spec.function.owned_item()?;
    let name = &func.sig.ident;
    let vis = &func.vis;
    let (cfgs, companion_attrs) = carried_attributes(func);
    let private = spec.krate.private();
    let rows_ty = &spec.rows;
    let error_ty = spec.error_type();
    let policy = spec.policy_type();
    let overwrites = spec.overwrites_row();
    let rows_trait = quote!(<#rows_ty as #private::RowsTrait>);
    let failure = quote!(<#policy as #private::Policy>::Failure<#error_ty>);
    let body = spec.body(&quote!(__preallocate_this.#name));
    let lend = python_item_binding(spec.function.lent_referent(), &private);
    let python_fn = format_ident!("{}_python", name);
    let name_str = name.to_string();
    let name_str = name_str.trim_start_matches("r#");
    let doc = format!(
        "`self.{name_str}()` as a Python object (feature `python`), over a clone of `self`: its `batch(items)`, `par_batch(items)`, `fill(items, out)` and `chunks(items)` give a dict of numpy arrays, one per field of `{}`. Return it from a `#[pyclass]` getter.",
        shown(rows_ty)
    );
    let (fn_params, _, _) = func.sig.generics.split_for_impl();
    let where_clause = python_where(&func.sig.generics, &owned, &quote!(#error_ty), &private);
    Some(quote! {
        #private::if_python! {
            #(#cfgs)*
            #(#companion_attrs)*
            #[doc = #doc]
            #[must_use]
            #vis fn #python_fn #fn_params (&self) -> #private::python::RowFunction #where_clause {
                let __preallocate_this = ::core::clone::Clone::clone(self);
                let __preallocate_rows = #private::Multi(
                    #private::FnRows::<_, #rows_ty, #error_ty, #policy, #overwrites>::new(
                        move |__preallocate_given: #owned,
                              __preallocate_row: <#rows_trait::Layout as #private::Layout>::Row<'_>|
                            -> ::core::result::Result<bool, #failure> {
                            #lend
                            #body
                        }
                    )
                );
                #private::python::function::<_, #owned, #private::python::NoArrays>(
                    #name_str,
                    __preallocate_rows,
                )
            }
        }
    })
}

impl<'a> Siblings<'a> {
    /// The siblings' shared parts: the return types, and the row writer over `self.m`.
    fn new(func: &'a ItemFn, spec: &'a RowsSpec) -> Self {
        let name = &func.sig.ident;
        let (cfgs, companion_attrs) = carried_attributes(func);
        let named = name_elided_lifetimes(&spec.function.item_ty);
        let private = spec.krate.private();
        let rows_ty = &spec.rows;
        let error_ty = spec.error_type();
        let policy = spec.policy_type();
        let overwrites = spec.overwrites_row();
        let rows_trait = quote!(<#rows_ty as #private::RowsTrait>);
        let failure = quote!(<#policy as #private::Policy>::Failure<#error_ty>);
        let body = spec.body(&quote!(self.#name));
        let mut generics = generics_with(&spec.function.generics, &named);
        // Items that lend a `&T` are taken through a generic parameter, lent for the call.
        let (item, body): (syn::Type, TokenStream) = match spec.function.lent_referent() {
            Some(referent) => {
                generics
                    .params
                    .push(syn::parse_quote!(__PreallocateItem: #private::ItemRef<#referent>));
                (syn::parse_quote!(__PreallocateItem), {
                    let lend = lend_item(referent, &private);
                    quote!(#lend #body)
                })
            }
            None => (named.ty.clone(), body),
        };
        let param = if spec.function.lent_referent().is_some() {
            quote!(__preallocate_given)
        } else {
            quote!(__preallocate_item)
        };
        let new_rows = quote! {
            #private::Multi(#private::FnRows::<_, #rows_ty, #error_ty, #policy, #overwrites>::new(
                move |#param: #item,
                      __preallocate_row: <#rows_trait::Layout as #private::Layout>::Row<'_>|
                    -> ::core::result::Result<bool, #failure> { #body }
            ))
        };
        Siblings {
            name,
            vis: &func.vis,
            attrs: quote!(#(#cfgs)* #(#companion_attrs)*),
            generics,
            item,
            rows_ty,
            batch_ret: quote!(<#policy as #private::Policy>::Batch<#rows_trait::Arrays, #error_ty>),
            fill_ret: quote!(::core::result::Result<
                <#policy as #private::Policy>::Filled,
                #private::Error<<#policy as #private::Policy>::Reported<#error_ty>>,
            >),
            new_rows,
            private,
            error_ty,
            policy,
        }
    }

    /// `m_batch`, `m_fill` and `m_pipeline`.
    fn sequential(&self, receiver: Receiver) -> TokenStream {
        let Siblings {
            name,
            vis,
            attrs,
            private,
            generics,
            item,
            rows_ty,
            error_ty,
            batch_ret,
            fill_ret,
            new_rows,
            policy,
        } = self;
        let this = match receiver {
            Receiver::Shared => quote!(&self),
            Receiver::Mutable => quote!(&mut self),
        };
        let items = format_ident!("{}", ITEMS);
        let mut batch_generics = generics.clone();
        batch_generics
            .params
            .push(syn::parse_quote!(#items: ::core::iter::IntoIterator<Item = #item>));
        let (batch_params, _, batch_where) = batch_generics.split_for_impl();
        let (pipeline_params, _, pipeline_where) = generics.split_for_impl();
        let batch_fn = format_ident!("{}_batch", name);
        let fill_fn = format_ident!("{}_fill", name);
        let pipeline_fn = format_ident!("{}_pipeline", name);
        let shown = shown(rows_ty);
        let batch_doc = format!("The outputs of `self.{name}()` for every item, one array per field of `{shown}`, each allocated once when the input's length is known.");
        let fill_doc = format!("Writes the outputs of `self.{name}()` for every item into the caller's buffers, one per field of `{shown}`, all with the same number of rows.");
        let pipeline_doc = format!("A bounded-memory pipeline over `self.{name}()`: `for_each_chunk`, `write_npy` (one `.npy` per field), `write_npy_shards`, `write_safetensors`, `batch`, `threads`.");
        let rows_trait = quote!(<#rows_ty as #private::RowsTrait>);
        quote! {
            #attrs
            #[doc = #batch_doc]
            #[must_use]
            #vis fn #batch_fn #batch_params (#this, items: #items) -> #batch_ret #batch_where {
                #private::batch_rows(&mut #new_rows, items)
            }

            #attrs
            #[doc = #fill_doc]
            #vis fn #fill_fn #batch_params (#this, items: #items, out: #rows_trait::Views<'_>) -> #fill_ret #batch_where {
                #private::fill_rows(&mut #new_rows, items, out)
            }

            #attrs
            #[doc = #pipeline_doc]
            #[must_use]
            #vis fn #pipeline_fn #pipeline_params (#this) -> #private::Pipeline<
                #private::Multi<impl #private::RowsFn<#item, Error = #error_ty, Rows = #rows_ty, Policy = #policy> + '_>,
            > #pipeline_where {
                #private::Pipeline::new(#new_rows)
            }
        }
    }

    /// `m_par_batch` and `m_par_fill`, for a `&self` method, behind the facade's `parallel`
    /// feature.
    fn parallel(&self) -> TokenStream {
        let Siblings {
            name,
            vis,
            attrs,
            private,
            generics,
            item,
            rows_ty,
            error_ty,
            batch_ret,
            fill_ret,
            new_rows,
            ..
        } = self;
        let items = format_ident!("{}", ITEMS);
        let rayon = quote!(#private::rayon::iter);
        let mut par_generics = generics.clone();
        par_generics
            .params
            .push(syn::parse_quote!(#items: #rayon::IntoParallelIterator<Item = #item>));
        let predicates = &mut par_generics.make_where_clause().predicates;
        predicates.push(syn::parse_quote!(
            <#items as #rayon::IntoParallelIterator>::Iter: #rayon::IndexedParallelIterator
        ));
        predicates.push(syn::parse_quote!(for<'__preallocate_threads> Self: ::core::marker::Sync));
        predicates.push(syn::parse_quote!(
            for<'__preallocate_threads> #error_ty: ::core::marker::Send
        ));
        let (par_params, _, par_where) = par_generics.split_for_impl();
        let batch_fn = format_ident!("{}_batch", name);
        let fill_fn = format_ident!("{}_fill", name);
        let par_batch_fn = format_ident!("{}_par_batch", name);
        let par_fill_fn = format_ident!("{}_par_fill", name);
        let par_batch_doc = format!("`{batch_fn}`, with the rows computed on every thread of rayon's current pool: the same result, bit for bit.");
        let par_fill_doc = format!("`{fill_fn}`, with the rows computed on every thread of rayon's current pool: the same result.");
        let rows_trait = quote!(<#rows_ty as #private::RowsTrait>);
        quote! {
            #private::if_parallel! {
                #attrs
                #[doc = #par_batch_doc]
                #[must_use]
                #vis fn #par_batch_fn #par_params (&self, items: #items) -> #batch_ret #par_where {
                    #private::par_batch_rows(&#new_rows, items)
                }

                #attrs
                #[doc = #par_fill_doc]
                #vis fn #par_fill_fn #par_params (&self, items: #items, out: #rows_trait::Views<'_>) -> #fill_ret #par_where {
                    #private::par_fill_rows(&#new_rows, items, out)
                }
            }
        }
    }
}
