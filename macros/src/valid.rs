//! Checks that need both the attribute and the signature: the row's shape against `dim` or
//! `shape`, its element type against `dtype` and `cast`, `on_error` against what can fail, and
//! the keys that are missing; then the checked [`Spec`], or the errors and a stand-in spec.

use proc_macro2::Span;
use syn::spanned::Spanned;
use syn::ItemFn;

use crate::attr::{Args, Cast, Extent};
use crate::dtype::Dtype;
use crate::errors::{shown, Errors};
use crate::model::{literal_len, Fails, Form, Owner, RowSignature};
use crate::spec::{self, Bodies, Krate, Policy, Spec};

/// An attribute or signature with errors: the errors to show, and the spec to emit the
/// companions from, so that every name the crate uses still exists.
pub struct Invalid {
    pub errors: Errors,
    pub stand_in: Box<Spec>,
}

/// Checks the attribute against the signature. `errors` holds those found while parsing them.
pub fn validate(
    args: &Args,
    sig: Option<RowSignature>,
    func: &ItemFn,
    mut errors: Errors,
) -> Result<Spec, Invalid> {
    check(args, sig.as_ref(), &mut errors);
    check_const_params(args, func, &mut errors);
    let bodies = if errors.is_empty() {
        Bodies::Real
    } else {
        Bodies::Stub
    };
    let spec = resolve(args, sig, func, bodies);
    match bodies {
        Bodies::Real => Ok(spec),
        Bodies::Stub => Err(Invalid {
            errors,
            stand_in: Box::new(spec),
        }),
    }
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
    let can_fail = matches!(sig.function.fails, Fails::With(_)) || cast == Cast::Checked;
    Spec {
        policy: Policy::choose(can_fail, args.on_error(), sig.function.filtering),
        shape,
        dtype,
        dtype_span,
        cast,
        krate: args
            .krate
            .clone()
            .map_or_else(Krate::default_path, Krate::from_path),
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
        let wanted = match shape.len() {
            1 => format!(
                "`dim` describes a row with one axis, but the row `{}` has {rank}",
                row_shown(sig)
            ),
            n => format!(
                "`shape` has {n} axes, but the row `{}` has {rank}",
                row_shown(sig)
            ),
        };
        let fix = if rank == 1 {
            format!("write `dim = {}`", shown(&sig.lens[0]))
        } else {
            let axes: Vec<String> = sig.lens.iter().map(shown).collect();
            format!("write `shape = ({})`", axes.join(", "))
        };
        errors.push(syn::Error::new_spanned(
            &sig.lens[0],
            format!("{wanted}: {fix}, or change the row type"),
        ));
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
                        "an in-place row is written straight into the output, so its elements must be the dtype `{}`, not `{}`: write `row: &mut [{}; N]`, or change `dtype`",
                        dtype.name(),
                        elem.name(),
                        dtype.name()
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
                        "row elements of type `{}` cannot be stored losslessly as `dtype = {}`: return `[{}; N]`, pick a `dtype` that holds every `{}`, or convert with `cast = \"as\"`, `\"checked\"` or `\"saturate\"`",
                        elem.name(),
                        dtype.name(),
                        dtype.name(),
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
    let missing_dim = !given("dim") && !given("shape");
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
        Some([len]) => format!("dim = {len}"),
        Some(lens) => format!("shape = ({})", lens.join(", ")),
        None => "dim = N".to_owned(),
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
        format!("{what}: #[preallocate] needs {why}, e.g. `#[preallocate({shape_key}, dtype = {dtype})]`"),
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
