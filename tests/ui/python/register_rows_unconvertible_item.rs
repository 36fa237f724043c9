use preallocate::pyo3::prelude::*;
use preallocate::{preallocate, Rows};

struct Record {
    x: f32,
}

#[derive(Rows)]
struct Both {
    x: [f32; 1],
    y: u8,
}

#[preallocate(rows = Both)]
fn both(r: &Record) -> Both {
    Both { x: [r.x], y: 1 }
}

// With several outputs too, `Record` does not convert from a Python object: registering is the
// error, on the call.
fn add(module: &Bound<'_, PyModule>) -> PyResult<()> {
    both::register(module)
}

fn main() {
    let _ = add;
    // Without `register`, the row function compiles and runs as ever.
    let out = both::batch([Record { x: 1.0 }]);
    assert_eq!(out.y, ndarray::array![1u8]);
}
