use preallocate::preallocate;
use preallocate::pyo3::prelude::*;

struct Record {
    x: f32,
}

#[preallocate(dim = 1, dtype = f32)]
fn feature(r: &Record) -> [f32; 1] {
    [r.x]
}

// `Record` does not convert from a Python object: registering is the error, on the call.
fn add(module: &Bound<'_, PyModule>) -> PyResult<()> {
    feature::register(module)
}

fn main() {
    let _ = add;
    // Without `register`, a row function on such items compiles as ever.
    assert_eq!(feature::batch([Record { x: 1.0 }]), ndarray::array![[1.0f32]]);
}
