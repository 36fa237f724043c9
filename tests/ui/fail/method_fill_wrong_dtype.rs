use preallocate::preallocate;

struct Scale(f32);

impl Scale {
    #[preallocate(dim = 2, dtype = f32)]
    fn apply(&self, x: &f32) -> [f32; 2] {
        [*x * self.0, *x]
    }
}

fn main() {
    let mut out = ndarray::Array2::<f64>::zeros((3, 2));
    let _ = Scale(2.0).apply_fill(&[1.0f32, 2.0, 3.0], &mut out);
}
