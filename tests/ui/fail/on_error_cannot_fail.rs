use preallocate::preallocate;

#[preallocate(dim = 1, dtype = f32, on_error = "skip")]
fn double(x: &f32) -> [f32; 1] {
    [x * 2.0]
}

fn main() {}
