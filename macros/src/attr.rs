//! Parsing the keys of `#[preallocate(dim = 3, dtype = f32, ...)]`, of
//! `#[preallocate(rows = Struct, ...)]`, and of `#[rows(...)]` on a `#[derive(Rows)]` struct and
//! its fields, into typed, spanned values. A key means the same wherever it is written, and is
//! read by the same code; each [`Place`] accepts its own keys.
//!
//! Every mistake is recorded and parsing goes on, so that one compile shows them all; only a
//! malformed token stream (where the next key cannot be found) stops early.

use proc_macro2::{Span, TokenStream};
use quote::ToTokens;
use syn::meta::ParseNestedMeta;
use syn::parse::{ParseStream, Parser};
use syn::spanned::Spanned;
use syn::{Expr, Lit, LitStr, Token};

use crate::dtype::{Dtype, VALID_NAMES};
use crate::errors::{shown, Errors};

/// Where keys are written; each place accepts its own keys.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Place {
    /// `#[preallocate(dim = .., dtype = ..)]`: a row function with one output.
    #[default]
    Function,
    /// `#[preallocate(rows = Struct)]`: a row function with one output per field of `Struct`.
    RowsFunction,
    /// `#[rows(..)]` on a field of a `#[derive(Rows)]` struct: that field's output.
    Field,
    /// `#[rows(..)]` on a `#[derive(Rows)]` struct itself.
    Struct,
}

impl Place {
    /// The keys accepted here, in the order the errors list them.
    pub fn keys(self) -> &'static [&'static str] {
        match self {
            Place::Function => &["dim", "shape", "dtype", "cast", "on_error", "crate"],
            Place::RowsFunction => &["rows", "on_error", "crate"],
            Place::Field => &["dtype", "cast", "shape"],
            Place::Struct => &["crate"],
        }
    }

    /// The most axes a row may have: `Axes4` in the runtime for a one-output row, and for a
    /// field's output one less than ndarray's largest fixed dimension (`Ix6`), the batch axis
    /// being the other.
    fn max_axes(self) -> usize {
        match self {
            Place::Field => 5,
            _ => 4,
        }
    }

    /// The error for a key that belongs elsewhere (`dtype` next to `rows = ..`): where to put it.
    fn misplaced(self, key: &str) -> Option<&'static str> {
        match (self, key) {
            (Place::RowsFunction, "dim" | "shape" | "dtype" | "cast") => Some(
                "with `rows = ..`, each output's `dtype`, `cast` and `shape` are given on its field of the struct: `#[rows(dtype = f16, cast = \"as\")] x: [f32; 30]`",
            ),
            (Place::Struct, _) => Some(
                "on the struct, #[rows] takes only `crate = path`; put `dtype`, `cast` and `shape` on a field",
            ),
            _ => None,
        }
    }

    /// The error for an unknown key, `hint` being the key it was likely meant as.
    fn unknown(self, key: &str, hint: &str) -> String {
        let listed = self
            .keys()
            .iter()
            .map(|k| format!("`{k}`"))
            .collect::<Vec<_>>()
            .join(", ");
        match self {
            Place::Function => {
                format!("unknown key `{key}` in #[preallocate]{hint}; the valid keys are {listed}")
            }
            Place::RowsFunction => format!(
                "unknown key `{key}` in #[preallocate(rows = ..)]{hint}; the valid keys are {listed}"
            ),
            Place::Field | Place::Struct => {
                format!("unknown key `{key}` in #[rows]{hint}; the keys of a field are {listed}")
            }
        }
    }
}

/// The length of one row axis: a literal the macro can check, or a `const` the compiler checks.
#[derive(Clone)]
pub enum Extent {
    Literal(usize, Span),
    Const(syn::Path),
}

impl Extent {
    pub fn literal(&self) -> Option<usize> {
        match self {
            Extent::Literal(n, _) => Some(*n),
            Extent::Const(_) => None,
        }
    }
}

impl ToTokens for Extent {
    fn to_tokens(&self, tokens: &mut TokenStream) {
        match self {
            Extent::Literal(n, span) => {
                syn::LitInt::new(&format!("{n}usize"), *span).to_tokens(tokens);
            }
            Extent::Const(path) => path.to_tokens(tokens),
        }
    }
}

/// How row elements reach the storage type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cast {
    /// Only lossless conversions (the default).
    Lossless,
    /// Rust's `as` semantics, for any pair (`cast = "as"`).
    As,
    /// A value that does not fit is an item error (`cast = "checked"`).
    Checked,
    /// A value that does not fit is clamped (`cast = "saturate"`).
    Saturate,
}

impl Cast {
    pub fn name(self) -> &'static str {
        match self {
            Cast::Lossless => "lossless",
            Cast::As => "as",
            Cast::Checked => "checked",
            Cast::Saturate => "saturate",
        }
    }
}

/// What a failing item does to the batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnError {
    Fail,
    Skip,
}

/// The keys of one place. A key that was given but wrong is `None` (its error is recorded).
#[derive(Default)]
pub struct Args {
    /// Where the keys were written.
    pub place: Place,
    /// The `#[derive(Rows)]` struct of a row function with several outputs.
    pub rows: Option<syn::Path>,
    pub dim: Option<Extent>,
    pub shape: Option<Vec<Extent>>,
    pub dtype: Option<(Dtype, syn::Type)>,
    pub cast: Option<(Cast, Span)>,
    pub on_error: Option<(OnError, Span)>,
    pub krate: Option<syn::Path>,
    /// Keys that were present, right or wrong: a wrong key is not also reported missing.
    pub seen: Vec<&'static str>,
    /// Keys that an unknown key was taken to mean (`dims` → `dim`): already reported.
    pub suggested: Vec<&'static str>,
    /// The token stream was malformed: keys after the fault were not read.
    pub malformed: bool,
}

impl Args {
    pub fn cast(&self) -> Cast {
        self.cast.map_or(Cast::Lossless, |(c, _)| c)
    }

    pub fn on_error(&self) -> OnError {
        self.on_error.map_or(OnError::Fail, |(o, _)| o)
    }

    pub fn seen(&self, key: &str) -> bool {
        self.seen.contains(&key)
    }

    /// The row shape, from `dim = N` (one axis) or `shape = (..)`.
    pub fn row_shape(&self) -> Option<Vec<Extent>> {
        match (&self.dim, &self.shape) {
            (Some(dim), None) => Some(vec![dim.clone()]),
            (None, Some(shape)) => Some(shape.clone()),
            _ => None,
        }
    }
}

/// The keys of `#[preallocate(..)]`: with `rows = ..` those of a row function with several
/// outputs, else those of a row function with one.
pub fn parse(attr: TokenStream, errors: &mut Errors) -> Args {
    let place = if names_rows(&attr) {
        Place::RowsFunction
    } else {
        Place::Function
    };
    let mut args = Args {
        place,
        ..Args::default()
    };
    let parser = syn::meta::parser(|meta| parse_key(&meta, &mut args, errors));
    if let Err(err) = parser.parse2(attr) {
        errors.push(err);
        args.malformed = true;
    }
    args
}

/// The keys of every `#[rows(..)]` among `attrs`, on a field or on the struct (`place`).
pub fn parse_rows_attrs(attrs: &[syn::Attribute], place: Place, errors: &mut Errors) -> Args {
    let mut args = Args {
        place,
        ..Args::default()
    };
    for attr in attrs.iter().filter(|a| a.path().is_ident("rows")) {
        let parser = syn::meta::parser(|meta| parse_key(&meta, &mut args, errors));
        if let Err(err) = attr.parse_args_with(parser) {
            errors.push(err);
            args.malformed = true;
        }
    }
    args
}

/// Whether the attribute says `rows = ..`, which decides the keys it takes: known before its
/// keys are read, so that each error, in the order of the keys, says what to write there.
fn names_rows(attr: &TokenStream) -> bool {
    let tokens: Vec<proc_macro2::TokenTree> = attr.clone().into_iter().collect();
    tokens.windows(2).any(|pair| {
        matches!(
            pair,
            [proc_macro2::TokenTree::Ident(key), proc_macro2::TokenTree::Punct(eq)]
                if key == "rows" && eq.as_char() == '='
        )
    })
}

/// One `key = value`: the value read as the key says, and kept if the key is the first of its
/// kind.
fn parse_key(meta: &ParseNestedMeta, args: &mut Args, errors: &mut Errors) -> syn::Result<()> {
    let name = meta
        .path
        .get_ident()
        .map(ToString::to_string)
        .unwrap_or_default();
    let Some(&key) = args.place.keys().iter().find(|k| **k == name) else {
        return other_key(meta, &name, args, errors);
    };
    let keep = first_of_its_kind(key, meta.path.span(), args, errors);
    let input = meta.value()?;
    match key {
        "dim" => {
            let value: Expr = input.parse()?;
            let dim = parse_extent(&value, "dim", errors);
            if keep {
                args.dim = dim;
            }
        }
        "shape" => {
            let value: Expr = input.parse()?;
            let shape = parse_shape(&value, args.place.max_axes(), errors);
            if keep {
                args.shape = shape;
            }
        }
        "dtype" => {
            let dtype = parse_dtype(input, errors)?;
            if keep {
                args.dtype = dtype;
            }
        }
        "cast" => {
            let value: Expr = input.parse()?;
            let cast = parse_choice(
                &value,
                "cast",
                &[
                    ("as", Cast::As),
                    ("checked", Cast::Checked),
                    ("saturate", Cast::Saturate),
                ],
                errors,
            );
            if keep {
                args.cast = cast.map(|c| (c, value.span()));
            }
        }
        "on_error" => {
            let value: Expr = input.parse()?;
            let on_error = parse_choice(
                &value,
                "on_error",
                &[("fail", OnError::Fail), ("skip", OnError::Skip)],
                errors,
            );
            if keep {
                args.on_error = on_error.map(|o| (o, value.span()));
            }
        }
        "rows" => {
            let rows = parse_rows(input, errors)?;
            if keep {
                args.rows = rows;
            }
        }
        _ => {
            let krate = parse_crate(input, errors)?;
            if keep {
                args.krate = krate;
            }
        }
    }
    Ok(())
}

/// Records `key` as seen; whether its value is kept: not when the key is repeated or
/// conflicts with another (each an error on the key).
fn first_of_its_kind(key: &'static str, span: Span, args: &mut Args, errors: &mut Errors) -> bool {
    let repeated = args.seen(key);
    if repeated {
        errors.push(syn::Error::new(
            span,
            format!("`{key}` may only be specified once"),
        ));
    }
    let conflict = match key {
        "dim" if args.seen("shape") => Some("shape"),
        "shape" if args.seen("dim") => Some("dim"),
        _ => None,
    };
    if let Some(other) = conflict {
        errors.push(syn::Error::new(
            span,
            format!("`{key}` and `{other}` cannot be used together: write `dim = N` for rows with one axis, `shape = (H, W)` for rows with more"),
        ));
    }
    args.seen.push(key);
    !repeated && conflict.is_none()
}

/// A key this place does not take: one that belongs elsewhere, or an unknown one.
fn other_key(
    meta: &ParseNestedMeta,
    name: &str,
    args: &mut Args,
    errors: &mut Errors,
) -> syn::Result<()> {
    if let Some(message) = args.place.misplaced(name) {
        errors.push(syn::Error::new_spanned(&meta.path, message));
        return skip_value(meta.input);
    }
    let keys = args.place.keys();
    let meant = synonym(name)
        .filter(|key| keys.contains(key))
        .or_else(|| closest(name, keys));
    let hint = meant
        .map(|k| format!(" (did you mean `{k}`?)"))
        .unwrap_or_default();
    args.suggested.extend(meant);
    errors.push(syn::Error::new_spanned(
        &meta.path,
        args.place.unknown(&shown(&meta.path), &hint),
    ));
    skip_value(meta.input)
}

/// The key that another word for it means (`dims` → `dim`).
fn synonym(name: &str) -> Option<&'static str> {
    match name {
        "dims" | "dimension" | "dimensions" | "len" | "length" | "width" | "size" | "n" => {
            Some("dim")
        }
        "shapes" | "axes" => Some("shape"),
        "type" | "ty" | "dtypes" | "elem" | "element" => Some("dtype"),
        "casting" | "conversion" | "convert" => Some("cast"),
        "on_err" | "onerror" | "errors" | "error" => Some("on_error"),
        "krate" | "crate_path" | "path" => Some("crate"),
        _ => None,
    }
}

/// The one of `keys` a misspelling `name` most likely meant (`dytpe` → `dtype`): the one at the
/// smallest edit distance, counting a swap of two neighbours as one edit, if that is small for
/// its length.
fn closest(name: &str, keys: &[&'static str]) -> Option<&'static str> {
    let name = name.to_ascii_lowercase();
    keys.iter()
        .map(|key| (edit_distance(&name, key), *key))
        .filter(|(distance, key)| *distance <= if key.len() > 4 { 2 } else { 1 })
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, key)| key)
}

/// Optimal string alignment distance: insertions, deletions, substitutions and transpositions.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let mut rows = vec![vec![0; b.len() + 1]; a.len() + 1];
    for (i, row) in rows.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in rows[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (rows[i - 1][j] + 1)
                .min(rows[i][j - 1] + 1)
                .min(rows[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(rows[i - 2][j - 2] + 1);
            }
            rows[i][j] = best;
        }
    }
    rows[a.len()][b.len()]
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

/// One row length: `dim = 3`, an axis of `shape = (28, 28)`, or a `const` path.
fn parse_extent(value: &Expr, what: &str, errors: &mut Errors) -> Option<Extent> {
    let example = if what == "dim" {
        "write the row length as an integer literal or a `const`, e.g. `dim = 3`"
    } else {
        "write each axis as an integer literal or a `const`, e.g. `shape = (28, 28)`"
    };
    let err = match value {
        Expr::Lit(syn::ExprLit {
            lit: Lit::Int(int), ..
        }) => match int.base10_parse::<usize>() {
            Ok(0) if what == "dim" => syn::Error::new_spanned(
                int,
                "`dim` must be at least 1: a row needs at least one element",
            ),
            Ok(0) => syn::Error::new_spanned(
                int,
                "an axis of `shape` is 0: every axis needs at least one element",
            ),
            Ok(n) => return Some(Extent::Literal(n, int.span())),
            Err(_) => syn::Error::new_spanned(
                int,
                format!("`{int}` is not a row length that fits in `usize`"),
            ),
        },
        Expr::Path(p) if p.qself.is_none() && p.attrs.is_empty() => {
            return Some(Extent::Const(p.path.clone()))
        }
        Expr::Group(g) => return parse_extent(&g.expr, what, errors),
        Expr::Unary(syn::ExprUnary {
            op: syn::UnOp::Neg(_),
            expr,
            ..
        }) => syn::Error::new_spanned(
            value,
            format!(
                "`{what}` must be a positive integer, found `-{}`",
                shown(expr)
            ),
        ),
        Expr::Lit(syn::ExprLit {
            lit: Lit::Str(s), ..
        }) => {
            let inner = s.value();
            let fix = if inner.trim().parse::<usize>().is_ok() {
                format!("write `{what} = {}` without quotes", inner.trim())
            } else {
                example.to_owned()
            };
            syn::Error::new_spanned(s, format!("`{what}` takes an integer, not a string: {fix}"))
        }
        Expr::Lit(syn::ExprLit {
            lit: Lit::Float(f), ..
        }) => syn::Error::new_spanned(
            f,
            format!("`{what}` must be a whole number of elements, found `{f}`: {example}"),
        ),
        _ => syn::Error::new_spanned(
            value,
            format!(
                "`{what}` must be an integer literal or the name of a `const`, found `{}`; an expression can go in a `const`: `const N: usize = ...;`",
                shown(value)
            ),
        ),
    };
    errors.push(err);
    None
}

fn parse_shape(value: &Expr, max_axes: usize, errors: &mut Errors) -> Option<Vec<Extent>> {
    let axes: Vec<&Expr> = match value {
        // A scalar row: one element, no axis, a 1-D output `(n,)`.
        Expr::Tuple(t) => t.elems.iter().collect(),
        Expr::Paren(p) => vec![&*p.expr],
        Expr::Group(g) => return parse_shape(&g.expr, max_axes, errors),
        _ => {
            errors.push(syn::Error::new_spanned(
                value,
                "`shape` is a tuple of axis lengths, e.g. `shape = (28, 28)`",
            ));
            return None;
        }
    };
    if axes.len() > max_axes {
        errors.push(syn::Error::new_spanned(
            value,
            format!(
                "`shape` has {} axes; rows may have at most {max_axes}",
                axes.len()
            ),
        ));
        return None;
    }
    let before = errors.len();
    let extents: Vec<Extent> = axes
        .into_iter()
        .filter_map(|axis| parse_extent(axis, "shape", errors))
        .collect();
    (errors.len() == before).then_some(extents)
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
    // `np.float32`, `torch.bfloat16`: a Python habit, read whole so that it is one error.
    if input.peek(syn::Ident) && input.peek2(Token![.]) {
        let value: Expr = input.parse()?;
        errors.push(foreign_dtype(&value));
        return Ok(None);
    }
    let ty: syn::Type = input.parse()?;
    if let Some(d) = Dtype::from_type(&ty) {
        return Ok(Some((d, ty)));
    }
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
        format!(
            "unknown dtype `{}`{hint}; expected one of {VALID_NAMES}",
            shown(&ty)
        ),
    ));
    Ok(None)
}

/// The error for a dtype written as a Python expression (`np.float32`, `torch.float16`,
/// `np.dtype("uint8")`): the Rust type its last name stands for.
fn foreign_dtype(value: &Expr) -> syn::Error {
    let last = match value {
        Expr::Field(f) => match &f.member {
            syn::Member::Named(name) => Some(name.to_string()),
            syn::Member::Unnamed(_) => None,
        },
        Expr::MethodCall(call) => match call.args.first() {
            Some(Expr::Lit(syn::ExprLit {
                lit: Lit::Str(s), ..
            })) => Some(s.value()),
            _ => Some(call.method.to_string()),
        },
        _ => None,
    };
    let fix = match last.as_deref().and_then(Dtype::suggestion) {
        Some(d) => format!("did you mean `{}`? write `dtype = {}`", d.name(), d.name()),
        None => format!("write one of {VALID_NAMES}"),
    };
    syn::Error::new_spanned(
        value,
        format!(
            "`dtype` takes a Rust type, not `{}`: {fix}",
            shown(value)
                .replace(" . ", ".")
                .replace(" .", ".")
                .replace(". ", ".")
        ),
    )
}

/// A string value out of a fixed list (`cast = "as"`, `on_error = "skip"`).
fn parse_choice<T: Copy>(
    value: &Expr,
    key: &str,
    choices: &[(&str, T)],
    errors: &mut Errors,
) -> Option<T> {
    let listed = choices
        .iter()
        .map(|(name, _)| format!("`{key} = \"{name}\"`"))
        .collect::<Vec<_>>()
        .join(", ");
    match value {
        Expr::Lit(syn::ExprLit {
            lit: Lit::Str(s), ..
        }) => {
            let text = s.value();
            if let Some((_, choice)) = choices.iter().find(|(name, _)| *name == text) {
                return Some(*choice);
            }
            errors.push(syn::Error::new_spanned(
                s,
                format!("unknown {key} `\"{text}\"`: expected one of {listed}"),
            ));
        }
        _ => errors.push(syn::Error::new_spanned(
            value,
            format!("`{key}` takes a string: one of {listed}"),
        )),
    }
    None
}

/// `rows = Struct`: the `#[derive(Rows)]` struct a row function returns.
fn parse_rows(input: ParseStream, errors: &mut Errors) -> syn::Result<Option<syn::Path>> {
    let value: Expr = input.parse()?;
    match value {
        Expr::Path(p) => Ok(Some(p.path)),
        other => {
            errors.push(syn::Error::new_spanned(
                &other,
                "expected the struct of rows: `rows = Example`, a struct with #[derive(Rows)]",
            ));
            Ok(None)
        }
    }
}

/// `crate = path` or `crate = "path"`: where the facade is, for a renamed dependency.
fn parse_crate(input: ParseStream, errors: &mut Errors) -> syn::Result<Option<syn::Path>> {
    let fix = "write the name the dependency has in your Cargo.toml, e.g. `crate = pa` or `crate = \"pa\"`";
    if input.peek(LitStr) {
        let s: LitStr = input.parse()?;
        return Ok(match s.parse_with(syn::Path::parse_mod_style) {
            Ok(path) => Some(path),
            Err(_) => {
                errors.push(syn::Error::new_spanned(
                    &s,
                    format!("`crate = \"{}\"` is not a path: {fix}", s.value()),
                ));
                None
            }
        });
    }
    let value: Expr = input.parse()?;
    match value {
        Expr::Path(p) if p.qself.is_none() => Ok(Some(p.path)),
        other => {
            errors.push(syn::Error::new_spanned(
                &other,
                format!("`crate` must be a path: {fix}"),
            ));
            Ok(None)
        }
    }
}
