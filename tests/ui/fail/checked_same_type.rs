use preallocate::preallocate;

#[preallocate(dim = 2, dtype = f32, cast = "checked")]
fn featurize(x: &f32) -> [f32; 2] {
    [*x, -*x]
}

fn main() {}
