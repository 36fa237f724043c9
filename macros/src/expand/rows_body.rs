//! What the companions of a row function with several outputs (`rows = Struct`) share, free
//! function or method: its policy and error types, and the body that calls it and stores what
//! it gives into one slot per output.

use proc_macro2::TokenStream;
use quote::{format_ident, quote};

use crate::model::{Fails, Form};
use crate::spec::{Bodies, RowsSpec};

impl RowsSpec {
    /// The runtime's policy type. A by-value function's struct may have checked fields, whose
    /// store can fail: the struct's `Checks` raise the policy. An in-place one stores nothing.
    pub fn policy_type(&self) -> TokenStream {
        let private = self.krate.private();
        let policy = format_ident!("{}", self.policy.name());
        let rows_ty = &self.rows;
        match self.function.form {
            Form::InPlace => quote!(#private::policy::#policy),
            Form::ByValue => quote! {
                <<#rows_ty as #private::RowsTrait>::Checks as #private::Checks>::Policy<#private::policy::#policy>
            },
        }
    }

    /// The function's own error type as written, or `Infallible`.
    pub fn error_type(&self) -> TokenStream {
        match &self.function.fails {
            Fails::With(ty) => quote!(#ty),
            Fails::Never => quote!(::core::convert::Infallible),
        }
    }

    /// Whether the driver may skip zeroing the slots before the call: a by-value struct is
    /// stored whole.
    pub fn overwrites_row(&self) -> bool {
        self.function.form == Form::ByValue
    }

    /// Calls the function (`callee`) on `__preallocate_item` and stores what it gives into
    /// `__preallocate_row`, returning `Ok(kept)`.
    ///
    /// A stub (next to a compile error, so never run) does not call the function.
    pub fn body(&self, callee: &TokenStream) -> TokenStream {
        if self.bodies == Bodies::Stub {
            return quote!(::core::unreachable!(
                "a #[preallocate] attribute with an error does not compile"
            ));
        }
        let private = self.krate.private();
        let rows_ty = &self.rows;
        let ok = quote!(::core::result::Result::Ok);
        let err = quote!(::core::result::Result::Err);
        let row_error = quote!(#private::RowError::Row(__preallocate_error));
        let fallible = matches!(self.function.fails, Fails::With(_));
        let filtering = self.function.filtering;
        if self.function.form == Form::InPlace {
            let called = quote! {
                #callee(__preallocate_item, <#rows_ty as #private::RowsTrait>::row_mut(__preallocate_row))
            };
            return match (fallible, filtering) {
                (false, false) => quote!({ #called; #ok(true) }),
                (false, true) => quote!(#ok(#called)),
                (true, false) => quote! {
                    match #called {
                        #ok(()) => #ok(true),
                        #err(__preallocate_error) => #err(::core::convert::From::from(#row_error)),
                    }
                },
                (true, true) => quote! {
                    match #called {
                        #ok(__preallocate_kept) => #ok(__preallocate_kept),
                        #err(__preallocate_error) => #err(::core::convert::From::from(#row_error)),
                    }
                },
            };
        }
        let kept = quote! {{
            if let #err(__preallocate_cast) = #private::RowsTrait::store(&__preallocate_value, __preallocate_row) {
                return #err(::core::convert::From::from(__preallocate_cast));
            }
            #ok(true)
        }};
        let called = quote!(#callee(__preallocate_item));
        match (fallible, filtering) {
            (false, false) => quote!({ let __preallocate_value: #rows_ty = #called; #kept }),
            (false, true) => quote! {
                match #called {
                    ::core::option::Option::Some(__preallocate_value) => #kept,
                    ::core::option::Option::None => #ok(false),
                }
            },
            (true, false) => quote! {
                match #called {
                    #ok(__preallocate_value) => #kept,
                    #err(__preallocate_error) => #err(::core::convert::From::from(#row_error)),
                }
            },
            (true, true) => quote! {
                match #called {
                    #ok(::core::option::Option::Some(__preallocate_value)) => #kept,
                    #ok(::core::option::Option::None) => #ok(false),
                    #err(__preallocate_error) => #err(::core::convert::From::from(#row_error)),
                }
            },
        }
    }
}
