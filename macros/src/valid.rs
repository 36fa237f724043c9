//! Checks that need both the keys and the model: the row's shape against `dim` or `shape`, its
//! element type against `dtype` and `cast`, `on_error` against what can fail, and the keys that
//! are missing; then the checked spec ([`Spec`], [`RowsSpec`], [`DeriveSpec`]), or the errors
//! and a stand-in spec.
//!
//! The policy (what an item can do to the batch) and the facade's path are resolved here, each
//! in one function, for row functions with one output or several and for `#[derive(Rows)]`.

use proc_macro2::Span;
use syn::spanned::Spanned;
use syn::ItemFn;

use crate::attr::{Args, Cast, Extent, OnError};
use crate::dtype::Dtype;
use crate::errors::{shown, Errors};
use crate::model::{
    literal_len, Fails, Form, Owner, RowFunction, RowSignature, RowsField, RowsStruct,
};
use crate::spec::{
    self, Bodies, DeriveSpec, Krate, Output, OutputShape, Policy, RowsSpec, Spec, Storage,
};

/// An attribute or signature with errors: the errors to show, and the spec to emit the
/// companions from, so that every name the crate uses still exists. There is none when the
/// companions cannot be named (`rows = ..` without a struct).
pub struct Invalid<S> {
    pub errors: Errors,
    pub stand_in: Option<Box<S>>,
}

/// The spec, or with errors, the errors and the stand-in `spec` (whose bodies are stubs).
fn checked<S>(spec: S, bodies: Bodies, errors: Errors) -> Result<S, Invalid<S>> {
    match bodies {
        Bodies::Real => Ok(spec),
        Bodies::Stub => Err(Invalid {
            errors,
            stand_in: Some(Box::new(spec)),
        }),
    }
}

fn bodies(errors: &Errors) -> Bodies {
    if errors.is_empty() {
        Bodies::Real
    } else {
        Bodies::Stub
    }
}

/// Checks the attribute against the signature. `errors` holds those found while parsing them.
pub fn validate(
    args: &Args,
    sig: Option<RowSignature>,
    func: &ItemFn,
    mut errors: Errors,
) -> Result<Spec, Invalid<Spec>> {
    check(args, sig.as_ref(), &mut errors);
    check_const_params(args, func, &mut errors);
    let bodies = bodies(&errors);
    checked(resolve(args, sig, func, bodies), bodies, errors)
}

/// Checks `#[preallocate(rows = Struct, ..)]` against the signature of a row function with
/// several outputs. After an error the stand-in keeps the function's shape when it could be
/// read, else takes any item by value.
pub fn validate_rows(
    args: &Args,
    function: Option<RowFunction>,
    func: &ItemFn,
    mut errors: Errors,
) -> Result<RowsSpec, Invalid<RowsSpec>> {
    if let Some(function) = &function {
        check_rows_on_error(args, function, func, &mut errors);
    }
    let Some(rows) = args.rows.clone() else {
        if errors.is_empty() {
            errors.push(syn::Error::new(
                Span::call_site(),
                "`rows = Struct` is missing: name the #[derive(Rows)] struct the function returns",
            ));
        }
        return Err(Invalid {
            errors,
            stand_in: None,
        });
    };
    let bodies = bodies(&errors);
    let function = function.unwrap_or_else(|| spec::stand_in_function(Owner::of(func)));
    // A field's checked cast is the struct's: the runtime adds it to this policy.
    let policy = choose_policy(&function.fails, false, args.on_error(), function.filtering);
    let spec = RowsSpec {
        function,
        rows,
        policy,
        krate: krate(args),
        bodies,
    };
    checked(spec, bodies, errors)
}

/// `on_error = "skip"` skips the items for which the function fails, so it must be able to.
fn check_rows_on_error(args: &Args, function: &RowFunction, func: &ItemFn, errors: &mut Errors) {
    if args.on_error() == OnError::Skip && matches!(function.fails, Fails::Never) {
        errors.push(syn::Error::new_spanned(
            &func.sig.output,
            "`on_error = \"skip\"` needs a function that can fail: return `Result<.., E>`",
        ));
    }
}

/// Resolves a `#[derive(Rows)]` struct's keys, field by field. Its errors are those of its
/// fields' types and keys.
///
/// After an error, the stand-in derives the fields that could be read, so that the row
/// functions returning the struct compile against it and add no error of their own.
pub fn validate_derive(
    model: RowsStruct,
    mut errors: Errors,
) -> Result<DeriveSpec, Invalid<DeriveSpec>> {
    for field in model.fields.iter().filter(|field| field.scalar) {
        if let Some(shape) = &field.args.shape {
            let span = shape.first().map_or(field.span, |axis| axis.span());
            errors.push(syn::Error::new(
                span,
                format!("the field `{}` is a scalar: its output is 1-D, `(n,)`, and takes no `shape`; remove `shape`, or make the field an array `[T; N]`", field.name),
            ));
        }
    }
    let outputs: Vec<Output> = model.fields.into_iter().map(output).collect();
    let checked = outputs.iter().any(|output| output.cast == Cast::Checked);
    let spec = DeriveSpec {
        ident: model.ident,
        vis: model.vis,
        policy: choose_policy(&Fails::Never, checked, OnError::Fail, false),
        krate: krate(&model.args),
        outputs,
    };
    if errors.is_empty() {
        return Ok(spec);
    }
    Err(Invalid {
        errors,
        stand_in: (!spec.outputs.is_empty()).then(|| Box::new(spec)),
    })
}

fn output(field: RowsField) -> Output {
    let RowsField {
        name,
        elem,
        len,
        scalar,
        args,
        span,
    } = field;
    Output {
        dtype: match &args.dtype {
            Some((dtype, ty)) => Storage::Dtype(*dtype, ty.span()),
            None => Storage::Elem,
        },
        cast: args.cast(),
        shape: if scalar {
            OutputShape::Axes(Vec::new())
        } else {
            args.shape.map_or(OutputShape::Flat, OutputShape::Axes)
        },
        scalar,
        name,
        elem,
        len,
        span,
    }
}

/// What an item can do to the batch, for every row function and every row struct: the one
/// place a policy is chosen. `checked`: a value may not fit its dtype (`cast = "checked"`), a
/// failure like the function's own.
fn choose_policy(fails: &Fails, checked: bool, on_error: OnError, filtering: bool) -> Policy {
    let can_fail = matches!(fails, Fails::With(_)) || checked;
    match (can_fail, on_error, filtering) {
        (false, _, false) => Policy::Plain,
        (false, _, true) => Policy::Filtered,
        (true, OnError::Skip, _) => Policy::Skipping,
        (true, OnError::Fail, false) => Policy::Fallible,
        (true, OnError::Fail, true) => Policy::FallibleFiltered,
    }
}

/// The facade's path: `crate = path`, else `::preallocate`; the one place it is resolved.
fn krate(args: &Args) -> Krate {
    args.krate
        .clone()
        .map_or_else(Krate::default_path, Krate::from_path)
}

/// The spec with every key resolved. Without errors every value comes from the attribute and
/// the signature; after one, a key that was wrong or missing takes its default: the row's own
/// shape (or one element), the row's element type as `dtype` (or `f32`), a lossless cast,
/// `on_error = "fail"`, `::preallocate`.
fn resolve(args: &Args, sig: Option<RowSignature>, func: &ItemFn, bodies: Bodies) -> Spec {
    let shape = args
        .row_shape()
        .filter(|shape| !shape.iter().any(|e| const_param(e, func).is_some()))
        .or_else(|| sig.as_ref().map(spec::shape_of_row))
        .unwrap_or_else(|| vec![Extent::Literal(1, Span::call_site())]);
    let (dtype, dtype_span) = match (&args.dtype, &sig) {
        (Some((dtype, ty)), _) => (*dtype, ty.span()),
        (None, Some(sig)) => (
            Dtype::from_type(&sig.elem).unwrap_or(Dtype::F32),
            Span::call_site(),
        ),
        (None, None) => (Dtype::F32, Span::call_site()),
    };
    let sig = sig.unwrap_or_else(|| {
        let elem = syn::Ident::new(dtype.name(), Span::call_site());
        let elem = syn::parse_quote!(#elem);
        spec::stand_in_signature(Owner::of(func), shape.len(), elem)
    });
    let cast = args.cast();
    Spec {
        policy: choose_policy(
            &sig.function.fails,
            cast == Cast::Checked,
            args.on_error(),
            sig.function.filtering,
        ),
        shape,
        dtype,
        dtype_span,
        cast,
        krate: krate(args),
        bodies,
        sig,
    }
}

fn check(args: &Args, sig: Option<&RowSignature>, errors: &mut Errors) {
    if let Some(sig) = sig {
        check_shape(args, sig, errors);
        check_elem(args, sig, errors);
        check_on_error(args, sig, errors);
    }
    check_missing(args, sig, errors);
}

fn check_shape(args: &Args, sig: &RowSignature, errors: &mut Errors) {
    // With both `dim` and `shape` given, that conflict is the error to fix first.
    let both = args.seen("dim") && args.seen("shape");
    let Some(shape) = args.row_shape().filter(|_| !both) else {
        return;
    };
    let rank = sig.lens.len();
    if shape.len() != rank {
        let has = match rank {
            0 => "is a scalar".to_owned(),
            1 => "has 1 axis".to_owned(),
            n => format!("has {n} axes"),
        };
        let wanted = match shape.len() {
            0 => format!(
                "`shape = ()` describes a scalar row, but the row `{}` {has}",
                row_shown(sig)
            ),
            1 if args.dim.is_some() => format!(
                "`dim` describes a row with one axis, but the row `{}` {has}",
                row_shown(sig)
            ),
            1 => format!("`shape` has 1 axis, but the row `{}` {has}", row_shown(sig)),
            n => format!(
                "`shape` has {n} axes, but the row `{}` {has}",
                row_shown(sig)
            ),
        };
        let key = if args.dim.is_some() { "dim" } else { "shape" };
        let fix = match rank {
            0 => format!("leave out `{key}` (a scalar row gives a 1-D output, `(n,)`)"),
            1 => format!("write `dim = {}`", shown(&sig.lens[0])),
            _ => {
                let axes: Vec<String> = sig.lens.iter().map(shown).collect();
                format!("write `shape = ({})`", axes.join(", "))
            }
        };
        let error = match sig.lens.first() {
            Some(len) => {
                syn::Error::new_spanned(len, format!("{wanted}: {fix}, or change the row type"))
            }
            None => syn::Error::new_spanned(
                &sig.elem,
                format!("{wanted}: {fix}, or change the row type"),
            ),
        };
        errors.push(error);
        return;
    }
    for (axis, (extent, len)) in shape.iter().zip(&sig.lens).enumerate() {
        if let (Some(want), Some(have)) = (extent.literal(), literal_len(len)) {
            if want != have {
                let said = if args.dim.is_some() {
                    format!("`dim = {want}`")
                } else {
                    format!("axis {axis} of `shape` is {want}")
                };
                let noun = if rank == 1 {
                    "the row has"
                } else {
                    "this axis of the row has"
                };
                errors.push(syn::Error::new_spanned(
                    len,
                    format!("{noun} {have} elements but the attribute says {said}: make the row length and the attribute agree"),
                ));
            }
        }
    }
}

/// The row type to write with elements of `dtype`: `f32` for a scalar row, else `[f32; N]`.
fn row_of_dtype(sig: &RowSignature, dtype: &str) -> String {
    if sig.lens.is_empty() {
        dtype.to_owned()
    } else {
        format!("[{dtype}; N]")
    }
}

fn row_shown(sig: &RowSignature) -> String {
    let mut row = shown(&sig.elem);
    for len in sig.lens.iter().rev() {
        row = format!("[{row}; {}]", shown(len));
    }
    row
}

fn check_elem(args: &Args, sig: &RowSignature, errors: &mut Errors) {
    let Some((dtype, _)) = &args.dtype else {
        return;
    };
    let elem = Dtype::from_type(&sig.elem);
    match sig.function.form {
        Form::InPlace => {
            if let Some((_, cast_span)) = args.cast {
                errors.push(syn::Error::new(
                    cast_span,
                    "`cast` does not apply to an in-place row: it is written straight into the output, so its elements already are the dtype",
                ));
            }
            if let Some(elem) = elem.filter(|e| e != dtype) {
                errors.push(syn::Error::new_spanned(
                    &sig.elem,
                    format!(
                        "an in-place row is written straight into the output, so its elements must be the dtype `{}`, not `{}`: write `row: &mut {}`, or change `dtype`",
                        dtype.name(),
                        elem.name(),
                        row_of_dtype(sig, dtype.name())
                    ),
                ));
            }
        }
        Form::ByValue => {
            // A `cast` that was given but is invalid is reported already.
            if args.cast.is_none() && args.seen("cast") {
                return;
            }
            let Some(elem) = elem else { return };
            match args.cast {
                None if !dtype.is_lossless_from(elem) => errors.push(syn::Error::new_spanned(
                    &sig.elem,
                    format!(
                        "row elements of type `{}` cannot be stored losslessly as `dtype = {}`: return `{}`, pick a `dtype` that holds every `{}`, or convert with `cast = \"as\"`, `\"checked\"` or `\"saturate\"`",
                        elem.name(),
                        dtype.name(),
                        row_of_dtype(sig, dtype.name()),
                        elem.name()
                    ),
                )),
                Some((cast @ (Cast::Checked | Cast::Saturate), span)) if elem == *dtype => {
                    errors.push(syn::Error::new(
                        span,
                        format!(
                            "`cast = \"{}\"` has nothing to do: the row's elements already are `{}`, the dtype; remove it (or did you mean another `dtype`?)",
                            cast.name(),
                            dtype.name()
                        ),
                    ));
                }
                _ => {}
            }
        }
    }
}

fn check_on_error(args: &Args, sig: &RowSignature, errors: &mut Errors) {
    let Some((_, span)) = args.on_error else {
        return;
    };
    if matches!(sig.function.fails, Fails::Never) && args.cast() != Cast::Checked {
        errors.push(syn::Error::new(
            span,
            "`on_error` has nothing to act on: this row function cannot fail (it returns no `Result`, and there is no `cast = \"checked\"`); remove it",
        ));
    }
}

/// A missing key gets one error at the attribute, with the attribute to write instead, filled
/// in from the signature where it tells (the row length, the element type).
fn check_missing(args: &Args, sig: Option<&RowSignature>, errors: &mut Errors) {
    if args.malformed {
        return;
    }
    let given = |key: &str| args.seen(key) || args.suggested.contains(&key);
    // A scalar row has no axis to give.
    let scalar = sig.is_some_and(|sig| sig.lens.is_empty());
    let missing_dim = !given("dim") && !given("shape") && !scalar;
    let missing_dtype = !given("dtype");
    if !missing_dim && !missing_dtype {
        return;
    }
    let lens: Option<Vec<String>> = match (&args.dim, &args.shape) {
        (Some(dim), _) => Some(vec![extent_shown(dim)]),
        (_, Some(shape)) => Some(shape.iter().map(extent_shown).collect()),
        _ => sig.map(|s| s.lens.iter().map(shown).collect()),
    };
    let shape_key = match lens.as_deref() {
        Some([]) => String::new(),
        Some([len]) => format!("dim = {len}, "),
        Some(lens) => format!("shape = ({}), ", lens.join(", ")),
        None => "dim = N, ".to_owned(),
    };
    let dtype = args
        .dtype
        .as_ref()
        .map(|(d, _)| *d)
        .or_else(|| sig.and_then(|s| Dtype::from_type(&s.elem)))
        .map_or("f32", Dtype::name);
    let (what, why) = match (missing_dim, missing_dtype) {
        (true, true) => (
            "`dim` and `dtype` are missing",
            "the row length and the storage type",
        ),
        (true, false) => ("`dim` is missing", "the row length"),
        _ => ("`dtype` is missing", "the storage type"),
    };
    errors.push(syn::Error::new(
        Span::call_site(),
        format!(
            "{what}: #[preallocate] needs {why}, e.g. `#[preallocate({shape_key}dtype = {dtype})]`"
        ),
    ));
}

/// The function's const parameter that an extent names (`dim = N` on `fn f<const N: usize>`).
fn const_param<'a>(extent: &Extent, func: &'a ItemFn) -> Option<&'a syn::Ident> {
    let Extent::Const(path) = extent else {
        return None;
    };
    func.sig.generics.params.iter().find_map(|p| match p {
        syn::GenericParam::Const(c) if path.is_ident(&c.ident) => Some(&c.ident),
        _ => None,
    })
}

/// The entry points know the row length before any item, outside the function's generics,
/// so a const parameter of the function cannot size the row.
fn check_const_params(args: &Args, func: &ItemFn, errors: &mut Errors) {
    let extents = args.dim.iter().chain(args.shape.iter().flatten());
    for extent in extents {
        let (Some(param), Extent::Const(path)) = (const_param(extent, func), extent) else {
            continue;
        };
        let key = if args.dim.is_some() { "dim" } else { "shape" };
        errors.push(syn::Error::new_spanned(
            path,
            format!("`{key} = {param}` names a const parameter of `{}`: a const generic cannot size the row, since the batch entry points need the row length without the function's generics; use a `const` item (`const {param}: usize = 4;`, then `[f32; {param}]` in the signature) or a literal (`{key} = 4`)", func.sig.ident),
        ));
    }
}

fn extent_shown(extent: &Extent) -> String {
    match extent {
        Extent::Literal(n, _) => n.to_string(),
        Extent::Const(path) => shown(path),
    }
}
