//! Several outputs: generated items carry docs and trigger no lints, in a crate that denies
//! them, at module level and inside a function body.
#![deny(missing_docs, warnings, unused_qualifications, unused_results)]

use preallocate::{preallocate, Rows};

/// Two outputs of one item.
#[derive(Rows)]
pub struct Pair {
    /// Features.
    #[rows(dtype = f16, cast = "as")]
    pub x: [f32; 2],
    /// A label.
    pub y: [u8; 1],
}

/// A documented row function with two outputs.
#[preallocate(rows = Pair)]
pub fn pair(v: &f32) -> Option<Pair> {
    (*v >= 0.0).then_some(Pair { x: [*v, 1.0], y: [*v as u8] })
}

/// Unused: no dead-code warning comes from the generated companions.
#[preallocate(rows = Pair, on_error = "skip")]
fn unused(v: &str) -> Result<Pair, std::num::ParseFloatError> {
    let v: f32 = v.parse()?;
    Ok(Pair { x: [v, v], y: [1] })
}

fn main() {
    let out = pair::batch(&[1.0, -1.0, 2.0]);
    assert_eq!(out.rows.y.shape(), &[2, 1]);
    let _ = unused("1");

    #[derive(Rows)]
    struct Local {
        v: [i32; 3],
    }

    #[preallocate(rows = Local)]
    fn local(i: i32) -> Local {
        Local { v: [i, i, i] }
    }

    assert_eq!(local::batch(0..4).v.sum(), 18);
}
