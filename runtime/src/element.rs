//! Storage element types (`dtype`s) and the conversions between them.

use core::fmt;

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
/// use preallocate::Element;
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
    + bytemuck::Pod
    + Send
    + Sync
    + 'static
{
    /// The value zero, which is also the all-zero bit pattern.
    const ZERO: Self;
    /// The name of the type as written in `dtype = ...`.
    const NAME: &'static str;
    /// The type as a value, for the outputs that name it in their headers.
    const ELEMENT_TYPE: ElementType;
}

/// A storage element type as a value: what an output writes in its header, whatever the rows'
/// Rust type.
///
/// ```
/// use preallocate::{bf16, Element, ElementType};
///
/// assert_eq!(<bf16 as Element>::ELEMENT_TYPE, ElementType::Bf16);
/// assert_eq!(ElementType::Bf16.size(), 2);
/// assert_eq!(ElementType::U64.name(), "u64");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ElementType {
    /// `half::f16`, IEEE 754 half precision.
    F16,
    /// `half::bf16`, bfloat16.
    Bf16,
    /// `f32`.
    F32,
    /// `f64`.
    F64,
    /// `i8`.
    I8,
    /// `i16`.
    I16,
    /// `i32`.
    I32,
    /// `i64`.
    I64,
    /// `u8`.
    U8,
    /// `u16`.
    U16,
    /// `u32`.
    U32,
    /// `u64`.
    U64,
}

impl ElementType {
    /// numpy's name of the type (`"float32"`; `"bfloat16"`, the name `ml_dtypes` gives it),
    /// which Zarr's data types and Python's arrays use too.
    ///
    /// ```
    /// use preallocate::ElementType;
    ///
    /// assert_eq!(ElementType::F16.numpy_name(), "float16");
    /// assert_eq!(ElementType::U64.numpy_name(), "uint64");
    /// ```
    #[must_use]
    pub const fn numpy_name(self) -> &'static str {
        match self {
            ElementType::F16 => "float16",
            ElementType::Bf16 => "bfloat16",
            ElementType::F32 => "float32",
            ElementType::F64 => "float64",
            ElementType::I8 => "int8",
            ElementType::I16 => "int16",
            ElementType::I32 => "int32",
            ElementType::I64 => "int64",
            ElementType::U8 => "uint8",
            ElementType::U16 => "uint16",
            ElementType::U32 => "uint32",
            ElementType::U64 => "uint64",
        }
    }

    /// Bytes in one element.
    #[must_use]
    pub const fn size(self) -> usize {
        match self {
            ElementType::I8 | ElementType::U8 => 1,
            ElementType::F16 | ElementType::Bf16 | ElementType::I16 | ElementType::U16 => 2,
            ElementType::F32 | ElementType::I32 | ElementType::U32 => 4,
            ElementType::F64 | ElementType::I64 | ElementType::U64 => 8,
        }
    }

    /// The name as written in `dtype = ...`.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            ElementType::F16 => "f16",
            ElementType::Bf16 => "bf16",
            ElementType::F32 => "f32",
            ElementType::F64 => "f64",
            ElementType::I8 => "i8",
            ElementType::I16 => "i16",
            ElementType::I32 => "i32",
            ElementType::I64 => "i64",
            ElementType::U8 => "u8",
            ElementType::U16 => "u16",
            ElementType::U32 => "u32",
            ElementType::U64 => "u64",
        }
    }
}

macro_rules! elements {
    ($($ty:ident = $zero:expr, $dtype:ident);* $(;)?) => {$(
        impl sealed::Sealed for $ty {}
        impl Element for $ty {
            const ZERO: Self = $zero;
            const NAME: &'static str = stringify!($ty);
            const ELEMENT_TYPE: ElementType = ElementType::$dtype;
        }
    )*};
}

elements! {
    f16 = f16::ZERO, F16; bf16 = bf16::ZERO, Bf16; f32 = 0.0, F32; f64 = 0.0, F64;
    i8 = 0, I8; i16 = 0, I16; i32 = 0, I32; i64 = 0, I64;
    u8 = 0, U8; u16 = 0, U16; u32 = 0, U32; u64 = 0, U64;
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
/// use preallocate::LosslessFrom;
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
/// use preallocate::CastAs;
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

/// Range-checked and saturating conversion of a row element into the storage type, for
/// `cast = "checked"` and `cast = "saturate"`.
///
/// A value fits when the storage type can hold it after the rounding that `as` does (a float
/// into an integer truncates toward zero, a wide float rounds to the nearest narrower one):
/// 300 does not fit `u8`, NaN and ±inf fit no integer, and a finite `f64` beyond `f32::MAX`
/// does not fit `f32`. Saturation clamps what does not fit to the nearest bound, and NaN to 0
/// in an integer (a float keeps NaN).
///
/// ```
/// use preallocate::CheckedCast;
///
/// assert_eq!(CheckedCast::<u8>::checked_cast(255.9f32), Some(255));
/// assert_eq!(CheckedCast::<u8>::checked_cast(300i32), None);
/// assert_eq!(CheckedCast::<u8>::saturating_cast(300i32), 255);
/// assert_eq!(CheckedCast::<i8>::saturating_cast(f32::NAN), 0);
/// assert_eq!(CheckedCast::<f32>::saturating_cast(-1e300f64), f32::MIN);
/// ```
#[diagnostic::on_unimplemented(
    message = "row elements of type `{Self}` have no checked conversion into the dtype `{Dst}`",
    label = "no checked conversion from `{Self}` to `{Dst}`"
)]
pub trait CheckedCast<Dst>: Copy {
    /// The value as `Dst`, or `None` when it does not fit.
    fn checked_cast(self) -> Option<Dst>;
    /// The value as `Dst`, clamped to `Dst`'s bounds; NaN becomes 0.
    fn saturating_cast(self) -> Dst;
}

impl<Src, Dst> CheckedCast<Dst> for Src
where
    Src: num_traits::ToPrimitive + Copy,
    Dst: Element + num_traits::NumCast + num_traits::Bounded + num_traits::ToPrimitive,
{
    #[inline]
    fn checked_cast(self) -> Option<Dst> {
        let cast = <Dst as num_traits::NumCast>::from(self)?;
        // Float-to-float casts saturate to infinity instead of failing.
        let finite_source = self.to_f64().is_some_and(f64::is_finite);
        let infinite_result = cast.to_f64().is_some_and(f64::is_infinite);
        (!(finite_source && infinite_result)).then_some(cast)
    }

    #[inline]
    fn saturating_cast(self) -> Dst {
        if let Some(cast) = self.checked_cast() {
            return cast;
        }
        match self.to_f64() {
            Some(x) if x.is_nan() => Dst::ZERO,
            Some(x) if x < 0.0 => Dst::min_value(),
            _ => Dst::max_value(),
        }
    }
}

/// A row element that does not fit the storage type under `cast = "checked"`.
///
/// ```
/// let err = preallocate::CastError::new(2, &300.0f32, "u8");
/// assert_eq!(err.to_string(), "row element 2 (300) does not fit in u8");
/// let err = preallocate::CastError::new(0, &-1e300f64, "f32");
/// assert_eq!(err.to_string(), "row element 0 (-1e300) does not fit in f32");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("row element {position} ({value}) does not fit in {dtype}")]
pub struct CastError {
    /// Position of the element in the (flattened) row.
    pub position: usize,
    /// The value, as text: as `Display` writes it, or in exponent form (`1e300`) when that is
    /// long.
    pub value: String,
    /// The storage type it did not fit (`dtype`).
    pub dtype: &'static str,
}

/// The longest value text kept as `Display` writes it: every integer (`i64::MIN` has 20
/// characters); a longer one (a float far from 1, which `Display` writes with every digit) is
/// written in exponent form.
const MAX_PLAIN_DIGITS: usize = 21;

/// A conversion that cannot fail has no error to give: lets a struct of rows (`#[derive(Rows)]`)
/// store its unchecked fields where a checked one may fail.
impl From<core::convert::Infallible> for CastError {
    fn from(never: core::convert::Infallible) -> Self {
        match never {}
    }
}

impl CastError {
    /// A cast error for `value` at `position` of the row.
    pub fn new<V>(position: usize, value: &V, dtype: &'static str) -> Self
    where
        V: fmt::Display + fmt::LowerExp + ?Sized,
    {
        let plain = value.to_string();
        let value = if plain.len() > MAX_PLAIN_DIGITS {
            format!("{value:e}")
        } else {
            plain
        };
        CastError {
            position,
            value,
            dtype,
        }
    }
}

/// How a by-value row's elements become the storage type: the `cast` of the attribute, as a
/// type, so that storing a row is one loop (`store`) for every mode.
pub mod cast {
    use core::convert::Infallible;
    use core::fmt;

    use super::{CastAs, CastError, CheckedCast, Element, LosslessFrom};

    /// Converts one element `Src` into the storage type `Dst`, or fails with `Self::Failure`.
    pub trait Convert<Src, Dst> {
        /// `Infallible`, or [`CastError`] for a checked cast.
        type Failure;
        /// Converts the element at `position` of the row.
        ///
        /// # Errors
        /// The element does not fit (checked casts only).
        fn convert(src: Src, position: usize) -> Result<Dst, Self::Failure>;
    }

    /// Lossless conversions only (no `cast`).
    #[derive(Debug, Clone, Copy)]
    pub struct Lossless;
    /// Rust's `as` (`cast = "as"`).
    #[derive(Debug, Clone, Copy)]
    pub struct As;
    /// An element that does not fit is an item error (`cast = "checked"`).
    #[derive(Debug, Clone, Copy)]
    pub struct Checked;
    /// An element that does not fit is clamped (`cast = "saturate"`).
    #[derive(Debug, Clone, Copy)]
    pub struct Saturate;

    impl<Src, Dst: LosslessFrom<Src>> Convert<Src, Dst> for Lossless {
        type Failure = Infallible;
        #[inline(always)]
        fn convert(src: Src, _: usize) -> Result<Dst, Infallible> {
            Ok(Dst::lossless_from(src))
        }
    }

    impl<Src: CastAs<Dst>, Dst: Element> Convert<Src, Dst> for As {
        type Failure = Infallible;
        #[inline(always)]
        fn convert(src: Src, _: usize) -> Result<Dst, Infallible> {
            Ok(src.cast_as())
        }
    }

    impl<Src, Dst> Convert<Src, Dst> for Checked
    where
        Src: CheckedCast<Dst> + fmt::Display + fmt::LowerExp,
        Dst: Element,
    {
        type Failure = CastError;
        #[inline]
        fn convert(src: Src, position: usize) -> Result<Dst, CastError> {
            src.checked_cast()
                .ok_or_else(|| CastError::new(position, &src, Dst::NAME))
        }
    }

    impl<Src: CheckedCast<Dst>, Dst: Element> Convert<Src, Dst> for Saturate {
        type Failure = Infallible;
        #[inline]
        fn convert(src: Src, _: usize) -> Result<Dst, Infallible> {
            Ok(src.saturating_cast())
        }
    }

    /// Stores a by-value row (flattened) into its slot in the output, converting each element
    /// with the cast `C`.
    ///
    /// `row` has the same length as `value` whenever a driver calls a row writer; should it be
    /// shorter, only the elements that fit are stored.
    ///
    /// # Errors
    /// The first element that does not fit (checked casts only); the elements before it are
    /// already stored, and the driver zeroes the slot.
    ///
    /// ```
    /// use preallocate::__private::{cast, store};
    ///
    /// let mut slot = [0.0f64; 3];
    /// let Ok(()) = store::<cast::Lossless, _, _>(&[1u8, 2, 3], &mut slot);
    /// assert_eq!(slot, [1.0, 2.0, 3.0]);
    ///
    /// let mut slot = [0u8; 3];
    /// let Ok(()) = store::<cast::As, _, _>(&[-1.0f32, 7.9, 1e9], &mut slot);
    /// assert_eq!(slot, [0, 7, 255]);
    ///
    /// let err = store::<cast::Checked, _, _>(&[1.0f32, 300.0, 3.0], &mut slot).unwrap_err();
    /// assert_eq!(err.to_string(), "row element 1 (300) does not fit in u8");
    /// ```
    #[inline]
    pub fn store<C, Src, Dst>(value: &[Src], row: &mut [Dst]) -> Result<(), C::Failure>
    where
        C: Convert<Src, Dst>,
        Src: Copy,
    {
        for (position, (slot, &element)) in row.iter_mut().zip(value).enumerate() {
            *slot = C::convert(element, position)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::cast::{store, As, Lossless, Saturate};
    use super::*;

    fn store_as<Src: CastAs<Dst>, Dst: Element>(value: &[Src], row: &mut [Dst]) {
        let Ok(()) = store::<As, _, _>(value, row);
    }

    fn store_saturating<Src: CheckedCast<Dst>, Dst: Element>(value: &[Src], row: &mut [Dst]) {
        let Ok(()) = store::<Saturate, _, _>(value, row);
    }

    #[test]
    fn each_dtype_value_is_its_types_size_and_name() {
        fn check<T: Element>() {
            assert_eq!(T::ELEMENT_TYPE.size(), size_of::<T>(), "{}", T::NAME);
            assert_eq!(T::ELEMENT_TYPE.name(), T::NAME);
        }
        check::<f16>();
        check::<bf16>();
        check::<f32>();
        check::<f64>();
        check::<i8>();
        check::<i16>();
        check::<i32>();
        check::<i64>();
        check::<u8>();
        check::<u16>();
        check::<u32>();
        check::<u64>();
    }

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
        store_as(&[f32::NAN, -3.5, 255.9, f32::INFINITY], &mut out);
        assert_eq!(out, [0, 0, 255, 255]);
        let mut out = [f16::ZERO; 2];
        store_as(&[1.0f32, 70000.0], &mut out);
        assert_eq!(out, [f16::ONE, f16::INFINITY]);
        let mut out = [0i8; 2];
        store_as(&[300i32, -129], &mut out);
        assert_eq!(out, [44, 127]);
    }

    #[test]
    fn checked_casts_reject_what_does_not_fit() {
        assert_eq!(CheckedCast::<u8>::checked_cast(-0.5f32), Some(0));
        assert_eq!(CheckedCast::<u8>::checked_cast(-1.0f32), None);
        assert_eq!(CheckedCast::<i32>::checked_cast(f64::INFINITY), None);
        assert_eq!(CheckedCast::<u64>::checked_cast(f32::NAN), None);
        assert_eq!(CheckedCast::<f32>::checked_cast(1e39f64), None);
        assert_eq!(
            CheckedCast::<f32>::checked_cast(f64::INFINITY),
            Some(f32::INFINITY)
        );
        assert!(CheckedCast::<f32>::checked_cast(f64::NAN).is_some_and(f32::is_nan));
        assert_eq!(CheckedCast::<f16>::checked_cast(65504.0f32), Some(f16::MAX));
        assert_eq!(CheckedCast::<f16>::checked_cast(70000.0f32), None);
        assert_eq!(CheckedCast::<i8>::checked_cast(u64::MAX), None);
        assert_eq!(CheckedCast::<u32>::checked_cast(-1i8), None);
        assert_eq!(
            CheckedCast::<bf16>::checked_cast(1.0e38f32),
            Some(bf16::from_f32(1.0e38))
        );
    }

    #[test]
    fn saturating_casts_clamp_to_the_bounds() {
        let mut out = [0i8; 5];
        store_saturating(&[300i32, -300, 5, i32::MAX, i32::MIN], &mut out);
        assert_eq!(out, [127, -128, 5, 127, -128]);
        let mut out = [f16::ZERO; 3];
        store_saturating(&[1e9f32, -1e9, f32::NAN], &mut out);
        assert_eq!(out[..2], [f16::MAX, f16::MIN]);
        assert!(
            out[2].is_nan(),
            "NaN is a float value: it is kept, not clamped"
        );
        let mut out = [0u16; 2];
        store_saturating(&[f64::NEG_INFINITY, f64::INFINITY], &mut out);
        assert_eq!(out, [0, u16::MAX]);
    }

    #[test]
    fn store_into_a_short_slot_stores_what_fits() {
        let mut out = [0i32; 2];
        let Ok(()) = store::<Lossless, _, _>(&[1i16, 2, 3], &mut out);
        assert_eq!(out, [1, 2]);
    }
}

#[cfg(test)]
mod cast_error_tests {
    use super::*;

    #[test]
    fn long_values_are_written_in_exponent_form() {
        assert_eq!(CastError::new(0, &1e300f64, "f32").value, "1e300");
        assert_eq!(CastError::new(0, &f32::MAX, "f16").value, "3.4028235e38");
        assert_eq!(CastError::new(0, &-1.5e20f64, "i64").value, "-1.5e20");
        // Short values keep `Display`'s form.
        assert_eq!(CastError::new(0, &300.0f32, "u8").value, "300");
        assert_eq!(CastError::new(0, &-0.5f64, "u8").value, "-0.5");
        assert_eq!(
            CastError::new(0, &u64::MAX, "i64").value,
            "18446744073709551615"
        );
        assert_eq!(
            CastError::new(0, &i64::MIN, "u8").value,
            "-9223372036854775808"
        );
        assert_eq!(CastError::new(0, &i32::MIN, "u8").value, "-2147483648");
        assert_eq!(CastError::new(0, &f64::NAN, "u8").value, "NaN");
    }
}
