use preallocate::preallocate;

#[preallocate(dim = 3, dtype = f32)]
fn featurize(x: &f32) {
    let _ = x;
}

fn main() {}
