//! Storage element types (`dtype`s) and the conversions between them.

use half::{bf16, f16};

mod sealed {
    pub trait Sealed {}
}

/// A storage element type: one of the `dtype`s that `#[preallocate]` accepts.
///
/// Implemented for `f16`, `bf16` (from the `half` crate), `f32`, `f64`, `i8`, `i16`, `i32`, `i64`,
/// `u8`, `u16`, `u32` and `u64`; sealed, because the drivers and the file writers rely on every
/// element being a plain number whose all-zero bit pattern is zero.
///
/// ```
/// use preallocate_runtime::Element;
///
/// assert_eq!(<f32 as Element>::NAME, "f32");
/// assert_eq!(<u8 as Element>::ZERO, 0);
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a dtype that `#[preallocate]` can store",
    label = "not one of f16, bf16, f32, f64, i8, i16, i32, i64, u8, u16, u32, u64",
    note = "the `dtype` of `#[preallocate(dim = .., dtype = ..)]` must be one of f16, bf16, f32, f64, i8, i16, i32, i64, u8, u16, u32, u64"
)]
pub trait Element:
    sealed::Sealed
    + Copy
    + PartialEq
    + PartialOrd
    + Default
    + core::fmt::Debug
    + core::fmt::Display
    + bytemuck::Zeroable
    + Send
    + Sync
    + 'static
{
    /// The value zero, which is also the all-zero bit pattern.
    const ZERO: Self;
    /// The name of the type as written in `dtype = ...`.
    const NAME: &'static str;
}

macro_rules! elements {
    ($($ty:ident = $zero:expr),* $(,)?) => {$(
        impl sealed::Sealed for $ty {}
        impl Element for $ty {
            const ZERO: Self = $zero;
            const NAME: &'static str = stringify!($ty);
        }
    )*};
}

elements! {
    f16 = f16::ZERO, bf16 = bf16::ZERO, f32 = 0.0, f64 = 0.0,
    i8 = 0, i16 = 0, i32 = 0, i64 = 0, u8 = 0, u16 = 0, u32 = 0, u64 = 0,
}

/// Lossless conversion of a row element `Src` into the storage type `Self`.
///
/// Implemented exactly for the pairs where every value of `Src` is represented exactly by `Self`
/// (the same pairs as `std`'s and `half`'s `From` impls): the identity, widening integers
/// (`u8`→`i16`), integers into floats wide enough for them (`i16`→`f32`, `u32`→`f64`,
/// `u8`→`f16`) and widening floats (`f16`→`f32`, `f32`→`f64`). A lossy pair (`f64`→`f32`,
/// `f32`→`u8`, `f32`→`f16`) does not implement it: `#[preallocate]` rejects it at compile time
/// unless the attribute says `cast = "as"`.
///
/// ```
/// use preallocate_runtime::LosslessFrom;
///
/// assert_eq!(<f32 as LosslessFrom<u8>>::lossless_from(255), 255.0);
/// assert_eq!(<i64 as LosslessFrom<i16>>::lossless_from(-7), -7);
/// ```
#[diagnostic::on_unimplemented(
    message = "row elements of type `{Src}` cannot be stored losslessly as `{Self}`",
    label = "`{Src}` does not convert losslessly into the dtype `{Self}`",
    note = "return a row of `{Self}`, pick a wider `dtype`, or opt into `as` conversion with `cast = \"as\"`"
)]
pub trait LosslessFrom<Src>: Element {
    /// Converts one element; exact for every input.
    fn lossless_from(src: Src) -> Self;
}

impl<T: Element> LosslessFrom<T> for T {
    #[inline(always)]
    fn lossless_from(src: T) -> T {
        src
    }
}

macro_rules! lossless {
    ($($src:ident => $($dst:ident),+;)*) => {$($(
        impl LosslessFrom<$src> for $dst {
            #[inline(always)]
            fn lossless_from(src: $src) -> $dst {
                <$dst as From<$src>>::from(src)
            }
        }
    )+)*};
}

lossless! {
    u8 => u16, u32, u64, i16, i32, i64, f16, bf16, f32, f64;
    u16 => u32, u64, i32, i64, f32, f64;
    u32 => u64, i64, f64;
    i8 => i16, i32, i64, f16, bf16, f32, f64;
    i16 => i32, i64, f32, f64;
    i32 => i64, f64;
    f16 => f32, f64;
    bf16 => f32, f64;
    f32 => f64;
}

/// Explicit `as` conversion of a row element into the storage type, for `cast = "as"`.
///
/// Follows Rust's `as` semantics through [`num_traits::AsPrimitive`]: floats into integers
/// truncate toward zero and saturate at the bounds (NaN becomes 0), wide floats round to the
/// nearest narrower float, wide integers wrap.
///
/// ```
/// use preallocate_runtime::CastAs;
///
/// assert_eq!(<f32 as CastAs<u8>>::cast_as(300.7), 255);
/// assert_eq!(<f64 as CastAs<f32>>::cast_as(0.1), 0.1f32);
/// ```
#[diagnostic::on_unimplemented(
    message = "row elements of type `{Self}` have no `as` conversion into the dtype `{Dst}`",
    label = "no `as` conversion from `{Self}` to `{Dst}`"
)]
pub trait CastAs<Dst: Element>: Copy {
    /// Converts one element with `as` semantics.
    fn cast_as(self) -> Dst;
}

impl<Src, Dst> CastAs<Dst> for Src
where
    Src: num_traits::AsPrimitive<Dst>,
    Dst: Element,
{
    #[inline(always)]
    fn cast_as(self) -> Dst {
        self.as_()
    }
}

/// Stores a by-value row into its slot in the output, converting each element losslessly.
///
/// `row` has the same length as `value` whenever a driver calls a row writer; should it be
/// shorter, only the elements that fit are stored.
///
/// ```
/// let mut slot = [0.0f64; 3];
/// preallocate_runtime::store_lossless([1u8, 2, 3], &mut slot);
/// assert_eq!(slot, [1.0, 2.0, 3.0]);
/// ```
#[inline(always)]
pub fn store_lossless<Src, Dst, const N: usize>(value: [Src; N], row: &mut [Dst])
where
    Dst: LosslessFrom<Src>,
{
    for (slot, element) in row.iter_mut().zip(value) {
        *slot = Dst::lossless_from(element);
    }
}

/// Stores a by-value row into its slot in the output with `as` conversion (`cast = "as"`).
///
/// ```
/// let mut slot = [0u8; 3];
/// preallocate_runtime::store_as([-1.0f32, 7.9, 1e9], &mut slot);
/// assert_eq!(slot, [0, 7, 255]);
/// ```
#[inline(always)]
pub fn store_as<Src, Dst, const N: usize>(value: [Src; N], row: &mut [Dst])
where
    Src: CastAs<Dst>,
    Dst: Element,
{
    for (slot, element) in row.iter_mut().zip(value) {
        *slot = element.cast_as();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_the_dsl() {
        let names = [
            <f16 as Element>::NAME,
            <bf16 as Element>::NAME,
            <f32 as Element>::NAME,
            <f64 as Element>::NAME,
            <i8 as Element>::NAME,
            <i16 as Element>::NAME,
            <i32 as Element>::NAME,
            <i64 as Element>::NAME,
            <u8 as Element>::NAME,
            <u16 as Element>::NAME,
            <u32 as Element>::NAME,
            <u64 as Element>::NAME,
        ];
        assert_eq!(
            names,
            ["f16", "bf16", "f32", "f64", "i8", "i16", "i32", "i64", "u8", "u16", "u32", "u64"]
        );
    }

    #[test]
    fn zero_is_the_all_zero_bit_pattern() {
        assert_eq!(<f16 as Element>::ZERO.to_bits(), 0);
        assert_eq!(<bf16 as Element>::ZERO.to_bits(), 0);
        assert_eq!(<f32 as Element>::ZERO.to_bits(), 0);
        assert_eq!(<f64 as Element>::ZERO.to_bits(), 0);
    }

    #[test]
    fn lossless_pairs_are_exact_at_the_extremes() {
        assert_eq!(
            <f16 as LosslessFrom<u8>>::lossless_from(255),
            f16::from_f32(255.0)
        );
        assert_eq!(
            <bf16 as LosslessFrom<u8>>::lossless_from(255),
            bf16::from_f32(255.0)
        );
        assert_eq!(
            <bf16 as LosslessFrom<i8>>::lossless_from(-128),
            bf16::from_f32(-128.0)
        );
        assert_eq!(<f32 as LosslessFrom<u16>>::lossless_from(u16::MAX), 65535.0);
        assert_eq!(
            <f32 as LosslessFrom<i16>>::lossless_from(i16::MIN),
            -32768.0
        );
        assert_eq!(
            <f64 as LosslessFrom<u32>>::lossless_from(u32::MAX),
            4_294_967_295.0
        );
        assert_eq!(
            <f64 as LosslessFrom<i32>>::lossless_from(i32::MIN),
            -2_147_483_648.0
        );
        assert_eq!(
            <f64 as LosslessFrom<f32>>::lossless_from(0.1f32),
            f64::from(0.1f32)
        );
        assert_eq!(<f32 as LosslessFrom<f16>>::lossless_from(f16::MAX), 65504.0);
        assert_eq!(
            <u64 as LosslessFrom<u32>>::lossless_from(u32::MAX),
            4_294_967_295
        );
    }

    #[test]
    fn as_casts_follow_rust_semantics() {
        let mut out = [0u8; 4];
        store_as([f32::NAN, -3.5, 255.9, f32::INFINITY], &mut out);
        assert_eq!(out, [0, 0, 255, 255]);
        let mut out = [f16::ZERO; 2];
        store_as([1.0f32, 70000.0], &mut out);
        assert_eq!(out, [f16::ONE, f16::INFINITY]);
        let mut out = [0i8; 2];
        store_as([300i32, -129], &mut out);
        assert_eq!(out, [44, 127]);
    }

    #[test]
    fn store_into_a_short_slot_stores_what_fits() {
        let mut out = [0i32; 2];
        store_lossless([1i16, 2, 3], &mut out);
        assert_eq!(out, [1, 2]);
    }
}
