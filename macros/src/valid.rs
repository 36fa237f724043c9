//! Checks that need both the attribute and the signature: the row's shape against `dim` or
//! `shape`, its element type against `dtype` and `cast`, `on_error` against what can fail, and
//! the keys that are missing.

use proc_macro2::Span;

use crate::attr::{Args, Cast, Extent};
use crate::dtype::Dtype;
use crate::errors::{shown, Errors};
use crate::model::{literal_len, Form, RowSignature};

pub fn check(args: &Args, sig: Option<&RowSignature>, errors: &mut Errors) {
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
    match sig.form {
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
    if sig.error_ty.is_none() && args.cast() != Cast::Checked {
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

fn extent_shown(extent: &Extent) -> String {
    match extent {
        Extent::Literal(n, _) => n.to_string(),
        Extent::Const(path) => shown(path),
    }
}
