use preallocate::{bf16, f16, preallocate};

#[preallocate(dim = 2, dtype = f32)]
fn widen(x: &[u8; 2]) -> [u8; 2] {
    *x
}

#[preallocate(dim = 1, dtype = f64)]
fn widen_float(x: &f32) -> [f32; 1] {
    [*x]
}

#[preallocate(dim = 1, dtype = i32)]
fn widen_int(x: &i16) -> [i16; 1] {
    [*x]
}

#[preallocate(dim = 1, dtype = f16)]
fn bytes_as_half(x: &u8) -> [u8; 1] {
    [*x]
}

#[preallocate(dim = 1, dtype = bf16)]
fn bytes_as_brain_float(x: &i8) -> [i8; 1] {
    [*x]
}

fn main() {
    assert_eq!(widen::batch(&[[1, 255]])[[0, 1]], 255.0);
    assert_eq!(widen_float::batch(&[0.5])[[0, 0]], 0.5);
    assert_eq!(widen_int::batch(&[-3])[[0, 0]], -3);
    assert_eq!(bytes_as_half::batch(&[200])[[0, 0]], f16::from_f32(200.0));
    assert_eq!(bytes_as_brain_float::batch(&[-128])[[0, 0]], bf16::from_f32(-128.0));
}
