//! What a row function does with items that fail or give no row, as types.
//!
//! A row function declares its [`Policy`] once ([`RowSpec::Policy`](crate::RowSpec::Policy)),
//! and every loop — a new array ([`batch`](crate::batch)), a caller's buffer
//! ([`fill`](crate::fill)), the chunk buffer of a [`Pipeline`](crate::Pipeline) — takes it as a
//! type parameter: the policy says what `write_row` may fail with, whether a failure stops the
//! run or drops the item, and what the entry points return.
//!
//! | policy | row function | `batch` returns | `fill` returns |
//! |---|---|---|---|
//! | [`Plain`] | `-> [E; N]` | `A` | `Result<usize, Error>` |
//! | [`Filtered`] | `-> Option<[E; N]>` | `Batch<A>` | `Result<Batch<usize>, Error>` |
//! | [`Fallible`] | `-> Result<[E; N], E2>` | `Result<A, ItemError<E2>>` | `Result<usize, Error<E2>>` |
//! | [`FallibleFiltered`] | `-> Result<Option<[E; N]>, E2>` | `Result<Batch<A>, ItemError<E2>>` | `Result<Batch<usize>, Error<E2>>` |
//! | [`Skipping`] | fallible, `on_error = "skip"` | `Batch<A>` | `Result<Batch<usize>, Error<E2>>` |
//!
//! (`A` is the array of rows, `Array<Dtype, Dim>`; a checked cast makes a row function fallible.)

use core::convert::Infallible;

use crate::error::{Error, ItemError, RowError};
use crate::row::Batch;

mod sealed {
    pub trait Sealed {}
}

/// How a row function's failed and dropped items are handled, and what its entry points return.
///
/// Sealed: the five policies of this module are the whole set. See the [module docs](self)
/// for the table.
///
/// ```
/// use preallocate_runtime::{policy, Policy};
///
/// // A filtering row function's `batch` returns the kept rows and the dropped indices.
/// let kept: <policy::Filtered as Policy>::Batch<Vec<u8>, std::convert::Infallible> =
///     preallocate_runtime::Batch { rows: vec![1, 2], skipped: vec![1] };
/// assert_eq!(kept.source_index(), vec![0, 2]);
/// ```
pub trait Policy: sealed::Sealed + Sized + 'static {
    /// What `write_row` fails with, for a row function whose own error type is `E`:
    /// `Infallible` when it cannot fail, else [`RowError<E>`].
    type Failure<E>: Into<RowError<E>>;
    /// What `batch` returns for the array `A` of the kept rows.
    type Batch<A, E>;
    /// What `fill` returns.
    type Fill<E>;

    /// This policy when a checked cast can fail too: a row function that could not fail can.
    #[doc(hidden)]
    type Checked: Policy;
    /// What stops a run: `Infallible` unless a failure stops it.
    #[doc(hidden)]
    type Fatal<E>: Into<RowError<E>>;
    /// Whether a run may drop items (filtered out, or failed and skipped), so that an output
    /// that keeps row `i` for item `i` (Zarr) also says which rows hold data.
    #[doc(hidden)]
    const DROPS: bool;
    /// `Err` stops the run with the failure, `Ok` drops the item.
    #[doc(hidden)]
    fn on_failure<E>(failure: Self::Failure<E>) -> Result<(), Self::Fatal<E>>;
    /// Shapes the result of `batch`.
    #[doc(hidden)]
    fn batch<A, E>(run: Result<Batch<A>, Failed<Self::Fatal<E>>>) -> Self::Batch<A, E>;
    /// Shapes the result of `fill`.
    #[doc(hidden)]
    fn fill<E>(run: Result<Batch<usize>, FillStop<Self::Fatal<E>>>) -> Self::Fill<E>;
}

/// Why a run stopped at an item: its index, and its failure.
#[doc(hidden)]
#[derive(Debug)]
pub struct Failed<F> {
    /// The item's position in the input.
    pub index: usize,
    /// What `write_row` failed with.
    pub failure: F,
}

impl<F> Failed<F> {
    fn item_error<E>(self) -> ItemError<E>
    where
        F: Into<RowError<E>>,
    {
        ItemError {
            index: self.index,
            error: self.failure.into(),
        }
    }
}

/// Why writing into a caller's buffer stopped.
#[doc(hidden)]
#[derive(Debug)]
pub enum FillStop<F> {
    /// The buffer's rows do not have the row shape; nothing was written.
    Rejected {
        expected: &'static [usize],
        found: Vec<usize>,
    },
    /// The buffers of several outputs have these different numbers of rows; nothing was written.
    Unequal { rows: Vec<usize> },
    /// The buffer is full; item `index` gave a row that did not fit.
    Full { written: usize, index: usize },
    /// An item failed after `written` rows.
    Item { written: usize, failed: Failed<F> },
}

impl FillStop<Infallible> {
    /// A check's rejection, as a stop of a run that may fail with `F`.
    pub(crate) fn widen<F>(self) -> FillStop<F> {
        match self {
            FillStop::Rejected { expected, found } => FillStop::Rejected { expected, found },
            FillStop::Unequal { rows } => FillStop::Unequal { rows },
            FillStop::Full { written, index } => FillStop::Full { written, index },
            FillStop::Item { failed, .. } => match failed.failure {},
        }
    }
}

impl<F> FillStop<F> {
    fn into_error<E>(self) -> Error<E>
    where
        F: Into<RowError<E>>,
    {
        match self {
            FillStop::Rejected { expected, found } => match (expected, found.as_slice()) {
                (&[expected], &[found]) => Error::WidthMismatch { expected, found },
                _ => Error::ShapeMismatch {
                    expected: expected.to_vec(),
                    found,
                },
            },
            FillStop::Unequal { rows } => Error::RowCountMismatch { rows },
            FillStop::Full { written, index } => Error::BufferFull { written, index },
            FillStop::Item { written, failed } => Error::Item {
                written,
                error: failed.item_error(),
            },
        }
    }
}

/// Items are never dropped and never fail: `batch` returns the array.
#[derive(Debug, Clone, Copy, Default)]
pub struct Plain;
/// Items may be dropped (`Option` rows): `batch` returns a [`Batch`].
#[derive(Debug, Clone, Copy, Default)]
pub struct Filtered;
/// Items may fail (`Result` rows, or `cast = "checked"`): the first failure stops the run.
#[derive(Debug, Clone, Copy, Default)]
pub struct Fallible;
/// Items may fail or be dropped: the first failure stops the run.
#[derive(Debug, Clone, Copy, Default)]
pub struct FallibleFiltered;
/// Items may fail or be dropped, and failed items are dropped too (`on_error = "skip"`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Skipping;

impl sealed::Sealed for Plain {}
impl sealed::Sealed for Filtered {}
impl sealed::Sealed for Fallible {}
impl sealed::Sealed for FallibleFiltered {}
impl sealed::Sealed for Skipping {}

fn never<T>(failed: Failed<Infallible>) -> T {
    match failed.failure {}
}

impl Policy for Plain {
    type Checked = Fallible;
    const DROPS: bool = false;
    type Failure<E> = Infallible;
    type Batch<A, E> = A;
    type Fill<E> = Result<usize, Error>;
    type Fatal<E> = Infallible;
    fn on_failure<E>(failure: Infallible) -> Result<(), Infallible> {
        match failure {}
    }
    fn batch<A, E>(run: Result<Batch<A>, Failed<Infallible>>) -> A {
        run.map_or_else(never, |batch| batch.rows)
    }
    fn fill<E>(run: Result<Batch<usize>, FillStop<Infallible>>) -> Result<usize, Error> {
        run.map(|batch| batch.rows).map_err(FillStop::into_error)
    }
}

impl Policy for Filtered {
    type Checked = FallibleFiltered;
    const DROPS: bool = true;
    type Failure<E> = Infallible;
    type Batch<A, E> = Batch<A>;
    type Fill<E> = Result<Batch<usize>, Error>;
    type Fatal<E> = Infallible;
    fn on_failure<E>(failure: Infallible) -> Result<(), Infallible> {
        match failure {}
    }
    fn batch<A, E>(run: Result<Batch<A>, Failed<Infallible>>) -> Batch<A> {
        run.unwrap_or_else(never)
    }
    fn fill<E>(run: Result<Batch<usize>, FillStop<Infallible>>) -> Result<Batch<usize>, Error> {
        run.map_err(FillStop::into_error)
    }
}

impl Policy for Fallible {
    type Checked = Fallible;
    const DROPS: bool = false;
    type Failure<E> = RowError<E>;
    type Batch<A, E> = Result<A, ItemError<E>>;
    type Fill<E> = Result<usize, Error<E>>;
    type Fatal<E> = RowError<E>;
    fn on_failure<E>(failure: RowError<E>) -> Result<(), RowError<E>> {
        Err(failure)
    }
    fn batch<A, E>(run: Result<Batch<A>, Failed<RowError<E>>>) -> Result<A, ItemError<E>> {
        run.map(|batch| batch.rows).map_err(Failed::item_error)
    }
    fn fill<E>(run: Result<Batch<usize>, FillStop<RowError<E>>>) -> Result<usize, Error<E>> {
        run.map(|batch| batch.rows).map_err(FillStop::into_error)
    }
}

impl Policy for FallibleFiltered {
    type Checked = FallibleFiltered;
    const DROPS: bool = true;
    type Failure<E> = RowError<E>;
    type Batch<A, E> = Result<Batch<A>, ItemError<E>>;
    type Fill<E> = Result<Batch<usize>, Error<E>>;
    type Fatal<E> = RowError<E>;
    fn on_failure<E>(failure: RowError<E>) -> Result<(), RowError<E>> {
        Err(failure)
    }
    fn batch<A, E>(run: Result<Batch<A>, Failed<RowError<E>>>) -> Result<Batch<A>, ItemError<E>> {
        run.map_err(Failed::item_error)
    }
    fn fill<E>(run: Result<Batch<usize>, FillStop<RowError<E>>>) -> Result<Batch<usize>, Error<E>> {
        run.map_err(FillStop::into_error)
    }
}

impl Policy for Skipping {
    type Checked = Skipping;
    const DROPS: bool = true;
    type Failure<E> = RowError<E>;
    type Batch<A, E> = Batch<A>;
    type Fill<E> = Result<Batch<usize>, Error<E>>;
    type Fatal<E> = Infallible;
    fn on_failure<E>(_: RowError<E>) -> Result<(), Infallible> {
        Ok(())
    }
    fn batch<A, E>(run: Result<Batch<A>, Failed<Infallible>>) -> Batch<A> {
        run.unwrap_or_else(never)
    }
    fn fill<E>(run: Result<Batch<usize>, FillStop<Infallible>>) -> Result<Batch<usize>, Error<E>> {
        run.map_err(FillStop::into_error)
    }
}

/// How an item's failure becomes the error of
/// [`Pipeline::for_each_chunk`](crate::Pipeline::for_each_chunk): a run that cannot stop at an
/// item needs nothing of the closure's error type; one that can needs
/// `E: From<ItemError<..>>`.
#[doc(hidden)]
pub trait IntoChunkError<E> {
    /// The error for the item at `index`.
    fn into_chunk_error(self, index: usize) -> E;
}

impl<E> IntoChunkError<E> for Infallible {
    fn into_chunk_error(self, _: usize) -> E {
        match self {}
    }
}

impl<RowErr, E: From<ItemError<RowErr>>> IntoChunkError<E> for RowError<RowErr> {
    fn into_chunk_error(self, index: usize) -> E {
        E::from(ItemError { index, error: self })
    }
}
