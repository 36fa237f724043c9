use preallocate::{preallocate, Rows};

#[derive(Rows)]
struct Example {
    #[rows(dtype = bf16, cast = "as")]
    x: [f32; 3],
    y: [u8; 1],
}

#[preallocate(rows = Example)]
fn parse(v: f32) -> Example {
    Example { x: [v; 3], y: [1] }
}

fn main() {
    let _ = parse::pipeline().write_npy([1.0], "out");
}
