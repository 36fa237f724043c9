//! Every lossless element → dtype pair compiles without `cast` and stores the exact value; `cast =
//! "as"` follows Rust's `as`. (Lossy pairs without `cast` are compile errors: `tests/ui/fail`.)
// Items are passed by reference on purpose (the form most callers use), though the entry
// points also take them by value, which clippy suggests where the borrow is the last use.
#![allow(clippy::needless_borrows_for_generic_args)]

use ndarray::array;
use preallocate::{bf16, f16, preallocate};

macro_rules! lossless {
    ($($name:ident: $src:ty => $dst:ty, $extreme:expr;)*) => {$(
        #[test]
        fn $name() {
            #[preallocate(dim = 2, dtype = $dst)]
            fn row(x: &$src) -> [$src; 2] {
                [*x, $extreme]
            }
            let stored = row::batch(&[<$src>::default()]);
            let expected: $dst = <$dst>::from($extreme);
            assert_eq!(stored[[0, 1]], expected);
            assert_eq!(stored[[0, 0]], <$dst>::default());
        }
    )*};
}

lossless! {
    u8_u16: u8 => u16, u8::MAX;
    u8_u32: u8 => u32, u8::MAX;
    u8_u64: u8 => u64, u8::MAX;
    u8_i16: u8 => i16, u8::MAX;
    u8_i32: u8 => i32, u8::MAX;
    u8_i64: u8 => i64, u8::MAX;
    u8_f16: u8 => f16, u8::MAX;
    u8_bf16: u8 => bf16, u8::MAX;
    u8_f32: u8 => f32, u8::MAX;
    u8_f64: u8 => f64, u8::MAX;
    u16_u32: u16 => u32, u16::MAX;
    u16_u64: u16 => u64, u16::MAX;
    u16_i32: u16 => i32, u16::MAX;
    u16_i64: u16 => i64, u16::MAX;
    u16_f32: u16 => f32, u16::MAX;
    u16_f64: u16 => f64, u16::MAX;
    u32_u64: u32 => u64, u32::MAX;
    u32_i64: u32 => i64, u32::MAX;
    u32_f64: u32 => f64, u32::MAX;
    i8_i16: i8 => i16, i8::MIN;
    i8_i32: i8 => i32, i8::MIN;
    i8_i64: i8 => i64, i8::MIN;
    i8_f16: i8 => f16, i8::MIN;
    i8_bf16: i8 => bf16, i8::MIN;
    i8_f32: i8 => f32, i8::MIN;
    i8_f64: i8 => f64, i8::MIN;
    i16_i32: i16 => i32, i16::MIN;
    i16_i64: i16 => i64, i16::MIN;
    i16_f32: i16 => f32, i16::MIN;
    i16_f64: i16 => f64, i16::MIN;
    i32_i64: i32 => i64, i32::MIN;
    i32_f64: i32 => f64, i32::MIN;
    f16_f32: f16 => f32, f16::MAX;
    f16_f64: f16 => f64, f16::MIN_POSITIVE_SUBNORMAL;
    bf16_f32: bf16 => f32, bf16::MAX;
    bf16_f64: bf16 => f64, bf16::MIN;
    f32_f64: f32 => f64, 0.1f32;
}

#[test]
fn identity_rows_are_stored_bit_for_bit() {
    #[preallocate(dim = 3, dtype = f32)]
    fn specials(x: &f32) -> [f32; 3] {
        [*x, -0.0, f32::NAN]
    }
    let stored = specials::batch(&[f32::MIN_POSITIVE]);
    assert_eq!(stored[[0, 0]].to_bits(), f32::MIN_POSITIVE.to_bits());
    assert_eq!(stored[[0, 1]].to_bits(), (-0.0f32).to_bits());
    assert!(stored[[0, 2]].is_nan());
}

#[preallocate(dim = 4, dtype = u8, cast = "as")]
fn to_bytes(x: &f32) -> [f32; 4] {
    [*x, -*x, f32::NAN, *x * 1000.0]
}

#[preallocate(dim = 2, dtype = f32, cast = "as")]
fn narrow(x: &f64) -> [f64; 2] {
    [*x, 1e300]
}

#[preallocate(dim = 2, dtype = i8, cast = "as")]
fn wrap(x: &i32) -> [i32; 2] {
    [*x, -*x]
}

#[preallocate(dim = 1, dtype = f16, cast = "as")]
fn half_precision(x: &f64) -> [f64; 1] {
    [*x]
}

#[test]
fn as_casts_saturate_round_and_wrap_like_rust() {
    assert_eq!(to_bytes::batch(&[3.9f32]), array![[3, 0, 0, 255]]);
    let n = narrow::batch(&[0.1f64]);
    assert_eq!(n[[0, 0]], 0.1f32);
    assert_eq!(n[[0, 1]], f32::INFINITY);
    assert_eq!(wrap::batch(&[200]), array![[-56, 56]]);
    assert_eq!(
        half_precision::batch(&[1.0 / 3.0]),
        array![[f16::from_f64(1.0 / 3.0)]]
    );
}

/// `cast = "as"` on a lossless pair is accepted and agrees with the lossless path.
#[preallocate(dim = 1, dtype = f64, cast = "as")]
fn needless_cast(x: &u32) -> [u32; 1] {
    [*x]
}

#[test]
fn as_on_a_lossless_pair_is_exact() {
    assert_eq!(needless_cast::batch(&[u32::MAX]), array![[4_294_967_295.0]]);
}

/// A type alias for the element type goes through the runtime's conversion trait.
type Feature = u16;

#[preallocate(dim = 2, dtype = f32)]
fn aliased(x: &Feature) -> [Feature; 2] {
    [*x, u16::MAX]
}

#[test]
fn aliased_element_types_convert() {
    assert_eq!(aliased::batch(&[7]), array![[7.0, 65535.0]]);
}
