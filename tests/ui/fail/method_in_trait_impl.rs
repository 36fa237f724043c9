use preallocate::preallocate;

struct Scaler(f32);

trait Featurize {
    fn row(&self, x: &f32) -> [f32; 1];
}

impl Featurize for Scaler {
    #[preallocate(dim = 1, dtype = f32)]
    fn row(&self, x: &f32) -> [f32; 1] {
        [*x * self.0]
    }
}

fn main() {}
