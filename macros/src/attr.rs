//! Parsing `#[preallocate(dim = 3, dtype = f32, cast = "as")]` into typed, spanned values.
//!
//! Every mistake is recorded and parsing goes on, so that one compile shows them all; only a
//! malformed token stream (where the next key cannot be found) stops early.

use proc_macro2::{Span, TokenStream};
use syn::meta::ParseNestedMeta;
use syn::parse::{ParseStream, Parser};
use syn::spanned::Spanned;
use syn::{Expr, Lit, LitStr, Token};

use crate::dtype::{Dtype, VALID_NAMES};
use crate::errors::{shown, Errors};

pub const VALID_KEYS: &str = "`dim`, `dtype`, `cast`";

/// How row elements reach the storage type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cast {
    /// Only lossless conversions (the default).
    Lossless,
    /// Rust's `as` semantics, for any pair (`cast = "as"`).
    As,
}

/// The attribute's arguments. A key that was given but wrong is `None` (its error is recorded).
#[derive(Default)]
pub struct Args {
    pub dim: Option<(usize, Span)>,
    pub dtype: Option<(Dtype, syn::Type)>,
    pub cast: Option<(Cast, Span)>,
    /// Keys that were present, right or wrong: a wrong key is not also reported missing.
    pub seen_dim: bool,
    pub seen_dtype: bool,
    pub seen_cast: bool,
    /// Keys that an unknown key was taken to mean (`dims` → `dim`): already reported.
    pub suggested: Vec<&'static str>,
    /// The token stream was malformed: keys after the fault were not read.
    pub malformed: bool,
}

impl Args {
    pub fn cast(&self) -> Cast {
        self.cast.map_or(Cast::Lossless, |(c, _)| c)
    }
}

pub fn parse(attr: TokenStream, errors: &mut Errors) -> Args {
    let mut args = Args::default();
    let parser = syn::meta::parser(|meta| parse_key(&meta, &mut args, errors));
    if let Err(err) = parser.parse2(attr) {
        errors.push(err);
        args.malformed = true;
    }
    args
}

fn parse_key(meta: &ParseNestedMeta, args: &mut Args, errors: &mut Errors) -> syn::Result<()> {
    let key = meta
        .path
        .get_ident()
        .map(ToString::to_string)
        .unwrap_or_default();
    let span = meta.path.span();
    let duplicate = |errors: &mut Errors| {
        errors.push(syn::Error::new(
            span,
            format!("`{key}` may only be specified once"),
        ));
    };
    match key.as_str() {
        "dim" => {
            let value: Expr = meta.value()?.parse()?;
            if args.seen_dim {
                duplicate(errors);
            } else {
                args.seen_dim = true;
                args.dim = parse_dim(&value, errors);
            }
        }
        "dtype" => {
            let input = meta.value()?;
            let dtype = parse_dtype(input, errors)?;
            if args.seen_dtype {
                duplicate(errors);
            } else {
                args.seen_dtype = true;
                args.dtype = dtype;
            }
        }
        "cast" => {
            let value: Expr = meta.value()?.parse()?;
            if args.seen_cast {
                duplicate(errors);
            } else {
                args.seen_cast = true;
                args.cast = parse_cast(&value, errors).map(|c| (c, value.span()));
            }
        }
        _ => {
            let key_shown = shown(&meta.path);
            let hint = match key.as_str() {
                "dims" | "dimension" | "dimensions" | "len" | "length" | "width" | "size" | "n" => {
                    " (did you mean `dim`?)"
                }
                "type" | "ty" | "dtypes" | "elem" | "element" => " (did you mean `dtype`?)",
                "casting" | "conversion" | "convert" => " (did you mean `cast`?)",
                _ => "",
            };
            errors.push(syn::Error::new(
                span,
                format!("unknown key `{key_shown}` in #[preallocate]{hint}; the valid keys are {VALID_KEYS}"),
            ));
            skip_value(meta.input)?;
        }
    }
    Ok(())
}

/// Consumes the value of an unknown key (`= tokens` or `(tokens)`) so that parsing goes on.
fn skip_value(input: ParseStream) -> syn::Result<()> {
    if input.peek(Token![=]) {
        input.parse::<Token![=]>()?;
        while !input.is_empty() && !input.peek(Token![,]) {
            input.parse::<proc_macro2::TokenTree>()?;
        }
    } else if input.peek(syn::token::Paren) {
        let _content;
        syn::parenthesized!(_content in input);
    }
    Ok(())
}

fn parse_dim(value: &Expr, errors: &mut Errors) -> Option<(usize, Span)> {
    let example = "write the row length as an integer literal, e.g. `dim = 3`";
    let err = match value {
        Expr::Lit(syn::ExprLit {
            lit: Lit::Int(int), ..
        }) => match int.base10_parse::<usize>() {
            Ok(0) => syn::Error::new_spanned(
                int,
                "`dim` must be at least 1: a row needs at least one element",
            ),
            Ok(dim) => return Some((dim, int.span())),
            Err(_) => syn::Error::new_spanned(
                int,
                format!("`dim = {int}` is not a row length that fits in `usize`"),
            ),
        },
        Expr::Unary(syn::ExprUnary {
            op: syn::UnOp::Neg(_),
            ..
        }) => syn::Error::new_spanned(
            value,
            format!(
                "`dim` must be a positive integer, found `{}`",
                quote::quote!(#value).to_string().replace(' ', "")
            ),
        ),
        Expr::Lit(syn::ExprLit {
            lit: Lit::Str(s), ..
        }) => {
            let inner = s.value();
            let fix = if inner.trim().parse::<usize>().is_ok() {
                format!("write `dim = {}` without quotes", inner.trim())
            } else {
                example.to_owned()
            };
            syn::Error::new_spanned(s, format!("`dim` takes an integer, not a string: {fix}"))
        }
        Expr::Lit(syn::ExprLit {
            lit: Lit::Float(f), ..
        }) => syn::Error::new_spanned(
            f,
            format!("`dim` must be a whole number of elements, found `{f}`: {example}"),
        ),
        _ => syn::Error::new_spanned(
            value,
            format!("`dim` must be an integer literal: {example}"),
        ),
    };
    errors.push(err);
    None
}

fn parse_dtype(input: ParseStream, errors: &mut Errors) -> syn::Result<Option<(Dtype, syn::Type)>> {
    if input.peek(LitStr) {
        let s: LitStr = input.parse()?;
        let fix = match Dtype::suggestion(s.value().trim()) {
            Some(d) => format!("write `dtype = {}` without quotes", d.name()),
            None => format!("write the type without quotes; one of {VALID_NAMES}"),
        };
        errors.push(syn::Error::new_spanned(
            &s,
            format!("`dtype` takes a type, not a string: {fix}"),
        ));
        return Ok(None);
    }
    let ty: syn::Type = input.parse()?;
    if let Some(d) = Dtype::from_type(&ty) {
        return Ok(Some((d, ty)));
    }
    let ty_shown = shown(&ty);
    let last = match &ty {
        syn::Type::Path(p) => p.path.segments.last().map(|s| s.ident.to_string()),
        _ => None,
    };
    let hint = match last.as_deref().and_then(Dtype::suggestion) {
        Some(d) => format!(" (did you mean `{}`?)", d.name()),
        None => String::new(),
    };
    errors.push(syn::Error::new_spanned(
        &ty,
        format!("unknown dtype `{ty_shown}`{hint}; expected one of {VALID_NAMES}"),
    ));
    Ok(None)
}

fn parse_cast(value: &Expr, errors: &mut Errors) -> Option<Cast> {
    let expected = "the supported cast is `cast = \"as\"` (Rust's `as` conversion)";
    match value {
        Expr::Lit(syn::ExprLit {
            lit: Lit::Str(s), ..
        }) => match s.value().as_str() {
            "as" => Some(Cast::As),
            other => {
                errors.push(syn::Error::new_spanned(
                    s,
                    format!("unknown cast `\"{other}\"`: {expected}"),
                ));
                None
            }
        },
        _ => {
            errors.push(syn::Error::new_spanned(
                value,
                format!("`cast` takes a string: {expected}"),
            ));
            None
        }
    }
}
