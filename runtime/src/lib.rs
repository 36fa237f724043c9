//! Runtime of `preallocate`: the row contract, the storage element types and the drivers that
//! own every loop and buffer.
//!
//! Users normally reach this crate through the `preallocate` facade and its
//! `#[preallocate(dim = .., dtype = ..)]` attribute, which implements [`RowSpec`] and [`RowFn`] for
//! each annotated function and emits thin entry points that call [`batch`] and [`fill`]. Everything
//! here also works without the macro:
//!
//! ```
//! use preallocate_runtime::{RowFn, RowSpec};
//!
//! struct Xy;
//! impl RowSpec for Xy {
//!     type Dtype = f32;
//!     const DIM: usize = 2;
//!     const OVERWRITES_ROW: bool = true;
//! }
//! impl RowFn<&(f32, f32)> for Xy {
//!     fn write_row(&self, p: &(f32, f32), row: &mut [f32]) {
//!         row.copy_from_slice(&[p.0, p.1]);
//!     }
//! }
//!
//! let points = vec![(1.0, 2.0), (3.0, 4.0)];
//! let x = preallocate_runtime::batch(&Xy, &points);
//! assert_eq!(x.shape(), &[2, 2]);
//! assert_eq!(x[[1, 0]], 3.0);
//! ```
#![deny(missing_docs)]
#![deny(unsafe_code)]

mod drivers;
mod element;
mod error;
mod row;

pub use drivers::{batch, fill};
pub use element::{store_as, store_lossless, CastAs, Element, LosslessFrom};
pub use error::Error;
pub use row::{RowFn, RowSpec};

pub use half::{bf16, f16};
pub use ndarray;
