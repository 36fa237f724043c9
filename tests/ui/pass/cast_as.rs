use preallocate::{f16, preallocate};

#[preallocate(dim = 2, dtype = f32, cast = "as")]
fn narrow(x: &f64) -> [f64; 2] {
    [*x, -*x]
}

#[preallocate(dim = 1, dtype = u8, cast = "as")]
fn quantize(x: &f32) -> [f32; 1] {
    [*x * 255.0]
}

#[preallocate(dim = 1, dtype = f16, cast = "as")]
fn half(x: &f32) -> [f32; 1] {
    [*x]
}

fn main() {
    assert_eq!(narrow::batch(&[0.25])[[0, 1]], -0.25f32);
    assert_eq!(quantize::batch(&[0.5, 2.0]).column(0).to_vec(), vec![127, 255]);
    assert_eq!(half::batch(&[1.5])[[0, 0]], f16::from_f32(1.5));
}
