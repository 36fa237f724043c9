use preallocate::preallocate;

#[preallocate(dim = 3, dytpe = f32)]
fn featurize(x: &f32) -> [f32; 3] {
    [*x; 3]
}

fn main() {}
