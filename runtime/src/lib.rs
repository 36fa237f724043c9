//! Runtime of `preallocate`: the row contract, the storage element types and the drivers that
//! own every loop and buffer.
//!
//! Users normally reach this crate through the `preallocate` facade and its
//! `#[preallocate(dim = .., dtype = ..)]` attribute, which implements [`RowSpec`] and [`RowFn`] for
//! each annotated function and emits thin entry points that call [`batch`] and [`fill`]. Everything
//! here also works without the macro:
//!
//! ```
//! use std::convert::Infallible;
//! use preallocate_runtime::{RowFn, RowSpec};
//!
//! struct Xy;
//! impl RowSpec for Xy {
//!     type Dtype = f32;
//!     type Dim = ndarray::Ix2;
//!     const DIM: usize = 2;
//!     const SHAPE: &'static [usize] = &[2];
//!     const OVERWRITES_ROW: bool = true;
//! }
//! impl RowFn<&(f32, f32)> for Xy {
//!     type Error = Infallible;
//!     type Failure = Infallible;
//!     fn write_row(&mut self, p: &(f32, f32), row: &mut [f32]) -> Result<bool, Infallible> {
//!         row.copy_from_slice(&[p.0, p.1]);
//!         Ok(true)
//!     }
//! }
//!
//! let points = vec![(1.0, 2.0), (3.0, 4.0)];
//! let x = preallocate_runtime::batch(&mut Xy, &points);
//! assert_eq!(x.shape(), &[2, 2]);
//! assert_eq!(x[[1, 0]], 3.0);
//! ```
#![deny(missing_docs)]
#![deny(unsafe_code)]

mod drivers;
mod element;
mod error;
mod io;
mod pipeline;
mod row;

pub use drivers::{
    batch, batch_filtered, batch_skipping, fill, fill_filtered, fill_skipping, try_batch,
    try_batch_filtered, try_fill, try_fill_filtered, Rows,
};
pub use element::{
    store_as, store_checked, store_lossless, store_saturating, CastAs, CheckedCast, Element,
    LosslessFrom,
};
pub use error::{CastError, Error, ItemError, OutputCause, RowError};
pub use pipeline::{mode, Pipeline, Written, DEFAULT_MEMORY_BUDGET};
pub use row::{Axes1, Axes2, Axes3, Axes4, Batch, FnRow, RowCount, RowFn, RowShape, RowSpec};

pub use half::{bf16, f16};
#[cfg(feature = "progress")]
pub use io::Progress;
pub use io::{
    ChunkSink, FileOutput, IoError, NpyElement, NpyShardWriter, NpyWriter, Partial,
    SafetensorsElement, SafetensorsWriter, Shard, ShardsOutput, SinkError, SinkFailure,
    SHARD_MANIFEST,
};
pub use ndarray;
