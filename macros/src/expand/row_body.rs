//! The body of `write_row`: call the row function, unwrap its `Result` or `Option`, store the
//! row with the attribute's cast; and the row length checks the compiler makes where the macro
//! cannot (a `const` on either side).

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;

use super::tokens::respan;
use crate::attr::{Cast, Extent};
use crate::errors::shown;
use crate::model::{literal_len, Fails, Form};
use crate::spec::{Bodies, Spec};

impl Spec {
    /// The in-place row type, `[[Dtype; W]; H]`, with the row function's own lengths.
    fn row_array_type(&self) -> TokenStream {
        let dtype = self.dtype_path(&self.private());
        self.sig
            .lens
            .iter()
            .rev()
            .fold(dtype, |inner, len| quote!([#inner; #len]))
    }

    /// Row lengths that the macro cannot compare with the attribute (a `const` on either side)
    /// are compared by the compiler; the message names both.
    ///
    /// Those that name a generic parameter of the function are checked where the row is
    /// written (when an entry point is used); the others by [`Spec::eager_len_checks`].
    fn len_checks(&self) -> TokenStream {
        let eager = !self.is_method();
        self.len_assertions()
            .filter(|(_, assertion)| !eager || self.mentions_generics(assertion))
            .map(|(span, assertion)| quote_spanned!(span=> const { #assertion };))
            .collect()
    }

    fn mentions_generics(&self, tokens: &TokenStream) -> bool {
        let generic_names: Vec<String> = self
            .sig
            .function
            .generics
            .params
            .iter()
            .filter_map(|p| match p {
                syn::GenericParam::Const(c) => Some(c.ident.to_string()),
                syn::GenericParam::Type(t) => Some(t.ident.to_string()),
                syn::GenericParam::Lifetime(_) => None,
            })
            .collect();
        tokens
            .to_string()
            .split(|c: char| !c.is_alphanumeric() && c != '_')
            .any(|word| generic_names.iter().any(|g| g == word))
    }

    /// Row length checks as items, evaluated by `cargo check` even when no entry point is
    /// used; for the axes where neither side names a generic parameter of the function.
    pub fn eager_len_checks(&self) -> TokenStream {
        self.len_assertions()
            .filter(|(_, assertion)| !self.mentions_generics(assertion))
            .map(|(span, assertion)| quote_spanned!(span=> const _: () = #assertion;))
            .collect()
    }

    /// `assert!(row length == attribute length, "...")` for each axis the macro cannot compare.
    ///
    /// None for stubs: the attribute they stand in for may be what is wrong.
    pub fn len_assertions(&self) -> impl Iterator<Item = (Span, TokenStream)> + '_ {
        self.shape
            .iter()
            .zip(&self.sig.lens)
            .filter(|_| self.bodies == Bodies::Real)
            .filter(|(extent, len)| extent.literal().is_none() || literal_len(len).is_none())
            // The same `const` on both sides needs no check.
            .filter(|(extent, len)| match extent {
                Extent::Const(path) => shown(path) != shown(*len),
                Extent::Literal(..) => true,
            })
            .map(|(extent, len)| {
                let message = format!(
                    "the row length `{}` is not the attribute's `{}`",
                    shown(len),
                    match extent {
                        Extent::Literal(n, _) => n.to_string(),
                        Extent::Const(path) => shown(path),
                    }
                );
                let assertion = quote_spanned! {len.span()=>
                    ::core::assert!(#len == #extent, #message)
                };
                (len.span(), assertion)
            })
    }

    /// The body of a row writer: call the function (`call(item)` by value, `call(item, row)`
    /// in place) and store what it gives, returning `Ok(kept)`.
    ///
    /// A stub (next to a compile error, so never run) does not call the function.
    pub fn row_body(&self, call: impl Fn(TokenStream) -> TokenStream) -> TokenStream {
        if self.bodies == Bodies::Stub {
            return quote!({
                ::core::unreachable!("a #[preallocate] attribute with an error does not compile")
            });
        }
        let private = &self.private();
        let ok = quote!(::core::result::Result::Ok);
        let err = quote!(::core::result::Result::Err);
        let some = quote!(::core::option::Option::Some);
        let none = quote!(::core::option::Option::None);
        let len_checks = self.len_checks();
        let fallible = matches!(self.sig.function.fails, Fails::With(_));
        let body = match self.sig.function.form {
            Form::ByValue => {
                let value = quote!(__preallocate_value);
                let store = self.store(&value);
                let kept = quote!({ #store #ok(true) });
                let called = call(quote!(__preallocate_item));
                match (fallible, self.sig.function.filtering) {
                    (false, false) => quote!({ let #value = #called; #kept }),
                    (false, true) => quote! {
                        match #called { #some(#value) => #kept, #none => #ok(false) }
                    },
                    (true, false) => quote! {
                        match #called {
                            #ok(#value) => #kept,
                            #err(__preallocate_error) => #err(#private::RowError::Row(__preallocate_error)),
                        }
                    },
                    (true, true) => quote! {
                        match #called {
                            #ok(#some(#value)) => #kept,
                            #ok(#none) => #ok(false),
                            #err(__preallocate_error) => #err(#private::RowError::Row(__preallocate_error)),
                        }
                    },
                }
            }
            Form::InPlace if self.rank() == 0 => {
                let called = call(quote!(__preallocate_item, __preallocate_row));
                let result = self.in_place_result(called);
                quote! {{
                    match <[_]>::first_mut(__preallocate_row) {
                        #some(__preallocate_row) => #result,
                        #none => ::core::unreachable!(
                            "the drivers pass rows of exactly DIM elements, and DIM is 1 for a scalar row"
                        ),
                    }
                }}
            }
            Form::InPlace => {
                let row_array = self.row_array_type();
                let chunks = self.sig.lens[1..].iter().rev().map(|len| {
                    quote!(let __preallocate_row = __preallocate_row.as_chunks_mut::<{ #len }>().0;)
                });
                let called = call(quote!(__preallocate_item, __preallocate_row));
                let result = self.in_place_result(called);
                quote! {{
                    #(#chunks)*
                    let __preallocate_row: ::core::result::Result<&mut #row_array, _> =
                        ::core::convert::TryInto::try_into(__preallocate_row);
                    match __preallocate_row {
                        #ok(__preallocate_row) => #result,
                        #err(_) => ::core::unreachable!(
                            "the drivers pass rows of exactly DIM elements, and DIM is the row's length"
                        ),
                    }
                }}
            }
        };
        quote!({ #len_checks #body })
    }

    /// What an in-place call gives, as `Ok(kept)` or the row's failure.
    fn in_place_result(&self, called: TokenStream) -> TokenStream {
        let private = &self.private();
        let ok = quote!(::core::result::Result::Ok);
        let err = quote!(::core::result::Result::Err);
        let fallible = matches!(self.sig.function.fails, Fails::With(_));
        match (fallible, self.sig.function.filtering) {
            (false, false) => quote!({ #called; #ok(true) }),
            (false, true) => quote!(#ok(#called)),
            (true, false) => quote! {
                match #called {
                    #ok(()) => #ok(true),
                    #err(__preallocate_error) => #err(#private::RowError::Row(__preallocate_error)),
                }
            },
            (true, true) => quote! {
                match #called {
                    #ok(__preallocate_kept) => #ok(__preallocate_kept),
                    #err(__preallocate_error) => #err(#private::RowError::Row(__preallocate_error)),
                }
            },
        }
    }

    /// Stores a by-value row into the slot, with the attribute's conversion.
    fn store(&self, value: &TokenStream) -> TokenStream {
        let elem = &self.sig.elem;
        // The call is spanned on the element type, arguments included (the compiler may blame
        // the argument that fixes the element type), so that a missing conversion is reported
        // there; the `?` is not, so that no lint about it blames user code.
        let span = elem.span();
        let private = &respan(self.private(), span);
        let dtype = self.dtype.path(private, span);
        let value = respan(value.clone(), span);
        let flat = if self.rank() == 0 {
            quote_spanned!(span=> ::core::slice::from_ref(&#value))
        } else {
            (1..self.rank()).fold(
                quote_spanned!(span=> &#value),
                |flat, _| quote_spanned!(span=> #flat.as_flattened()),
            )
        };
        let cast = format_ident!("{}", self.cast.type_name(), span = span);
        let stored = quote_spanned! {span=>
            #private::store::<#private::cast::#cast, #elem, #dtype>(#flat, __preallocate_row)
        };
        // A checked cast's `CastError` is the row's failure; the other casts cannot fail, and an
        // irrefutable pattern says so without the trait machinery of `?` (which costs compile
        // time in every annotated function).
        if self.cast == Cast::Checked {
            let private = self.private();
            quote! {
                if let ::core::result::Result::Err(__preallocate_cast) = #stored {
                    return ::core::result::Result::Err(#private::RowError::Cast(__preallocate_cast));
                }
            }
        } else {
            quote!(let ::core::result::Result::Ok(()) = #stored;)
        }
    }
}
