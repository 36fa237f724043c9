//! Emitting the user's function and the entry points joined to it.
//!
//! For a free function `fn featurize(p: &Point) -> [f32; 3]` this emits
//! - the function, unchanged;
//! - `mod featurize { DIM, SHAPE, Dtype, batch, fill, __PreallocateRow }`: the entry points only
//!   name the hidden type and the runtime, never the user's types, because a module declared
//!   inside a function body cannot see the body's other items;
//! - `impl RowSpec` and `impl RowFn<&'__preallocate_0 Point>` for `featurize::__PreallocateRow`,
//!   next to the function, where the user's types, consts and the function are in scope.
//!
//! For a method `fn transform(&self, x: &f32) -> [f32; 3]` in an inherent `impl`, which cannot
//! hold a module or a type, it emits sibling methods `transform_batch` and `transform_fill`
//! and a `TRANSFORM_DIM` const; the siblings wrap `self.transform` in the runtime's `FnRow`.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned, ToTokens};
use syn::spanned::Spanned;
use syn::visit_mut::VisitMut;
use syn::{ItemFn, Type};

use crate::attr::{self, Args, Cast, Extent, OnError};
use crate::dtype::Dtype;
use crate::errors::{shown, Errors};
use crate::model::{self, literal_len, Form, Receiver, RowSignature};
use crate::valid;

pub fn expand(attr: TokenStream, item: TokenStream) -> TokenStream {
    let func = match syn::parse2::<syn::Item>(item.clone()) {
        Ok(syn::Item::Fn(func)) => func,
        Ok(other) => return not_a_function(&other, item),
        Err(err) => {
            let err = err.to_compile_error();
            return quote!(#item #err);
        }
    };

    let mut errors = Errors::default();
    let args = attr::parse(attr, &mut errors);
    let sig = model::analyze(&func, &mut errors);
    valid::check(&args, sig.as_ref(), &mut errors);

    match (sig, args.row_shape(), &args.dtype) {
        (Some(sig), Some(shape), Some((dtype, dtype_ty))) if errors.is_empty() => {
            let private = private_path(&args);
            let spec = Spec {
                func: &func,
                dtype_path: dtype.path(&private, dtype_ty.span()),
                dtype: *dtype,
                private,
                sig: &sig,
                shape,
                cast: args.cast(),
                on_error: args.on_error(),
            };
            match sig.receiver {
                None => free_function(&spec),
                Some(receiver) => method(&spec, receiver),
            }
        }
        _ => fallback(&func, &args, &errors),
    }
}

fn private_path(args: &Args) -> TokenStream {
    let krate = args.krate();
    quote!(#krate::__private)
}

/// Everything the expansion of a valid row function needs.
struct Spec<'a> {
    func: &'a ItemFn,
    sig: &'a RowSignature,
    shape: Vec<Extent>,
    dtype: Dtype,
    dtype_path: TokenStream,
    /// The facade's `__private` module: `::preallocate::__private`, or under `crate = path`.
    private: TokenStream,
    cast: Cast,
    on_error: OnError,
}

/// Which entry points a row function gets: what it can do decides what `batch` returns.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// `batch -> Array`.
    Plain,
    /// `batch -> Batch<Array>`.
    Filtered,
    /// `batch -> Result<Array, ItemError<E>>`.
    Fallible,
    /// `batch -> Result<Batch<Array>, ItemError<E>>`.
    FallibleFiltered,
    /// `batch -> Batch<Array>`, failed items skipped.
    Skipping,
}

impl Spec<'_> {
    /// Whether `write_row` can fail: a `Result` row or a checked cast.
    fn can_fail(&self) -> bool {
        self.sig.error_ty.is_some() || self.cast == Cast::Checked
    }

    fn mode(&self) -> Mode {
        match (self.can_fail(), self.on_error, self.sig.filtering) {
            (false, _, false) => Mode::Plain,
            (false, _, true) => Mode::Filtered,
            (true, OnError::Skip, _) => Mode::Skipping,
            (true, OnError::Fail, false) => Mode::Fallible,
            (true, OnError::Fail, true) => Mode::FallibleFiltered,
        }
    }

    /// The runtime's marker type for this mode, for `Pipeline`.
    fn mode_marker(&self) -> TokenStream {
        let private = &self.private;
        let marker = match self.mode() {
            Mode::Plain => quote!(Plain),
            Mode::Filtered => quote!(Filtered),
            Mode::Fallible => quote!(Fallible),
            Mode::FallibleFiltered => quote!(FallibleFiltered),
            Mode::Skipping => quote!(Skipping),
        };
        quote!(#private::mode::#marker)
    }

    fn rank(&self) -> usize {
        self.shape.len()
    }

    /// `Ix2` for one-axis rows, `Ix3` for two axes, ...
    fn batch_dim(&self) -> TokenStream {
        let private = &self.private;
        let ix = format_ident!("Ix{}", self.rank() + 1);
        quote!(#private::ndarray::#ix)
    }

    /// The number of elements in one row, as a constant expression.
    fn dim_tokens(&self) -> TokenStream {
        if let Some(product) = self
            .shape
            .iter()
            .map(Extent::literal)
            .try_fold(1usize, |acc, n| n.and_then(|n| acc.checked_mul(n)))
        {
            return quote!(#product);
        }
        match self.shape.as_slice() {
            [one] => one.to_token_stream(),
            axes => quote!((1usize #(* #axes)*)),
        }
    }

    fn shape_tokens(&self) -> TokenStream {
        let axes = &self.shape;
        quote!(&[#(#axes),*])
    }

    /// The runtime's `AxesN<...>` type for this row shape.
    fn axes_type(&self) -> TokenStream {
        let private = &self.private;
        let axes_ty = format_ident!("Axes{}", self.rank());
        let axes = self.shape.iter().map(|axis| match axis {
            Extent::Literal(..) => axis.to_token_stream(),
            Extent::Const(path) => quote!({ #path }),
        });
        quote!(#private::#axes_ty<#(#axes),*>)
    }

    /// The in-place row type, `[[Dtype; W]; H]`, with the row function's own lengths.
    fn row_array_type(&self) -> TokenStream {
        let dtype = &self.dtype_path;
        self.sig
            .lens
            .iter()
            .rev()
            .fold(dtype.clone(), |inner, len| quote!([#inner; #len]))
    }

    /// Row lengths that the macro cannot compare with the attribute (a `const` on either side)
    /// are compared by the compiler; the message names both.
    ///
    /// Those that name a generic parameter of the function are checked where the row is
    /// written (when an entry point is used); the others by [`Spec::eager_len_checks`].
    fn len_checks(&self) -> TokenStream {
        let eager = self.sig.receiver.is_none();
        self.len_assertions()
            .filter(|(_, assertion)| !eager || self.mentions_generics(assertion))
            .map(|(span, assertion)| quote_spanned!(span=> const { #assertion };))
            .collect()
    }

    fn mentions_generics(&self, tokens: &TokenStream) -> bool {
        let generic_names: Vec<String> = self
            .func
            .sig
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
    fn eager_len_checks(&self) -> TokenStream {
        self.len_assertions()
            .filter(|(_, assertion)| !self.mentions_generics(assertion))
            .map(|(span, assertion)| quote_spanned!(span=> const _: () = #assertion;))
            .collect()
    }

    /// `assert!(row length == attribute length, "...")` for each axis the macro cannot compare.
    fn len_assertions(&self) -> impl Iterator<Item = (Span, TokenStream)> + '_ {
        self.shape
            .iter()
            .zip(&self.sig.lens)
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

    /// The failure type of `write_row`: never, or a `RowError` of the function's error type.
    fn failure_type(&self, error: &TokenStream) -> TokenStream {
        let private = &self.private;
        if self.can_fail() {
            quote!(#private::RowError<#error>)
        } else {
            quote!(::core::convert::Infallible)
        }
    }

    /// The function's own error type as written, or `Infallible`.
    fn error_type(&self) -> TokenStream {
        match &self.sig.error_ty {
            Some(ty) => ty.to_token_stream(),
            None => quote!(::core::convert::Infallible),
        }
    }

    /// The body of a row writer: call the function (`call(item)` by value, `call(item, row)`
    /// in place) and store what it gives, returning `Ok(kept)`.
    fn row_body(&self, call: impl Fn(TokenStream) -> TokenStream) -> TokenStream {
        let private = &self.private;
        let ok = quote!(::core::result::Result::Ok);
        let err = quote!(::core::result::Result::Err);
        let some = quote!(::core::option::Option::Some);
        let none = quote!(::core::option::Option::None);
        let len_checks = self.len_checks();
        let fallible = self.sig.error_ty.is_some();
        let body = match self.sig.form {
            Form::ByValue => {
                let value = quote!(__preallocate_value);
                let store = self.store(&value);
                let kept = quote!({ #store #ok(true) });
                let called = call(quote!(__preallocate_item));
                match (fallible, self.sig.filtering) {
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
            Form::InPlace => {
                let row_array = self.row_array_type();
                let chunks = self.sig.lens[1..].iter().rev().map(|len| {
                    quote!(let __preallocate_row = __preallocate_row.as_chunks_mut::<{ #len }>().0;)
                });
                let called = call(quote!(__preallocate_item, __preallocate_row));
                let result = match (fallible, self.sig.filtering) {
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
                };
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

    /// Stores a by-value row into the slot, with the attribute's conversion.
    fn store(&self, value: &TokenStream) -> TokenStream {
        let private = &self.private;
        let elem = &self.sig.elem;
        // Spanned on the element type, so that a missing conversion is reported there.
        let private = &respan(private.clone(), elem.span());
        let dtype = self.dtype.path(private, elem.span());
        let flat = (1..self.rank()).fold(quote!(&#value), |flat, _| quote!(#flat.as_flattened()));
        let function = match self.cast {
            Cast::Lossless => quote!(store_lossless),
            Cast::As => quote!(store_as),
            Cast::Saturate => quote!(store_saturating),
            Cast::Checked => quote!(store_checked),
        };
        let call = quote_spanned! {elem.span()=>
            #private::#function::<#elem, #dtype>
        };
        if self.cast == Cast::Checked {
            quote! {
                if let ::core::result::Result::Err(__preallocate_cast) = #call(#flat, __preallocate_row) {
                    return ::core::result::Result::Err(#private::RowError::Cast(__preallocate_cast));
                }
            }
        } else {
            quote!(#call(#flat, __preallocate_row);)
        }
    }

    /// `(driver, return type)` of the `batch` entry point; `error` is the row error type.
    fn batch_signature(&self, error: &TokenStream) -> (TokenStream, TokenStream) {
        let private = &self.private;
        let dtype = &self.dtype_path;
        let dim = self.batch_dim();
        let array = quote!(#private::ndarray::Array<#dtype, #dim>);
        match self.mode() {
            Mode::Plain => (quote!(batch), array),
            Mode::Filtered => (quote!(batch_filtered), quote!(#private::Batch<#array>)),
            Mode::Fallible => (
                quote!(try_batch),
                quote!(::core::result::Result<#array, #private::ItemError<#error>>),
            ),
            Mode::FallibleFiltered => (
                quote!(try_batch_filtered),
                quote!(::core::result::Result<#private::Batch<#array>, #private::ItemError<#error>>),
            ),
            Mode::Skipping => (quote!(batch_skipping), quote!(#private::Batch<#array>)),
        }
    }

    /// `(driver, return type)` of the `fill` entry point.
    fn fill_signature(&self, error: &TokenStream) -> (TokenStream, TokenStream) {
        let private = &self.private;
        let result = |rows: TokenStream, error: TokenStream| quote!(::core::result::Result<#rows, #private::Error<#error>>);
        let count = quote!(usize);
        let counted = quote!(#private::Batch<usize>);
        let never = quote!(::core::convert::Infallible);
        match self.mode() {
            Mode::Plain => (quote!(fill), result(count, never)),
            Mode::Filtered => (quote!(fill_filtered), result(counted, never)),
            Mode::Fallible => (quote!(try_fill), result(count, error.clone())),
            Mode::FallibleFiltered => (quote!(try_fill_filtered), result(counted, error.clone())),
            Mode::Skipping => (quote!(fill_skipping), result(counted, error.clone())),
        }
    }

    fn docs(&self, name: &str) -> Docs {
        let item = shown(&self.sig.item_ty);
        let dtype = self.dtype.name();
        let shape = match self.shape.as_slice() {
            [one] => extent_text(one),
            axes => format!(
                "({})",
                axes.iter().map(extent_text).collect::<Vec<_>>().join(", ")
            ),
        };
        let verb = match self.sig.form {
            Form::ByValue => "returns",
            Form::InPlace => "writes in place",
        };
        // What happens to items without a row, then (for `batch`) how it fails.
        let dropped = match self.mode() {
            Mode::Plain | Mode::Fallible => String::new(),
            Mode::Filtered | Mode::FallibleFiltered => format!(
                "\n\nItems for which `{name}` gives no row are dropped: `skipped` lists their indices."
            ),
            Mode::Skipping => format!(
                "\n\nItems for which `{name}` fails or gives no row are dropped (`on_error = \"skip\"`): `skipped` lists their indices."
            ),
        };
        let batch_errors = match self.mode() {
            Mode::Fallible | Mode::FallibleFiltered => format!(
                "\n\n# Errors\nThe first item for which `{name}` fails, with its index; no array is returned."
            ),
            _ => String::new(),
        };
        let fill_errors = match self.mode() {
            Mode::Fallible | Mode::FallibleFiltered => "\n- `Error::Item` when an item fails: the rows before it are written, and the error carries their count and the item's index.",
            _ => "",
        };
        Docs {
            batch: format!(
                "Builds the array of the rows of every item (`{item}`), each a row of shape {shape} of `{dtype}`: row `i` is what `{name}` {verb} for item `i`.\n\n\
                 The array is allocated once when the input's length is known (its `size_hint` is exact), and grows geometrically, then shrinks to fit, when it is not. No list of rows is built.{dropped}{batch_errors}"
            ),
            fill: format!(
                "Writes the row of every item (`{item}`) into `out`, the caller's buffer of rows of shape {shape} of `{dtype}`, and returns the number of rows written.\n\n\
                 `out` is an array view of any layout (`a.view_mut()`, `a.slice_mut(..)`, a column-major array) or a `&mut` array; it can be reused across calls. Rows after the count are left as they were (the first of them may be zeroed when an item gave no row).{dropped}\n\n\
                 # Errors\n\
                 - `Error::WidthMismatch` (`Error::ShapeMismatch` for multi-axis rows) when the rows of `out` do not have this shape; nothing is written.\n\
                 - `Error::BufferFull` when there are more rows than `out` has: every row of `out` is written and the error carries that count.{fill_errors}"
            ),
            pipeline: format!(
                "A bounded-memory pipeline over `{name}`: rows go through one reused chunk buffer to a closure (`for_each_chunk`), a `.npy` file (`write_npy`), `.npy` shards (`write_npy_shards`) or a safetensors file (`write_safetensors`); set the chunk with `chunk_rows` or `memory_budget`."
            ),
            dim: format!("Number of elements in one row of `{name}`."),
            shape: format!("Shape of one row of `{name}`: {shape}."),
            dtype: format!("Storage element type of the output of `{name}`: `{dtype}`."),
        }
    }
}

struct Docs {
    batch: String,
    pipeline: String,
    fill: String,
    dim: String,
    shape: String,
    dtype: String,
}

fn extent_text(extent: &Extent) -> String {
    match extent {
        Extent::Literal(n, _) => n.to_string(),
        Extent::Const(path) => format!("`{}`", shown(path)),
    }
}

const ROW_TYPE: &str = "__PreallocateRow";

/// `#[cfg]`s, which apply to every emitted item, and the attributes the companions carry.
fn carried_attributes(func: &ItemFn) -> (Vec<&syn::Attribute>, Vec<&syn::Attribute>) {
    let mut cfgs = Vec::new();
    let mut companions = Vec::new();
    for attr in &func.attrs {
        let path = attr.path();
        if path.is_ident("cfg") {
            cfgs.push(attr);
        } else if path.is_ident("allow")
            || path.is_ident("warn")
            || path.is_ident("deny")
            || path.is_ident("deprecated")
            || (path.is_ident("doc") && is_doc_hidden(attr))
        {
            companions.push(attr);
        }
    }
    (cfgs, companions)
}

fn is_doc_hidden(attr: &syn::Attribute) -> bool {
    let mut hidden = false;
    if let syn::Meta::List(list) = &attr.meta {
        let _ = list.parse_nested_meta(|meta| {
            hidden |= meta.path.is_ident("hidden");
            Ok(())
        });
    }
    hidden
}

/// The visibility of the module's items: as far as the module itself reaches.
fn inner_visibility(vis: &syn::Visibility) -> TokenStream {
    match vis {
        syn::Visibility::Inherited => quote!(pub(super)),
        syn::Visibility::Restricted(r) if r.path.is_ident("self") => quote!(pub(super)),
        _ => quote!(pub),
    }
}

fn free_function(spec: &Spec) -> TokenStream {
    let func = spec.func;
    let name = &func.sig.ident;
    let vis = &func.vis;
    let inner = inner_visibility(vis);
    let (cfgs, companion_attrs) = carried_attributes(func);
    let private = &spec.private;
    let dtype = &spec.dtype_path;
    let row_type = format_ident!("{}", ROW_TYPE);
    let item = quote!(I::Item);
    let error = quote!(<#row_type as #private::RowFn<#item>>::Error);
    let (batch_driver, batch_ret) = spec.batch_signature(&error);
    let (fill_driver, fill_ret) = spec.fill_signature(&error);
    let batch_dim = spec.batch_dim();
    let infallible = (!spec.can_fail()).then(|| quote!(Failure = ::core::convert::Infallible));
    let docs = spec.docs(&format!("{name}()"));
    let (batch_doc, fill_doc, dim_doc, shape_doc, dtype_doc) =
        (&docs.batch, &docs.fill, &docs.dim, &docs.shape, &docs.dtype);
    let pipeline_doc = &docs.pipeline;
    let mode_marker = spec.mode_marker();
    let module_doc = format!(
        "Batch entry points of the row function `{name}()`, generated by `#[preallocate]`."
    );
    let row_doc = format!(
        "The row writer of `{name}()` for the `preallocate` drivers; use the functions of this module instead."
    );

    let module = quote! {
        #(#cfgs)*
        #(#companion_attrs)*
        #[doc = #module_doc]
        #[allow(dead_code)]
        #vis mod #name {
            #[doc = #row_doc]
            #[doc(hidden)]
            #[derive(Clone, Copy, Debug, Default)]
            #inner struct #row_type;

            #[doc = #dim_doc]
            #inner const DIM: usize = <#row_type as #private::RowSpec>::DIM;

            #[doc = #shape_doc]
            #inner const SHAPE: &[usize] = <#row_type as #private::RowSpec>::SHAPE;

            #[doc = #dtype_doc]
            #inner type Dtype = #dtype;

            #[doc = #batch_doc]
            #[must_use]
            #inner fn batch<I>(items: I) -> #batch_ret
            where
                I: ::core::iter::IntoIterator,
                #row_type: #private::RowFn<I::Item, #infallible>,
            {
                #private::#batch_driver(&mut #row_type, items)
            }

            #[doc = #pipeline_doc]
            #[must_use]
            #inner fn pipeline() -> #private::Pipeline<#row_type, #mode_marker> {
                #private::Pipeline::new(#row_type)
            }

            #[doc = #fill_doc]
            #inner fn fill<'out, I, O>(items: I, out: O) -> #fill_ret
            where
                I: ::core::iter::IntoIterator,
                O: ::core::convert::Into<#private::ndarray::ArrayViewMut<'out, Dtype, #batch_dim>>,
                #row_type: #private::RowFn<I::Item, #infallible>,
            {
                #private::#fill_driver(&mut #row_type, items, out.into())
            }
        }
    };

    let dim = spec.dim_tokens();
    let shape = spec.shape_tokens();
    let overwrites = spec.sig.form == Form::ByValue;
    let spec_impl = quote! {
        #(#cfgs)*
        impl #private::RowSpec for #name::#row_type {
            type Dtype = #dtype;
            type Dim = #batch_dim;
            const DIM: usize = #dim;
            const SHAPE: &'static [usize] = #shape;
            const OVERWRITES_ROW: bool = #overwrites;
        }
    };

    let named = name_elided_lifetimes(&spec.sig.item_ty);
    let item_ty = &named.ty;
    let generics = generics_with(func, &named);
    let (impl_generics, _, where_clause) = generics.split_for_impl();
    let error_ty = spec.error_type();
    let failure = spec.failure_type(&error_ty);
    let body = spec.row_body(|args| quote!(#name(#args)));
    let row_impl = quote! {
        #(#cfgs)*
        impl #impl_generics #private::RowFn<#item_ty> for #name::#row_type #where_clause {
            type Error = #error_ty;
            type Failure = #failure;
            #[inline]
            fn write_row(
                &mut self,
                __preallocate_item: #item_ty,
                __preallocate_row: &mut [#dtype],
            ) -> ::core::result::Result<bool, #failure> #body
        }
    };

    let eager_checks = spec.eager_len_checks();
    quote! {
        #func
        #module
        #spec_impl
        #row_impl
        #(#cfgs)*
        const _: () = { #eager_checks };
    }
}

fn method(spec: &Spec, receiver: Receiver) -> TokenStream {
    let func = spec.func;
    let name = &func.sig.ident;
    let vis = &func.vis;
    let (cfgs, companion_attrs) = carried_attributes(func);
    let private = &spec.private;
    let dtype = &spec.dtype_path;
    let this = match receiver {
        Receiver::Shared => quote!(&self),
        Receiver::Mutable => quote!(&mut self),
    };
    let error = spec.error_type();
    let failure = spec.failure_type(&error);
    let (batch_driver, batch_ret) = spec.batch_signature(&error);
    let (fill_driver, fill_ret) = spec.fill_signature(&error);
    let batch_dim = spec.batch_dim();
    let axes = spec.axes_type();
    let overwrites = spec.sig.form == Form::ByValue;
    let docs = spec.docs(&format!("self.{name}()"));
    let (batch_doc, fill_doc, dim_doc, shape_doc) =
        (&docs.batch, &docs.fill, &docs.dim, &docs.shape);
    let pipeline_doc = &docs.pipeline;
    let mode_marker = spec.mode_marker();

    let named = name_elided_lifetimes(&spec.sig.item_ty);
    let item_ty = &named.ty;
    let generics = generics_with(func, &named);
    let mut batch_generics = generics.clone();
    batch_generics
        .params
        .push(syn::parse_quote!(__PreallocateItems: ::core::iter::IntoIterator<Item = #item_ty>));
    let mut fill_generics = batch_generics.clone();
    fill_generics.params.insert(
        0,
        syn::GenericParam::Lifetime(syn::LifetimeParam::new(syn::Lifetime::new(
            "'__preallocate_out",
            Span::call_site(),
        ))),
    );
    fill_generics.params.push(syn::parse_quote!(
        __PreallocateOut: ::core::convert::Into<#private::ndarray::ArrayViewMut<'__preallocate_out, #dtype, #batch_dim>>
    ));
    let (batch_params, _, where_clause) = batch_generics.split_for_impl();
    let (fill_params, _, _) = fill_generics.split_for_impl();

    let body = spec.row_body(|args| quote!(self.#name(#args)));
    let row_fn = quote! {
        let mut __preallocate_rows = #private::FnRow::<_, #dtype, #axes, #error, #overwrites>::new(
            move |__preallocate_item: #item_ty, __preallocate_row: &mut [#dtype]|
                -> ::core::result::Result<bool, #failure> #body
        );
    };

    let upper = name.to_string().trim_start_matches("r#").to_uppercase();
    let dim_const = format_ident!("{}_DIM", upper);
    let shape_const = format_ident!("{}_SHAPE", upper);
    let batch_fn = format_ident!("{}_batch", name);
    let pipeline_fn = format_ident!("{}_pipeline", name);
    let (pipeline_params, _, pipeline_where) = generics.split_for_impl();
    let fill_fn = format_ident!("{}_fill", name);
    let dim = spec.dim_tokens();
    let shape = spec.shape_tokens();
    // Reading the const checks the row length, as the siblings do when they are used.
    let len_checks_const: TokenStream = spec
        .len_assertions()
        .map(|(_, assertion)| quote!(#assertion;))
        .collect();

    quote! {
        #func

        #(#cfgs)*
        #(#companion_attrs)*
        #[doc = #dim_doc]
        #vis const #dim_const: usize = { #len_checks_const #dim };

        #(#cfgs)*
        #(#companion_attrs)*
        #[doc = #shape_doc]
        #vis const #shape_const: &'static [usize] = #shape;

        #(#cfgs)*
        #(#companion_attrs)*
        #[doc = #batch_doc]
        #[must_use]
        #vis fn #batch_fn #batch_params (#this, items: __PreallocateItems) -> #batch_ret #where_clause {
            #row_fn
            #private::#batch_driver(&mut __preallocate_rows, items)
        }

        #(#cfgs)*
        #(#companion_attrs)*
        #[doc = #pipeline_doc]
        #[must_use]
        #vis fn #pipeline_fn #pipeline_params (#this) -> #private::Pipeline<
            impl #private::RowFn<#item_ty, Error = #error, Failure = #failure, Dtype = #dtype, Dim = #batch_dim> + '_,
            #mode_marker,
        > #pipeline_where {
            #row_fn
            #private::Pipeline::new(__preallocate_rows)
        }

        #(#cfgs)*
        #(#companion_attrs)*
        #[doc = #fill_doc]
        #vis fn #fill_fn #fill_params (#this, items: __PreallocateItems, out: __PreallocateOut) -> #fill_ret #where_clause {
            #row_fn
            #private::#fill_driver(&mut __preallocate_rows, items, out.into())
        }
    }
}

/// The item type with every elided lifetime named (`&T`, `Tok<'_>`), so that it can be
/// repeated in an impl header or a where clause; the names to declare; and the outlives
/// bounds (`T: 'a` for each `&'a T`) that the function's signature implied but a where clause
/// must state.
struct NamedItem {
    ty: Type,
    lifetimes: Vec<syn::Lifetime>,
    outlives: Vec<syn::WherePredicate>,
}

fn name_elided_lifetimes(item_ty: &Type) -> NamedItem {
    struct Namer {
        lifetimes: Vec<syn::Lifetime>,
        outlives: Vec<syn::WherePredicate>,
    }
    impl Namer {
        fn fresh(&mut self, span: Span) -> syn::Lifetime {
            let name = format!("'__preallocate_{}", self.lifetimes.len());
            let lifetime = syn::Lifetime::new(&name, span);
            self.lifetimes.push(lifetime.clone());
            lifetime
        }
    }
    impl VisitMut for Namer {
        fn visit_type_reference_mut(&mut self, r: &mut syn::TypeReference) {
            if r.lifetime.is_none() {
                r.lifetime = Some(self.fresh(r.and_token.span));
            }
            syn::visit_mut::visit_type_reference_mut(self, r);
            if let Some(lifetime) = &r.lifetime {
                // Spanned at the attribute: a lint about this bound must not blame user code.
                let referent = respan(r.elem.to_token_stream(), Span::call_site());
                self.outlives
                    .push(syn::parse_quote_spanned!(Span::call_site()=> #referent: #lifetime));
            }
        }
        fn visit_lifetime_mut(&mut self, l: &mut syn::Lifetime) {
            if l.ident == "_" {
                *l = self.fresh(l.apostrophe);
            }
        }
        // Elided lifetimes inside `fn(&T)` and `Fn(&T)` are higher-ranked: leave them be.
        fn visit_type_bare_fn_mut(&mut self, _: &mut syn::TypeBareFn) {}
        fn visit_parenthesized_generic_arguments_mut(
            &mut self,
            _: &mut syn::ParenthesizedGenericArguments,
        ) {
        }
        fn visit_type_trait_object_mut(&mut self, t: &mut syn::TypeTraitObject) {
            // `dyn Trait + '_` names its lifetime; what is inside the trait's own arguments
            // is left as written.
            for bound in &mut t.bounds {
                if let syn::TypeParamBound::Lifetime(l) = bound {
                    self.visit_lifetime_mut(l);
                }
            }
        }
    }
    let mut ty = item_ty.clone();
    let mut namer = Namer {
        lifetimes: Vec::new(),
        outlives: Vec::new(),
    };
    namer.visit_type_mut(&mut ty);
    NamedItem {
        ty,
        lifetimes: namer.lifetimes,
        outlives: namer.outlives,
    }
}

fn respan(tokens: TokenStream, span: Span) -> TokenStream {
    tokens
        .into_iter()
        .map(|mut token| {
            if let proc_macro2::TokenTree::Group(group) = &token {
                let mut inner =
                    proc_macro2::Group::new(group.delimiter(), respan(group.stream(), span));
                inner.set_span(span);
                token = proc_macro2::TokenTree::Group(inner);
            } else {
                token.set_span(span);
            }
            token
        })
        .collect()
}

/// The function's generics with the item type's named lifetimes first and its outlives bounds
/// added to the where clause.
fn generics_with(func: &ItemFn, named: &NamedItem) -> syn::Generics {
    let mut generics = func.sig.generics.clone();
    for (at, lifetime) in named.lifetimes.iter().enumerate() {
        generics.params.insert(
            at,
            syn::GenericParam::Lifetime(syn::LifetimeParam::new(lifetime.clone())),
        );
    }
    generics
        .make_where_clause()
        .predicates
        .extend(named.outlives.iter().cloned());
    generics
}

/// On an error: the function as written, the errors, and companions with the right names, so
/// that one mistake gives one error and the rest of the crate still type-checks.
fn fallback(func: &ItemFn, args: &Args, errors: &Errors) -> TokenStream {
    let compile_errors = errors.to_compile_errors();
    let name = &func.sig.ident;
    let vis = &func.vis;
    let (cfgs, _) = carried_attributes(func);
    let private = private_path(args);
    let dim = args
        .row_shape()
        .and_then(|shape| shape.iter().map(Extent::literal).product::<Option<usize>>())
        .unwrap_or(1);
    let rank = args.row_shape().map_or(1, |shape| shape.len());
    let batch_dim = format_ident!("Ix{}", rank + 1);
    let dtype = args.dtype.as_ref().map_or_else(
        || quote!(::core::primitive::f32),
        |(d, ty)| d.path(&private, ty.span()),
    );
    let message =
        format!("`{name}` has an invalid #[preallocate] attribute; see the compile error");
    let array = quote!(#private::ndarray::Array<#dtype, #private::ndarray::#batch_dim>);
    let view = quote!(#private::ndarray::ArrayViewMut<'out, #dtype, #private::ndarray::#batch_dim>);
    if let Some(receiver) = func.sig.receiver() {
        // Methods: siblings in the same `impl` block.
        let this = if receiver.mutability.is_some() {
            quote!(&mut self)
        } else {
            quote!(&self)
        };
        let upper = name.to_string().trim_start_matches("r#").to_uppercase();
        let dim_const = format_ident!("{}_DIM", upper);
        let batch_fn = format_ident!("{}_batch", name);
        let fill_fn = format_ident!("{}_fill", name);
        return quote! {
            #func
            #compile_errors
            #(#cfgs)*
            #[allow(dead_code)]
            #vis const #dim_const: usize = #dim;
            #(#cfgs)*
            #[allow(dead_code, unused_variables)]
            #vis fn #batch_fn<I: ::core::iter::IntoIterator>(#this, items: I) -> #array {
                ::core::panic!(#message)
            }
            #(#cfgs)*
            #[allow(dead_code, unused_variables)]
            #vis fn #fill_fn<'out, I: ::core::iter::IntoIterator, O: ::core::convert::Into<#view>>(#this, items: I, out: O)
                -> ::core::result::Result<usize, #private::Error> {
                ::core::panic!(#message)
            }
        };
    }
    let inner = inner_visibility(vis);
    quote! {
        #func
        #compile_errors
        #(#cfgs)*
        #[allow(dead_code, unused_variables)]
        #vis mod #name {
            #inner const DIM: usize = #dim;
            #inner type Dtype = #dtype;
            #inner fn batch<I: ::core::iter::IntoIterator>(items: I) -> #array {
                ::core::panic!(#message)
            }
            #inner fn fill<'out, I, O>(items: I, out: O) -> ::core::result::Result<usize, #private::Error>
            where
                I: ::core::iter::IntoIterator,
                O: ::core::convert::Into<#view>,
            {
                ::core::panic!(#message)
            }
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
