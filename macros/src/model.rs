//! Reading the annotated function's signature into the row model, and checking it alone.
//!
//! A row function is either
//! - by value: `fn f(item: Item) -> [E; N]`, or
//! - in place: `fn f(item: Item, row: &mut [E; N])`, writing into the output's own memory.

use std::collections::BTreeSet;

use syn::visit::Visit;
use syn::{FnArg, ItemFn, ReturnType, Type};

use crate::errors::{shown, Errors};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Form {
    ByValue,
    InPlace,
}

/// What the macro needs to know about a valid row function.
pub struct RowSignature {
    pub form: Form,
    /// The item parameter's type, as written.
    pub item_ty: Type,
    /// `E` of `[E; N]`.
    pub elem: Type,
    /// `N` of `[E; N]`.
    pub len: syn::Expr,
}

impl RowSignature {
    /// The row length when written as an integer literal.
    pub fn literal_len(&self) -> Option<usize> {
        match &self.len {
            syn::Expr::Lit(syn::ExprLit {
                lit: syn::Lit::Int(int),
                ..
            }) => int.base10_parse().ok(),
            _ => None,
        }
    }
}

const SHAPES: &str = "a row function is `fn f(item: &Item) -> [f32; 3]` (by value) or `fn f(item: &Item, row: &mut [f32; 3])` (in place)";

/// Checks the signature on its own (the attribute's values come later) and reads the row model.
pub fn analyze(func: &ItemFn, errors: &mut Errors) -> Option<RowSignature> {
    let sig = &func.sig;
    let before = errors.len();
    let fail = |errors: &mut Errors, err: syn::Error| errors.push(err);

    if let Some(token) = &sig.asyncness {
        fail(errors, syn::Error::new_spanned(
            token,
            "#[preallocate] cannot be used on an `async fn`: the batch loop calls the row function once per item and cannot await it; make it a plain `fn`",
        ));
    }
    if let Some(token) = &sig.unsafety {
        fail(errors, syn::Error::new_spanned(
            token,
            "#[preallocate] cannot be used on an `unsafe fn`: the generated entry points would call it without an `unsafe` block; make the row function safe",
        ));
    }
    if let Some(abi) = &sig.abi {
        fail(errors, syn::Error::new_spanned(
            abi,
            "#[preallocate] cannot be used on an `extern` fn: remove the ABI, and wrap a foreign function in a plain Rust row function if needed",
        ));
    }
    if let Some(variadic) = &sig.variadic {
        fail(
            errors,
            syn::Error::new_spanned(variadic, "#[preallocate] row functions cannot be variadic"),
        );
    }

    let mut typed = Vec::new();
    for arg in &sig.inputs {
        match arg {
            FnArg::Receiver(receiver) => fail(errors, syn::Error::new_spanned(
                receiver,
                "#[preallocate] does not support methods yet: a `self` receiver cannot be used here; make it a free function that takes the item (and any state) as parameters",
            )),
            FnArg::Typed(pat) => typed.push(pat),
        }
    }
    let has_receiver = sig.receiver().is_some();

    let (item, row_param) = match typed.as_slice() {
        [] if has_receiver => return None,
        [] => {
            fail(
                errors,
                syn::Error::new(
                    sig.paren_token.span.join(),
                    format!("this row function has no item parameter: {SHAPES}"),
                ),
            );
            return None;
        }
        [item] => (*item, None),
        [item, row] => (*item, Some(*row)),
        [_, _, extra, ..] => {
            fail(errors, syn::Error::new_spanned(
                extra,
                format!("too many parameters: a row function takes the item and, in place, the row to write; {SHAPES}"),
            ));
            return None;
        }
    };

    let item_ty = (*item.ty).clone();
    check_item_type(&item_ty, errors);

    let (form, elem, len) = match row_param {
        None => {
            let ReturnType::Type(_, ret) = &sig.output else {
                fail(errors, syn::Error::new_spanned(
                    &sig.ident,
                    "a by-value row function returns its row: add `-> [f32; N]` (with your dtype and length), or take `row: &mut [f32; N]` as a second parameter to write the row in place",
                ));
                return None;
            };
            let Some(array) = as_array(ret) else {
                let found = shown(ret);
                fail(errors, syn::Error::new_spanned(
                    ret,
                    format!("a row function returns a fixed-size array `[E; N]`, found `{found}`; rows are written into one preallocated array, so their length must be known at compile time"),
                ));
                return None;
            };
            (Form::ByValue, (*array.elem).clone(), array.len.clone())
        }
        Some(row) => {
            if let ReturnType::Type(_, ret) = &sig.output {
                if !is_unit(ret) {
                    fail(errors, syn::Error::new_spanned(
                        ret,
                        "an in-place row function writes into `row` and returns nothing: remove the return type",
                    ));
                }
            }
            let array = match &*row.ty {
                Type::Reference(r) if r.mutability.is_some() => as_array(&r.elem),
                _ => None,
            };
            let Some(array) = array else {
                fail(errors, syn::Error::new_spanned(
                    &row.ty,
                    "the second parameter of an in-place row function is the row to write: `row: &mut [E; N]`",
                ));
                return None;
            };
            (Form::InPlace, (*array.elem).clone(), array.len.clone())
        }
    };

    check_generics_are_inferable(func, &item_ty, errors);
    (errors.len() == before).then_some(RowSignature {
        form,
        item_ty,
        elem,
        len,
    })
}

fn as_array(ty: &Type) -> Option<&syn::TypeArray> {
    match ty {
        Type::Array(a) => Some(a),
        Type::Group(g) => as_array(&g.elem),
        Type::Paren(p) => as_array(&p.elem),
        _ => None,
    }
}

fn is_unit(ty: &Type) -> bool {
    matches!(ty, Type::Tuple(t) if t.elems.is_empty())
}

/// `impl Trait` cannot be named in the trait impl that connects the function to the drivers.
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
