//! The checked spec: everything the emitter needs, every key resolved, nothing optional.
//!
//! [`valid::validate`](crate::valid::validate) builds it from the attribute's arguments and
//! the row signature. On an error it builds one too, a stand-in with defaults where a key was
//! wrong or missing, and the same emitter turns it into companions whose bodies are stubs.

use proc_macro2::Span;
use quote::ToTokens;

use crate::attr::{Cast, Extent, OnError};
use crate::dtype::Dtype;
use crate::model::{Fails, Form, Owner, RowFunction, RowSignature};

/// A row function's attribute and signature, checked against each other.
pub struct Spec {
    pub sig: RowSignature,
    /// The row's shape as the attribute gives it: at least one axis.
    pub shape: Vec<Extent>,
    pub dtype: Dtype,
    /// Where `dtype = ...` was written.
    pub dtype_span: Span,
    pub cast: Cast,
    pub policy: Policy,
    pub krate: Krate,
    pub bodies: Bodies,
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
    /// `can_fail`: the function returns a `Result`, or the cast is checked.
    pub fn choose(can_fail: bool, on_error: OnError, filtering: bool) -> Policy {
        match (can_fail, on_error, filtering) {
            (false, _, false) => Policy::Plain,
            (false, _, true) => Policy::Filtered,
            (true, OnError::Skip, _) => Policy::Skipping,
            (true, OnError::Fail, false) => Policy::Fallible,
            (true, OnError::Fail, true) => Policy::FallibleFiltered,
        }
    }

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
