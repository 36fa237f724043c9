//! The loops: every entry point that `#[preallocate]` emits delegates to one of these.

use ndarray::{Array2, ArrayViewMut2};

use crate::{Element, Error, RowFn, RowSpec};

/// Smallest growth step, in bytes, when the input's length is not known up front: small enough
/// not to matter for a short input, large enough that a long one does not reallocate often.
const MIN_GROWTH_BYTES: usize = 64 * 1024;

/// Builds the `n × DIM` array of the rows of `items`, allocating it once when the length is known.
///
/// When the iterator's `size_hint` is exact the output is allocated once, zeroed by the allocator
/// (the kernel hands out zero pages lazily, so this costs no pass over memory), and every row is
/// written in place. Otherwise the buffer grows geometrically and is shrunk to fit at the end;
/// no list of rows is ever built. A `size_hint` that lies gives the same array as an honest one:
/// extra allocated rows are dropped, extra items grow the buffer, and a claimed length too large
/// to allocate falls back to growth.
///
/// ```
/// use preallocate_runtime::{RowFn, RowSpec};
///
/// struct Square;
/// impl RowSpec for Square {
///     type Dtype = i64;
///     const DIM: usize = 2;
///     const OVERWRITES_ROW: bool = true;
/// }
/// impl RowFn<i64> for Square {
///     fn write_row(&self, x: i64, row: &mut [i64]) {
///         row.copy_from_slice(&[x, x * x]);
///     }
/// }
///
/// // A filter has no exact length: the buffer grows, then shrinks to the 3 rows kept.
/// let x = preallocate_runtime::batch(&Square, (0..6).filter(|x| x % 2 == 1));
/// assert_eq!(x, ndarray::array![[1, 1], [3, 9], [5, 25]]);
/// ```
pub fn batch<R, I>(row_fn: &R, items: I) -> Array2<R::Dtype>
where
    R: RowFn<I::Item> + ?Sized,
    I: IntoIterator,
{
    let dim = R::DIM;
    let mut items = items.into_iter();
    if dim == 0 {
        let rows = items.map(|item| row_fn.write_row(item, &mut [])).count();
        return into_rows(Vec::new(), rows, 0);
    }

    let mut data = initial_buffer::<R::Dtype>(items.size_hint(), dim);
    let mut rows = 0usize;
    // `zip` asks the slots first: when they run out, no item is taken and lost.
    for (slot, item) in data.chunks_exact_mut(dim).zip(&mut items) {
        row_fn.write_row(item, slot);
        rows += 1;
    }
    if rows * dim == data.len() {
        // Every slot is used, so the input may hold more than its hint promised (or than the
        // first guess of an unknown length): grow geometrically (`Vec` doubles its capacity).
        for item in items {
            let start = data.len();
            data.resize(start + dim, R::Dtype::ZERO);
            row_fn.write_row(item, &mut data[start..]);
            rows += 1;
        }
    }
    data.truncate(rows * dim);
    data.shrink_to_fit();
    into_rows(data, rows, dim)
}

/// Writes the rows of `items` into the caller's buffer `out` and returns how many were written.
///
/// `out` may have any layout (a sub-view, a column-major array): rows that are contiguous in
/// memory are written in place, the others through one scratch row. The buffer is reused as it
/// is: an in-place row function still receives a zeroed row. Rows after the returned count are
/// left untouched.
///
/// # Errors
/// - [`Error::WidthMismatch`] when `out` does not have [`RowSpec::DIM`] columns; nothing is
///   written.
/// - [`Error::BufferFull`] when the items outnumber the rows of `out`: every row is written, and
///   the error carries that count. The length of `items` is not checked up front, so an input of
///   unknown length works.
///
/// ```
/// use preallocate_runtime::{Error, RowFn, RowSpec};
///
/// struct Pair;
/// impl RowSpec for Pair {
///     type Dtype = u16;
///     const DIM: usize = 2;
///     const OVERWRITES_ROW: bool = true;
/// }
/// impl RowFn<u16> for Pair {
///     fn write_row(&self, x: u16, row: &mut [u16]) {
///         row.copy_from_slice(&[x, x + 1]);
///     }
/// }
///
/// let mut out = ndarray::Array2::<u16>::zeros((3, 2));
/// assert_eq!(preallocate_runtime::fill(&Pair, [10, 20], out.view_mut()), Ok(2));
/// assert_eq!(out, ndarray::array![[10, 11], [20, 21], [0, 0]]);
///
/// let full = preallocate_runtime::fill(&Pair, [1, 2, 3, 4], out.view_mut());
/// assert_eq!(full, Err(Error::BufferFull { written: 3 }));
/// ```
pub fn fill<R, I>(
    row_fn: &R,
    items: I,
    mut out: ArrayViewMut2<'_, R::Dtype>,
) -> Result<usize, Error>
where
    R: RowFn<I::Item> + ?Sized,
    I: IntoIterator,
{
    let dim = R::DIM;
    if out.ncols() != dim {
        return Err(Error::WidthMismatch {
            expected: dim,
            found: out.ncols(),
        });
    }
    let capacity = out.nrows();
    let mut items = items.into_iter();
    let mut written = 0usize;

    if dim == 0 {
        for item in (&mut items).take(capacity) {
            row_fn.write_row(item, &mut []);
            written += 1;
        }
    } else if let Some(flat) = out.as_slice_mut() {
        for (slot, item) in flat.chunks_exact_mut(dim).zip(&mut items) {
            prepare_slot::<R>(slot);
            row_fn.write_row(item, slot);
            written += 1;
        }
    } else {
        let mut scratch: Vec<R::Dtype> = Vec::new();
        for (mut out_row, item) in out.rows_mut().into_iter().zip(&mut items) {
            if let Some(slot) = out_row.as_slice_mut() {
                prepare_slot::<R>(slot);
                row_fn.write_row(item, slot);
            } else {
                scratch.clear();
                scratch.resize(dim, R::Dtype::ZERO);
                row_fn.write_row(item, &mut scratch);
                for (dst, src) in out_row.iter_mut().zip(&scratch) {
                    *dst = *src;
                }
            }
            written += 1;
        }
    }

    if written == capacity && items.next().is_some() {
        return Err(Error::BufferFull { written });
    }
    Ok(written)
}

/// Zeroes a reused slot unless the row function is known to overwrite all of it.
#[inline(always)]
fn prepare_slot<R: RowSpec + ?Sized>(slot: &mut [R::Dtype]) {
    if !R::OVERWRITES_ROW {
        slot.fill(R::Dtype::ZERO);
    }
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

/// Wraps a buffer of exactly `rows * dim` elements as a row-major `rows × dim` array.
fn into_rows<T: Element>(data: Vec<T>, rows: usize, dim: usize) -> Array2<T> {
    debug_assert_eq!(data.len(), rows * dim);
    Array2::from_shape_vec((rows, dim), data)
        .expect("the batch buffer holds exactly rows * dim elements, written row by row")
}

#[cfg(test)]
mod tests;
