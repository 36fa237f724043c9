use preallocate::preallocate;

struct Scaler {
    scale: f32,
}

impl Scaler {
    // The attribute is wrong, yet the method and every sibling still exist with their usual
    // types: the only error is the attribute's.
    #[preallocate(dim = 2, dtype = f32, cast = "rounded")]
    fn scale(&self, x: &f32) -> [f32; 2] {
        [*x * self.scale, -*x * self.scale]
    }
}

fn main() {
    let scaler = Scaler { scale: 2.0 };
    let row: [f32; 2] = scaler.scale(&1.0);
    let batch: preallocate::ndarray::Array2<f32> = scaler.scale_batch(&[1.0f32]);
    let mut out = preallocate::ndarray::Array2::<f32>::zeros((1, Scaler::SCALE_DIM));
    let written: usize = scaler.scale_fill(&[1.0f32], out.view_mut()).unwrap();
    let chunks = scaler
        .scale_pipeline()
        .chunk_rows(16)
        .for_each_chunk(&[1.0f32], |chunk| {
            let _ = chunk.nrows();
            Ok::<(), std::io::Error>(())
        });
    let shape: &[usize] = Scaler::SCALE_SHAPE;
    let par_batch: preallocate::ndarray::Array2<f32> = scaler.scale_par_batch(&[1.0f32][..]);
    let par_written: usize = scaler.scale_par_fill(&[1.0f32][..], out.view_mut()).unwrap();
    let _ = (row, batch, written, chunks, shape, par_batch, par_written);
}
