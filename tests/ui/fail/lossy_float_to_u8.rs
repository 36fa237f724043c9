use preallocate::preallocate;

#[preallocate(dim = 1, dtype = u8)]
fn brightness(x: &f32) -> [f32; 1] {
    [*x * 255.0]
}

fn main() {}
