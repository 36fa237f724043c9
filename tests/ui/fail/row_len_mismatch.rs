use preallocate::preallocate;

#[preallocate(dim = 3, dtype = f32)]
fn featurize(x: &f32) -> [f32; 4] {
    [*x; 4]
}

fn main() {}
