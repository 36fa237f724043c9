use preallocate::preallocate;

const FEATURES: u32 = 3;

#[preallocate(dim = FEATURES, dtype = f32)]
fn featurize(x: &f32) -> [f32; 3] {
    [*x; 3]
}

fn main() {}
