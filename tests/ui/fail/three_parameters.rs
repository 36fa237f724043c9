use preallocate::preallocate;

#[preallocate(dim = 3, dtype = f32)]
fn featurize(x: &f32, row: &mut [f32; 3], scale: f32) {
    *row = [*x * scale; 3];
}

fn main() {}
