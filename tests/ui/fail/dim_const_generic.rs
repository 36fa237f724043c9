use preallocate::preallocate;

#[preallocate(dim = N, dtype = f32)]
fn doubled<const N: usize>(x: &[f32; N]) -> [f32; N] {
    x.map(|v| v * 2.0)
}

fn main() {}
