use preallocate::preallocate;

const FEATURES: usize = 4;

#[preallocate(dim = FEATURES, dtype = f32)]
fn featurize(x: &f32) -> [f32; 3] {
    [*x; 3]
}

fn main() {
    let _ = featurize::batch(&[1.0f32]);
}
