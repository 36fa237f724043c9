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
//! `#[preallocate(dim = N, dtype = T)]` or `#[preallocate(shape = (H, W), dtype = T)]`, with
//! optional keys:
//!
//! | key | value |
//! |---|---|
//! | `dim` | the row length: an integer literal ≥ 1 or a `const`; must equal the function's `N` |
//! | `shape` | the row shape of a multi-axis row, `(H, W)` up to four axes, each a literal or a `const`; the row is `[[E; W]; H]` and `batch` returns one more axis |
//! | `dtype` | the storage type: `f16`, `bf16` (from [`half`], re-exported here), `f32`, `f64`, `i8`, `i16`, `i32`, `i64`, `u8`, `u16`, `u32`, `u64` |
//! | `cast` | `"as"` (Rust's `as`), `"checked"` (a value that does not fit is an item error) or `"saturate"` (clamped): how a by-value row of another element type is stored |
//! | `on_error` | `"fail"` (the default: stop at the first failing item) or `"skip"` (drop it, list its index) |
//! | `crate` | the path of this crate when the dependency was renamed |
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
//! # Failing, dropping, and state
//!
//! A row function may return `Result<[E; N], MyError>` (the batch stops at the first failure
//! with an [`ItemError`] naming the item's index, or skips it under `on_error = "skip"`),
//! `Option<[E; N]>` (dropped items are listed in [`Batch::skipped`]), or both. On a method
//! taking `&self` or `&mut self`, the attribute adds sibling methods (`transform_batch`,
//! `transform_fill`, `TRANSFORM_DIM`) that use the fitted state.
//!
//! ```
//! use preallocate::preallocate;
//!
//! struct Vocab(Vec<&'static str>);
//!
//! impl Vocab {
//!     /// The id of each word of a line, unknown words as 0; empty lines are dropped.
//!     #[preallocate(dim = 2, dtype = u32)]
//!     fn encode(&self, line: &str) -> Option<[u32; 2]> {
//!         let mut ids = [0; 2];
//!         for (id, word) in ids.iter_mut().zip(line.split_whitespace()) {
//!             *id = self.0.iter().position(|w| *w == word).map_or(0, |i| i as u32 + 1);
//!         }
//!         (!line.trim().is_empty()).then_some(ids)
//!     }
//! }
//!
//! let vocab = Vocab(vec!["hello", "world"]);
//! let encoded = vocab.encode_batch(["hello world", "", "world peace"]);
//! assert_eq!(encoded.rows, ndarray::array![[1, 2], [2, 0]]);
//! assert_eq!(encoded.skipped, vec![1]);
//! ```
//!
//! # Several outputs per item
//!
//! A struct with one field per output, `#[derive(Rows)]`, and a row function returning it,
//! `#[preallocate(rows = Struct)]`: each entry point fills one array per field in one pass over
//! the items (`batch` returns `StructArrays`, `fill` takes `StructViews`, `write_npy` writes one
//! file per field into a directory, `write_safetensors` one tensor per field). A field
//! `#[rows(dtype = .., cast = .., shape = (..))]` sets its output's element type, conversion and
//! row shape. See the README's *Several outputs per item*.
//!
//! ```
//! use preallocate::{preallocate, Rows};
//!
//! #[derive(Rows)]
//! struct Sample {
//!     #[rows(shape = (2, 2))]
//!     pixels: [u8; 4],
//!     #[rows(dtype = i64)]
//!     class: [u8; 1],
//! }
//!
//! #[preallocate(rows = Sample)]
//! fn sample(i: u8) -> Sample {
//!     Sample { pixels: [i; 4], class: [i % 2] }
//! }
//!
//! let out = sample::batch(0..3);
//! assert_eq!(out.pixels.shape(), &[3, 2, 2]);
//! assert_eq!(out.class, ndarray::array![[0i64], [1], [0]]);
//! ```
//!
//! # What it generates
//!
//! For a free function, a module of the same name and visibility:
//!
//! | item | what it is |
//! |---|---|
//! | `DIM: usize`, `SHAPE: &[usize]` | the row length and shape |
//! | `Dtype` | the storage element type |
//! | `batch(items)` | every row of any `IntoIterator` of items, in one array allocated once when the length is known |
//! | `fill(items, out)` | the rows written into a caller's buffer (any layout, reusable); see [`Error`] |
//! | `pipeline()` | a [`Pipeline`]: bounded memory through one reused chunk buffer, to a closure, a `.npy` file, `.npy` shards or a safetensors file; `.threads(n)` computes each chunk on `n` threads |
//! | `par_batch(items)`, `par_fill(items, out)` | `batch` and `fill` with the rows computed on every thread of rayon's current pool (feature `parallel`, on by default): the same result, bit for bit |
//!
//! For a method `m`: the methods `m_batch`, `m_fill`, `m_pipeline` and the consts `M_DIM`,
//! `M_SHAPE`; and for a `&self` method, `m_par_batch` and `m_par_fill` (a `&mut self` method's
//! state changes row by row, so it has no parallel siblings).
//!
//! What `batch` and `fill` return follows the row function's [`policy`]: the array, a [`Batch`]
//! with the dropped items' indices, or a `Result` that stops at the first failure.
//!
//! ```
//! use preallocate::preallocate;
//!
//! #[preallocate(dim = 2, dtype = f32)]
//! fn pair(i: u32) -> [f32; 2] {
//!     [i as f32, -(i as f32)]
//! }
//!
//! let dir = tempfile::tempdir()?;
//! let out = pair::pipeline().chunk_rows(1000).write_npy(0..2500, dir.path().join("x.npy"))?;
//! assert_eq!((out.rows, out.shape.clone()), (2500, vec![2500, 2]));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Misuse is a compile error that points at the token to fix: a missing, repeated, unknown or
//! conflicting key, a `dim` or `shape` that is not positive, an unknown `dtype`, `cast` or
//! `on_error`, a row shape that differs from the attribute, a lossy conversion without `cast`,
//! `on_error` on a function that cannot fail, a wrong number of parameters, a method taking
//! `self` by value, an `async`, `unsafe` or `extern` fn, or the attribute on something that is
//! not a function.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

/// `#[preallocate(dim = N, dtype = T, ...)]` on a row function: one item in, one row of numbers
/// out.
///
/// # The row function
///
/// | form | signature | the item gives |
/// |---|---|---|
/// | by value | `fn f(item: Item) -> [E; N]` | the returned row, converted from `E` to the dtype |
/// | in place | `fn f(item: Item, row: &mut [T; N])` | the row written into the output itself (`T` is the dtype; the row arrives zeroed) |
/// | multi-axis | `-> [[E; W]; H]` or `row: &mut [[T; W]; H]`, with `shape = (H, W)` | a row of shape `(H, W)`; `batch` returns one more axis |
/// | scalar | `-> E` or `row: &mut T`, without `dim` (or with `shape = ()`) | one number: the output is 1-D, of shape `(n,)` |
/// | filtering | `-> Option<[E; N]>`, in place `-> bool` | no row for `None` / `false`: the item is listed in `skipped` |
/// | fallible | `-> Result<[E; N], MyError>`, in place `-> Result<(), MyError>` | an error: the batch stops with an [`ItemError`] (or skips it under `on_error = "skip"`) |
/// | both | `-> Result<Option<[E; N]>, MyError>`, in place `-> Result<bool, MyError>` | either |
/// | method | `fn m(&self, item: Item) -> ...` or `&mut self` in an inherent `impl` | the same, with the fitted state of `self` |
///
/// `Item` may be a reference (elided or named lifetime), an owned value, or generic; the
/// function keeps its generics, lifetimes, where clauses, attributes, docs and visibility, and
/// stays callable per item. A function on `&T` takes any item that lends a `&T` ([`ItemRef`]):
/// `T`, `&&T`, `String`/`&String` for `&str`, `Vec<U>`/`&Vec<U>`/`[U; N]` for `&[U]`.
///
/// # Keys
///
/// | key | value | default |
/// |---|---|---|
/// | `dim` | the row length: an integer literal ≥ 1 or a `const` in scope | (`dim` or `shape` is required, but for a scalar row) |
/// | `shape` | `(H, W)` up to four axes, each a literal or a `const`; `()` for a scalar row | |
/// | `dtype` | `f16`, `bf16`, `f32`, `f64`, `i8`, `i16`, `i32`, `i64`, `u8`, `u16`, `u32`, `u64` | (required) |
/// | `cast` | `"as"`, `"checked"` or `"saturate"`: how a by-value row of another element type is stored | lossless conversions only |
/// | `on_error` | `"fail"` (stop at the first failing item) or `"skip"` (drop it, list its index) | `"fail"` |
/// | `crate` | the path of this crate when it is named otherwise (`crate = pa`) | `::preallocate` |
/// | `rows` | a `#[derive(Rows)]` struct the function returns: one output per field (instead of `dim`, `shape`, `dtype` and `cast`, which go on the fields) | |
///
/// # Several outputs: `rows = Struct`
///
/// `#[preallocate(rows = Example)]` on `fn f(item: Item) -> Example` (or `Option<Example>`,
/// `Result<Example, E>`, `Result<Option<Example>, E>`, with `on_error` as above), or on
/// `fn f(item: Item, row: ExampleRow<'_>)` writing one `&mut [Dtype; N]` per field in place
/// (returning nothing, `bool`, `Result<(), E>` or `Result<bool, E>`), on a free function or a
/// `&self`/`&mut self` method (siblings `m_batch`, `m_fill`, `m_pipeline`, `m_par_*`), generates the
/// same module, over one array per field of `Example`: `batch` returns `ExampleArrays`,
/// `fill` and `par_fill` take `ExampleViews`, the pipeline's `for_each_chunk` passes
/// `ExampleChunk`, `write_npy` takes a directory (one `{field}.npy` each), `write_npy_shards` a
/// directory of one shard directory per field, `write_safetensors` one file of one tensor per
/// field. A field's `#[rows(dtype = .., cast = .., shape = (..))]` sets its output's element
/// type, conversion and row shape. See [`Rows`](derive@Rows) and the crate's
/// [several outputs per item](crate#several-outputs-per-item).
///
/// # What it generates
///
/// For a free function `f`, a module `f` (same visibility): `DIM`, `SHAPE`, `Dtype`,
/// `batch(items)`, `fill(items, out)`, `pipeline()`, and with the `parallel` feature
/// `par_batch(items)` and `par_fill(items, out)`. For a method `m`: `m_batch`, `m_fill`,
/// `m_pipeline`, `M_DIM`, `M_SHAPE`, and for `&self` methods `m_par_batch`, `m_par_fill`. What
/// `batch` and `fill` return follows the function's [`policy`]:
///
/// | row function | `batch` returns | `fill` returns |
/// |---|---|---|
/// | `-> [E; N]` | `Array2<Dtype>` | `Result<usize, Error>` |
/// | `-> Option<[E; N]>` | `Batch<Array2<Dtype>>` | `Result<Batch<usize>, Error>` |
/// | `-> Result<[E; N], MyError>` | `Result<Array2<Dtype>, ItemError<MyError>>` | `Result<usize, Error<MyError>>` |
/// | `-> Result<Option<[E; N]>, MyError>` | `Result<Batch<Array2<Dtype>>, ItemError<MyError>>` | `Result<Batch<usize>, Error<MyError>>` |
/// | fallible, `on_error = "skip"` | `Batch<Array2<Dtype>>` | `Result<Batch<usize>, Error<MyError>>` |
///
/// ```
/// use preallocate::preallocate;
///
/// /// Every form at once: fallible, filtering, in place, with a checked cast elsewhere.
/// #[preallocate(dim = 2, dtype = u8, on_error = "skip")]
/// fn pixel(line: &str, row: &mut [u8; 2]) -> Result<bool, std::num::ParseIntError> {
///     let (a, b) = line.split_once(',').unwrap_or((line, "0"));
///     row[0] = a.trim().parse()?;
///     row[1] = b.trim().parse()?;
///     Ok(row[0] > 0) // a row starting with 0 is dropped
/// }
///
/// let kept = pixel::batch(["1, 2", "x, 3", "0, 9", "4, 5"]);
/// assert_eq!(kept.rows, ndarray::array![[1, 2], [4, 5]]);
/// assert_eq!(kept.skipped, vec![1, 2]); // item 1 failed, item 2 was dropped
/// assert_eq!((pixel::DIM, pixel::SHAPE), (2, &[2][..]));
/// ```
///
/// Misuse is a compile error on the token to fix; after one, the function and every generated
/// name still exist, so the rest of the crate reports nothing more.
pub use preallocate_macros::preallocate;
/// Derives [`Rows`](trait@Rows) for a struct of rows, one field per output: see
/// [several outputs per item](crate#several-outputs-per-item).
pub use preallocate_macros::Rows;
pub use preallocate_runtime::{
    batch, fill, policy, Batch, BoxedError, CastError, Element, ElementType, Error, FileOutput,
    FileWriter, IoError, ItemError, JobMismatch, LosslessFrom, NpyElement, NpyWriter, OutputCause,
    Partial, Partition, PartitionError, Pipeline, Policy, RowError, RowFn, RowSpec, Rows,
    SafetensorsElement, SafetensorsWriter, Shard, ShardsOutput, SinkError, SinkFailure,
    DEFAULT_MEMORY_BUDGET, SHARD_MANIFEST,
};
#[doc(hidden)]
#[allow(deprecated)]
pub use preallocate_runtime::{PARTITION_COUNT_VAR, PARTITION_VAR};

pub use preallocate_runtime::ItemRef;

#[cfg(any(feature = "zarr", feature = "parquet"))]
pub use preallocate_runtime::Compression;
#[cfg(feature = "parquet")]
pub use preallocate_runtime::ParquetElement;
#[cfg(feature = "progress")]
pub use preallocate_runtime::Progress;
#[cfg(feature = "zarr")]
pub use preallocate_runtime::{ZarrElement, ZarrOutput};

pub use half::{self, bf16, f16};
pub use ndarray;
#[cfg(feature = "python")]
pub use preallocate_runtime::{numpy, pyo3, python};
#[cfg(feature = "parallel")]
pub use preallocate_runtime::{par_batch, par_fill, rayon};

#[doc(hidden)]
#[allow(deprecated)]
pub use preallocate_runtime::{mode, CastAs, CheckedCast, Written};

/// Paths the generated code uses; not a public API.
#[doc(hidden)]
pub mod __private {
    pub use preallocate_runtime::__private::{
        batch_rows, cast, copy_lane_n, fill_rows, store, store_field, Axes0, Axes1, Axes2, Axes3,
        Axes4, Checks, Col, ColShape, FnRow, FnRows, ItemRef, Layout, Multi, NoChecks, Outputs,
        RowCount, RowsFn, RowsSpec, WithChecks, WriteRows,
    };
    #[cfg(feature = "parallel")]
    pub use preallocate_runtime::__private::{par_batch_rows, par_fill_rows};
    pub use preallocate_runtime::ndarray;
    pub use preallocate_runtime::{
        batch, bf16, f16, fill, policy, Batch, Error, ItemError, Pipeline, Policy, RowError, RowFn,
        RowSpec,
    };
    #[cfg(feature = "parallel")]
    pub use preallocate_runtime::{par_batch, par_fill, rayon};
    pub use preallocate_runtime::{CastError, Rows as RowsTrait};

    /// A buffer a `#[preallocate]` method's `m_fill` / `m_par_fill` writes into. The element
    /// type is in each impl's header, so a buffer of another type matches none and gets this
    /// message instead of a type mismatch deep in `ndarray`.
    #[diagnostic::on_unimplemented(
        message = "this `fill` writes rows of `{E}`: pass a buffer of `{E}`, not `{Self}`",
        label = "expected a mutable array or view of `{E}`",
        note = "the element type is the attribute's `dtype`: allocate the buffer with it, or change `dtype`"
    )]
    pub trait OutBuffer<'out, E, D: ndarray::Dimension> {
        /// The buffer as the view the runtime writes.
        fn __preallocate_view(self) -> ndarray::ArrayViewMut<'out, E, D>;
    }

    impl<'out, E, S, D> OutBuffer<'out, E, D> for &'out mut ndarray::ArrayBase<S, D, E>
    where
        S: ndarray::DataMut<Elem = E>,
        D: ndarray::Dimension,
    {
        fn __preallocate_view(self) -> ndarray::ArrayViewMut<'out, E, D> {
            self.view_mut()
        }
    }

    impl<'out, E, D: ndarray::Dimension> OutBuffer<'out, E, D> for ndarray::ArrayViewMut<'out, E, D> {
        fn __preallocate_view(self) -> ndarray::ArrayViewMut<'out, E, D> {
            self
        }
    }

    impl<'out, E, const N: usize> OutBuffer<'out, E, ndarray::Ix2> for &'out mut [[E; N]] {
        fn __preallocate_view(self) -> ndarray::ArrayViewMut<'out, E, ndarray::Ix2> {
            self.into()
        }
    }

    impl<'out, E, const N: usize, const M: usize> OutBuffer<'out, E, ndarray::Ix2>
        for &'out mut [[E; N]; M]
    {
        fn __preallocate_view(self) -> ndarray::ArrayViewMut<'out, E, ndarray::Ix2> {
            self.into()
        }
    }

    impl<'out, E> OutBuffer<'out, E, ndarray::Ix1> for &'out mut [E] {
        fn __preallocate_view(self) -> ndarray::ArrayViewMut<'out, E, ndarray::Ix1> {
            self.into()
        }
    }

    impl<'out, E, const M: usize> OutBuffer<'out, E, ndarray::Ix1> for &'out mut [E; M] {
        fn __preallocate_view(self) -> ndarray::ArrayViewMut<'out, E, ndarray::Ix1> {
            (&mut self[..]).into()
        }
    }

    impl<'out, E> OutBuffer<'out, E, ndarray::Ix1> for &'out mut Vec<E> {
        fn __preallocate_view(self) -> ndarray::ArrayViewMut<'out, E, ndarray::Ix1> {
            self.as_mut_slice().into()
        }
    }

    /// Never implemented: a `&mut self` row function's `m_par_batch` and `m_par_fill` require
    /// it, so that calling one is this one error, on the call.
    #[diagnostic::on_unimplemented(
        message = "a row function taking `&mut self` has no parallel siblings",
        label = "this method changes `self` row by row, so threads cannot share it",
        note = "take `&self` and keep per-row state out of `self` (then `..._par_batch` and `..._par_fill` exist), or call the sequential `..._batch` / `..._fill`"
    )]
    pub trait MutSelfHasNoParallelSiblings {}

    /// Emits the parallel entry points when the `parallel` feature is on, nothing otherwise:
    /// the feature is this crate's, so the generated code cannot test it with `cfg`.
    pub use crate::__preallocate_if_parallel as if_parallel;
    /// Emits `register` when the `python` feature is on, nothing otherwise.
    pub use crate::__preallocate_if_python as if_python;
    #[cfg(feature = "python")]
    pub use preallocate_runtime::{pyo3, python};
}

#[cfg(feature = "parallel")]
#[doc(hidden)]
#[macro_export]
macro_rules! __preallocate_if_parallel {
    ($($items:tt)*) => { $($items)* };
}

#[cfg(not(feature = "parallel"))]
#[doc(hidden)]
#[macro_export]
macro_rules! __preallocate_if_parallel {
    ($($items:tt)*) => {};
}

#[cfg(feature = "python")]
#[doc(hidden)]
#[macro_export]
macro_rules! __preallocate_if_python {
    ($($items:tt)*) => { $($items)* };
}

#[cfg(not(feature = "python"))]
#[doc(hidden)]
#[macro_export]
macro_rules! __preallocate_if_python {
    ($($items:tt)*) => {};
}

/// The README's Rust snippets, compiled and run as doctests so that they stay true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
