//! Generated items carry docs and trigger no lints, even in a crate that denies them.
#![deny(missing_docs, warnings, unused_qualifications, unused_results)]

use preallocate::preallocate;

/// A documented row function.
#[preallocate(dim = 2, dtype = f32)]
pub fn documented(x: &f32) -> [f32; 2] {
    [*x, *x]
}

/// A private, unused one: no dead-code warning comes from the generated companions.
#[preallocate(dim = 1, dtype = u8)]
fn unused(x: &u8, row: &mut [u8; 1]) {
    row[0] = *x;
}

fn main() {
    let x = documented::batch(&[1.0]);
    assert_eq!(x.shape(), &[1, 2]);
    let _ = unused(&1, &mut [0]);
}
