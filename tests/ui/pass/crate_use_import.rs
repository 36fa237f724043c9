// `crate = pa` names the facade through a `use` import of the enclosing module, which the
// companion module (a child of that module) must still reach.
mod inner {
    use preallocate as pa;

    #[pa::preallocate(dim = 1, dtype = f32, crate = pa)]
    pub fn halve(x: &f32) -> [f32; 1] {
        [*x / 2.0]
    }
}

fn main() {
    let x = inner::halve::batch(&[2.0, 4.0]);
    assert_eq!(x.column(0).to_vec(), vec![1.0, 2.0]);

    let mut out = preallocate::ndarray::Array2::<inner::halve::Dtype>::zeros((2, inner::halve::DIM));
    assert_eq!(inner::halve::fill(&[6.0, 8.0], out.view_mut()).unwrap(), 2);
    assert_eq!(out.column(0).to_vec(), vec![3.0, 4.0]);

    let mut seen = Vec::new();
    inner::halve::pipeline()
        .chunk_rows(1)
        .for_each_chunk(&[10.0, 12.0], |chunk| {
            seen.extend(chunk.iter().copied());
            Ok::<(), std::convert::Infallible>(())
        })
        .unwrap();
    assert_eq!(seen, vec![5.0, 6.0]);
}
