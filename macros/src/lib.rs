//! The `#[preallocate]` attribute macro and `#[derive(Rows)]`. Use them through the
//! `preallocate` crate, which documents them and re-exports the runtime that the generated code
//! calls.
//!
//! Both take one flow. The keys (`#[preallocate(..)]`, a struct's and its fields' `#[rows(..)]`)
//! are parsed by one parser (`attr`), the item into a small model (`model`); they are checked
//! together into a spec with every key resolved (`valid`, `spec`), and emitted (`expand`): the
//! function unchanged plus thin entry points, or the struct's `Rows` impl and companion structs.
//! After an error in a row function the same entry points are emitted, with stub bodies, from a
//! stand-in spec. Every loop lives in `preallocate-runtime`.

extern crate proc_macro;

mod attr;
mod dtype;
mod errors;
mod expand;
mod model;
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
    expand::derive(item.into()).into()
}
