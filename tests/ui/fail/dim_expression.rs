use preallocate::preallocate;

#[preallocate(dim = 2 * 2, dtype = f32)]
fn featurize(x: &f32) -> [f32; 4] {
    [*x; 4]
}

fn main() {}
