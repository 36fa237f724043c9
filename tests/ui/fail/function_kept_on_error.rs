use preallocate::preallocate;

// The attribute is wrong, yet the function and every generated name still exist with their
// usual types: the only error is the attribute's, not "cannot find `featurize`" at every use.
#[preallocate(dim = 3, dtype = f23)]
fn featurize(x: &f32) -> [f32; 3] {
    [*x; 3]
}

fn main() {
    let row: [f32; 3] = featurize(&1.0);
    let batch: preallocate::ndarray::Array2<f32> = featurize::batch(&[1.0f32]);
    let mut out = preallocate::ndarray::Array2::<featurize::Dtype>::zeros((1, featurize::DIM));
    let written: usize = featurize::fill(&[1.0f32], out.view_mut()).unwrap();
    let chunks = featurize::pipeline()
        .chunk_rows(16)
        .for_each_chunk(&[1.0f32], |chunk| {
            let _ = chunk.nrows();
            Ok::<(), std::io::Error>(())
        });
    let shape: &[usize] = featurize::SHAPE;
    let par_batch: preallocate::ndarray::Array2<f32> = featurize::par_batch(&[1.0f32][..]);
    let par_written: usize = featurize::par_fill(&[1.0f32][..], out.view_mut()).unwrap();
    let _ = (row, batch, written, chunks, shape, par_batch, par_written);
}
