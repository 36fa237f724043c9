//! The `#[preallocate]` attribute macro. Use it through the `preallocate` crate, which documents
//! it and re-exports the runtime that the generated code calls.
//!
//! The macro parses the attribute and the function into a small model (`attr`, `model`),
//! checks them together into a `Spec` with every key resolved (`valid`, `spec`) and emits the
//! function unchanged plus thin entry points (`expand`); after an error it emits the same
//! entry points, with stub bodies, from a stand-in `Spec`. Every loop lives in
//! `preallocate-runtime`.

extern crate proc_macro;

mod attr;
mod dtype;
mod errors;
mod expand;
mod model;
mod rows;
mod spec;
mod valid;

#[cfg(test)]
mod tests;

/// Turns a per-item row function into batch entry points that fill one preallocated array.
///
/// See the `preallocate` crate for the attribute's keys, the function shapes it accepts and
/// what it generates.
///
/// # `crate = path`
///
/// The path of the `preallocate` crate, when the code names it otherwise. It resolves like any
/// path written where the attribute is: a name of the extern prelude (a dependency renamed in
/// `Cargo.toml`), a `use preallocate as pa;` or an `extern crate preallocate as pa;` of the
/// enclosing module, `self::...`, or an absolute path (`::pa`, `crate::reexported`).
///
/// One case cannot work: a relative path (`crate = pa`) on a function declared inside a
/// function body, since the generated module reaches the path through its parent module, which
/// does not see the body's items. Write an absolute path there: `crate = ::pa` for a renamed
/// dependency. The error is an unresolved import pointing at the path.
#[proc_macro_attribute]
pub fn preallocate(
    attr: proc_macro::TokenStream,
    item: proc_macro::TokenStream,
) -> proc_macro::TokenStream {
    expand::expand(attr.into(), item.into()).into()
}

/// Derives `Rows` for a struct whose fields are the rows of several outputs, one per field; see
/// the `preallocate` crate.
#[proc_macro_derive(Rows, attributes(rows))]
pub fn derive_rows(item: proc_macro::TokenStream) -> proc_macro::TokenStream {
    rows::derive(item.into()).into()
}
