//! Compile-time behaviour of `#[preallocate]`: each `tests/ui/fail/*.rs` is one misuse with its
//! expected error in the `.stderr` beside it; each `tests/ui/pass/*.rs` must compile and run.
//! Refresh the snapshots with `TRYBUILD=overwrite cargo test --test ui`, then read the diff.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/fail/*.rs");
    t.pass("tests/ui/pass/*.rs");
    // What `register` (feature `python`) refuses.
    #[cfg(feature = "python")]
    t.compile_fail("tests/ui/python/*.rs");
}
