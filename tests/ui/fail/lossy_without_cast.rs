use preallocate::preallocate;

#[preallocate(dim = 2, dtype = f32)]
fn featurize(x: &f64) -> [f64; 2] {
    [*x, x.sqrt()]
}

fn main() {}
