//! Pieces of generated code that the free-function and the method emitters share: paths into
//! the runtime, the row's types and constants, the entry points' return types, and the
//! attributes the companions inherit from the function.
//!
//! Paths into the runtime take `private`, the facade's `__private` module as seen from where
//! the tokens go: [`Spec::private`] next to the function, [`Spec::module_private`] inside the
//! companion module.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned, ToTokens};
use syn::ItemFn;

use crate::attr::{Cast, Extent};
use crate::model::{Fails, RowFunction};
use crate::spec::{Krate, Policy, Spec};

/// The row function as a type, in its companion module.
pub const ROW_TYPE: &str = "Row";

/// The name of the module-local alias of a relative `crate = path`.
const MODULE_CRATE: &str = "__preallocate_crate";

impl Krate {
    /// The facade's `__private` module, next to the annotated item.
    pub fn private(&self) -> TokenStream {
        let krate = self;
        quote!(#krate::__private)
    }

    /// The facade's `__private` module, inside a companion module.
    pub fn module_private(&self) -> TokenStream {
        match self {
            Krate::Absolute(_) => self.private(),
            Krate::Relative(path) => {
                let alias = format_ident!("{}", MODULE_CRATE, span = path_span(path));
                quote!(#alias::__private)
            }
        }
    }

    /// For a relative `crate = path`: the `use` next to the function `name` (named after it, so
    /// that several functions in one module do not clash), and the `use` inside its companion
    /// module that reaches it.
    pub fn imports(&self, name: &syn::Ident) -> (TokenStream, TokenStream) {
        let Krate::Relative(path) = self else {
            return (TokenStream::new(), TokenStream::new());
        };
        let span = path_span(path);
        let site = format_ident!(
            "__preallocate_crate_{}",
            name.to_string().trim_start_matches("r#"),
            span = span
        );
        let alias = format_ident!("{}", MODULE_CRATE, span = span);
        (
            quote! {
                #[doc(hidden)]
                #[allow(unused_imports)]
                use #path as #site;
            },
            // Spanned on the path: inside a function body, `super::` cannot see the body's
            // items, and the one error there points at `crate = ...`.
            quote_spanned! {span=>
                #[allow(unused_imports)]
                use super::#site as #alias;
            },
        )
    }
}

impl Spec {
    /// The facade's `__private` module, next to the function.
    pub fn private(&self) -> TokenStream {
        self.krate.private()
    }

    /// The facade's `__private` module, inside the companion module.
    pub fn module_private(&self) -> TokenStream {
        self.krate.module_private()
    }

    /// The storage type, as an absolute path spanned on `dtype = ...`.
    pub fn dtype_path(&self, private: &TokenStream) -> TokenStream {
        self.dtype.path(private, self.dtype_span)
    }

    /// `Ix2` for one-axis rows, `Ix3` for two axes, ...
    pub fn batch_dim(&self, private: &TokenStream) -> TokenStream {
        let ix = format_ident!("Ix{}", self.rank() + 1);
        quote!(#private::ndarray::#ix)
    }

    /// The number of elements in one row, as a constant expression.
    pub fn dim_tokens(&self) -> TokenStream {
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

    pub fn shape_tokens(&self) -> TokenStream {
        let axes = &self.shape;
        quote!(&[#(#axes),*])
    }

    /// The runtime's `AxesN<...>` type for this row shape.
    pub fn axes_type(&self, private: &TokenStream) -> TokenStream {
        let axes_ty = format_ident!("Axes{}", self.rank());
        if self.shape.is_empty() {
            return quote!(#private::#axes_ty);
        }
        let axes = self.shape.iter().map(|axis| match axis {
            Extent::Literal(..) => axis.to_token_stream(),
            Extent::Const(path) => quote!({ #path }),
        });
        quote!(#private::#axes_ty<#(#axes),*>)
    }

    /// The referent `T` of an item type `&T`, when the entry points may take any item that
    /// lends a `&T` (see [`RowFunction::lent_referent`]).
    pub fn lent_referent(&self) -> Option<&syn::Type> {
        self.sig.function.lent_referent()
    }

    /// What a Python item is converted to (see [`RowFunction::owned_item`]).
    pub fn owned_item(&self) -> Option<syn::Type> {
        self.sig.function.owned_item()
    }

    /// `U` when the function takes `&[U]` of a numeric `U` (see
    /// [`RowFunction::numeric_slice`]).
    pub fn numeric_slice(&self) -> Option<&syn::Type> {
        self.sig.function.numeric_slice()
    }

    /// The function's own error type as written, or `Infallible`.
    pub fn error_type(&self) -> TokenStream {
        match &self.sig.function.fails {
            Fails::With(ty) => ty.to_token_stream(),
            Fails::Never => quote!(::core::convert::Infallible),
        }
    }

    /// The failure type of `write_row`: never, or a `RowError` of the function's error type.
    pub fn failure_type(&self, private: &TokenStream, error: &TokenStream) -> TokenStream {
        if self.can_fail() {
            quote!(#private::RowError<#error>)
        } else {
            quote!(::core::convert::Infallible)
        }
    }

    /// The runtime's policy type, declared once by the row type.
    pub fn policy_type(&self, private: &TokenStream) -> TokenStream {
        let policy = format_ident!("{}", self.policy.name());
        quote!(#private::policy::#policy)
    }

    /// What `batch` returns, spelled out as the policy's `Batch` is (so that the docs show the
    /// type, not a projection): `error` is the row error type.
    pub fn batch_return(&self, private: &TokenStream, error: &TokenStream) -> TokenStream {
        let dtype = self.dtype_path(private);
        let dim = self.batch_dim(private);
        let array = quote!(#private::ndarray::Array<#dtype, #dim>);
        let result = quote!(::core::result::Result);
        match self.policy {
            Policy::Plain => array,
            Policy::Filtered | Policy::Skipping => quote!(#private::Batch<#array>),
            Policy::Fallible => quote!(#result<#array, #private::ItemError<#error>>),
            Policy::FallibleFiltered => {
                quote!(#result<#private::Batch<#array>, #private::ItemError<#error>>)
            }
        }
    }

    /// What `fill` returns, spelled out as the policy's `Fill` is.
    pub fn fill_return(&self, private: &TokenStream, error: &TokenStream) -> TokenStream {
        let result = quote!(::core::result::Result);
        match self.policy {
            Policy::Plain => quote!(#result<usize, #private::Error>),
            Policy::Filtered => quote!(#result<#private::Batch<usize>, #private::Error>),
            Policy::Fallible => quote!(#result<usize, #private::Error<#error>>),
            Policy::FallibleFiltered | Policy::Skipping => {
                quote!(#result<#private::Batch<usize>, #private::Error<#error>>)
            }
        }
    }
}

impl Cast {
    /// The runtime's cast type of the same name (`cast::Lossless`, ...).
    pub fn type_name(self) -> &'static str {
        match self {
            Cast::Lossless => "Lossless",
            Cast::As => "As",
            Cast::Checked => "Checked",
            Cast::Saturate => "Saturate",
        }
    }
}

/// `let __preallocate_item: &T = ItemRef::item_ref(&__preallocate_given);`: an item that
/// lends a `&T` (`referent`), lent for the call.
pub fn lend_item(referent: &syn::Type, private: &TokenStream) -> TokenStream {
    quote! {
        let __preallocate_item: &#referent = #private::ItemRef::item_ref(&__preallocate_given);
    }
}

/// The item of a Python row function (`__preallocate_given`, converted from a Python object)
/// as the method takes it: lent when it takes a `&T` of an owned item, else as it is.
pub fn python_item_binding(referent: Option<&syn::Type>, private: &TokenStream) -> TokenStream {
    match referent {
        Some(referent) => lend_item(referent, private),
        None => quote!(let __preallocate_item = __preallocate_given;),
    }
}

/// The where clause of a method's `m_python()`: the method's own, and what the Python object
/// needs (`Self` cloned and shared by threads, the item converted from Python, the error
/// shown), each under a binder so that it is checked where `m_python()` is called.
pub fn python_where(
    generics: &syn::Generics,
    owned: &syn::Type,
    error: &TokenStream,
    private: &TokenStream,
) -> syn::WhereClause {
    let mut clause = generics
        .where_clause
        .clone()
        .unwrap_or_else(|| syn::parse_quote!(where));
    clause.predicates.push(syn::parse_quote!(
        for<'__preallocate_py> Self: ::core::clone::Clone + ::core::marker::Send + ::core::marker::Sync + 'static
    ));
    clause.predicates.push(syn::parse_quote!(
        for<'__preallocate_py> #owned: #private::pyo3::conversion::FromPyObjectOwned<'__preallocate_py> + ::core::marker::Send + 'static
    ));
    clause.predicates.push(syn::parse_quote!(
        for<'__preallocate_py> #error: ::core::fmt::Display + ::core::marker::Send
    ));
    clause
}

/// `f::register(module)` (feature `python`) in the companion module of the function `name`:
/// adds `registered` (the row type `Row`, or `Multi<Row>` for several outputs) to a
/// `#[pymodule]`, its bounds checked where it is called.
pub fn register_fn(
    registered: &TokenStream,
    doc: &str,
    name: &str,
    inner: &TokenStream,
    private: &TokenStream,
) -> TokenStream {
    let name = name.trim_start_matches("r#");
    let row_type = format_ident!("{}", ROW_TYPE);
    quote! {
        #private::if_python! {
            #[doc = #doc]
            #[allow(clippy::missing_errors_doc)]
            #inner fn register<__PreallocateItem, __PreallocateArrays>(
                module: &#private::pyo3::Bound<'_, #private::pyo3::types::PyModule>,
            ) -> #private::pyo3::PyResult<()>
            where
                #row_type: #private::python::PythonItem<__PreallocateItem, __PreallocateArrays>,
                #registered: #private::python::RegisterPython<__PreallocateItem, __PreallocateArrays>,
            {
                <#registered as #private::python::RegisterPython<
                    __PreallocateItem,
                    __PreallocateArrays,
                >>::register_python(module, #name)
            }
        }
    }
}

/// The span of a `crate = path`, for errors about it.
fn path_span(path: &syn::Path) -> Span {
    path.segments
        .first()
        .map_or_else(Span::call_site, |s| s.ident.span())
}

/// `#[cfg]`s, which apply to every emitted item, and the attributes the companions carry.
pub fn carried_attributes(func: &ItemFn) -> (Vec<&syn::Attribute>, Vec<&syn::Attribute>) {
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
pub fn inner_visibility(vis: &syn::Visibility) -> TokenStream {
    match vis {
        syn::Visibility::Inherited => quote!(pub(super)),
        syn::Visibility::Restricted(r) if r.path.is_ident("self") => quote!(pub(super)),
        _ => quote!(pub),
    }
}

/// The tokens with every span set to `span`.
pub fn respan(tokens: TokenStream, span: Span) -> TokenStream {
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

/// Whether a type's tokens name no lifetime (`'a`, `&`), trait object, `impl Trait` or any of
/// the generic parameters `params`: a type an impl over every item type can name as it is.
fn names_nothing_borrowed(tokens: TokenStream, params: &[String]) -> bool {
    flatten(tokens).iter().all(|tree| match tree {
        proc_macro2::TokenTree::Punct(p) => !matches!(p.as_char(), '\'' | '&'),
        proc_macro2::TokenTree::Ident(ident) => {
            ident != "dyn" && ident != "impl" && !params.iter().any(|g| ident == g)
        }
        _ => true,
    })
}

/// Every token of `stream`, groups opened.
fn flatten(stream: TokenStream) -> Vec<proc_macro2::TokenTree> {
    let mut out = Vec::new();
    for tree in stream {
        match tree {
            proc_macro2::TokenTree::Group(group) => out.extend(flatten(group.stream())),
            other => out.push(other),
        }
    }
    out
}

impl RowFunction {
    /// What a Python item is converted to for this row function: `String` for `&str`,
    /// `Vec<U>` for `&[U]`, `T` for `&T` or an owned `T`. `None` when the item type names a
    /// lifetime or a generic parameter (an owned form of it cannot be named).
    pub fn owned_item(&self) -> Option<syn::Type> {
        if let Some(referent) = self.lent_referent() {
            return Some(match referent {
                syn::Type::Path(path) if path.qself.is_none() && path.path.is_ident("str") => {
                    syn::parse_quote!(::std::string::String)
                }
                syn::Type::Slice(slice) => {
                    let elem = &slice.elem;
                    syn::parse_quote!(::std::vec::Vec<#elem>)
                }
                other => other.clone(),
            });
        }
        let item = &self.item_ty;
        let generics = self
            .generics
            .params
            .iter()
            .any(|p| !matches!(p, syn::GenericParam::Lifetime(_)));
        let plain = !generics && names_nothing_borrowed(item.to_token_stream(), &[]);
        plain.then(|| item.clone())
    }

    /// `U` when the function takes `&[U]` of a numeric `U` (whose numpy arrays can lend their
    /// rows).
    pub fn numeric_slice(&self) -> Option<&syn::Type> {
        let syn::Type::Slice(slice) = self.lent_referent()? else {
            return None;
        };
        let syn::Type::Path(path) = &*slice.elem else {
            return None;
        };
        const NUMERIC: &[&str] = &[
            "f32", "f64", "i8", "i16", "i32", "i64", "u8", "u16", "u32", "u64",
        ];
        let numeric = path.qself.is_none() && NUMERIC.iter().any(|name| path.path.is_ident(name));
        numeric.then_some(&*slice.elem)
    }

    /// The referent `T` of an item type `&T`, when the entry points may take any item that
    /// lends a `&T` (`ItemRef<T>`: `String` for `&str`, `Vec<U>` for `&[U]`, `T` for `&T`).
    ///
    /// `None` keeps the item type as written: an owned item, a `&mut`, or a referent or error
    /// type that names a lifetime or a generic parameter of the function, which an impl over
    /// every item type could not tie down.
    pub fn lent_referent(&self) -> Option<&syn::Type> {
        let syn::Type::Reference(reference) = &self.item_ty else {
            return None;
        };
        if reference.mutability.is_some() {
            return None;
        }
        let referent = &*reference.elem;
        let generics: Vec<String> = self
            .generics
            .params
            .iter()
            .filter_map(|p| match p {
                syn::GenericParam::Type(t) => Some(t.ident.to_string()),
                syn::GenericParam::Const(c) => Some(c.ident.to_string()),
                syn::GenericParam::Lifetime(_) => None,
            })
            .collect();
        let error_free = match &self.fails {
            Fails::With(ty) => names_nothing_borrowed(ty.to_token_stream(), &[]),
            Fails::Never => true,
        };
        (names_nothing_borrowed(referent.to_token_stream(), &generics) && error_free)
            .then_some(referent)
    }
}
