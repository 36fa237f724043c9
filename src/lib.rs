//! Write one function that turns one item into one row of numbers; `#[preallocate]` turns it into
//! batch entry points that write every row straight into one preallocated [`ndarray`] array, with
//! the storage type (`dtype`) chosen at compile time.
//!
//! ```
//! use preallocate::preallocate;
//!
//! struct Point {
//!     x: f32,
//!     y: f32,
//!     z: f32,
//! }
//!
//! /// By value: the function returns the row.
//! #[preallocate(dim = 3, dtype = f32)]
//! fn featurize(p: &Point) -> [f32; 3] {
//!     [p.x, p.y, p.z]
//! }
//!
//! let points = vec![Point { x: 1.0, y: 2.0, z: 3.0 }, Point { x: 4.0, y: 5.0, z: 6.0 }];
//! let x: ndarray::Array2<f32> = featurize::batch(&points); // one allocation of 2 * 3 f32
//! assert_eq!(x, ndarray::array![[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]);
//! assert_eq!(featurize::DIM, 3);
//!
//! // The function itself is unchanged and still callable per item.
//! assert_eq!(featurize(&points[0]), [1.0, 2.0, 3.0]);
//! ```
//!
//! # The two forms of a row function
//!
//! - **By value**: `fn f(item: Item) -> [E; N]`. The returned row is stored in the output,
//!   converted from `E` to the `dtype` when that conversion is lossless.
//! - **In place**: `fn f(item: Item, row: &mut [E; N])`, where `E` is the `dtype`. `row` is the
//!   output's own memory, so nothing is copied, however wide the row; it is always zeroed before
//!   the call, even in a reused buffer, so a function that sets a few elements is correct.
//!
//! ```
//! use preallocate::preallocate;
//!
//! /// One-hot encoding of a class label, written in place.
//! #[preallocate(dim = 4, dtype = u8)]
//! fn one_hot(label: &usize, row: &mut [u8; 4]) {
//!     row[*label] = 1;
//! }
//!
//! let mut out = ndarray::Array2::<u8>::from_elem((3, 4), 7); // a dirty, reused buffer
//! let written = one_hot::fill(&[2, 0, 3], out.view_mut())?;
//! assert_eq!(written, 3);
//! assert_eq!(out, ndarray::array![[0, 0, 1, 0], [1, 0, 0, 0], [0, 0, 0, 1]]);
//! # Ok::<(), preallocate::Error>(())
//! ```
//!
//! The item parameter may be a reference (elided or named lifetime), an owned value, or generic
//! (`fn f<T: AsRef<[f32]>>(x: &T) -> [f32; 4]`); every type or const parameter must appear in the
//! item type, since the entry points infer it from the items. The function keeps its generics,
//! lifetimes, where clauses, attributes, docs and visibility.
//!
//! # The attribute
//!
//! `#[preallocate(dim = N, dtype = T)]`, and optionally `cast = "as"`:
//!
//! | key | value |
//! |---|---|
//! | `dim` | the row length, an integer literal ≥ 1; must equal the function's `N` |
//! | `dtype` | the storage type: `f16`, `bf16` (from [`half`], re-exported here), `f32`, `f64`, `i8`, `i16`, `i32`, `i64`, `u8`, `u16`, `u32`, `u64` |
//! | `cast` | `"as"`: convert by-value rows with Rust's `as`, also when that loses precision or range |
//!
//! Without `cast`, a row of `E` is stored as `dtype` only when every `E` is represented exactly
//! (`u8`→`f32`, `i16`→`i32`, `f32`→`f64`, `u8`→`f16`, ...); a lossy pair (`f64`→`f32`,
//! `f32`→`u8`, `f32`→`f16`) is a compile error that names both types.
//!
//! ```
//! use preallocate::{f16, preallocate};
//!
//! /// Pixels read as `u8`, stored as `f32`: lossless, converted on the fly.
//! #[preallocate(dim = 2, dtype = f32)]
//! fn widen(px: &[u8; 2]) -> [u8; 2] {
//!     *px
//! }
//!
//! /// `f32` features stored as half precision, by explicit request.
//! #[preallocate(dim = 2, dtype = f16, cast = "as")]
//! fn halve(x: &(f32, f32)) -> [f32; 2] {
//!     [x.0, x.1]
//! }
//!
//! assert_eq!(widen::batch(&[[0, 255]]), ndarray::array![[0.0f32, 255.0]]);
//! let h = halve::batch(&[(0.5, 70000.0)]);
//! assert_eq!(h[[0, 0]], f16::from_f32(0.5));
//! assert!(h[[0, 1]].is_infinite()); // out of f16's range, as `as` does
//! ```
//!
//! # What it generates
//!
//! Next to the function, a module of the same name and visibility:
//!
//! | item | what it is |
//! |---|---|
//! | `DIM: usize` | the row length |
//! | `Dtype` | the storage element type |
//! | `batch(items) -> Array2<Dtype>` | every row of any `IntoIterator` of items, in one array allocated once when the length is known |
//! | `fill(items, out: ArrayViewMut2<Dtype>) -> Result<usize, Error>` | the rows written into a caller's buffer (any layout, reusable); see [`Error`] |
//!
//! Misuse is a compile error that points at the token to fix: a missing, repeated or unknown
//! key, a `dim` that is not a positive integer, an unknown `dtype`, a row length that differs
//! from `dim`, a lossy conversion without `cast`, a wrong number of parameters, a `self`
//! receiver, an `async`, `unsafe` or `extern` fn, or the attribute on something that is not a
//! function.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub use preallocate_macros::preallocate;
pub use preallocate_runtime::{
    Batch, CastAs, CastError, CheckedCast, Element, Error, ItemError, LosslessFrom, RowError,
    RowFn, RowSpec,
};

pub use half::{self, bf16, f16};
pub use ndarray;

/// Paths the generated code uses; not a public API.
#[doc(hidden)]
pub mod __private {
    pub use preallocate_runtime::ndarray;
    pub use preallocate_runtime::{
        batch, batch_filtered, batch_skipping, bf16, f16, fill, fill_filtered, fill_skipping,
        store_as, store_checked, store_lossless, store_saturating, try_batch, try_batch_filtered,
        try_fill, try_fill_filtered, Axes1, Axes2, Axes3, Axes4, Batch, Error, FnRow, ItemError,
        RowError, RowFn, RowSpec,
    };
}

/// The README's Rust snippets, compiled and run as doctests so that they stay true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
