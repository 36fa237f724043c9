use preallocate::{preallocate, Rows};

#[derive(Rows)]
struct Example {
    x: [f32; 3],
}

#[preallocate(rows = Example, dtype = f32)]
fn parse(v: f32) -> Example {
    Example { x: [v; 3] }
}

fn main() {}
