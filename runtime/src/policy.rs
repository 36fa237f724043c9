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

use crate::failure::{ItemError, RowError};

mod sealed {
    pub trait Sealed {}
}

/// How a row function's failed and dropped items are handled, and what its entry points return.
///
/// Sealed: the five policies of this module are the whole set. See the [module docs](self)
/// for the table.
///
/// ```
/// use preallocate::{policy, Policy};
///
/// // A filtering row function's `batch` returns the kept rows and the dropped indices.
/// let kept: <policy::Filtered as Policy>::Batch<Vec<u8>, std::convert::Infallible> =
///     preallocate::Batch { rows: vec![1, 2], skipped: vec![1] };
/// assert_eq!(kept.source_index(), vec![0, 2]);
/// ```
pub trait Policy: sealed::Sealed + Sized + 'static {
    /// What `write_row` fails with, for a row function whose own error type is `E`:
    /// `Infallible` when it cannot fail, else [`RowError<E>`].
    type Failure<E>: Into<RowError<E>>;
    /// What `batch` returns for the array `A` of the kept rows.
    type Batch<A, E>;
    /// What `fill` returns when it succeeds: the number of rows written, or a [`Batch`] of it
    /// with the items dropped.
    type Filled;
    /// The row function's error type `E` as an entry point's error carries it: `Infallible`
    /// when the row function cannot fail.
    type Reported<E>;

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
    /// Shapes the result of a `fill` that succeeded.
    #[doc(hidden)]
    fn filled(run: Batch<usize>) -> Self::Filled;
    /// The failure that stopped a run, as an entry point's error carries it.
    #[doc(hidden)]
    fn reported<E>(fatal: Self::Fatal<E>) -> RowError<Self::Reported<E>>;
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
    pub(crate) fn item_error<E>(self) -> ItemError<E>
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

impl<F> FillStop<F> {
    /// The same stop, its item's failure turned into another type.
    #[must_use]
    pub fn map_failure<G>(self, f: impl FnOnce(F) -> G) -> FillStop<G> {
        match self {
            FillStop::Rejected { expected, found } => FillStop::Rejected { expected, found },
            FillStop::Unequal { rows } => FillStop::Unequal { rows },
            FillStop::Full { written, index } => FillStop::Full { written, index },
            FillStop::Item { written, failed } => FillStop::Item {
                written,
                failed: Failed {
                    index: failed.index,
                    failure: f(failed.failure),
                },
            },
        }
    }
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
    type Filled = usize;
    type Fatal<E> = Infallible;
    fn on_failure<E>(failure: Infallible) -> Result<(), Infallible> {
        match failure {}
    }
    fn batch<A, E>(run: Result<Batch<A>, Failed<Infallible>>) -> A {
        run.map_or_else(never, |batch| batch.rows)
    }
    fn filled(run: Batch<usize>) -> usize {
        run.rows
    }
    type Reported<E> = Infallible;
    fn reported<E>(fatal: Self::Fatal<E>) -> RowError<Self::Reported<E>> {
        match fatal {}
    }
}

impl Policy for Filtered {
    type Checked = FallibleFiltered;
    const DROPS: bool = true;
    type Failure<E> = Infallible;
    type Batch<A, E> = Batch<A>;
    type Filled = Batch<usize>;
    type Fatal<E> = Infallible;
    fn on_failure<E>(failure: Infallible) -> Result<(), Infallible> {
        match failure {}
    }
    fn batch<A, E>(run: Result<Batch<A>, Failed<Infallible>>) -> Batch<A> {
        run.unwrap_or_else(never)
    }
    fn filled(run: Batch<usize>) -> Batch<usize> {
        run
    }
    type Reported<E> = Infallible;
    fn reported<E>(fatal: Self::Fatal<E>) -> RowError<Self::Reported<E>> {
        match fatal {}
    }
}

impl Policy for Fallible {
    type Checked = Fallible;
    const DROPS: bool = false;
    type Failure<E> = RowError<E>;
    type Batch<A, E> = Result<A, ItemError<E>>;
    type Filled = usize;
    type Fatal<E> = RowError<E>;
    fn on_failure<E>(failure: RowError<E>) -> Result<(), RowError<E>> {
        Err(failure)
    }
    fn batch<A, E>(run: Result<Batch<A>, Failed<RowError<E>>>) -> Result<A, ItemError<E>> {
        run.map(|batch| batch.rows).map_err(Failed::item_error)
    }
    fn filled(run: Batch<usize>) -> usize {
        run.rows
    }
    type Reported<E> = E;
    fn reported<E>(fatal: Self::Fatal<E>) -> RowError<Self::Reported<E>> {
        fatal
    }
}

impl Policy for FallibleFiltered {
    type Checked = FallibleFiltered;
    const DROPS: bool = true;
    type Failure<E> = RowError<E>;
    type Batch<A, E> = Result<Batch<A>, ItemError<E>>;
    type Filled = Batch<usize>;
    type Fatal<E> = RowError<E>;
    fn on_failure<E>(failure: RowError<E>) -> Result<(), RowError<E>> {
        Err(failure)
    }
    fn batch<A, E>(run: Result<Batch<A>, Failed<RowError<E>>>) -> Result<Batch<A>, ItemError<E>> {
        run.map_err(Failed::item_error)
    }
    fn filled(run: Batch<usize>) -> Batch<usize> {
        run
    }
    type Reported<E> = E;
    fn reported<E>(fatal: Self::Fatal<E>) -> RowError<Self::Reported<E>> {
        fatal
    }
}

impl Policy for Skipping {
    type Checked = Skipping;
    const DROPS: bool = true;
    type Failure<E> = RowError<E>;
    type Batch<A, E> = Batch<A>;
    type Filled = Batch<usize>;
    type Fatal<E> = Infallible;
    fn on_failure<E>(_: RowError<E>) -> Result<(), Infallible> {
        Ok(())
    }
    fn batch<A, E>(run: Result<Batch<A>, Failed<Infallible>>) -> Batch<A> {
        run.unwrap_or_else(never)
    }
    fn filled(run: Batch<usize>) -> Batch<usize> {
        run
    }
    type Reported<E> = E;
    fn reported<E>(fatal: Self::Fatal<E>) -> RowError<Self::Reported<E>> {
        match fatal {}
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

/// What a run kept, and which items gave no row: the one report of every entry point that may
/// drop items.
///
/// `rows` is what was kept — an array from `batch`, the number of rows written from `fill` and
/// [`Pipeline::for_each_chunk`](crate::Pipeline::for_each_chunk) — and `skipped` lists the input
/// indices of the items that produced no row (filtered out, or failed under
/// `on_error = "skip"`), in increasing order.
///
/// ```
/// use preallocate::Batch;
///
/// let kept = Batch { rows: 3usize, skipped: vec![1, 2] };
/// assert_eq!(kept.source_index(), vec![0, 3, 4]);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch<A> {
    /// The rows kept.
    pub rows: A,
    /// Input indices of the items that produced no row, increasing.
    pub skipped: Vec<usize>,
}

impl Batch<usize> {
    /// The input index of each kept row, in order: row `i` came from item `source_index()[i]`.
    #[must_use]
    pub fn source_index(&self) -> Vec<usize> {
        source_index(self.rows, &self.skipped)
    }
}

impl<S: ndarray::RawData, D: ndarray::Dimension> Batch<ndarray::ArrayBase<S, D>> {
    /// The input index of each kept row, in order: row `i` came from item `source_index()[i]`.
    ///
    /// ```
    /// let kept = preallocate::Batch { rows: ndarray::array![[1.0], [3.0]], skipped: vec![1] };
    /// assert_eq!(kept.source_index(), vec![0, 2]);
    /// ```
    #[must_use]
    pub fn source_index(&self) -> Vec<usize> {
        source_index(
            self.rows.shape().first().copied().unwrap_or(0),
            &self.skipped,
        )
    }
}

/// The number of rows of a struct of arrays, one per output (generated by `#[derive(Rows)]`).
#[doc(hidden)]
pub trait RowCount {
    /// Rows in every array.
    fn row_count(&self) -> usize;
}

impl<A: RowCount> Batch<A> {
    /// The input index of each kept row (of every output), in order.
    #[must_use]
    pub fn source_index(&self) -> Vec<usize> {
        source_index(self.rows.row_count(), &self.skipped)
    }
}

impl<T> Batch<Vec<T>> {
    /// The input index of each kept row (one element of `rows` per row), in order.
    #[must_use]
    pub fn source_index(&self) -> Vec<usize> {
        source_index(self.rows.len(), &self.skipped)
    }
}

/// The indices `0..` that are not in `skipped` (increasing), the first `kept` of them.
fn source_index(kept: usize, skipped: &[usize]) -> Vec<usize> {
    let mut index = Vec::with_capacity(kept);
    let mut skipped = skipped.iter().peekable();
    let mut candidate = 0usize;
    while index.len() < kept {
        if skipped.peek() == Some(&&candidate) {
            skipped.next();
        } else {
            index.push(candidate);
        }
        candidate += 1;
    }
    index
}
