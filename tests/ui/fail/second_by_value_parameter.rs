use preallocate::preallocate;

#[preallocate(dim = 1, dtype = f32)]
fn scaled(x: &f32, factor: f32) -> [f32; 1] {
    [*x * factor]
}

fn main() {}
