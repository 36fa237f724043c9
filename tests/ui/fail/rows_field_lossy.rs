use preallocate::{preallocate, Rows};

#[derive(Rows)]
struct Example {
    #[rows(dtype = f16)]
    x: [f32; 3],
    y: [u8; 1],
}

#[preallocate(rows = Example)]
fn parse(v: f32) -> Example {
    Example { x: [v; 3], y: [1] }
}

fn main() {
    let _ = parse::batch([1.0]);
}
