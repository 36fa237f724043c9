//! Reading the annotated function's signature into the row model, and checking it alone.
//!
//! A row function is either
//! - by value: `fn f(item: Item) -> Row`, where `Row` is `[E; N]` (or nested arrays for
//!   multi-axis rows), optionally wrapped in `Option` (filtering), `Result<_, Err>` (fallible)
//!   or `Result<Option<_>, Err>`; or
//! - in place: `fn f(item: Item, row: &mut Row)` returning `()`, `bool` (false drops the item),
//!   `Result<(), Err>` or `Result<bool, Err>`.
//!
//! It is a free function or a method taking `&self` or `&mut self`.
//!
//! A row function with several outputs (`rows = Struct`) returns, or fills in place, a struct
//! whose `#[derive(Rows)]` is read here too: one output per field, each an array.
//!
//! The model has no `Option` for something the user may have got wrong: a signature the macro
//! cannot use gives `None` and its errors, never a half-filled model.

use std::collections::BTreeSet;

use syn::visit::Visit;
use syn::{FnArg, ItemFn, ReturnType, Type};

use crate::attr::{self, Args, Place};
use crate::errors::{shown, Errors};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Form {
    ByValue,
    InPlace,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Receiver {
    Shared,
    Mutable,
}

/// Where the row function lives, which decides the shape of its companions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Owner {
    /// A free function: a companion module of the same name.
    Free,
    /// A method: sibling methods and consts in the same `impl` block.
    Method(Receiver),
}

impl Owner {
    /// The owner as the function's receiver says, whether or not the receiver is valid.
    pub fn of(func: &ItemFn) -> Owner {
        match func.sig.receiver() {
            None => Owner::Free,
            Some(r) if r.mutability.is_some() => Owner::Method(Receiver::Mutable),
            Some(_) => Owner::Method(Receiver::Shared),
        }
    }
}

/// How a row function reports that an item has no valid row.
#[derive(Clone)]
pub enum Fails {
    /// It cannot fail.
    Never,
    /// It returns `Result<_, E>`; this is `E`.
    With(Box<Type>),
}

/// What the macro needs to know about a valid row function, whatever its outputs.
#[derive(Clone)]
pub struct RowFunction {
    pub owner: Owner,
    pub form: Form,
    /// The function's own generic parameters and where clause.
    pub generics: syn::Generics,
    /// The item parameter's type, as written.
    pub item_ty: Type,
    /// The error type of a fallible row function.
    pub fails: Fails,
    /// Whether the function can drop items (`Option` rows, `bool` in place).
    pub filtering: bool,
}

/// A valid row function with one output: the function, and its row array.
#[derive(Clone)]
pub struct RowSignature {
    pub function: RowFunction,
    /// The element type `E` of the row array.
    pub elem: Type,
    /// The row array's lengths, outer axis first: `[[u8; 28]; 14]` is `[14, 28]`.
    pub lens: Vec<syn::Expr>,
}

/// A row length when written as an integer literal.
pub fn literal_len(len: &syn::Expr) -> Option<usize> {
    match len {
        syn::Expr::Lit(syn::ExprLit {
            lit: syn::Lit::Int(int),
            ..
        }) => int.base10_parse().ok(),
        syn::Expr::Group(g) => literal_len(&g.expr),
        _ => None,
    }
}

const SHAPES: &str = "a row function is `fn f(item: &Item) -> [f32; 3]` (by value) or `fn f(item: &Item, row: &mut [f32; 3])` (in place)";

/// Checks the signature on its own (the attribute's values come later) and reads the row model.
///
/// A qualifier the macro rejects (`async`, `unsafe`, `extern`, variadic) does not hide the row
/// model: the stand-in companions emitted next to that error keep the row's real types.
pub fn analyze(func: &ItemFn, errors: &mut Errors) -> Option<RowSignature> {
    let sig = &func.sig;
    check_qualifiers(sig, errors);

    let before = errors.len();
    let (item, row_param) = item_and_row_params(sig, errors)?;
    let item_ty = (*item.ty).clone();
    check_item_type(&item_ty, errors);

    let (form, row_ty, error_ty, filtering) = row_of(sig, row_param, errors)?;
    let Some((lens, elem)) = array_axes(row_ty) else {
        errors.push(syn::Error::new_spanned(
            row_ty,
            format!(
                "a row is a scalar `E` (a 1-D output), a fixed-size array `[E; N]` or nested arrays `[[E; W]; H]`, found `{}`; rows are written into one preallocated array, so their length must be known at compile time",
                shown(row_ty)
            ),
        ));
        return None;
    };

    check_generics_are_inferable(func, &item_ty, errors);
    (errors.len() == before).then(|| RowSignature {
        function: RowFunction {
            owner: Owner::of(func),
            form,
            generics: func.sig.generics.clone(),
            item_ty,
            fails: error_ty.map_or(Fails::Never, |ty| Fails::With(Box::new(ty))),
            filtering,
        },
        elem,
        lens,
    })
}

/// The item parameter and, in place, the row parameter; a receiver other than `&self` or
/// `&mut self` is an error.
fn item_and_row_params<'a>(
    sig: &'a syn::Signature,
    errors: &mut Errors,
) -> Option<(&'a syn::PatType, Option<&'a syn::PatType>)> {
    let mut typed = Vec::new();
    for arg in &sig.inputs {
        match arg {
            FnArg::Receiver(r) if r.colon_token.is_some() => errors.push(syn::Error::new_spanned(
                r,
                "a #[preallocate] method takes `&self` or `&mut self`; other receiver types are not supported",
            )),
            FnArg::Receiver(r) if r.reference.is_none() => errors.push(syn::Error::new_spanned(
                r,
                "a #[preallocate] method takes `&self` or `&mut self`: `self` by value would be consumed by the first row",
            )),
            FnArg::Receiver(_) => {}
            FnArg::Typed(pat) => typed.push(pat),
        }
    }
    let is_method = sig.receiver().is_some();

    match typed.as_slice() {
        [] => {
            let what = if is_method { "method" } else { "row function" };
            errors.push(syn::Error::new(
                sig.paren_token.span.join(),
                format!("this {what} has no item parameter: {SHAPES}"),
            ));
            None
        }
        [item] => Some((*item, None)),
        [_, extra] if !is_mut_reference(&extra.ty) => {
            let name = param_name(extra);
            errors.push(syn::Error::new_spanned(
                extra,
                format!(
                    "a row function takes one item (and, in place, one `row: &mut [E; N]` to write), so the batch entry points have nothing to pass as `{name}: {}`; to give the rows a parameter, make the row function a method and keep it in `self`: `impl Params {{ #[preallocate(..)] fn {}(&self, item: &Item) -> [f32; N] {{ .. self.{name} .. }} }}`",
                    shown(&extra.ty),
                    sig.ident,
                ),
            ));
            None
        }
        [item, row] => Some((*item, Some(*row))),
        [_, _, extra, ..] => {
            errors.push(syn::Error::new_spanned(
                extra,
                format!("too many parameters: a row function takes the item and, in place, the row to write; {SHAPES}"),
            ));
            None
        }
    }
}

/// The form of the row function, its row type, error type and whether it filters, from its
/// return type and its row parameter (in place).
fn row_of<'a>(
    sig: &'a syn::Signature,
    row_param: Option<&'a syn::PatType>,
    errors: &mut Errors,
) -> Option<(Form, &'a Type, Option<Type>, bool)> {
    Some(match row_param {
        None => {
            let ReturnType::Type(_, ret) = &sig.output else {
                errors.push(syn::Error::new_spanned(
                    &sig.ident,
                    "a by-value row function returns its row: add `-> [f32; N]` (with your dtype and length), or take `row: &mut [f32; N]` as a second parameter to write the row in place",
                ));
                return None;
            };
            let (row, error_ty, filtering) = unwrap_by_value_return(ret, errors)?;
            (Form::ByValue, row, error_ty, filtering)
        }
        Some(row) => {
            let (error_ty, filtering) = match &sig.output {
                ReturnType::Default => (None, false),
                ReturnType::Type(_, ret) => unwrap_in_place_return(ret, errors)?,
            };
            let row_ty = match &*row.ty {
                Type::Reference(r) if r.mutability.is_some() => Some(&*r.elem),
                _ => None,
            };
            let Some(row_ty) = row_ty.filter(|t| array_axes(t).is_some()) else {
                errors.push(syn::Error::new_spanned(
                    &row.ty,
                    "the second parameter of an in-place row function is the row to write: `row: &mut [E; N]` (or `&mut [[E; W]; H]` for a multi-axis row, `&mut E` for a scalar one)",
                ));
                return None;
            };
            (Form::InPlace, row_ty, error_ty, filtering)
        }
    })
}

/// The qualifiers a row function cannot have, whatever its outputs.
fn check_qualifiers(sig: &syn::Signature, errors: &mut Errors) {
    if let Some(token) = &sig.asyncness {
        errors.push(syn::Error::new_spanned(
            token,
            "#[preallocate] cannot be used on an `async fn`: the batch loop calls the row function once per item and cannot await it; make it a plain `fn`",
        ));
    }
    if let Some(token) = &sig.unsafety {
        errors.push(syn::Error::new_spanned(
            token,
            "#[preallocate] cannot be used on an `unsafe fn`: the generated entry points would call it without an `unsafe` block; make the row function safe",
        ));
    }
    if let Some(abi) = &sig.abi {
        errors.push(syn::Error::new_spanned(
            abi,
            "#[preallocate] cannot be used on an `extern` fn: remove the ABI, and wrap a foreign function in a plain Rust row function if needed",
        ));
    }
    if let Some(variadic) = &sig.variadic {
        errors.push(syn::Error::new_spanned(
            variadic,
            "#[preallocate] row functions cannot be variadic",
        ));
    }
}

fn is_mut_reference(ty: &Type) -> bool {
    matches!(strip(ty), Type::Reference(r) if r.mutability.is_some())
}

/// The parameter's name where it is a plain binding, for the example in an error.
fn param_name(param: &syn::PatType) -> String {
    match &*param.pat {
        syn::Pat::Ident(p) => p.ident.to_string(),
        _ => "param".to_owned(),
    }
}

fn strip(ty: &Type) -> &Type {
    match ty {
        Type::Group(g) => strip(&g.elem),
        Type::Paren(p) => strip(&p.elem),
        other => other,
    }
}

fn as_array(ty: &Type) -> Option<&syn::TypeArray> {
    match strip(ty) {
        Type::Array(a) => Some(a),
        _ => None,
    }
}

/// `[[E; W]; H]` → `([H, W], E)`; a scalar `E` → `([], E)`.
fn array_axes(ty: &Type) -> Option<(Vec<syn::Expr>, Type)> {
    let mut lens = Vec::new();
    let mut current = ty;
    while let Some(array) = as_array(current) {
        lens.push(array.len.clone());
        current = &array.elem;
    }
    (!lens.is_empty() || is_scalar(current)).then(|| (lens, current.clone()))
}

/// Whether a row type may be a scalar: a path without type arguments (`f32`, `half::f16`, an
/// alias). Whether it is an element the dtype takes, the compiler checks through the store's
/// bounds; a `Vec<f32>`, a slice, a tuple or a reference is no row at all.
fn is_scalar(ty: &Type) -> bool {
    match strip(ty) {
        Type::Path(path) => {
            path.qself.is_none()
                && path
                    .path
                    .segments
                    .iter()
                    .all(|segment| segment.arguments.is_none())
                && !path.path.is_ident("Self")
        }
        _ => false,
    }
}

/// The type arguments of `Name<A, B>` when `ty`'s last path segment is `Name`.
fn generic_args<'a>(ty: &'a Type, name: &str) -> Option<Vec<&'a Type>> {
    let Type::Path(p) = strip(ty) else {
        return None;
    };
    let last = p.path.segments.last()?;
    if last.ident != name {
        return None;
    }
    let syn::PathArguments::AngleBracketed(args) = &last.arguments else {
        return None;
    };
    Some(
        args.args
            .iter()
            .filter_map(|a| match a {
                syn::GenericArgument::Type(t) => Some(t),
                _ => None,
            })
            .collect(),
    )
}

/// The error type of `Result<T, E>`; a `Result` alias with the error hidden is an error.
fn split_result<'a>(ty: &'a Type, errors: &mut Errors) -> Result<Option<(&'a Type, &'a Type)>, ()> {
    match generic_args(ty, "Result").as_deref() {
        Some([ok, err]) => Ok(Some((ok, err))),
        Some(_) => {
            errors.push(syn::Error::new_spanned(
                ty,
                "spell out the error type of a fallible row function: `Result<[f32; N], MyError>`; a `Result` alias that hides it cannot be used",
            ));
            Err(())
        }
        None => Ok(None),
    }
}

/// `Row`, `Option<Row>`, `Result<Row, E>` or `Result<Option<Row>, E>` → `(Row, E, filtering)`.
fn unwrap_by_value_return<'a>(
    ret: &'a Type,
    errors: &mut Errors,
) -> Option<(&'a Type, Option<Type>, bool)> {
    let (inner, error_ty) = match split_result(ret, errors).ok()? {
        Some((ok, err)) => (ok, Some(err.clone())),
        None => (ret, None),
    };
    match generic_args(inner, "Option").as_deref() {
        Some([row]) => Some((row, error_ty, true)),
        _ => Some((inner, error_ty, false)),
    }
}

/// `()`, `bool`, `Result<(), E>` or `Result<bool, E>` → `(E, filtering)`.
fn unwrap_in_place_return(ret: &Type, errors: &mut Errors) -> Option<(Option<Type>, bool)> {
    let (inner, error_ty) = match split_result(ret, errors).ok()? {
        Some((ok, err)) => (ok, Some(err.clone())),
        None => (ret, None),
    };
    match strip(inner) {
        Type::Tuple(t) if t.elems.is_empty() => Some((error_ty, false)),
        Type::Path(p) if p.qself.is_none() && p.path.is_ident("bool") => Some((error_ty, true)),
        _ => {
            errors.push(syn::Error::new_spanned(
                ret,
                "an in-place row function writes into `row` and returns nothing, `bool` (false drops the item), `Result<(), E>` or `Result<bool, E>`",
            ));
            None
        }
    }
}

/// `impl Trait` cannot be named where the function is joined to the drivers.
fn check_item_type(item_ty: &Type, errors: &mut Errors) {
    struct FindImpl<'a>(Option<&'a syn::TypeImplTrait>);
    impl<'a> Visit<'a> for FindImpl<'a> {
        fn visit_type_impl_trait(&mut self, t: &'a syn::TypeImplTrait) {
            self.0.get_or_insert(t);
        }
    }
    let mut find = FindImpl(None);
    find.visit_type(item_ty);
    if let Some(found) = find.0 {
        errors.push(syn::Error::new_spanned(
            found,
            "`impl Trait` is not supported in the item parameter: declare a named generic instead, e.g. `fn f<T: AsRef<[f32]>>(item: &T) -> [f32; 3]`",
        ));
    }
}

/// The batch entry points learn the function's generic parameters from the items alone, so
/// each type and const parameter must appear in the item's type.
fn check_generics_are_inferable(func: &ItemFn, item_ty: &Type, errors: &mut Errors) {
    struct Idents(BTreeSet<String>);
    impl<'a> Visit<'a> for Idents {
        fn visit_ident(&mut self, ident: &'a proc_macro2::Ident) {
            self.0.insert(ident.to_string());
        }
    }
    let mut used = Idents(BTreeSet::new());
    used.visit_type(item_ty);
    let item_shown = shown(item_ty);
    for param in &func.sig.generics.params {
        let ident = match param {
            syn::GenericParam::Type(t) => &t.ident,
            syn::GenericParam::Const(c) => &c.ident,
            syn::GenericParam::Lifetime(_) => continue,
        };
        if !used.0.contains(&ident.to_string()) {
            errors.push(syn::Error::new_spanned(
                ident,
                format!("generic parameter `{ident}` does not appear in the item type `{item_shown}`: the batch entry points infer generics from the items, so every type or const parameter must be part of the item's type"),
            ));
        }
    }
}

/// Checks the signature of a row function with several outputs (`rows = Struct`) on its own,
/// and reads it: by value it returns the struct (or an `Option` or `Result` of it), in place it
/// takes a second parameter `row: StructRow<'_>`, one slot per field, and returns nothing,
/// `bool`, `Result<(), E>` or `Result<bool, E>`. The struct's type is the compiler's to check.
pub fn analyze_rows(func: &ItemFn, errors: &mut Errors) -> Option<RowFunction> {
    let sig = &func.sig;
    check_qualifiers(sig, errors);
    let before = errors.len();
    let typed: Vec<&syn::PatType> = sig
        .inputs
        .iter()
        .filter_map(|arg| match arg {
            FnArg::Typed(pat) => Some(pat),
            FnArg::Receiver(_) => None,
        })
        .collect();
    let form = if typed.len() == 2 {
        Form::InPlace
    } else {
        Form::ByValue
    };
    let returns = rows_return(sig, form, errors);
    if let Some(receiver) = sig.receiver().filter(|r| r.reference.is_none()) {
        errors.push(syn::Error::new_spanned(
            receiver,
            "a row method takes `&self` or `&mut self`: by value, `self` would be used up by the first item",
        ));
    }
    let ([item] | [item, _]) = typed.as_slice() else {
        errors.push(syn::Error::new_spanned(
            &sig.inputs,
            "a row function takes one item: `fn parse(line: &str) -> Example`, or writes it in place: `fn parse(line: &str, row: ExampleRow<'_>)`",
        ));
        return None;
    };
    let (fails, filtering) = returns?;
    (errors.len() == before).then(|| RowFunction {
        owner: Owner::of(func),
        form,
        generics: sig.generics.clone(),
        item_ty: (*item.ty).clone(),
        fails,
        filtering,
    })
}

/// What the result type of a row function with several outputs says it can do to an item.
fn rows_return(sig: &syn::Signature, form: Form, errors: &mut Errors) -> Option<(Fails, bool)> {
    let ret = match &sig.output {
        ReturnType::Type(_, ty) => Some(&**ty),
        ReturnType::Default if form == Form::InPlace => None,
        ReturnType::Default => {
            errors.push(syn::Error::new_spanned(
                sig,
                "a row function with `rows = ..` returns the struct of rows (or an `Option` or `Result` of it), or writes it in place into a second parameter `row: StructRow<'_>`",
            ));
            return None;
        }
    };
    let (outer, args) = ret.map(last_segment).unwrap_or_default();
    let named = |ty: &Type, name: &str| last_segment(ty).0.as_deref() == Some(name);
    let in_place = form == Form::InPlace;
    Some(match outer.as_deref() {
        Some("Result") if args.len() == 2 => {
            let filtering = if in_place {
                named(&args[0], "bool")
            } else {
                named(&args[0], "Option")
            };
            (Fails::With(Box::new(args[1].clone())), filtering)
        }
        Some("Option") if !in_place => (Fails::Never, true),
        Some("bool") if in_place => (Fails::Never, true),
        _ => (Fails::Never, false),
    })
}

/// The last path segment's name of `ty` and its type arguments: `Result<A, B>` → `Result`, `[A, B]`.
fn last_segment(ty: &Type) -> (Option<String>, Vec<Type>) {
    let Type::Path(path) = ty else {
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

/// A `#[derive(Rows)]` struct: one output per field.
pub struct RowsStruct {
    pub ident: syn::Ident,
    pub vis: syn::Visibility,
    /// The struct's own `#[rows(crate = ..)]`.
    pub args: Args,
    pub fields: Vec<RowsField>,
}

/// One field, one output: `name: [elem; len]` (or a scalar `name: elem`) with its `#[rows(dtype = .., cast = .., shape = ..)]`.
pub struct RowsField {
    pub name: syn::Ident,
    pub elem: Type,
    pub len: syn::Expr,
    /// A scalar field (`y: i64`): `len` is 1 and the output is 1-D.
    pub scalar: bool,
    pub args: Args,
    pub span: proc_macro2::Span,
}

/// Reads a `#[derive(Rows)]` struct and the keys of its `#[rows]` attributes. `None` when it is
/// no struct with named fields, after the one error that says so.
pub fn read_struct(input: &syn::DeriveInput, errors: &mut Errors) -> Option<RowsStruct> {
    let named = match &input.data {
        syn::Data::Struct(syn::DataStruct {
            fields: syn::Fields::Named(named),
            ..
        }) => named,
        syn::Data::Struct(_) => {
            errors.push(syn::Error::new(
                input.ident.span(),
                "#[derive(Rows)] needs named fields: each field's name names its output (`x`, `y`)",
            ));
            return None;
        }
        _ => {
            errors.push(syn::Error::new(
                input.ident.span(),
                "#[derive(Rows)] applies to a struct with named fields, one per output: `struct Example { x: [f32; 30], y: [u8; 1] }`",
            ));
            return None;
        }
    };
    if !input.generics.params.is_empty() {
        errors.push(syn::Error::new_spanned(
            &input.generics,
            "#[derive(Rows)] does not take generic parameters: the outputs' types and lengths are fixed",
        ));
    }
    let args = attr::parse_rows_attrs(&input.attrs, Place::Struct, errors);
    let fields = named
        .named
        .iter()
        .filter_map(|field| read_field(field, errors))
        .collect();
    if named.named.is_empty() {
        errors.push(syn::Error::new(
            input.ident.span(),
            "#[derive(Rows)] needs at least one field: one per output",
        ));
    }
    Some(RowsStruct {
        ident: input.ident.clone(),
        vis: input.vis.clone(),
        args,
        fields,
    })
}

/// A field's array type, then its keys.
fn read_field(field: &syn::Field, errors: &mut Errors) -> Option<RowsField> {
    let name = field.ident.clone()?;
    let Type::Array(array) = &field.ty else {
        if is_scalar(&field.ty) {
            // One element per item: a 1-D output, `(n,)`.
            return Some(RowsField {
                name,
                elem: field.ty.clone(),
                len: syn::parse_quote!(1),
                scalar: true,
                args: attr::parse_rows_attrs(&field.attrs, Place::Field, errors),
                span: syn::spanned::Spanned::span(field),
            });
        }
        errors.push(syn::Error::new_spanned(
            &field.ty,
            format!(
                "the field `{name}` is one output's row: give it a scalar type (`{name}: i64`, a 1-D output) or an array type (`{name}: [f32; N]`)"
            ),
        ));
        return None;
    };
    if let Type::Array(_) = &*array.elem {
        errors.push(syn::Error::new_spanned(
            &field.ty,
            format!("the field `{name}` is a nested array: write it flat (`[T; H * W]`) with `#[rows(shape = (H, W))]`"),
        ));
        return None;
    }
    Some(RowsField {
        name,
        elem: (*array.elem).clone(),
        len: array.len.clone(),
        scalar: false,
        args: attr::parse_rows_attrs(&field.attrs, Place::Field, errors),
        span: syn::spanned::Spanned::span(field),
    })
}
