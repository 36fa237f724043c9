use preallocate::preallocate;

// The signature is wrong (the row type is unknown), yet every generated name exists, over any
// item type: the only error is the signature's.
#[preallocate(dim = 3, dtype = f32)]
fn featurize(x: &f32) -> Vec<f32> {
    vec![*x; 3]
}

fn main() {
    let batch: preallocate::ndarray::Array2<f32> = featurize::batch(&[1.0f32]);
    let mut out = preallocate::ndarray::Array2::<featurize::Dtype>::zeros((1, featurize::DIM));
    let written: usize = featurize::fill(&[1.0f32], out.view_mut()).unwrap();
    let chunks = featurize::pipeline()
        .chunk_rows(16)
        .for_each_chunk(&[1.0f32], |_| Ok::<(), std::io::Error>(()));
    let _ = (batch, written, chunks, featurize::SHAPE);
}
