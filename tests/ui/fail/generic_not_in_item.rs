use preallocate::preallocate;

#[preallocate(dim = 1, dtype = f32)]
fn featurize<T: Default + Into<f32>>(x: &f32) -> [f32; 1] {
    [*x + T::default().into()]
}

fn main() {}
