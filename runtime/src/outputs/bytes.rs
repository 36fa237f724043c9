//! The bytes of rows as the formats store them (little-endian), and the one way a format
//! implements its element trait from its table of names.

/// Implements a format's element trait for the listed types: its constant is the format's name
/// for each type's [`ElementType`](crate::element::ElementType), from the format's one table.
macro_rules! by_element_type {
    ($trait:ident, $konst:ident, $table:path, [$($ty:ty),* $(,)?]) => {$(
        impl $trait for $ty {
            const $konst: &'static str = match $table(<$ty as $crate::element::Element>::ELEMENT_TYPE) {
                Some(name) => name,
                None => panic!("the table names every element type that implements the trait"),
            };
        }
    )*};
}

pub(super) use by_element_type;

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
    use half::f16;

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
