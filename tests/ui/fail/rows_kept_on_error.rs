use preallocate::{preallocate, Rows};

#[derive(Rows)]
struct Example {
    x: [f32; 1],
}

// One error, on the key; the module is still there, so its use below reports nothing more.
#[preallocate(rows = Example, dtype = f32)]
fn parse(v: f32) -> Example {
    Example { x: [v] }
}

fn main() {
    let out = parse::batch([1.0]);
    assert_eq!(out.x.len(), 1);
}
