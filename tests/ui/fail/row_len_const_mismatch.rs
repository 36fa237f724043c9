use preallocate::preallocate;

const WIDTH: usize = 4;

#[preallocate(dim = 3, dtype = f32)]
fn featurize(x: &f32) -> [f32; WIDTH] {
    [*x; WIDTH]
}

fn main() {
    let _ = featurize::batch(&[1.0f32]);
}
