//! How each storage element type is named in the output formats, and its bytes on disk.

use half::{bf16, f16};

use crate::element::Element;
use crate::layout::{Col, Layout};

/// An element type that a `.npy` file can store: every [`Element`] except `bf16`.
///
/// numpy has no bfloat16 dtype, so a `bf16` array has no `.npy` form that `np.load` reads;
/// write it with [`SafetensorsWriter`](crate::SafetensorsWriter) instead, or pick `f16`/`f32`.
///
/// ```
/// use preallocate_runtime::{f16, NpyElement};
///
/// assert_eq!(<f32 as NpyElement>::DESCR, "<f4");
/// assert_eq!(<f16 as NpyElement>::DESCR, "<f2");
/// assert_eq!(<u8 as NpyElement>::DESCR, "|u1");
/// ```
///
/// ```compile_fail,E0277
/// use preallocate_runtime::{bf16, NpyWriter};
///
/// let _ = NpyWriter::<bf16>::create("x.npy", &[3]); // `.npy` has no bf16 dtype
/// ```
#[diagnostic::on_unimplemented(
    message = "`.npy` cannot store `{Self}`: numpy has no such dtype (it has no bf16)",
    label = "no `.npy` dtype for `{Self}`",
    note = "write bf16 rows with `write_safetensors` (safetensors stores BF16), or choose `dtype = f16` or `dtype = f32`"
)]
pub trait NpyElement: Element + bytemuck::Pod {
    /// numpy's array-protocol type string: byte order (`<` little-endian, `|` not applicable),
    /// kind and size in bytes.
    const DESCR: &'static str;
}

/// An element type that a safetensors file can store: every [`Element`], `bf16` included.
///
/// ```
/// use preallocate_runtime::{bf16, SafetensorsElement};
///
/// assert_eq!(<bf16 as SafetensorsElement>::DTYPE, "BF16");
/// assert_eq!(<i64 as SafetensorsElement>::DTYPE, "I64");
/// ```
pub trait SafetensorsElement: Element + bytemuck::Pod {
    /// The safetensors dtype name (`"F32"`, `"BF16"`, `"U8"`, ...).
    // why a string, not `safetensors::Dtype`: it keeps that crate's semver out of this API and
    // out of the runtime's dependencies; a test checks every name against the crate's `Dtype`.
    const DTYPE: &'static str;
}

/// Outputs whose every element type is an [`NpyElement`]: one array ([`Col`]) or several
/// (nested pairs), for the outputs that store numpy's dtypes.
#[doc(hidden)]
pub trait NpyLayout: Layout {}

impl<T: NpyElement, D: ndarray::RemoveAxis + 'static> NpyLayout for Col<T, D> {}
impl<A: NpyLayout, B: NpyLayout> NpyLayout for (A, B) {}

macro_rules! by_element_type {
    ($trait:ident, $konst:ident, $table:path, [$($ty:ty),* $(,)?]) => {$(
        impl $trait for $ty {
            const $konst: &'static str = match $table(<$ty as Element>::ELEMENT_TYPE) {
                Some(name) => name,
                None => panic!("the table names every element type that implements the trait"),
            };
        }
    )*};
}

by_element_type!(
    NpyElement,
    DESCR,
    super::npy::descr,
    [f16, f32, f64, i8, i16, i32, i64, u8, u16, u32, u64]
);
by_element_type!(
    SafetensorsElement,
    DTYPE,
    super::safetensors::dtype_name,
    [f16, bf16, f32, f64, i8, i16, i32, i64, u8, u16, u32, u64]
);

/// The little-endian bytes of a column's elements (of `size` bytes each), as the formats store
/// them: on a little-endian target the bytes themselves, without a copy; on a big-endian one each
/// element byte-swapped into `scratch`, which is reused across chunks.
#[inline]
pub(crate) fn le_column<'a>(bytes: &'a [u8], size: usize, scratch: &'a mut Vec<u8>) -> &'a [u8] {
    #[cfg(target_endian = "little")]
    {
        let _ = (size, scratch);
        bytes
    }
    #[cfg(target_endian = "big")]
    {
        scratch.clear();
        scratch.extend_from_slice(bytes);
        for element in scratch.chunks_exact_mut(size) {
            element.reverse();
        }
        scratch
    }
}

/// Copies `values` into `out` with the bytes of each element reversed: native to little-endian
/// on a big-endian target (every element type is one plain scalar, so reversing its bytes is
/// exactly its endianness swap).
#[cfg(any(test, target_endian = "big"))]
pub(crate) fn swap_bytes_into<T: bytemuck::Pod>(values: &[T], out: &mut Vec<u8>) {
    out.clear();
    out.extend_from_slice(bytemuck::cast_slice(values));
    for element in out.chunks_exact_mut(size_of::<T>()) {
        element.reverse();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn npy_descr_sizes_match_the_types() {
        fn size<T: NpyElement>() -> (usize, usize) {
            let digits = &T::DESCR[2..];
            (digits.parse().unwrap(), size_of::<T>())
        }
        for (descr_size, size) in [
            size::<f16>(),
            size::<f32>(),
            size::<f64>(),
            size::<i8>(),
            size::<i16>(),
            size::<i32>(),
            size::<i64>(),
            size::<u8>(),
            size::<u16>(),
            size::<u32>(),
            size::<u64>(),
        ] {
            assert_eq!(descr_size, size);
        }
    }

    #[test]
    fn safetensors_names_are_the_reference_crates_dtypes() {
        fn check<T: SafetensorsElement>() {
            let dtype: ::safetensors::Dtype =
                serde_json::from_value(serde_json::Value::from(T::DTYPE))
                    .unwrap_or_else(|err| panic!("{}: {err}", T::DTYPE));
            assert_eq!(dtype.to_string(), T::DTYPE);
            assert_eq!(dtype.bitsize(), 8 * size_of::<T>(), "{}", T::DTYPE);
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
    fn swapping_gives_big_endian_bytes_on_this_target() {
        let mut out = Vec::new();
        swap_bytes_into(&[0x0102_0304u32, 0xA0B0_C0D0], &mut out);
        // On a little-endian host, swapping native bytes gives the big-endian ones; on a
        // big-endian host the same call gives the little-endian ones the files need.
        let expected: Vec<u8> = if cfg!(target_endian = "little") {
            [0x0102_0304u32.to_be_bytes(), 0xA0B0_C0D0u32.to_be_bytes()].concat()
        } else {
            [0x0102_0304u32.to_le_bytes(), 0xA0B0_C0D0u32.to_le_bytes()].concat()
        };
        assert_eq!(out, expected);

        swap_bytes_into(&[f16::from_f32(1.0)], &mut out);
        let one = f16::from_f32(1.0).to_bits();
        assert_eq!(
            out,
            if cfg!(target_endian = "little") {
                one.to_be_bytes()
            } else {
                one.to_le_bytes()
            }
        );
    }

    #[test]
    fn le_columns_are_the_little_endian_encoding() {
        let mut scratch = Vec::new();
        let values = [-2i16, 0x1234, i16::MIN];
        let expected: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        let bytes = bytemuck::cast_slice(&values);
        assert_eq!(le_column(bytes, 2, &mut scratch), &expected[..]);
        let floats = [1.5f64, -0.0, f64::MAX];
        let expected: Vec<u8> = floats.iter().flat_map(|v| v.to_le_bytes()).collect();
        let bytes = bytemuck::cast_slice(&floats);
        assert_eq!(le_column(bytes, 8, &mut scratch), &expected[..]);
    }
}
