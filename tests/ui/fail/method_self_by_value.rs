use preallocate::preallocate;

struct Scaler {
    mean: f32,
}

impl Scaler {
    #[preallocate(dim = 1, dtype = f32)]
    fn transform(self, x: &f32) -> [f32; 1] {
        [*x - self.mean]
    }
}

fn main() {
    let _ = Scaler { mean: 0.0 }.transform(&1.0);
}
