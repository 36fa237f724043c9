use preallocate::{preallocate, Rows};

// A field the derive cannot take is the one error: the row function returning the struct, and
// the code using its outputs, add none of their own.
#[derive(Rows)]
struct Example {
    x: [f32; 3],
    label: Vec<u8>,
}

#[preallocate(rows = Example)]
fn example(i: &u8) -> Example {
    Example {
        x: [1.0; 3],
        label: vec![*i],
    }
}

fn main() {
    let out = example::batch(&[1u8, 2]);
    assert_eq!(out.x.shape(), &[2, 3]);
}
