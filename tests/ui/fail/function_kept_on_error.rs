use preallocate::preallocate;

// The attribute is wrong, yet the function and the module's names still exist: the only
// error is the attribute's, not "cannot find `featurize`" at every use.
#[preallocate(dim = 3, dtype = f23)]
fn featurize(x: &f32) -> [f32; 3] {
    [*x; 3]
}

fn main() {
    let row: [f32; 3] = featurize(&1.0);
    let batch = featurize::batch(&[1.0f32]);
    let _ = (row, batch, featurize::DIM);
}
