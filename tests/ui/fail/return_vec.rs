use preallocate::preallocate;

#[preallocate(dim = 3, dtype = f32)]
fn featurize(x: &f32) -> Vec<f32> {
    vec![*x; 3]
}

fn main() {}
