use preallocate::preallocate;

type Feature = f64;

#[preallocate(dim = 1, dtype = f16)]
fn featurize(x: &Feature) -> [Feature; 1] {
    [*x]
}

fn main() {}
