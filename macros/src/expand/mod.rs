//! The macro's flow: parse the attribute and the function, validate them into a [`Spec`], emit.
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
//! After an error the same emitter runs on a stand-in spec with stub bodies ([`fallback`]).

mod docs;
mod fallback;
mod free_fn;
pub(crate) mod lifetimes;
mod method;
mod row_body;
pub(crate) mod tokens;

use proc_macro2::TokenStream;
use quote::quote;
use syn::spanned::Spanned;
use syn::ItemFn;

use crate::errors::Errors;
use crate::model::{self, Owner};
use crate::spec::Spec;
use crate::{attr, valid};

pub fn expand(attr: TokenStream, item: TokenStream) -> TokenStream {
    let func = match parse_function(item) {
        Ok(func) => func,
        Err(not_a_function) => return not_a_function,
    };
    if names_rows(&attr) {
        return crate::rows::expand_rows_fn(attr, &func);
    }
    let mut errors = Errors::default();
    let args = attr::parse(attr, &mut errors);
    let sig = model::analyze(&func, &mut errors);
    match valid::validate(&args, sig, &func, errors) {
        Ok(spec) => emit(&func, &spec),
        Err(invalid) => fallback::emit(&func, &invalid),
    }
}

/// Whether the attribute says `rows = ..` (several outputs).
fn names_rows(attr: &TokenStream) -> bool {
    let tokens: Vec<proc_macro2::TokenTree> = attr.clone().into_iter().collect();
    tokens.windows(2).any(|pair| {
        matches!(
            pair,
            [proc_macro2::TokenTree::Ident(key), proc_macro2::TokenTree::Punct(eq)]
                if key == "rows" && eq.as_char() == '='
        )
    })
}

/// The function and its companions.
fn emit(func: &ItemFn, spec: &Spec) -> TokenStream {
    match spec.sig.function.owner {
        Owner::Free => free_fn::emit(func, spec),
        Owner::Method(receiver) => method::emit(func, spec, receiver),
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
