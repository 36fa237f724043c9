//! Checks that need both the attribute and the signature: row length against `dim`, element
//! type against `dtype`, and the keys that are missing.

use proc_macro2::Span;

use crate::attr::{Args, Cast};
use crate::dtype::Dtype;
use crate::errors::Errors;
use crate::model::{Form, RowSignature};

pub fn check(args: &Args, sig: Option<&RowSignature>, errors: &mut Errors) {
    if let Some(sig) = sig {
        check_len(args, sig, errors);
        check_elem(args, sig, errors);
    }
    check_missing(args, sig, errors);
}

fn check_len(args: &Args, sig: &RowSignature, errors: &mut Errors) {
    let (Some((dim, _)), Some(len)) = (args.dim, sig.literal_len()) else {
        return;
    };
    if dim != len {
        errors.push(syn::Error::new_spanned(
            &sig.len,
            format!("the row has {len} elements but the attribute says `dim = {dim}`: make the row length and `dim` agree"),
        ));
    }
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
            let Some(elem) = elem.filter(|_| args.cast.is_some() || !args.seen_cast) else {
                return;
            };
            if args.cast() == Cast::Lossless && !dtype.is_lossless_from(elem) {
                errors.push(syn::Error::new_spanned(
                    &sig.elem,
                    format!(
                        "row elements of type `{}` cannot be stored losslessly as `dtype = {}`: return `[{}; N]`, pick a `dtype` that holds every `{}`, or opt into `as` conversion with `cast = \"as\"`",
                        elem.name(),
                        dtype.name(),
                        dtype.name(),
                        elem.name()
                    ),
                ));
            }
        }
    }
}

/// A missing key gets one error at the attribute, with the attribute to write instead, filled
/// in from the signature where it tells (the row length, the element type).
fn check_missing(args: &Args, sig: Option<&RowSignature>, errors: &mut Errors) {
    if args.malformed {
        return;
    }
    let missing_dim = !args.seen_dim && !args.suggested.contains(&"dim");
    let missing_dtype = !args.seen_dtype && !args.suggested.contains(&"dtype");
    if !missing_dim && !missing_dtype {
        return;
    }
    let dim = args
        .dim
        .map(|(d, _)| d.to_string())
        .or_else(|| {
            sig.and_then(RowSignature::literal_len)
                .map(|n| n.to_string())
        })
        .unwrap_or_else(|| "N".to_owned());
    let dtype = args
        .dtype
        .as_ref()
        .map(|(d, _)| *d)
        .or_else(|| sig.and_then(|s| Dtype::from_type(&s.elem)))
        .map_or("f32", Dtype::name);
    let what = match (missing_dim, missing_dtype) {
        (true, true) => "`dim` and `dtype` are missing",
        (true, false) => "`dim` is missing",
        _ => "`dtype` is missing",
    };
    let why = match (missing_dim, missing_dtype) {
        (true, true) => "the row length and the storage type",
        (true, false) => "the row length",
        _ => "the storage type",
    };
    errors.push(syn::Error::new(
        Span::call_site(),
        format!("{what}: #[preallocate] needs {why}, e.g. `#[preallocate(dim = {dim}, dtype = {dtype})]`"),
    ));
}
