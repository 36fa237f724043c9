use preallocate::preallocate;

#[preallocate(dtype = i64)]
fn label(x: &i64) -> i64 {
    *x
}

fn main() {
    let mut out = ndarray::Array2::<i64>::zeros((3, 1));
    let _ = label::fill(&[1, 2, 3], &mut out);
}
