//! After an error in the attribute or the signature: the function as written, the errors, and
//! the companions that the real emitter builds from the stand-in spec (stub bodies), so that
//! every generated name exists with its usual type, one mistake gives one error however the
//! rest of the crate uses the function, and rust-analyzer keeps working.

use proc_macro2::TokenStream;
use quote::quote;
use syn::ItemFn;

use crate::valid::Invalid;

/// What `emit` writes from the checked spec; after an error, the same from the stand-in (or the
/// function alone when there is none), and the errors.
pub fn or_emit<S>(
    func: &ItemFn,
    checked: Result<S, Invalid<S>>,
    emit: fn(&ItemFn, &S) -> TokenStream,
) -> TokenStream {
    let invalid = match checked {
        Ok(spec) => return emit(func, &spec),
        Err(invalid) => invalid,
    };
    let companions = match &invalid.stand_in {
        Some(stand_in) => emit(func, stand_in),
        None => quote!(#func),
    };
    let errors = invalid.errors.to_compile_errors();
    quote! {
        #companions
        #errors
    }
}
