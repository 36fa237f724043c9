//! After an error in the attribute or the signature: the function as written, the errors, and
//! the companions that the real emitter builds from the stand-in spec (stub bodies), so that
//! every generated name exists with its usual type, one mistake gives one error however the
//! rest of the crate uses the function, and rust-analyzer keeps working.

use proc_macro2::TokenStream;
use quote::quote;
use syn::ItemFn;

use crate::valid::Invalid;

pub fn emit(func: &ItemFn, invalid: &Invalid) -> TokenStream {
    let companions = super::emit(func, &invalid.stand_in);
    let errors = invalid.errors.to_compile_errors();
    quote! {
        #companions
        #errors
    }
}
