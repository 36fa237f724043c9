use preallocate::{bf16, preallocate};

#[preallocate(dim = 2, dtype = bf16)]
fn featurize(x: &f32) -> [bf16; 2] {
    [bf16::from_f32(*x), bf16::ZERO]
}

fn main() {
    let _ = featurize::pipeline().write_npy(&[1.0f32], "x.npy");
}
