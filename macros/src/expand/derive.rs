//! `#[derive(Rows)]`: the struct's `Rows` impl, its outputs as nested pairs of the runtime's
//! `Col`, each field stored with its own conversion; and four companion structs with one field
//! per output: `{Name}Arrays` (what `batch` returns), `{Name}Views` (what `fill` takes),
//! `{Name}Row` (what an in-place row function fills) and `{Name}Chunk` (what a
//! `for_each_chunk` closure gets).
//!
//! Everything is written next to the struct, so a `crate = path` is used as written.

use proc_macro2::{Ident, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;

use super::tokens::respan;
use crate::spec::{DeriveSpec, Output, OutputShape, Storage};

pub fn emit(spec: &DeriveSpec) -> TokenStream {
    let private = spec.krate.private();
    let names = Names::of(&spec.ident);
    let structs = companion_structs(spec, &names, &private);
    let shape_checks = spec.outputs.iter().filter_map(shape_check);
    let rows_impl = rows_impl(spec, &names, &private);
    quote! {
        #structs

        const _: () = {
            #(#shape_checks)*

            #rows_impl
        };
    }
}

/// The companion structs' names.
struct Names {
    arrays: Ident,
    views: Ident,
    chunk: Ident,
    row_mut: Ident,
}

impl Names {
    fn of(name: &Ident) -> Names {
        Names {
            arrays: format_ident!("{}Arrays", name),
            views: format_ident!("{}Views", name),
            chunk: format_ident!("{}Chunk", name),
            row_mut: format_ident!("{}Row", name),
        }
    }
}

impl Output {
    /// The element type of the output's array.
    fn dtype_tokens(&self, private: &TokenStream) -> TokenStream {
        match &self.dtype {
            Storage::Elem => {
                let elem = &self.elem;
                quote!(#elem)
            }
            Storage::Dtype(dtype, span) => dtype.path(private, *span),
        }
    }

    /// The row's axes, outer first.
    fn axes(&self) -> Vec<TokenStream> {
        match &self.shape {
            OutputShape::Flat => {
                let len = &self.len;
                vec![quote!(#len)]
            }
            OutputShape::Axes(axes) => axes.iter().map(|axis| quote!(#axis)).collect(),
        }
    }

    /// `Ix2` for a row with one axis, `Ix3` for two, ...: the output's array has one more.
    fn batch_dim(&self, private: &TokenStream) -> TokenStream {
        let dim = format_ident!("Ix{}", self.axes().len() + 1);
        quote!(#private::ndarray::#dim)
    }
}

/// `{Name}Arrays`, `{Name}Views`, `{Name}Row` and `{Name}Chunk`, and `RowCount` for the first.
fn companion_structs(spec: &DeriveSpec, names: &Names, private: &TokenStream) -> TokenStream {
    let name = &spec.ident;
    let vis = &spec.vis;
    let nd = quote!(#private::ndarray);
    let Names {
        arrays,
        views,
        chunk,
        row_mut,
    } = names;
    let field_names: Vec<&Ident> = spec.outputs.iter().map(|f| &f.name).collect();
    let first_field = field_names[0];
    let dtypes: Vec<TokenStream> = spec
        .outputs
        .iter()
        .map(|f| f.dtype_tokens(private))
        .collect();
    let dims: Vec<TokenStream> = spec.outputs.iter().map(|f| f.batch_dim(private)).collect();
    // What an in-place row function writes for each field: `&mut [T; N]`, or `&mut T` for a
    // scalar field.
    let slot_types: Vec<TokenStream> = spec
        .outputs
        .iter()
        .zip(&dtypes)
        .map(|(f, dtype)| {
            let len = &f.len;
            if f.scalar {
                quote!(#dtype)
            } else {
                quote!([#dtype; #len])
            }
        })
        .collect();
    let field_docs: Vec<String> = field_names
        .iter()
        .map(|n| format!("The output `{n}`."))
        .collect();
    let doc_arrays = format!("The arrays of the outputs of [`{name}`], one per field: what `batch` returns for a row function with `rows = {name}`.");
    let doc_views = format!("Buffers for the outputs of [`{name}`], one per field, all with the same number of rows: what `fill` writes into.");
    let doc_chunk = format!("A chunk of the outputs of [`{name}`], one `rows × DIM` view per field: what a `for_each_chunk` closure gets.");
    let doc_row = format!("One row of every output of [`{name}`], for a row function that writes them in place (`fn f(item: Item, row: {row_mut}<'_>)`): each field is its output's slot, zeroed.");
    quote! {
        #[doc = #doc_arrays]
        #[derive(Debug, Clone, PartialEq)]
        #vis struct #arrays {
            #( #[doc = #field_docs] pub #field_names: #nd::Array<#dtypes, #dims>, )*
        }

        #[doc = #doc_views]
        #[derive(Debug)]
        #vis struct #views<'a> {
            #( #[doc = #field_docs] pub #field_names: #nd::ArrayViewMut<'a, #dtypes, #dims>, )*
        }

        #[doc = #doc_row]
        #[derive(Debug)]
        #vis struct #row_mut<'a> {
            #( #[doc = #field_docs] pub #field_names: &'a mut #slot_types, )*
        }

        #[doc = #doc_chunk]
        #[derive(Debug, Clone, Copy)]
        #vis struct #chunk<'a> {
            #( #[doc = #field_docs] pub #field_names: #nd::ArrayView2<'a, #dtypes>, )*
        }

        impl #private::RowCount for #arrays {
            fn row_count(&self) -> usize {
                self.#first_field.shape()[0]
            }
        }
    }
}

/// A field with a `shape`: the compiler checks that the axes hold the field's length, with the
/// error on the first axis.
fn shape_check(output: &Output) -> Option<TokenStream> {
    let OutputShape::Axes(axes) = &output.shape else {
        return None;
    };
    if output.scalar {
        return None;
    }
    let len = &output.len;
    let message = format!(
        "the `shape` of the field `{}` does not hold its length: the product of the axes must be the array's length",
        output.name
    );
    let span = axes.first().map_or(output.span, Spanned::span);
    let product = axes
        .iter()
        .map(|axis| quote!((#axis)))
        .reduce(|product, axis| quote!(#product * #axis))
        .unwrap_or_else(|| quote!(1));
    Some(quote_spanned! {span=>
        #[allow(clippy::identity_op, clippy::eq_op, clippy::assertions_on_constants)]
        const _: () = ::core::assert!(#product == #len, #message);
    })
}

/// `impl Rows for Name`: the layout, the shapes, the conversions between the nested pairs the
/// runtime works with and the companion structs, and the store of one value.
fn rows_impl(spec: &DeriveSpec, names: &Names, private: &TokenStream) -> TokenStream {
    let name = &spec.ident;
    let Names {
        arrays,
        views,
        chunk,
        row_mut,
    } = names;
    let field_names: Vec<&Ident> = spec.outputs.iter().map(|f| &f.name).collect();
    let output_names: Vec<String> = field_names.iter().map(ToString::to_string).collect();
    let layout = nest(
        spec.outputs
            .iter()
            .map(|f| {
                let (dtype, dim) = (f.dtype_tokens(private), f.batch_dim(private));
                quote!(#private::Col<#dtype, #dim>)
            })
            .collect(),
    );
    let shapes = shapes(spec, private);
    let (store_error, checks) = if spec.policy.can_fail() {
        (quote!(#private::CastError), quote!(#private::WithChecks))
    } else {
        (
            quote!(::core::convert::Infallible),
            quote!(#private::NoChecks),
        )
    };
    let nested_fields = nest(field_names.iter().map(|f| quote!(#f)).collect());
    let slots = slots(spec);
    let stores = stores(spec, private);
    quote! {
        impl #private::RowsTrait for #name {
            type Layout = #layout;
            type StoreError = #store_error;
            type Checks = #checks;
            type Arrays = #arrays;
            type Views<'a> = #views<'a>;
            type Chunk<'a> = #chunk<'a>;
            type RowMut<'a> = #row_mut<'a>;
            const NAMES: &'static [&'static str] = &[#(#output_names),*];

            fn shape() -> <Self::Layout as #private::Layout>::Shape {
                #shapes
            }

            fn arrays(__preallocate_arrays: <Self::Layout as #private::Layout>::Array) -> Self::Arrays {
                let #nested_fields = __preallocate_arrays;
                #arrays { #(#field_names),* }
            }

            fn views(__preallocate_views: Self::Views<'_>) -> <Self::Layout as #private::Layout>::Mut<'_> {
                let #views { #(#field_names),* } = __preallocate_views;
                #nested_fields
            }

            fn chunk(__preallocate_chunk: <Self::Layout as #private::Layout>::View<'_>) -> Self::Chunk<'_> {
                let #nested_fields = __preallocate_chunk;
                #chunk { #(#field_names),* }
            }

            #[inline]
            fn row_mut(
                __preallocate_row: <Self::Layout as #private::Layout>::Row<'_>,
            ) -> Self::RowMut<'_> {
                #(#slots)*
                #row_mut { #(#field_names),* }
            }

            #[inline]
            fn store(
                &self,
                __preallocate_row: <Self::Layout as #private::Layout>::Row<'_>,
            ) -> ::core::result::Result<(), #store_error> {
                #(#stores)*
                ::core::result::Result::Ok(())
            }
        }
    }
}

/// Nested pairs, right-folded: `(a, (b, c))`; a single part is itself.
fn nest(parts: Vec<TokenStream>) -> TokenStream {
    let mut parts = parts.into_iter().rev();
    let last = parts.next().unwrap_or_default();
    parts.fold(last, |rest, part| quote!((#part, #rest)))
}

/// The path of output `i` of `n` in a nested value: `.0`, `.1.0`, `.1.1`.
fn access(i: usize, n: usize) -> TokenStream {
    let mut path = TokenStream::new();
    for _ in 0..i {
        path.extend(quote!(.1));
    }
    if i + 1 < n {
        path.extend(quote!(.0));
    }
    path
}

/// Each output's `ColShape`: its row shape, length and lane copy, nested as the layout is.
fn shapes(spec: &DeriveSpec, private: &TokenStream) -> TokenStream {
    nest(
        spec.outputs
            .iter()
            .map(|f| {
                let dtype = f.dtype_tokens(private);
                let len = &f.len;
                let axes = f.axes();
                quote! {
                    #private::ColShape::<#dtype> {
                        shape: &[#(#axes),*],
                        dim: #len,
                        copy_lane: #private::copy_lane_n::<#dtype, { #len }>,
                    }
                }
            })
            .collect(),
    )
}

/// `row_mut`'s body: each output's slot as an array of the field's length.
fn slots(spec: &DeriveSpec) -> Vec<TokenStream> {
    let n = spec.outputs.len();
    spec.outputs
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let path = access(i, n);
            let field = &f.name;
            if f.scalar {
                return quote! {
                    let ::core::option::Option::Some(#field) = <[_]>::first_mut(__preallocate_row #path) else {
                        ::core::unreachable!("the drivers pass slots of exactly each output's length, 1 for a scalar")
                    };
                };
            }
            quote! {
                let ::core::result::Result::Ok(#field) = ::core::convert::TryInto::try_into(__preallocate_row #path) else {
                    ::core::unreachable!("the drivers pass slots of exactly each output's length")
                };
            }
        })
        .collect()
}

/// `store`'s body: each field converted into its output's slot with the field's cast.
fn stores(spec: &DeriveSpec, private: &TokenStream) -> Vec<TokenStream> {
    let n = spec.outputs.len();
    spec.outputs
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let path = access(i, n);
            let (elem, dtype, field) = (&f.elem, f.dtype_tokens(private), &f.name);
            // Re-sliced to the field's constant length, so that the copy is inlined (as a
            // one-output row's is) instead of a loop of unknown length.
            let len = &f.len;
            let row = quote!(&mut (__preallocate_row #path)[..#len]);
            // Spanned on the field's element type, so that a missing conversion is reported on
            // the field (as the attribute's is on the row type).
            let span = elem.span();
            let at = respan(private.clone(), span);
            let cast = format_ident!("{}", f.cast.type_name(), span = span);
            let value = if f.scalar {
                quote_spanned!(span=> ::core::slice::from_ref(&self.#field))
            } else {
                quote_spanned!(span=> &self.#field)
            };
            quote_spanned! {span=>
                #at::store_field::<#at::cast::#cast, #elem, #dtype>(#value, #row)?;
            }
        })
        .collect()
}
