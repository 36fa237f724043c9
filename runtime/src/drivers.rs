//! The loops: every entry point that `#[preallocate]` emits delegates to one of these.
//!
//! Two loops do the work — [`collect_rows`] builds a new array, [`fill_rows`] writes into a
//! caller's buffer — and the public functions only choose the failure policy and shape the
//! result for each kind of row function:
//!
//! | row function | new array | caller's buffer |
//! |---|---|---|
//! | infallible | [`batch`] | [`fill`] |
//! | filtering (`Option`) | [`batch_filtered`] | [`fill_filtered`] |
//! | fallible (`Result`), stop at the first failure | [`try_batch`] | [`try_fill`] |
//! | fallible and filtering, stop at the first failure | [`try_batch_filtered`] | [`try_fill_filtered`] |
//! | fallible, failed items skipped | [`batch_skipping`] | [`fill_skipping`] |

use core::convert::Infallible;

use ndarray::{Array, ArrayViewMut, Axis, Dimension};

use crate::{Batch, Element, Error, ItemError, RowFn, RowSpec};

/// The array a batch of `R`'s rows makes: `n × SHAPE` elements of `R::Dtype`.
pub type Rows<R> = Array<<R as RowSpec>::Dtype, <R as RowSpec>::Dim>;

/// Smallest growth step, in bytes, when the input's length is not known up front: small enough
/// not to matter for a short input, large enough that a long one does not reallocate often.
const MIN_GROWTH_BYTES: usize = 64 * 1024;

/// The failure policy of a loop: given an item's failure, `Err` stops the loop with it
/// (`on_error = "fail"`), `Ok` drops the item and goes on (`on_error = "skip"`).
fn stop<F>(failure: F) -> Result<(), F> {
    Err(failure)
}

fn skip<F>(_: F) -> Result<(), Infallible> {
    Ok(())
}

/// The output of an array-building loop, before it is shaped.
struct Collected<T> {
    data: Vec<T>,
    rows: usize,
    skipped: Vec<usize>,
}

/// Why a loop stopped early: the failing item's index and its failure.
struct Failed<F> {
    index: usize,
    failure: F,
}

/// Builds the rows of `items` into one buffer, allocated once when the length is known.
///
/// When the iterator's `size_hint` is exact the buffer is allocated once, zeroed by the
/// allocator (the kernel hands out zero pages lazily, so this costs no pass over memory), and
/// every row is written in place. Otherwise the buffer grows geometrically and is shrunk to fit
/// at the end; no list of rows is ever built. A `size_hint` that lies gives the same rows as an
/// honest one: extra allocated rows are dropped, extra items grow the buffer, and a claimed
/// length too large to allocate falls back to growth.
///
/// Invariant: every slot at or after `rows` is zero, so an in-place row always starts zeroed.
fn collect_rows<R, I, F>(
    row_fn: &mut R,
    items: I,
    on_failure: impl Fn(R::Failure) -> Result<(), F>,
) -> Result<Collected<R::Dtype>, Failed<F>>
where
    R: RowFn<I::Item> + ?Sized,
    I: IntoIterator,
{
    let dim = R::DIM;
    let items = items.into_iter();
    let mut data = initial_buffer::<R::Dtype>(items.size_hint(), dim);
    let mut items = items.enumerate();
    let mut rows = 0usize;
    let mut skipped = Vec::new();
    let mut exhausted = false;
    if dim > 0 {
        // Fast path while every item is kept: consecutive slots, no bounds or growth checks
        // per row. A slot is taken before an item, so no item is lost when the slots run out.
        for slot in data.chunks_exact_mut(dim) {
            let Some((index, item)) = items.next() else {
                // The input has ended: it must not be asked again (it may not be fused).
                exhausted = true;
                break;
            };
            match row_fn.write_row(item, slot) {
                Ok(true) => rows += 1,
                Ok(false) => {
                    drop_row(slot, index, &mut skipped);
                    break;
                }
                Err(failure) => {
                    on_failure(failure).map_err(|failure| Failed { index, failure })?;
                    drop_row(slot, index, &mut skipped);
                    break;
                }
            }
        }
    }
    // The general path: after a dropped item, slots no longer follow items one to one; and
    // past the first allocation, the buffer grows.
    let rest = (!exhausted).then_some(items);
    for (index, item) in rest.into_iter().flatten() {
        let end = (rows + 1) * dim;
        if end > data.len() {
            // More items than the hint promised (or than the first guess of an unknown
            // length): `Vec` doubles its capacity, so this is amortized growth.
            data.resize(end, R::Dtype::ZERO);
        }
        let slot = &mut data[end - dim..end];
        match row_fn.write_row(item, slot) {
            Ok(true) => rows += 1,
            Ok(false) => drop_row(slot, index, &mut skipped),
            Err(failure) => match on_failure(failure) {
                Err(failure) => return Err(Failed { index, failure }),
                Ok(()) => drop_row(slot, index, &mut skipped),
            },
        }
    }
    data.truncate(rows * dim);
    data.shrink_to_fit();
    Ok(Collected {
        data,
        rows,
        skipped,
    })
}

/// A slot whose item produced no row leaves no trace: it is zeroed for the next row.
#[inline]
fn drop_row<T: Element>(slot: &mut [T], index: usize, skipped: &mut Vec<usize>) {
    slot.fill(T::ZERO);
    skipped.push(index);
}

/// The zeroed buffer a batch starts with: all the rows an exact `size_hint` promises, else a
/// first guess that growth corrects.
fn initial_buffer<T: Element>(size_hint: (usize, Option<usize>), dim: usize) -> Vec<T> {
    let (lower, upper) = size_hint;
    let guess_rows = (MIN_GROWTH_BYTES / (dim * size_of::<T>()).max(1)).max(1);
    let rows = if upper == Some(lower) {
        lower
    } else {
        lower.max(guess_rows)
    };
    // A hint too large to allocate (a lying iterator, or a bound like `usize::MAX`) is not
    // trusted: start from the guess and let growth find the real length.
    rows.checked_mul(dim)
        .and_then(|len| bytemuck::allocation::try_zeroed_vec(len).ok())
        .unwrap_or_else(|| vec![T::ZERO; guess_rows * dim])
}

/// Wraps the collected rows as a standard-layout array of shape `[rows, SHAPE...]`.
fn into_array<R: RowSpec + ?Sized>(
    collected: Collected<R::Dtype>,
) -> Batch<Array<R::Dtype, R::Dim>> {
    let mut shape = R::Dim::zeros(R::SHAPE.len() + 1);
    shape[0] = collected.rows;
    for (axis, &len) in R::SHAPE.iter().enumerate() {
        shape[axis + 1] = len;
    }
    let rows = Array::from_shape_vec(shape, collected.data).expect(
        "RowSpec invariants: DIM is the product of SHAPE and Dim has SHAPE.len() + 1 axes, \
         and the buffer holds exactly rows * DIM elements",
    );
    Batch {
        rows,
        skipped: collected.skipped,
    }
}

fn never<T>(failed: Failed<Infallible>) -> T {
    match failed.failure {}
}

fn item_error<R, Item>(failed: Failed<R::Failure>) -> ItemError<R::Error>
where
    R: RowFn<Item> + ?Sized,
{
    ItemError {
        index: failed.index,
        error: failed.failure.into(),
    }
}

/// Builds the `n × SHAPE` array of the rows of `items`, allocating it once when the length is
/// known (see the module docs for the siblings that fail or filter).
///
/// ```
/// use std::convert::Infallible;
/// use preallocate_runtime::{RowFn, RowSpec};
///
/// struct Square;
/// impl RowSpec for Square {
///     type Dtype = i64;
///     type Dim = ndarray::Ix2;
///     const DIM: usize = 2;
///     const SHAPE: &'static [usize] = &[2];
///     const OVERWRITES_ROW: bool = true;
/// }
/// impl RowFn<i64> for Square {
///     type Error = Infallible;
///     type Failure = Infallible;
///     fn write_row(&mut self, x: i64, row: &mut [i64]) -> Result<bool, Infallible> {
///         row.copy_from_slice(&[x, x * x]);
///         Ok(true)
///     }
/// }
///
/// // A filter has no exact length: the buffer grows, then shrinks to the 3 rows kept.
/// let x = preallocate_runtime::batch(&mut Square, (0..6).filter(|x| x % 2 == 1));
/// assert_eq!(x, ndarray::array![[1, 1], [3, 9], [5, 25]]);
/// ```
pub fn batch<R, I>(row_fn: &mut R, items: I) -> Array<R::Dtype, R::Dim>
where
    R: RowFn<I::Item, Failure = Infallible> + ?Sized,
    I: IntoIterator,
{
    collect_rows(row_fn, items, stop)
        .map_or_else(never, into_array::<R>)
        .rows
}

/// Like [`batch`], for a row function that drops items (`Option` rows): the kept rows, and the
/// indices of the dropped items.
///
/// ```
/// # use std::convert::Infallible;
/// # use preallocate_runtime::{RowFn, RowSpec};
/// struct Positive;
/// impl RowSpec for Positive {
///     type Dtype = f32;
///     type Dim = ndarray::Ix2;
///     const DIM: usize = 1;
///     const SHAPE: &'static [usize] = &[1];
///     const OVERWRITES_ROW: bool = true;
/// }
/// impl RowFn<f32> for Positive {
///     type Error = Infallible;
///     type Failure = Infallible;
///     fn write_row(&mut self, x: f32, row: &mut [f32]) -> Result<bool, Infallible> {
///         row[0] = x;
///         Ok(x > 0.0)
///     }
/// }
///
/// let kept = preallocate_runtime::batch_filtered(&mut Positive, [1.0, -2.0, 3.0]);
/// assert_eq!(kept.rows, ndarray::array![[1.0], [3.0]]);
/// assert_eq!(kept.skipped, vec![1]);
/// ```
pub fn batch_filtered<R, I>(row_fn: &mut R, items: I) -> Batch<Array<R::Dtype, R::Dim>>
where
    R: RowFn<I::Item, Failure = Infallible> + ?Sized,
    I: IntoIterator,
{
    collect_rows(row_fn, items, stop).map_or_else(never, into_array::<R>)
}

/// Like [`batch`], for a fallible row function: stops at the first item that fails.
///
/// # Errors
/// The first failing item, with its index.
///
/// ```
/// # use preallocate_runtime::{RowError, RowFn, RowSpec};
/// struct Parse;
/// impl RowSpec for Parse {
///     type Dtype = i32;
///     type Dim = ndarray::Ix2;
///     const DIM: usize = 1;
///     const SHAPE: &'static [usize] = &[1];
///     const OVERWRITES_ROW: bool = true;
/// }
/// impl RowFn<&str> for Parse {
///     type Error = std::num::ParseIntError;
///     type Failure = RowError<std::num::ParseIntError>;
///     fn write_row(&mut self, s: &str, row: &mut [i32]) -> Result<bool, Self::Failure> {
///         row[0] = s.parse().map_err(RowError::Row)?;
///         Ok(true)
///     }
/// }
///
/// assert_eq!(preallocate_runtime::try_batch(&mut Parse, ["1", "2"]).unwrap(), ndarray::array![[1], [2]]);
/// let err = preallocate_runtime::try_batch(&mut Parse, ["1", "x", "3"]).unwrap_err();
/// assert_eq!(err.index(), 1);
/// ```
pub fn try_batch<R, I>(row_fn: &mut R, items: I) -> Result<Rows<R>, ItemError<R::Error>>
where
    R: RowFn<I::Item> + ?Sized,
    I: IntoIterator,
{
    try_batch_filtered(row_fn, items).map(|batch| batch.rows)
}

/// Like [`batch_filtered`], for a fallible row function: stops at the first item that fails.
///
/// # Errors
/// The first failing item, with its index.
pub fn try_batch_filtered<R, I>(
    row_fn: &mut R,
    items: I,
) -> Result<Batch<Rows<R>>, ItemError<R::Error>>
where
    R: RowFn<I::Item> + ?Sized,
    I: IntoIterator,
{
    collect_rows(row_fn, items, stop)
        .map(into_array::<R>)
        .map_err(item_error::<R, I::Item>)
}

/// Like [`batch_filtered`], for a fallible row function whose failed items are dropped
/// (`on_error = "skip"`): their indices are in `skipped`, with those of filtered items.
pub fn batch_skipping<R, I>(row_fn: &mut R, items: I) -> Batch<Array<R::Dtype, R::Dim>>
where
    R: RowFn<I::Item> + ?Sized,
    I: IntoIterator,
{
    collect_rows(row_fn, items, skip).map_or_else(never, into_array::<R>)
}

/// Why writing into a caller's buffer stopped.
enum FillStop<F> {
    /// The buffer's rows do not have the row shape; nothing was written.
    Rejected {
        expected: &'static [usize],
        found: Vec<usize>,
    },
    Full {
        written: usize,
    },
    Item {
        written: usize,
        failed: Failed<F>,
    },
}

/// The rows written into a caller's buffer, and the indices of the items that produced none.
struct Filled {
    written: usize,
    skipped: Vec<usize>,
}

impl Filled {
    fn into_batch(self) -> Batch<usize> {
        Batch {
            rows: self.written,
            skipped: self.skipped,
        }
    }
}

/// Checks that the rows of `out` have the row function's shape.
fn check_shape<R: RowSpec + ?Sized, F>(shape: &[usize]) -> Result<(), FillStop<F>> {
    let found = shape.get(1..).unwrap_or_default();
    if found == R::SHAPE {
        return Ok(());
    }
    Err(FillStop::Rejected {
        expected: R::SHAPE,
        found: found.to_vec(),
    })
}

/// Writes the rows of `items` into `out`, row `written` after row `written`.
///
/// The layout is looked at once: a standard-layout buffer is written as one flat slice, any
/// other one row by row. A reused slot is zeroed before an in-place row function sees it. When
/// `out` is full, items go on being processed (into a scratch row) until one produces a row, so
/// that trailing items that are filtered out do not count as overflow.
fn fill_rows<R, I, F>(
    row_fn: &mut R,
    items: I,
    out: ArrayViewMut<'_, R::Dtype, R::Dim>,
    on_failure: impl Fn(R::Failure) -> Result<(), F>,
) -> Result<Filled, FillStop<F>>
where
    R: RowFn<I::Item> + ?Sized,
    I: IntoIterator,
{
    check_shape::<R, F>(out.shape())?;
    let capacity = out.shape().first().copied().unwrap_or(0);
    if out.is_standard_layout() {
        if let Some(data) = out.into_slice() {
            let slots = FlatSlots { data, dim: R::DIM };
            return fill_slots(row_fn, items, capacity, slots, on_failure);
        }
        unreachable!("a standard-layout view is one contiguous slice");
    }
    let slots = RowSlots {
        out,
        scratch: Vec::new(),
    };
    fill_slots(row_fn, items, capacity, slots, on_failure)
}

/// Where `fill` puts row `index`: `write` gets the slot and returns whether the row is kept.
trait Slots<T> {
    fn write<E>(
        &mut self,
        index: usize,
        write: impl FnOnce(&mut [T]) -> Result<bool, E>,
    ) -> Result<bool, E>;
}

/// A standard-layout buffer: row `i` is `data[i * dim..(i + 1) * dim]`.
struct FlatSlots<'a, T> {
    data: &'a mut [T],
    dim: usize,
}

impl<T> Slots<T> for FlatSlots<'_, T> {
    #[inline]
    fn write<E>(
        &mut self,
        index: usize,
        write: impl FnOnce(&mut [T]) -> Result<bool, E>,
    ) -> Result<bool, E> {
        write(&mut self.data[index * self.dim..(index + 1) * self.dim])
    }
}

/// Any other layout: rows that are contiguous are written in place, the others through one
/// scratch row copied in logical (row-major) order when kept.
struct RowSlots<'a, T, D> {
    out: ArrayViewMut<'a, T, D>,
    scratch: Vec<T>,
}

impl<T: Element, D: ndarray::RemoveAxis> Slots<T> for RowSlots<'_, T, D> {
    fn write<E>(
        &mut self,
        index: usize,
        write: impl FnOnce(&mut [T]) -> Result<bool, E>,
    ) -> Result<bool, E> {
        let mut row = self.out.index_axis_mut(Axis(0), index);
        if let Some(slot) = row.as_slice_mut() {
            return write(slot);
        }
        // Sized once; `write` zeroes it when the row function needs a zeroed row.
        self.scratch.resize(row.len(), T::ZERO);
        let result = write(&mut self.scratch);
        if matches!(result, Ok(true)) {
            for (dst, src) in row.iter_mut().zip(&self.scratch) {
                *dst = *src;
            }
        }
        result
    }
}

/// The loop of [`fill_rows`], once the layout is known.
fn fill_slots<R, I, F>(
    row_fn: &mut R,
    items: I,
    capacity: usize,
    mut slots: impl Slots<R::Dtype>,
    on_failure: impl Fn(R::Failure) -> Result<(), F>,
) -> Result<Filled, FillStop<F>>
where
    R: RowFn<I::Item> + ?Sized,
    I: IntoIterator,
{
    let mut written = 0usize;
    let mut skipped = Vec::new();
    let mut overflow: Vec<R::Dtype> = Vec::new();
    for (index, item) in items.into_iter().enumerate() {
        let result = if written == capacity {
            overflow.clear();
            overflow.resize(R::DIM, R::Dtype::ZERO);
            match row_fn.write_row(item, &mut overflow) {
                Ok(true) => return Err(FillStop::Full { written }),
                other => other,
            }
        } else {
            slots.write(written, |slot| {
                // Re-sliced to the constant `DIM`, so that a by-value row's copy is inlined
                // instead of a `memcpy` call of unknown length per row.
                let slot = &mut slot[..R::DIM];
                prepare_slot::<R>(slot);
                let result = row_fn.write_row(item, slot);
                if !matches!(result, Ok(true)) {
                    slot.fill(R::Dtype::ZERO);
                }
                result
            })
        };
        match result {
            Ok(true) => written += 1,
            Ok(false) => skipped.push(index),
            Err(failure) => match on_failure(failure) {
                Err(failure) => {
                    return Err(FillStop::Item {
                        written,
                        failed: Failed { index, failure },
                    })
                }
                Ok(()) => skipped.push(index),
            },
        }
    }
    Ok(Filled { written, skipped })
}

/// Zeroes a reused slot unless the row function is known to overwrite all of it.
#[inline]
fn prepare_slot<R: RowSpec + ?Sized>(slot: &mut [R::Dtype]) {
    if !R::OVERWRITES_ROW {
        slot.fill(R::Dtype::ZERO);
    }
}

fn fill_error<F, E>(stop: FillStop<F>, item: impl FnOnce(Failed<F>) -> ItemError<E>) -> Error<E> {
    match stop {
        FillStop::Rejected { expected, found } => match (expected, found.as_slice()) {
            (&[expected], &[found]) => Error::WidthMismatch { expected, found },
            _ => Error::ShapeMismatch {
                expected: expected.to_vec(),
                found,
            },
        },
        FillStop::Full { written } => Error::BufferFull { written },
        FillStop::Item { written, failed } => Error::Item {
            written,
            error: item(failed),
        },
    }
}

/// Writes the rows of `items` into the caller's buffer `out` and returns how many were written.
///
/// `out` may have any layout (a sub-view, a column-major array): rows that are contiguous in
/// memory are written in place, the others through one scratch row. The buffer is reused as it
/// is: an in-place row function still receives a zeroed row. Rows after the returned count are
/// left as they were (the first of them may be zeroed when an item produced no row).
///
/// # Errors
/// - [`Error::WidthMismatch`] (or [`Error::ShapeMismatch`] for multi-axis rows) when the rows of
///   `out` do not have the row function's shape; nothing is written.
/// - [`Error::BufferFull`] when the items outnumber the rows of `out`: every row is written, and
///   the error carries that count. The length of `items` is not checked up front, so an input of
///   unknown length works.
///
/// ```
/// # use std::convert::Infallible;
/// use preallocate_runtime::{Error, RowFn, RowSpec};
///
/// struct Pair;
/// impl RowSpec for Pair {
///     type Dtype = u16;
///     type Dim = ndarray::Ix2;
///     const DIM: usize = 2;
///     const SHAPE: &'static [usize] = &[2];
///     const OVERWRITES_ROW: bool = true;
/// }
/// impl RowFn<u16> for Pair {
///     type Error = Infallible;
///     type Failure = Infallible;
///     fn write_row(&mut self, x: u16, row: &mut [u16]) -> Result<bool, Infallible> {
///         row.copy_from_slice(&[x, x + 1]);
///         Ok(true)
///     }
/// }
///
/// let mut out = ndarray::Array2::<u16>::zeros((3, 2));
/// assert_eq!(preallocate_runtime::fill(&mut Pair, [10, 20], out.view_mut()), Ok(2));
/// assert_eq!(out, ndarray::array![[10, 11], [20, 21], [0, 0]]);
///
/// let full = preallocate_runtime::fill(&mut Pair, [1, 2, 3, 4], out.view_mut());
/// assert_eq!(full, Err(Error::BufferFull { written: 3 }));
/// ```
pub fn fill<R, I>(
    row_fn: &mut R,
    items: I,
    out: ArrayViewMut<'_, R::Dtype, R::Dim>,
) -> Result<usize, Error>
where
    R: RowFn<I::Item, Failure = Infallible> + ?Sized,
    I: IntoIterator,
{
    fill_filtered(row_fn, items, out).map(|filled| filled.rows)
}

/// Like [`fill`], for a row function that drops items (`Option` rows): the number of rows
/// written, and the indices of the dropped items.
///
/// # Errors
/// As [`fill`].
pub fn fill_filtered<R, I>(
    row_fn: &mut R,
    items: I,
    out: ArrayViewMut<'_, R::Dtype, R::Dim>,
) -> Result<Batch<usize>, Error>
where
    R: RowFn<I::Item, Failure = Infallible> + ?Sized,
    I: IntoIterator,
{
    fill_rows(row_fn, items, out, stop)
        .map(Filled::into_batch)
        .map_err(|stopped| fill_error(stopped, never))
}

/// Like [`fill`], for a fallible row function: stops at the first item that fails.
///
/// # Errors
/// As [`fill`], and [`Error::Item`] with the failing item and the rows written before it.
pub fn try_fill<R, I>(
    row_fn: &mut R,
    items: I,
    out: ArrayViewMut<'_, R::Dtype, R::Dim>,
) -> Result<usize, Error<R::Error>>
where
    R: RowFn<I::Item> + ?Sized,
    I: IntoIterator,
{
    try_fill_filtered(row_fn, items, out).map(|filled| filled.rows)
}

/// Like [`fill_filtered`], for a fallible row function: stops at the first item that fails.
///
/// # Errors
/// As [`try_fill`].
pub fn try_fill_filtered<R, I>(
    row_fn: &mut R,
    items: I,
    out: ArrayViewMut<'_, R::Dtype, R::Dim>,
) -> Result<Batch<usize>, Error<R::Error>>
where
    R: RowFn<I::Item> + ?Sized,
    I: IntoIterator,
{
    fill_rows(row_fn, items, out, stop)
        .map(Filled::into_batch)
        .map_err(|stopped| fill_error(stopped, item_error::<R, I::Item>))
}

/// Like [`fill_filtered`], for a fallible row function whose failed items are dropped
/// (`on_error = "skip"`).
///
/// # Errors
/// As [`fill`].
pub fn fill_skipping<R, I>(
    row_fn: &mut R,
    items: I,
    out: ArrayViewMut<'_, R::Dtype, R::Dim>,
) -> Result<Batch<usize>, Error<R::Error>>
where
    R: RowFn<I::Item> + ?Sized,
    I: IntoIterator,
{
    fill_rows(row_fn, items, out, skip)
        .map(Filled::into_batch)
        .map_err(|stopped| fill_error(stopped, never))
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_policies;
