//! The storage types `dtype = ...` accepts, as the macro sees them: by name.

use proc_macro2::{Span, TokenStream};
use quote::quote_spanned;

/// One of the element types the runtime can store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dtype {
    F16,
    Bf16,
    F32,
    F64,
    I8,
    I16,
    I32,
    I64,
    U8,
    U16,
    U32,
    U64,
}

use Dtype::*;

const ALL: [Dtype; 12] = [F16, Bf16, F32, F64, I8, I16, I32, I64, U8, U16, U32, U64];

/// The list shown in error messages.
pub const VALID_NAMES: &str = "f16, bf16, f32, f64, i8, i16, i32, i64, u8, u16, u32, u64";

impl Dtype {
    pub fn name(self) -> &'static str {
        match self {
            F16 => "f16",
            Bf16 => "bf16",
            F32 => "f32",
            F64 => "f64",
            I8 => "i8",
            I16 => "i16",
            I32 => "i32",
            I64 => "i64",
            U8 => "u8",
            U16 => "u16",
            U32 => "u32",
            U64 => "u64",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        ALL.into_iter().find(|d| d.name() == name)
    }

    /// Reads a dtype from a type: a bare name (`f32`) or a path ending in one (`half::f16`).
    pub fn from_type(ty: &syn::Type) -> Option<Self> {
        match ty {
            syn::Type::Path(p) if p.qself.is_none() => {
                let last = p.path.segments.last()?;
                if !last.arguments.is_empty() {
                    return None;
                }
                Self::from_name(&last.ident.to_string())
            }
            syn::Type::Group(g) => Self::from_type(&g.elem),
            syn::Type::Paren(p) => Self::from_type(&p.elem),
            _ => None,
        }
    }

    /// The dtype a user most likely meant by a name from numpy, C or PyTorch.
    pub fn suggestion(name: &str) -> Option<Self> {
        let lower = name.to_ascii_lowercase();
        if let Some(d) = Self::from_name(&lower) {
            return Some(d);
        }
        Some(match lower.as_str() {
            "float16" | "half" => F16,
            "bfloat16" => Bf16,
            "float32" | "float" | "single" => F32,
            // numpy's `float_` and `int_` are its defaults, 64 bits wide.
            "float64" | "double" | "float_" | "longdouble" => F64,
            "int8" => I8,
            "int16" | "short" => I16,
            "int32" | "int" => I32,
            "int64" | "long" | "int_" | "longlong" => I64,
            "uint8" | "byte" | "ubyte" => U8,
            "uint16" => U16,
            "uint32" => U32,
            "uint64" => U64,
            _ => return None,
        })
    }

    /// An absolute path to the type in generated code, immune to shadowing at the call site;
    /// `private` is the facade's `__private` module.
    pub fn path(self, private: &TokenStream, span: Span) -> TokenStream {
        match self {
            F16 => quote_spanned!(span=> #private::f16),
            Bf16 => quote_spanned!(span=> #private::bf16),
            other => {
                let ident = syn::Ident::new(other.name(), span);
                quote_spanned!(span=> ::core::primitive::#ident)
            }
        }
    }

    /// Whether every value of `src` is stored exactly by `self`. The same pairs as the runtime's
    /// `LosslessFrom` impls (`std`'s and `half`'s `From`); `tests/conversions.rs` compiles each.
    pub fn is_lossless_from(self, src: Dtype) -> bool {
        if self == src {
            return true;
        }
        let targets: &[Dtype] = match src {
            U8 => &[U16, U32, U64, I16, I32, I64, F16, Bf16, F32, F64],
            U16 => &[U32, U64, I32, I64, F32, F64],
            U32 => &[U64, I64, F64],
            I8 => &[I16, I32, I64, F16, Bf16, F32, F64],
            I16 => &[I32, I64, F32, F64],
            I32 => &[I64, F64],
            F16 | Bf16 => &[F32, F64],
            F32 => &[F64],
            U64 | I64 | F64 => &[],
        };
        targets.contains(&self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for d in ALL {
            assert_eq!(Dtype::from_name(d.name()), Some(d));
            assert!(VALID_NAMES.contains(d.name()));
        }
    }

    #[test]
    fn suggestions_cover_numpy_names() {
        assert_eq!(Dtype::suggestion("float32"), Some(F32));
        assert_eq!(Dtype::suggestion("uint8"), Some(U8));
        assert_eq!(Dtype::suggestion("F64"), Some(F64));
        assert_eq!(Dtype::suggestion("quaternion"), None);
    }

    #[test]
    fn narrowing_is_never_lossless() {
        assert!(!F32.is_lossless_from(F64));
        assert!(!U8.is_lossless_from(F32));
        assert!(!F16.is_lossless_from(F32));
        assert!(!F32.is_lossless_from(I32));
        assert!(!Bf16.is_lossless_from(F16));
        assert!(!U32.is_lossless_from(I8));
        assert!(F32.is_lossless_from(U8));
        assert!(I64.is_lossless_from(U32));
    }
}
