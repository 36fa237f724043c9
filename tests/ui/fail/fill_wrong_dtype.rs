use preallocate::ndarray::Array2;
use preallocate::preallocate;

#[preallocate(dim = 3, dtype = f32)]
fn featurize(x: &f32) -> [f32; 3] {
    [*x; 3]
}

fn main() {
    let items = vec![1.0_f32, 2.0];
    let mut out = Array2::<f64>::zeros((items.len(), 3));
    featurize::fill(&items, &mut out);
}
