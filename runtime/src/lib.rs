//! Runtime of `preallocate`: the row contract, the storage element types, and one engine that
//! runs every row function into every kind of buffer and file.
//!
//! Users normally reach this crate through the `preallocate` facade and its
//! `#[preallocate(dim = .., dtype = ..)]` attribute, which implements [`RowSpec`] and [`RowFn`]
//! for each annotated function and emits thin entry points that call [`batch`], [`fill`] and
//! [`Pipeline`]. Everything here also works without the macro:
//!
//! - the row contract: [`RowSpec`] (element type, shape, and [`Policy`]: what happens to items
//!   that fail or give no row) and [`RowFn`] (one item into one row);
//! - the entry points: [`batch`] (a new array, allocated once), [`fill`] (a caller's buffer),
//!   [`Pipeline`] (bounded memory, to a closure or a file); their results follow the policy;
//! - the outputs, written by the pipeline's `write_*` methods: `.npy` files, `.npy` shards,
//!   safetensors, and with the feature `zarr` Zarr v3 arrays (on S3-compatible object storage
//!   too with the feature `s3`); their reports [`FileOutput`], [`ShardsOutput`] and
//!   `ZarrOutput`; and the typed writers [`NpyWriter`] and [`SafetensorsWriter`] (one
//!   [`FileWriter`]) to stream rows by hand;
//! - jobs that outlive a process: shards and Zarr units committed one by one and resumed by a
//!   rerun under the job's fingerprint, and [`Partition`]s of one job for several workers;
//! - the errors: [`ItemError`] and [`RowError`] for one item, [`Error`] for an entry point,
//!   [`SinkFailure`] and [`SinkError`] for an output.
//!
//! - several outputs per item: [`Rows`] (a struct with one field per output, derived by
//!   `#[derive(preallocate::Rows)]`), run by the same entry points over one array per field.
//!
//! Inside, every entry point drives one per-slot loop (`drivers::run`), generic over the policy,
//! over the layout of the outputs (one array, or several as nested pairs: the `layout` module)
//! and over where the rows go; see the `drivers` module.
//!
//! ```
//! use std::convert::Infallible;
//! use preallocate::{policy, RowFn, RowSpec};
//!
//! struct Xy;
//! impl RowSpec for Xy {
//!     type Dtype = f32;
//!     type Dim = ndarray::Ix2;
//!     type Policy = policy::Plain;
//!     const DIM: usize = 2;
//!     const SHAPE: &'static [usize] = &[2];
//!     const OVERWRITES_ROW: bool = true;
//! }
//! impl RowFn<&(f32, f32)> for Xy {
//!     type Error = Infallible;
//!     fn write_row(&mut self, p: &(f32, f32), row: &mut [f32]) -> Result<bool, Infallible> {
//!         row.copy_from_slice(&[p.0, p.1]);
//!         Ok(true)
//!     }
//! }
//!
//! let points = vec![(1.0, 2.0), (3.0, 4.0)];
//! let x = preallocate::batch(&mut Xy, &points);
//! assert_eq!(x.shape(), &[2, 2]);
//! assert_eq!(x[[1, 0]], 3.0);
//! ```
#![deny(missing_docs)]
#![deny(unsafe_code)]

mod drivers;
mod element;
mod error;
mod failure;
mod item;
mod layout;
mod outputs;
#[cfg(feature = "parallel")]
mod parallel;
mod partition;
mod pipeline;
pub mod policy;
#[cfg(feature = "python")]
pub mod python;
mod row;
mod rows;

pub use drivers::{batch, fill};
pub use element::{CastError, Element, ElementType, LosslessFrom};
pub use error::{Error, OutputCause};
pub use failure::{BoxedError, ItemError, RowError};
pub use item::ItemRef;
#[cfg(any(feature = "zarr", feature = "parquet"))]
pub use outputs::Compression;
#[cfg(feature = "parquet")]
pub use outputs::ParquetElement;
#[cfg(feature = "progress")]
pub use outputs::Progress;
pub use outputs::{
    FileOutput, FileWriter, IoError, JobMismatch, NpyElement, NpyWriter, Partial,
    SafetensorsElement, SafetensorsWriter, Shard, ShardsOutput, SinkError, SinkFailure,
    SHARD_MANIFEST,
};
#[cfg(feature = "zarr")]
pub use outputs::{ZarrElement, ZarrOutput};
#[cfg(feature = "parallel")]
pub use parallel::{par_batch, par_fill};
pub use partition::{Partition, PartitionError};
#[doc(hidden)]
#[allow(deprecated)]
pub use partition::{PARTITION_COUNT_VAR, PARTITION_VAR};
pub use pipeline::{Pipeline, DEFAULT_MEMORY_BUDGET};
pub use policy::Batch;
pub use policy::Policy;
pub use row::{RowFn, RowSpec};
pub use rows::Rows;

#[doc(no_inline)]
pub use half::{bf16, f16};
pub use ndarray;
#[cfg(feature = "parallel")]
pub use rayon;
#[cfg(feature = "python")]
pub use {numpy, pyo3};

/// What only `#[preallocate]`'s generated code uses: the cast modes and their store loop, and
/// the closure-backed row writer of methods. Not a stable API.
#[doc(hidden)]
pub mod __private {
    pub use crate::drivers::{batch_rows, fill_rows};
    pub use crate::drivers::{Multi, Outputs, WriteRows};
    pub use crate::element::cast::{self, store};
    pub use crate::item::ItemRef;
    pub use crate::layout::copy_lane_n;
    pub use crate::layout::{Col, ColShape, Layout};
    #[cfg(feature = "parallel")]
    pub use crate::parallel::{par_batch_rows, par_fill_rows};
    pub use crate::policy::RowCount;
    pub use crate::row::{Axes0, Axes1, Axes2, Axes3, Axes4, FnRow};
    pub use crate::rows::{store_field, Checks, FnRows, NoChecks, RowsFn, RowsSpec, WithChecks};
}

#[doc(hidden)]
pub use element::{CastAs, CheckedCast};

/// The policies under their old name.
#[doc(hidden)]
#[deprecated(note = "renamed to `policy`")]
pub mod mode {
    pub use crate::policy::{Fallible, FallibleFiltered, Filtered, Plain, Skipping};
}

#[doc(hidden)]
#[allow(deprecated)]
pub use pipeline::Written;
