//! The macro's flow, for `#[preallocate]` and `#[derive(Rows)]` alike: parse the keys
//! ([`attr`]) and the item ([`model`]), validate them into a checked spec ([`valid`]), emit.
//!
//! For a free function `fn featurize(p: &Point) -> [f32; 3]` the emitter writes
//! - the function, unchanged;
//! - `mod featurize { DIM, SHAPE, Dtype, batch, fill, pipeline, Row }` whose
//!   entry points name only the hidden type and the runtime ([`free_fn`]);
//! - `impl RowSpec` and `impl RowFn<&'__preallocate_0 Point>` for the hidden type, next to the
//!   function, where the user's types are in scope.
//!
//! For a method `m` it writes siblings `m_batch`, `m_fill`, `m_pipeline`, `M_DIM`, `M_SHAPE`
//! that wrap `self.m` in the runtime's `FnRow` ([`method`]).
//!
//! A row function with several outputs (`rows = Struct`) gets the same companions over the
//! runtime's `Multi` ([`rows_fn`], [`rows_method`]); `#[derive(Rows)]` writes the struct's
//! `Rows` impl and the structs its entry points take and return ([`derive`]).
//!
//! After an error the same emitter runs on a stand-in spec with stub bodies ([`fallback`]).

mod derive;
mod docs;
mod fallback;
mod free_fn;
mod lifetimes;
mod method;
mod row_body;
mod rows_body;
mod rows_fn;
mod rows_method;
mod tokens;

use proc_macro2::TokenStream;
use quote::quote;
use syn::spanned::Spanned;
use syn::ItemFn;

use crate::attr::Place;
use crate::errors::Errors;
use crate::model::{self, Owner};
use crate::spec::{RowsSpec, Spec};
use crate::{attr, valid};

/// `#[preallocate(..)]` on `item`.
pub fn expand(attr: TokenStream, item: TokenStream) -> TokenStream {
    let func = match parse_function(item) {
        Ok(func) => func,
        Err(not_a_function) => return not_a_function,
    };
    let mut errors = Errors::default();
    let args = attr::parse(attr, &mut errors);
    if args.place == Place::RowsFunction {
        let function = model::analyze_rows(&func, &mut errors);
        let checked = valid::validate_rows(&args, function, &func, errors);
        return fallback::or_emit(&func, checked, emit_rows);
    }
    let sig = model::analyze(&func, &mut errors);
    let checked = valid::validate(&args, sig, &func, errors);
    fallback::or_emit(&func, checked, emit)
}

/// `#[derive(Rows)]` on `item`: the derived items, or the errors and the items derived from
/// the fields that could be read.
pub fn derive(item: TokenStream) -> TokenStream {
    let input: syn::DeriveInput = match syn::parse2(item) {
        Ok(input) => input,
        Err(err) => return err.to_compile_error(),
    };
    let mut errors = Errors::default();
    let Some(model) = model::read_struct(&input, &mut errors) else {
        return errors.to_compile_errors();
    };
    match valid::validate_derive(model, errors) {
        Ok(spec) => derive::emit(&spec),
        Err(invalid) => {
            let mut tokens = invalid.errors.to_compile_errors();
            if let Some(stand_in) = invalid.stand_in {
                tokens.extend(derive::emit(&stand_in));
            }
            tokens
        }
    }
}

/// The function and its companions.
fn emit(func: &ItemFn, spec: &Spec) -> TokenStream {
    match spec.sig.function.owner {
        Owner::Free => free_fn::emit(func, spec),
        Owner::Method(receiver) => method::emit(func, spec, receiver),
    }
}

/// The function and its companions, for several outputs.
fn emit_rows(func: &ItemFn, spec: &RowsSpec) -> TokenStream {
    match spec.function.owner {
        Owner::Free => rows_fn::emit(func, spec),
        Owner::Method(receiver) => rows_method::emit(func, spec, receiver),
    }
}

/// The annotated function; anything else is given back with an error.
fn parse_function(item: TokenStream) -> Result<ItemFn, TokenStream> {
    match syn::parse2::<syn::Item>(item.clone()) {
        Ok(syn::Item::Fn(func)) => Ok(func),
        Ok(other) => Err(not_a_function(&other, item)),
        Err(err) => {
            let err = err.to_compile_error();
            Err(quote!(#item #err))
        }
    }
}

fn not_a_function(item: &syn::Item, tokens: TokenStream) -> TokenStream {
    let (span, kind) = match item {
        syn::Item::Struct(s) => (s.struct_token.span, "a struct"),
        syn::Item::Enum(e) => (e.enum_token.span, "an enum"),
        syn::Item::Union(u) => (u.union_token.span, "a union"),
        syn::Item::Trait(t) => (t.trait_token.span, "a trait"),
        syn::Item::Impl(i) => (i.impl_token.span, "an impl block"),
        syn::Item::Mod(m) => (m.mod_token.span, "a module"),
        syn::Item::Const(c) => (c.const_token.span, "a const"),
        syn::Item::Static(s) => (s.static_token.span, "a static"),
        syn::Item::Type(t) => (t.type_token.span, "a type alias"),
        other => (other.span(), "this item"),
    };
    let err = syn::Error::new(
        span,
        format!("#[preallocate] applies to row functions, not to {kind}: put it on `fn f(item: &Item) -> [f32; 3]`"),
    )
    .to_compile_error();
    quote!(#tokens #err)
}
