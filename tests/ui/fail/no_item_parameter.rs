use preallocate::preallocate;

#[preallocate(dim = 3, dtype = f32)]
fn featurize() -> [f32; 3] {
    [0.0; 3]
}

fn main() {}
