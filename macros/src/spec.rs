//! The checked specs: everything the emitter needs, every key resolved, nothing optional. A
//! [`Spec`] for a row function with one output, a [`RowsSpec`] for one with an output per field
//! of a struct, a [`DeriveSpec`] for that struct's `#[derive(Rows)]`.
//!
//! [`valid`](crate::valid) builds them from the keys and the model. On an error in a row
//! function it builds one too, a stand-in with defaults where a key was wrong or missing, and
//! the same emitter turns it into companions whose bodies are stubs.

use proc_macro2::Span;
use quote::ToTokens;

use crate::attr::{Cast, Extent};
use crate::dtype::Dtype;
use crate::model::{Fails, Form, Owner, RowFunction, RowSignature};

/// A row function's attribute and signature, checked against each other.
pub struct Spec {
    pub sig: RowSignature,
    /// The row's shape as the attribute gives it (or, for a scalar row, none: no axis).
    pub shape: Vec<Extent>,
    pub dtype: Dtype,
    /// Where `dtype = ...` was written.
    pub dtype_span: Span,
    pub cast: Cast,
    pub policy: Policy,
    pub krate: Krate,
    pub bodies: Bodies,
}

/// A row function with one output per field of a `#[derive(Rows)]` struct (`rows = Struct`),
/// checked.
pub struct RowsSpec {
    pub function: RowFunction,
    /// The struct the function returns or fills in place.
    pub rows: syn::Path,
    /// What the function can do to an item. A field with `cast = "checked"` makes the struct's
    /// store fallible too, which the runtime adds where the struct is known (its `Checks`).
    pub policy: Policy,
    pub krate: Krate,
    pub bodies: Bodies,
}

/// A `#[derive(Rows)]` struct, checked: one output per field.
pub struct DeriveSpec {
    pub ident: syn::Ident,
    pub vis: syn::Visibility,
    /// At least one.
    pub outputs: Vec<Output>,
    /// What storing the struct can do: `Fallible` when a field's cast is checked, else `Plain`.
    pub policy: Policy,
    pub krate: Krate,
}

/// One field of a `#[derive(Rows)]` struct: one output.
pub struct Output {
    pub name: syn::Ident,
    /// The field's element type, as written.
    pub elem: syn::Type,
    /// The field's length, as written.
    pub len: syn::Expr,
    pub dtype: Storage,
    pub cast: Cast,
    pub shape: OutputShape,
    /// A scalar field (`y: i64`): one element, a 1-D output, written in place as `&mut T`.
    pub scalar: bool,
    /// The whole field, for errors about it.
    pub span: Span,
}

/// The element type an output stores.
pub enum Storage {
    /// The field's own element type (no `dtype`).
    Elem,
    /// `dtype = ..`, and where it was written.
    Dtype(Dtype, Span),
}

/// The row shape of an output.
pub enum OutputShape {
    /// One axis, the field's length (no `shape`).
    Flat,
    /// `shape = (..)`, whose product the compiler checks against the field's length.
    Axes(Vec<Extent>),
}

/// What the row function can do to an item, which decides what the entry points return.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Policy {
    /// Every item gives a row: `batch -> Array`.
    Plain,
    /// Items may give no row: `batch -> Batch<Array>`.
    Filtered,
    /// Items may fail, the first failure stops: `batch -> Result<Array, ItemError<E>>`.
    Fallible,
    /// Both: `batch -> Result<Batch<Array>, ItemError<E>>`.
    FallibleFiltered,
    /// Items may fail or give no row, and are skipped either way: `batch -> Batch<Array>`.
    Skipping,
}

impl Policy {
    /// The runtime's policy type of the same name (`policy::Plain`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Policy::Plain => "Plain",
            Policy::Filtered => "Filtered",
            Policy::Fallible => "Fallible",
            Policy::FallibleFiltered => "FallibleFiltered",
            Policy::Skipping => "Skipping",
        }
    }

    /// Whether `write_row` can report a failure (a `RowError`), whatever `batch` then does.
    pub fn can_fail(self) -> bool {
        matches!(
            self,
            Policy::Fallible | Policy::FallibleFiltered | Policy::Skipping
        )
    }
}

/// The facade crate's path in generated code.
#[derive(Clone)]
pub enum Krate {
    /// `::preallocate` (the default), or a `crate = path` that means the same anywhere in the
    /// crate (`::pa`, `crate::reexport`, `$crate::...`): written as is everywhere.
    Absolute(syn::Path),
    /// A `crate = path` that resolves at the attribute's site (`pa`, `self::pa`), as a `use`
    /// import or an `extern crate` of the enclosing module, or a name of the extern prelude.
    /// It is written as is next to the function; the companion module, where relative names of
    /// the enclosing module do not resolve, reaches it through a `use` at the attribute's site.
    Relative(syn::Path),
}

impl Krate {
    pub fn from_path(path: syn::Path) -> Krate {
        let absolute = path.leading_colon.is_some()
            || path
                .segments
                .first()
                .is_some_and(|s| s.ident == "crate" || s.ident == "$crate");
        if absolute {
            Krate::Absolute(path)
        } else {
            Krate::Relative(path)
        }
    }

    pub fn default_path() -> Krate {
        Krate::Absolute(syn::parse_quote!(::preallocate))
    }
}

/// What the generated bodies do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bodies {
    /// Call the row function and store its row.
    Real,
    /// Emitted only next to a compile error, so never run: they name the same items with the
    /// same types, and do not touch the user's function (which would add errors).
    Stub,
}

impl Spec {
    /// Whether a `write_row` can fail: a `Result` row or a checked cast.
    pub fn can_fail(&self) -> bool {
        self.policy.can_fail()
    }

    pub fn rank(&self) -> usize {
        self.shape.len()
    }

    /// Whether the driver may skip zeroing the row before the call: a by-value row is stored
    /// whole.
    pub fn overwrites_row(&self) -> bool {
        self.sig.function.form == Form::ByValue
    }

    pub fn is_method(&self) -> bool {
        matches!(self.sig.function.owner, Owner::Method(_))
    }
}

/// A stand-in shape from the row type's own lengths: each a literal, a `const`, or 1 (for an
/// expression the macro cannot write back as an axis, or a const parameter of the function,
/// which the module's items cannot name).
pub fn shape_of_row(sig: &RowSignature) -> Vec<Extent> {
    let is_param = |path: &syn::Path| {
        sig.function.generics.params.iter().any(|p| match p {
            syn::GenericParam::Const(c) => path.is_ident(&c.ident),
            _ => false,
        })
    };
    sig.lens
        .iter()
        .map(|len| match crate::model::literal_len(len) {
            Some(n) if n > 0 => Extent::Literal(n, Span::call_site()),
            _ => match len {
                syn::Expr::Path(p) if p.qself.is_none() && !is_param(&p.path) => {
                    Extent::Const(p.path.clone())
                }
                _ => Extent::Literal(1, Span::call_site()),
            },
        })
        .collect()
}

/// The row signature a stand-in uses when the real one could not be read: a by-value row of
/// `dtype` over any item type, so that every use of the companions type-checks.
pub fn stand_in_signature(owner: Owner, rank: usize, elem: syn::Type) -> RowSignature {
    RowSignature {
        function: stand_in_function(owner),
        elem,
        lens: (0..rank).map(|_| syn::parse_quote!(1)).collect(),
    }
}

/// A row function that a stand-in uses when the real one could not be read: by value, over any
/// item type, infallible.
pub fn stand_in_function(owner: Owner) -> RowFunction {
    let item: syn::Ident = syn::parse_quote!(__PreallocateItem);
    RowFunction {
        owner,
        form: Form::ByValue,
        generics: syn::parse_quote!(<#item>),
        item_ty: syn::parse_quote!(#item),
        fails: Fails::Never,
        filtering: false,
    }
}

impl ToTokens for Krate {
    fn to_tokens(&self, tokens: &mut proc_macro2::TokenStream) {
        match self {
            Krate::Absolute(path) | Krate::Relative(path) => path.to_tokens(tokens),
        }
    }
}
