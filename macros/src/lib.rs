//! The `#[preallocate]` attribute macro. Use it through the `preallocate` crate, which documents
//! it and re-exports the runtime that the generated code calls.
//!
//! The macro parses the attribute and the function into a small model (`attr`, `model`),
//! checks them together (`valid`) and emits the function unchanged plus thin entry points
//! (`expand`); every loop lives in `preallocate-runtime`.

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
#[proc_macro_attribute]
pub fn preallocate(
    attr: proc_macro::TokenStream,
    item: proc_macro::TokenStream,
) -> proc_macro::TokenStream {
    expand::expand(attr.into(), item.into()).into()
}
