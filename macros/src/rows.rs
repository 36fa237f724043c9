//! Several outputs per item: `#[derive(Rows)]` on a struct of row arrays, and
//! `#[preallocate(rows = Struct)]` on a row function returning it.
//!
//! The derive writes the struct's `Rows` impl (its outputs as nested pairs of the runtime's
//! `Col`, each field stored with its own conversion) and three companion structs with one field
//! per output: `{Name}Arrays` (what `batch` returns), `{Name}Views` (what `fill` takes) and
//! `{Name}Chunk` (what a `for_each_chunk` closure gets). The attribute writes the function's
//! module of entry points, as for a one-output row function, over the runtime's `Multi`.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Expr, Meta, Token};

use crate::attr::Cast;
use crate::dtype::Dtype;
use crate::errors::Errors;
use crate::expand::lifetimes::{generics_with, name_elided_lifetimes};

/// One field: one output.
struct Field {
    name: syn::Ident,
    /// The field's element type.
    elem: syn::Type,
    /// The field's length.
    len: Expr,
    /// The output's element type (`dtype`, else `elem`).
    dtype: TokenStream,
    cast: Cast,
    /// The row shape: `[len]`, or the field's `shape`.
    shape: Vec<Expr>,
    /// Whether the shape was given (and must be checked against the length).
    shaped: bool,
    span: Span,
}

const FIELD_KEYS: &str = "`dtype`, `cast`, `shape`";

/// `#[derive(Rows)]`.
pub fn derive(input: TokenStream) -> TokenStream {
    let item: syn::DeriveInput = match syn::parse2(input) {
        Ok(item) => item,
        Err(err) => return err.to_compile_error(),
    };
    let mut errors = Errors::default();
    let syn::Data::Struct(data) = &item.data else {
        return syn::Error::new(
            item.ident.span(),
            "#[derive(Rows)] applies to a struct with named fields, one per output: `struct Example { x: [f32; 30], y: [u8; 1] }`",
        )
        .to_compile_error();
    };
    let syn::Fields::Named(named) = &data.fields else {
        return syn::Error::new(
            item.ident.span(),
            "#[derive(Rows)] needs named fields: each field's name names its output (`x`, `y`)",
        )
        .to_compile_error();
    };
    if !item.generics.params.is_empty() {
        errors.push(syn::Error::new_spanned(
            &item.generics,
            "#[derive(Rows)] does not take generic parameters: the outputs' types and lengths are fixed",
        ));
    }
    let krate = krate_of(&item.attrs, &mut errors);
    let private = quote!(#krate::__private);
    let fields: Vec<Field> = named
        .named
        .iter()
        .filter_map(|field| parse_field(field, &private, &mut errors))
        .collect();
    if named.named.is_empty() {
        errors.push(syn::Error::new(
            item.ident.span(),
            "#[derive(Rows)] needs at least one field: one per output",
        ));
    }
    if !errors.is_empty() {
        return errors.to_compile_errors();
    }
    emit_derive(&item, &fields, &krate)
}

/// `#[rows(crate = path)]` on the struct, else `::preallocate`.
fn krate_of(attrs: &[syn::Attribute], errors: &mut Errors) -> TokenStream {
    let mut krate = quote!(::preallocate);
    for attr in attrs.iter().filter(|a| a.path().is_ident("rows")) {
        let parsed = attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("crate") {
                let path: syn::Path = meta.value()?.parse()?;
                krate = quote!(#path);
                Ok(())
            } else {
                Err(meta.error("on the struct, #[rows] takes only `crate = path`; put `dtype`, `cast` and `shape` on a field"))
            }
        });
        if let Err(err) = parsed {
            errors.push(err);
        }
    }
    krate
}

fn parse_field(field: &syn::Field, private: &TokenStream, errors: &mut Errors) -> Option<Field> {
    let name = field.ident.clone()?;
    let syn::Type::Array(array) = &field.ty else {
        errors.push(syn::Error::new_spanned(
            &field.ty,
            format!(
                "the field `{name}` is one output's row: give it an array type, `{name}: [f32; N]`"
            ),
        ));
        return None;
    };
    let elem = (*array.elem).clone();
    if let syn::Type::Array(_) = elem {
        errors.push(syn::Error::new_spanned(
            &field.ty,
            format!("the field `{name}` is a nested array: write it flat (`[T; H * W]`) with `#[rows(shape = (H, W))]`"),
        ));
        return None;
    }
    let len = array.len.clone();
    let mut out = Field {
        dtype: quote!(#elem),
        elem,
        shape: vec![len.clone()],
        len,
        cast: Cast::Lossless,
        shaped: false,
        name,
        span: field.span(),
    };
    for attr in field.attrs.iter().filter(|a| a.path().is_ident("rows")) {
        let metas = match attr.parse_args_with(Punctuated::<Meta, Token![,]>::parse_terminated) {
            Ok(metas) => metas,
            Err(err) => {
                errors.push(err);
                continue;
            }
        };
        for meta in metas {
            field_key(&meta, &mut out, private, errors);
        }
    }
    Some(out)
}

fn field_key(meta: &Meta, field: &mut Field, private: &TokenStream, errors: &mut Errors) {
    let Meta::NameValue(pair) = meta else {
        errors.push(syn::Error::new_spanned(
            meta,
            format!("expected `key = value`; the keys of a field are {FIELD_KEYS}"),
        ));
        return;
    };
    let key = pair
        .path
        .get_ident()
        .map(ToString::to_string)
        .unwrap_or_default();
    let value = &pair.value;
    match key.as_str() {
        "dtype" => match field_dtype(value) {
            Ok(dtype) => field.dtype = dtype.path(private, value.span()),
            Err(err) => errors.push(err),
        },
        "cast" => match value {
            Expr::Lit(syn::ExprLit {
                lit: syn::Lit::Str(text),
                ..
            }) => match text.value().as_str() {
                "as" => field.cast = Cast::As,
                "checked" => field.cast = Cast::Checked,
                "saturate" => field.cast = Cast::Saturate,
                other => errors.push(syn::Error::new_spanned(
                    value,
                    format!("unknown cast `\"{other}\"`: expected one of \"as\", \"checked\", \"saturate\""),
                )),
            },
            _ => errors.push(syn::Error::new_spanned(
                value,
                "expected a string: `cast = \"as\"`, `\"checked\"` or `\"saturate\"`",
            )),
        },
        "shape" => match value {
            Expr::Tuple(tuple) if !tuple.elems.is_empty() => {
                field.shape = tuple.elems.iter().cloned().collect();
                field.shaped = true;
            }
            Expr::Paren(paren) => {
                field.shape = vec![(*paren.expr).clone()];
                field.shaped = true;
            }
            _ => errors.push(syn::Error::new_spanned(
                value,
                "expected the row shape as a tuple: `shape = (28, 28)`",
            )),
        },
        _ => {
            let shown = crate::errors::shown(&pair.path);
            let hint = crate::attr::closest(&shown, &["dtype", "cast", "shape"])
                .map(|key| format!(" (did you mean `{key}`?)"))
                .unwrap_or_default();
            errors.push(syn::Error::new_spanned(
                &pair.path,
                format!("unknown key `{shown}` in #[rows]{hint}; the keys of a field are {FIELD_KEYS}"),
            ));
        }
    }
}

/// A field's `dtype`: a Rust type name; a numpy or PyTorch name gets a suggestion.
fn field_dtype(value: &Expr) -> syn::Result<Dtype> {
    let name = match value {
        Expr::Path(path) => path.path.get_ident().map(ToString::to_string),
        Expr::Lit(syn::ExprLit {
            lit: syn::Lit::Str(text),
            ..
        }) => Some(text.value()),
        _ => return Err(crate::attr::foreign_dtype(value)),
    };
    let name = name.unwrap_or_else(|| crate::errors::shown(value));
    if let (Expr::Path(_), Some(dtype)) = (value, Dtype::from_name(&name)) {
        return Ok(dtype);
    }
    let fix = match Dtype::suggestion(&name) {
        Some(d) => format!("did you mean `{}`? write `dtype = {}`", d.name(), d.name()),
        None => format!("write one of {}", crate::dtype::VALID_NAMES),
    };
    Err(syn::Error::new_spanned(
        value,
        format!("unknown dtype `{}`: {fix}", crate::errors::shown(value)),
    ))
}

fn emit_derive(item: &syn::DeriveInput, fields: &[Field], krate: &TokenStream) -> TokenStream {
    let name = &item.ident;
    let vis = &item.vis;
    let private = quote!(#krate::__private);
    let nd = quote!(#private::ndarray);
    let arrays = format_ident!("{}Arrays", name);
    let views = format_ident!("{}Views", name);
    let chunk = format_ident!("{}Chunk", name);
    let row_mut = format_ident!("{}Row", name);
    let names: Vec<String> = fields.iter().map(|f| f.name.to_string()).collect();
    let dims: Vec<TokenStream> = fields
        .iter()
        .map(|f| {
            let dim = format_ident!("Ix{}", f.shape.len() + 1);
            quote!(#nd::#dim)
        })
        .collect();
    let field_names: Vec<&syn::Ident> = fields.iter().map(|f| &f.name).collect();
    let first_field = field_names[0];
    let dtypes: Vec<&TokenStream> = fields.iter().map(|f| &f.dtype).collect();

    // Nested pairs, right-folded: (a, (b, c)); a single field is itself.
    let nest = |parts: Vec<TokenStream>| -> TokenStream {
        let mut parts = parts.into_iter().rev();
        let last = parts.next().unwrap_or_default();
        parts.fold(last, |rest, part| quote!((#part, #rest)))
    };
    // The path of field `i` in a nested value: `.0`, `.1.0`, `.1.1`.
    let access = |i: usize| -> TokenStream {
        let n = fields.len();
        let mut path = TokenStream::new();
        for _ in 0..i {
            path.extend(quote!(.1));
        }
        if i + 1 < n {
            path.extend(quote!(.0));
        }
        path
    };

    let layout = nest(
        dtypes
            .iter()
            .zip(&dims)
            .map(|(dtype, dim)| quote!(#private::Col<#dtype, #dim>))
            .collect(),
    );
    let shapes = nest(
        fields
            .iter()
            .map(|f| {
                let dtype = &f.dtype;
                let len = &f.len;
                let axes = &f.shape;
                quote! {
                    #private::ColShape::<#dtype> {
                        shape: &[#(#axes),*],
                        dim: #len,
                        copy_lane: #private::copy_lane_n::<#dtype, { #len }>,
                    }
                }
            })
            .collect(),
    );
    let stores = fields.iter().enumerate().map(|(i, f)| {
        let path = access(i);
        let (elem, dtype, field) = (&f.elem, &f.dtype, &f.name);
        let cast = format_ident!(
            "{}",
            match f.cast {
                Cast::Lossless => "Lossless",
                Cast::As => "As",
                Cast::Checked => "Checked",
                Cast::Saturate => "Saturate",
            },
            span = f.span
        );
        // Re-sliced to the field's constant length, so that the copy is inlined (as a
        // one-output row's is) instead of a loop of unknown length.
        let len = &f.len;
        let row = quote!(&mut (__preallocate_row #path)[..#len]);
        // Spanned on the field's element type, so that a missing conversion is reported on the
        // field (as the attribute's is on the row type).
        let span = elem.span();
        let at = crate::expand::tokens::respan(private.clone(), span);
        let cast = format_ident!("{}", cast, span = span);
        quote_spanned! {span=>
            #at::store_field::<#at::cast::#cast, #elem, #dtype>(&self.#field, #row)?;
        }
    });
    let checked = fields.iter().any(|f| f.cast == Cast::Checked);
    let (store_error, checks) = if checked {
        (quote!(#private::CastError), quote!(#private::WithChecks))
    } else {
        (
            quote!(::core::convert::Infallible),
            quote!(#private::NoChecks),
        )
    };
    let nested_fields = nest(field_names.iter().map(|f| quote!(#f)).collect());
    let shape_checks = fields.iter().filter(|f| f.shaped).map(|f| {
        let (len, axes) = (&f.len, &f.shape);
        let message = format!(
            "the `shape` of the field `{}` does not hold its length: the product of the axes must be the array's length",
            f.name
        );
        let span = axes.first().map_or(f.span, Spanned::span);
        let product = axes
            .iter()
            .map(|axis| quote!((#axis)))
            .reduce(|product, axis| quote!(#product * #axis))
            .unwrap_or_else(|| quote!(1));
        quote_spanned! {span=>
            #[allow(clippy::identity_op, clippy::eq_op, clippy::assertions_on_constants)]
            const _: () = ::core::assert!(#product == #len, #message);
        }
    });
    let doc_arrays = format!("The arrays of the outputs of [`{name}`], one per field: what `batch` returns for a row function with `rows = {name}`.");
    let doc_views = format!("Buffers for the outputs of [`{name}`], one per field, all with the same number of rows: what `fill` writes into.");
    let doc_chunk = format!("A chunk of the outputs of [`{name}`], one `rows × DIM` view per field: what a `for_each_chunk` closure gets.");
    let doc_row = format!("One row of every output of [`{name}`], for a row function that writes them in place (`fn f(item: Item, row: {row_mut}<'_>)`): each field is its output's slot, zeroed.");
    let lens: Vec<&Expr> = fields.iter().map(|f| &f.len).collect();
    let slots = fields.iter().enumerate().map(|(i, f)| {
        let path = access(i);
        let field = &f.name;
        quote! {
            let ::core::result::Result::Ok(#field) = ::core::convert::TryInto::try_into(__preallocate_row #path) else {
                ::core::unreachable!("the drivers pass slots of exactly each output's length")
            };
        }
    });
    let field_docs: Vec<String> = names.iter().map(|n| format!("The output `{n}`.")).collect();
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
            #( #[doc = #field_docs] pub #field_names: &'a mut [#dtypes; #lens], )*
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

        const _: () = {
            #(#shape_checks)*

            impl #private::RowsTrait for #name {
                type Layout = #layout;
                type StoreError = #store_error;
                type Checks = #checks;
                type Arrays = #arrays;
                type Views<'a> = #views<'a>;
                type Chunk<'a> = #chunk<'a>;
                type RowMut<'a> = #row_mut<'a>;
                const NAMES: &'static [&'static str] = &[#(#names),*];

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
        };
    }
}

/// The shape of a function with `rows = ..`: how its result gives the struct.
struct RowsFn {
    fallible: Option<syn::Type>,
    filtering: bool,
    /// Writes its rows into `{Struct}Row` (a second parameter) instead of returning them.
    in_place: bool,
}

/// `#[preallocate(rows = Struct, on_error = "..", crate = ..)]` on a free function.
pub fn expand_rows_fn(attr: TokenStream, func: &syn::ItemFn) -> TokenStream {
    let mut errors = Errors::default();
    let metas = match Punctuated::<Meta, Token![,]>::parse_terminated.parse2(attr) {
        Ok(metas) => metas,
        Err(err) => return with(func, err.to_compile_error()),
    };
    let mut rows_ty: Option<syn::Path> = None;
    let mut skip = false;
    let mut krate = quote!(::preallocate);
    for meta in &metas {
        let key = meta.path().get_ident().map(ToString::to_string);
        match (key.as_deref(), meta) {
            (Some("rows"), Meta::NameValue(pair)) => match &pair.value {
                Expr::Path(path) => rows_ty = Some(path.path.clone()),
                other => errors.push(syn::Error::new_spanned(
                    other,
                    "expected the struct of rows: `rows = Example`, a struct with #[derive(Rows)]",
                )),
            },
            (Some("on_error"), Meta::NameValue(pair)) => match &pair.value {
                Expr::Lit(syn::ExprLit {
                    lit: syn::Lit::Str(text),
                    ..
                }) if text.value() == "skip" || text.value() == "fail" => {
                    skip = text.value() == "skip";
                }
                other => errors.push(syn::Error::new_spanned(
                    other,
                    "expected `on_error = \"fail\"` or `on_error = \"skip\"`",
                )),
            },
            (Some("crate"), Meta::NameValue(pair)) => {
                let value = &pair.value;
                krate = quote!(#value);
            }
            (Some("dim" | "shape" | "dtype" | "cast"), _) => errors.push(syn::Error::new_spanned(
                meta.path(),
                "with `rows = ..`, each output's `dtype`, `cast` and `shape` are given on its field of the struct: `#[rows(dtype = f16, cast = \"as\")] x: [f32; 30]`",
            )),
            _ => errors.push(syn::Error::new_spanned(
                meta,
                "unknown key in #[preallocate(rows = ..)]; the valid keys are `rows`, `on_error`, `crate`",
            )),
        }
    }
    let receiver = func.sig.receiver().cloned();
    let params = func.sig.inputs.len() - usize::from(receiver.is_some());
    let in_place = params == 2;
    let shape = rows_fn_shape(func, in_place, &mut errors);
    if let Some(receiver) = &receiver {
        if receiver.reference.is_none() {
            errors.push(syn::Error::new_spanned(
                receiver,
                "a row method takes `&self` or `&mut self`: by value, `self` would be used up by the first item",
            ));
        }
    }
    if skip && shape.as_ref().is_some_and(|s| s.fallible.is_none()) {
        errors.push(syn::Error::new_spanned(
            &func.sig.output,
            "`on_error = \"skip\"` needs a function that can fail: return `Result<.., E>`",
        ));
    }
    let typed: Vec<&syn::FnArg> = func
        .sig
        .inputs
        .iter()
        .filter(|arg| matches!(arg, syn::FnArg::Typed(_)))
        .collect();
    let item_ty = match typed.as_slice() {
        [syn::FnArg::Typed(arg)] | [syn::FnArg::Typed(arg), syn::FnArg::Typed(_)] => {
            Some((*arg.ty).clone())
        }
        _ => {
            errors.push(syn::Error::new_spanned(
                &func.sig.inputs,
                "a row function takes one item: `fn parse(line: &str) -> Example`, or writes it in place: `fn parse(line: &str, row: ExampleRow<'_>)`",
            ));
            None
        }
    };
    let by_value = receiver.as_ref().is_some_and(|r| r.reference.is_none());
    let (Some(rows_ty), Some(shape), Some(item_ty), false) = (rows_ty, shape, item_ty, by_value)
    else {
        if errors.is_empty() {
            errors.push(syn::Error::new(
                Span::call_site(),
                "`rows = Struct` is missing: name the #[derive(Rows)] struct the function returns",
            ));
        }
        return with(func, errors.to_compile_errors());
    };
    // After an error in a key that does not shape the expansion, the companions are still
    // emitted, so that the code using them reports nothing more.
    let parts = RowsParts::new(func, &rows_ty, &shape, skip, &krate, receiver.is_some());
    let companions = match receiver {
        Some(receiver) => emit_rows_method(func, &parts, &item_ty, receiver.mutability.is_some()),
        None => emit_rows_fn(func, &parts, &item_ty),
    };
    let errors = errors.to_compile_errors();
    quote!(#companions #errors)
}

fn with(func: &syn::ItemFn, err: TokenStream) -> TokenStream {
    quote!(#func #err)
}

/// By value: `T`, `Option<T>`, `Result<T, E>` or `Result<Option<T>, E>`; in place: nothing,
/// `bool`, `Result<(), E>` or `Result<bool, E>`.
fn rows_fn_shape(func: &syn::ItemFn, in_place: bool, errors: &mut Errors) -> Option<RowsFn> {
    let ty = match &func.sig.output {
        syn::ReturnType::Type(_, ty) => Some(&**ty),
        syn::ReturnType::Default if in_place => None,
        syn::ReturnType::Default => {
            errors.push(syn::Error::new_spanned(
                &func.sig,
                "a row function with `rows = ..` returns the struct of rows (or an `Option` or `Result` of it), or writes it in place into a second parameter `row: StructRow<'_>`",
            ));
            return None;
        }
    };
    let (outer, args) = ty.map(last_segment).unwrap_or_default();
    let is_bool = |ty: &syn::Type| last_segment(ty).0.as_deref() == Some("bool");
    Some(match outer.as_deref() {
        Some("Result") if args.len() == 2 => RowsFn {
            fallible: Some(args[1].clone()),
            filtering: if in_place {
                is_bool(&args[0])
            } else {
                last_segment(&args[0]).0.as_deref() == Some("Option")
            },
            in_place,
        },
        Some("Option") if !in_place => RowsFn {
            fallible: None,
            filtering: true,
            in_place,
        },
        Some("bool") if in_place => RowsFn {
            fallible: None,
            filtering: true,
            in_place,
        },
        _ => RowsFn {
            fallible: None,
            filtering: false,
            in_place,
        },
    })
}

fn last_segment(ty: &syn::Type) -> (Option<String>, Vec<syn::Type>) {
    let syn::Type::Path(path) = ty else {
        return (None, Vec::new());
    };
    let Some(last) = path.path.segments.last() else {
        return (None, Vec::new());
    };
    let args = match &last.arguments {
        syn::PathArguments::AngleBracketed(args) => args
            .args
            .iter()
            .filter_map(|arg| match arg {
                syn::GenericArgument::Type(ty) => Some(ty.clone()),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    };
    (Some(last.ident.to_string()), args)
}

/// What both a free function's and a method's companions are written from.
struct RowsParts<'a> {
    rows_ty: &'a syn::Path,
    private: TokenStream,
    policy: TokenStream,
    overwrites: bool,
    error_ty: TokenStream,
    /// The body of `write_rows`.
    body: TokenStream,
}

impl<'a> RowsParts<'a> {
    fn new(
        func: &syn::ItemFn,
        rows_ty: &'a syn::Path,
        shape: &RowsFn,
        skip: bool,
        krate: &TokenStream,
        method: bool,
    ) -> Self {
        let name = &func.sig.ident;
        let private = quote!(#krate::__private);
        let base_policy = match (shape.fallible.is_some(), shape.filtering, skip) {
            (true, _, true) => quote!(Skipping),
            (false, false, _) => quote!(Plain),
            (false, true, _) => quote!(Filtered),
            (true, false, false) => quote!(Fallible),
            (true, true, false) => quote!(FallibleFiltered),
        };
        // A checked field makes a struct's store fallible; an in-place row stores nothing.
        let policy = if shape.in_place {
            quote!(#private::policy::#base_policy)
        } else {
            quote! {
                <<#rows_ty as #private::RowsTrait>::Checks as #private::Checks>::Policy<#private::policy::#base_policy>
            }
        };
        let error_ty = shape
            .fallible
            .clone()
            .map_or_else(|| quote!(::core::convert::Infallible), |e| quote!(#e));
        let callee = if method {
            quote!(self.#name)
        } else {
            quote!(#name)
        };
        let body = rows_body(shape, rows_ty, &private, &callee);
        RowsParts {
            rows_ty,
            private,
            policy,
            overwrites: !shape.in_place,
            error_ty,
            body,
        }
    }
}

/// Calls the function (`callee`) on `__preallocate_item` and stores what it gives into
/// `__preallocate_row`, returning `Ok(kept)`.
fn rows_body(
    shape: &RowsFn,
    rows_ty: &syn::Path,
    private: &TokenStream,
    callee: &TokenStream,
) -> TokenStream {
    let ok = quote!(::core::result::Result::Ok);
    let err = quote!(::core::result::Result::Err);
    let kept = quote! {{
        if let #err(__preallocate_cast) = #private::RowsTrait::store(&__preallocate_value, __preallocate_row) {
            return #err(::core::convert::From::from(__preallocate_cast));
        }
        #ok(true)
    }};
    let called = quote!(#callee(__preallocate_item));
    let row_error = quote!(#private::RowError::Row(__preallocate_error));
    let in_place_call = quote! {
        #callee(__preallocate_item, <#rows_ty as #private::RowsTrait>::row_mut(__preallocate_row))
    };
    match (shape.in_place, shape.fallible.is_some(), shape.filtering) {
        (true, false, false) => quote!({ #in_place_call; #ok(true) }),
        (true, false, true) => quote!(#ok(#in_place_call)),
        (true, true, false) => quote! {
            match #in_place_call {
                #ok(()) => #ok(true),
                #err(__preallocate_error) => #err(::core::convert::From::from(#row_error)),
            }
        },
        (true, true, true) => quote! {
            match #in_place_call {
                #ok(__preallocate_kept) => #ok(__preallocate_kept),
                #err(__preallocate_error) => #err(::core::convert::From::from(#row_error)),
            }
        },
        (false, false, false) => quote!({ let __preallocate_value: #rows_ty = #called; #kept }),
        (false, false, true) => quote! {
            match #called {
                ::core::option::Option::Some(__preallocate_value) => #kept,
                ::core::option::Option::None => #ok(false),
            }
        },
        (false, true, false) => quote! {
            match #called {
                #ok(__preallocate_value) => #kept,
                #err(__preallocate_error) => #err(::core::convert::From::from(#row_error)),
            }
        },
        (false, true, true) => quote! {
            match #called {
                #ok(::core::option::Option::Some(__preallocate_value)) => #kept,
                #ok(::core::option::Option::None) => #ok(false),
                #err(__preallocate_error) => #err(::core::convert::From::from(#row_error)),
            }
        },
    }
}

fn emit_rows_fn(func: &syn::ItemFn, parts: &RowsParts<'_>, item_ty: &syn::Type) -> TokenStream {
    let name = &func.sig.ident;
    let vis = &func.vis;
    let inner = crate::expand::tokens::inner_visibility(vis);
    let RowsParts {
        rows_ty,
        private,
        policy,
        overwrites,
        error_ty,
        body,
    } = parts;
    let row_type = format_ident!("Row");
    let row_doc = format!(
        "`{name}()` as a type, which the runtime's drivers run (as `Multi<Row>`): its outputs are the fields of `{}`. Use the functions of this module; name it only to spell a bound or an error type.",
        crate::errors::shown(rows_ty)
    );
    let multi = quote!(#private::Multi<#row_type>);
    let named = name_elided_lifetimes(item_ty);
    let item = &named.ty;
    let generics = generics_with(&func.sig.generics, &named);
    let (impl_generics, _, where_clause) = generics.split_for_impl();
    let error = quote!(<#multi as #private::WriteRows<I::Item>>::Error);
    let outputs = quote!(<#multi as #private::Outputs>);
    let batch_ret = quote!(<#outputs::Policy as #private::Policy>::Batch<#outputs::Arrays, #error>);
    let fill_ret = quote!(::core::result::Result<
        <#outputs::Policy as #private::Policy>::Filled,
        #private::Error<<#outputs::Policy as #private::Policy>::Reported<#error>>,
    >);
    let module_doc = format!(
        "Batch entry points of the row function `{name}()` with several outputs (one per field of `{}`), generated by `#[preallocate(rows = ..)]`.",
        crate::errors::shown(rows_ty)
    );
    let batch_doc = "The rows of every item in new arrays, one per output, each allocated once when the input's length is known; what it returns follows the function's result type, as for a one-output `batch`.";
    let fill_doc = "Writes the rows of every item into the caller's buffers, one per output, all with the same number of rows.";
    let pipeline_doc = "A bounded-memory pipeline: `for_each_chunk` (a struct of chunk views), `write_npy_dir` (one `.npy` per output), `batch`, `threads`.";
    let par_batch_doc = "`batch`, with the rows computed on every thread of rayon's current pool: the same result, bit for bit.";
    let par_fill_doc = "`fill`, with the rows computed on every thread of rayon's current pool: the same result as `fill`.";
    quote! {
        #func

        #[doc = #module_doc]
        #[allow(dead_code)]
        #vis mod #name {
            #[doc = #row_doc]
            #[derive(Clone, Copy, Debug, Default)]
            #inner struct #row_type;

            #[doc = #batch_doc]
            #[must_use]
            #inner fn batch<I>(items: I) -> #batch_ret
            where
                I: ::core::iter::IntoIterator,
                #multi: #private::WriteRows<I::Item>,
            {
                #private::batch_rows(&mut #private::Multi(#row_type), items)
            }

            #[doc = #fill_doc]
            #inner fn fill<I>(items: I, out: #outputs::Views<'_>) -> #fill_ret
            where
                I: ::core::iter::IntoIterator,
                #multi: #private::WriteRows<I::Item>,
            {
                #private::fill_rows(&mut #private::Multi(#row_type), items, out)
            }

            #[doc = #pipeline_doc]
            #[must_use]
            #inner fn pipeline() -> #private::Pipeline<#multi> {
                #private::Pipeline::new(#private::Multi(#row_type))
            }

            #private::if_parallel! {
                #[doc = #par_batch_doc]
                #[must_use]
                #inner fn par_batch<I>(items: I) -> #batch_ret
                where
                    I: #private::rayon::iter::IntoParallelIterator,
                    I::Iter: #private::rayon::iter::IndexedParallelIterator,
                    #multi: #private::WriteRows<I::Item>,
                    #error: ::core::marker::Send,
                {
                    #private::par_batch_rows(&#private::Multi(#row_type), items)
                }

                #[doc = #par_fill_doc]
                #inner fn par_fill<I>(items: I, out: #outputs::Views<'_>) -> #fill_ret
                where
                    I: #private::rayon::iter::IntoParallelIterator,
                    I::Iter: #private::rayon::iter::IndexedParallelIterator,
                    #multi: #private::WriteRows<I::Item>,
                    #error: ::core::marker::Send,
                {
                    #private::par_fill_rows(&#private::Multi(#row_type), items, out)
                }
            }
        }

        impl #private::RowsSpec for #name::#row_type {
            type Rows = #rows_ty;
            type Policy = #policy;
            const OVERWRITES_ROW: bool = #overwrites;
        }

        impl #impl_generics #private::RowsFn<#item> for #name::#row_type #where_clause {
            type Error = #error_ty;
            #[inline]
            fn write_rows(
                &mut self,
                __preallocate_item: #item,
                __preallocate_row: <<#rows_ty as #private::RowsTrait>::Layout as #private::Layout>::Row<'_>,
            ) -> ::core::result::Result<bool, <#policy as #private::Policy>::Failure<#error_ty>> { #body }
        }
    }
}

/// A method's siblings: `m_batch`, `m_fill`, `m_pipeline`, and for `&self` methods
/// `m_par_batch` and `m_par_fill`, each wrapping `self.m` in the runtime's `FnRows`.
fn emit_rows_method(
    func: &syn::ItemFn,
    parts: &RowsParts<'_>,
    item_ty: &syn::Type,
    mutable: bool,
) -> TokenStream {
    let name = &func.sig.ident;
    let vis = &func.vis;
    let RowsParts {
        rows_ty,
        private,
        policy,
        overwrites,
        error_ty,
        body,
    } = parts;
    let this = if mutable {
        quote!(&mut self)
    } else {
        quote!(&self)
    };
    let (cfgs, companion_attrs) = crate::expand::tokens::carried_attributes(func);
    let attrs = quote!(#(#cfgs)* #(#companion_attrs)*);
    let named = name_elided_lifetimes(item_ty);
    let item = &named.ty;
    let generics = generics_with(&func.sig.generics, &named);
    let rows_trait = quote!(<#rows_ty as #private::RowsTrait>);
    let batch_ret = quote!(<#policy as #private::Policy>::Batch<#rows_trait::Arrays, #error_ty>);
    let fill_ret = quote!(::core::result::Result<
        <#policy as #private::Policy>::Filled,
        #private::Error<<#policy as #private::Policy>::Reported<#error_ty>>,
    >);
    let failure = quote!(<#policy as #private::Policy>::Failure<#error_ty>);
    let new_rows = quote! {
        #private::Multi(#private::FnRows::<_, #rows_ty, #error_ty, #policy, #overwrites>::new(
            move |__preallocate_item: #item,
                  __preallocate_row: <#rows_trait::Layout as #private::Layout>::Row<'_>|
                -> ::core::result::Result<bool, #failure> { #body }
        ))
    };
    let items = quote!(__PreallocateItems);
    let mut batch_generics = generics.clone();
    batch_generics
        .params
        .push(syn::parse_quote!(#items: ::core::iter::IntoIterator<Item = #item>));
    let (batch_params, _, batch_where) = batch_generics.split_for_impl();
    let (pipeline_params, _, pipeline_where) = generics.split_for_impl();

    let batch_fn = format_ident!("{}_batch", name);
    let fill_fn = format_ident!("{}_fill", name);
    let pipeline_fn = format_ident!("{}_pipeline", name);
    let shown = crate::errors::shown(rows_ty);
    let batch_doc = format!("The outputs of `self.{name}()` for every item, one array per field of `{shown}`, each allocated once when the input's length is known.");
    let fill_doc = format!("Writes the outputs of `self.{name}()` for every item into the caller's buffers, one per field of `{shown}`, all with the same number of rows.");
    let pipeline_doc = format!("A bounded-memory pipeline over `self.{name}()`: `for_each_chunk`, `write_npy` (one `.npy` per field), `write_npy_shards`, `write_safetensors`, `batch`, `threads`.");
    let parallel = (!mutable).then(|| {
        let rayon = quote!(#private::rayon::iter);
        let mut par_generics = generics.clone();
        par_generics
            .params
            .push(syn::parse_quote!(#items: #rayon::IntoParallelIterator<Item = #item>));
        let predicates = &mut par_generics.make_where_clause().predicates;
        predicates.push(syn::parse_quote!(
            <#items as #rayon::IntoParallelIterator>::Iter: #rayon::IndexedParallelIterator
        ));
        predicates.push(syn::parse_quote!(for<'__preallocate_threads> Self: ::core::marker::Sync));
        predicates.push(syn::parse_quote!(
            for<'__preallocate_threads> #error_ty: ::core::marker::Send
        ));
        let (par_params, _, par_where) = par_generics.split_for_impl();
        let par_batch_fn = format_ident!("{}_par_batch", name);
        let par_fill_fn = format_ident!("{}_par_fill", name);
        let par_batch_doc = format!("`{batch_fn}`, with the rows computed on every thread of rayon's current pool: the same result, bit for bit.");
        let par_fill_doc = format!("`{fill_fn}`, with the rows computed on every thread of rayon's current pool: the same result.");
        quote! {
            #private::if_parallel! {
                #attrs
                #[doc = #par_batch_doc]
                #[must_use]
                #vis fn #par_batch_fn #par_params (&self, items: #items) -> #batch_ret #par_where {
                    #private::par_batch_rows(&#new_rows, items)
                }

                #attrs
                #[doc = #par_fill_doc]
                #vis fn #par_fill_fn #par_params (&self, items: #items, out: #rows_trait::Views<'_>) -> #fill_ret #par_where {
                    #private::par_fill_rows(&#new_rows, items, out)
                }
            }
        }
    });
    quote! {
        #func

        #attrs
        #[doc = #batch_doc]
        #[must_use]
        #vis fn #batch_fn #batch_params (#this, items: #items) -> #batch_ret #batch_where {
            #private::batch_rows(&mut #new_rows, items)
        }

        #attrs
        #[doc = #fill_doc]
        #vis fn #fill_fn #batch_params (#this, items: #items, out: #rows_trait::Views<'_>) -> #fill_ret #batch_where {
            #private::fill_rows(&mut #new_rows, items, out)
        }

        #attrs
        #[doc = #pipeline_doc]
        #[must_use]
        #vis fn #pipeline_fn #pipeline_params (#this) -> #private::Pipeline<
            #private::Multi<impl #private::RowsFn<#item, Error = #error_ty, Rows = #rows_ty, Policy = #policy> + '_>,
        > #pipeline_where {
            #private::Pipeline::new(#new_rows)
        }

        #parallel
    }
}
