//! The engine: one per-slot loop ([`run`]) that every entry point drives.
//!
//! The loop is generic over the row function's [`Policy`] (what a failure or a dropped item
//! does) and over a [`Target`] (where the rows go). It asks the target for free slots, hands
//! each to the row function, and keeps, drops (zeroing the slot for the next item) or stops,
//! by policy. The targets:
//!
//! | target | used by | slots |
//! |---|---|---|
//! | [`Grow`] | [`batch`] | one new buffer, allocated once when the length is known, else grown |
//! | [`Fill`] | [`fill`] | the caller's buffer: in place when row-major, else through a block of rows copied in at once |
//! | [`Chunks`] | [`Pipeline`](crate::Pipeline) | one reused chunk buffer, handed to a consumer when full |
//!
//! What the entry points return is the policy's to decide ([`Policy::batch`],
//! [`Policy::fill`]), so `batch` and `fill` are one function each for every kind of row
//! function.

use core::convert::Infallible;

use ndarray::{Array, ArrayView2, ArrayViewMut, Axis, Dimension, Slice};

use crate::element::Element;
use crate::policy::{Failed, FillStop, Policy};
use crate::row::{Batch, RowFn, RowSpec};

/// Smallest growth step, in bytes, when the input's length is not known up front: small enough
/// not to matter for a short input, large enough that a long one does not reallocate often.
const MIN_GROWTH_BYTES: usize = 64 * 1024;

/// The block through which rows reach a strided caller's buffer: small enough to stay in cache
/// between its fill and its copy.
const BLOCK_BYTES: usize = 16 * 1024;

/// What stops a run of `R` over `Item`.
pub type Fatal<R, Item> = <<R as RowSpec>::Policy as Policy>::Fatal<<R as RowFn<Item>>::Error>;

/// Why [`run`] stopped early.
pub enum Stop<F, S> {
    /// An item failed and the policy stops at failures; the rows before it are kept.
    Item(Failed<F>),
    /// The target could not take more rows (a full buffer, a failed sink).
    Target(S),
}

/// Free slots for the next rows: `rows` slots of `DIM` elements each, in `data`.
pub(crate) struct Slots<'a, T> {
    data: &'a mut [T],
    rows: usize,
}

/// Where the loop writes rows.
pub(crate) trait Target<T> {
    /// Why the target takes no more rows.
    type Stop;
    /// Whether the slots it hands out are zero already (so an in-place row needs no zeroing).
    const ZEROED: bool;
    /// At least one free slot, right after the last kept row.
    fn free(&mut self, dim: usize) -> Result<Slots<'_, T>, Self::Stop>;
    /// The first `rows` slots of the last `free` hold kept rows; `last` is the input index of
    /// the last item taken. On `Err`, every row kept before is where it belongs.
    fn keep(&mut self, rows: usize, last: usize) -> Result<(), Self::Stop>;
    /// Puts every kept row where it belongs (the end of a run, or before reporting a failure).
    fn flush(&mut self) -> Result<(), Self::Stop>;
}

/// What [`run`] returns: the input indices of the items that gave no row, or why it stopped.
pub type Run<F, S> = Result<Vec<usize>, Stop<F, S>>;

/// The loop: the rows of `items` into `target`, by `R`'s policy. Returns the input indices of
/// the items that gave no row.
pub(crate) fn run<R, I, T>(
    row_fn: &mut R,
    items: I,
    target: &mut T,
) -> Run<Fatal<R, I::Item>, T::Stop>
where
    R: RowFn<I::Item> + ?Sized,
    I: IntoIterator,
    T: Target<R::Dtype>,
{
    let mut items = items.into_iter().enumerate();
    let mut skipped = Vec::new();
    loop {
        let slots = target.free(R::DIM).map_err(Stop::Target)?;
        let step = if R::DIM == 0 {
            let empty = core::iter::repeat_with(<&mut [R::Dtype]>::default).take(slots.rows);
            write_slots(row_fn, &mut items, empty, T::ZEROED, &mut skipped)
        } else {
            // Every target hands out exactly `rows * DIM` elements.
            let rows = slots.data.chunks_exact_mut(R::DIM);
            write_slots(row_fn, &mut items, rows, T::ZEROED, &mut skipped)
        };
        target.keep(step.kept, step.last).map_err(Stop::Target)?;
        match step.end {
            End::SlotsUsed => {}
            End::Exhausted => {
                target.flush().map_err(Stop::Target)?;
                return Ok(skipped);
            }
            End::Failed(failed) => {
                target.flush().map_err(Stop::Target)?;
                return Err(Stop::Item(failed));
            }
        }
    }
}

/// How [`write_slots`] ended.
enum End<F> {
    /// Every slot holds a kept row.
    SlotsUsed,
    /// The input ended (it is not asked again: it may not be fused).
    Exhausted,
    /// An item failed, and the policy stops.
    Failed(Failed<F>),
}

struct Step<F> {
    kept: usize,
    last: usize,
    end: End<F>,
}

/// The per-slot protocol, the one place it is written: each slot takes items until one gives
/// a row to keep; a dropped or failed item's slot is zeroed for the next. A slot is taken before
/// an item, so no item is lost when the slots run out.
#[inline(always)]
fn write_slots<'s, R, Item, S>(
    row_fn: &mut R,
    items: &mut impl Iterator<Item = (usize, Item)>,
    slots: S,
    zeroed: bool,
    skipped: &mut Vec<usize>,
) -> Step<Fatal<R, Item>>
where
    R: RowFn<Item> + ?Sized,
    R::Dtype: 's,
    S: Iterator<Item = &'s mut [R::Dtype]>,
{
    let mut kept = 0;
    let mut last = 0;
    for slot in slots {
        // Re-sliced to the constant `DIM`, so that a by-value row's copy is inlined instead of
        // a `memcpy` call of unknown length per row.
        let slot = &mut slot[..R::DIM];
        loop {
            let Some((index, item)) = items.next() else {
                return Step {
                    kept,
                    last,
                    end: End::Exhausted,
                };
            };
            last = index;
            if !R::OVERWRITES_ROW && !zeroed {
                slot.fill(R::Dtype::ZERO);
            }
            match row_fn.write_row(item, slot) {
                Ok(true) => {
                    kept += 1;
                    break;
                }
                Ok(false) => {
                    slot.fill(R::Dtype::ZERO);
                    skipped.push(index);
                }
                Err(failure) => {
                    slot.fill(R::Dtype::ZERO);
                    match R::Policy::on_failure(failure) {
                        Ok(()) => skipped.push(index),
                        Err(failure) => {
                            return Step {
                                kept,
                                last,
                                end: End::Failed(Failed { index, failure }),
                            }
                        }
                    }
                }
            }
        }
    }
    Step {
        kept,
        last,
        end: End::SlotsUsed,
    }
}

/// A new buffer of rows: allocated once, zeroed by the allocator, when the input's `size_hint`
/// is exact (the kernel hands out zero pages lazily, so this costs no pass over memory);
/// otherwise grown in steps (`Vec` doubles its capacity, so growth is amortized) and shrunk to
/// fit at the end. A `size_hint` that lies gives the same rows as an honest one: extra
/// allocated rows are dropped, extra items grow the buffer, and a claimed length too large to
/// allocate falls back to growth.
///
/// Invariant: every slot at or after `rows` is zero.
pub(crate) struct Grow<T> {
    data: Vec<T>,
    rows: usize,
    /// The slot handed out when `data` is full: the buffer grows only once an item proves
    /// there is one more row, so that an exact length is never followed by a reallocation.
    spare: Vec<T>,
    spare_out: bool,
}

impl<T: Element> Grow<T> {
    pub(crate) fn new(size_hint: (usize, Option<usize>), dim: usize) -> Self {
        let (lower, upper) = size_hint;
        let guess_rows = growth_rows::<T>(dim);
        let rows = if upper == Some(lower) {
            lower
        } else {
            lower.max(guess_rows)
        };
        // A hint too large to allocate (a lying iterator, or a bound like `usize::MAX`) is not
        // trusted: start from the guess and let growth find the real length.
        let data = rows
            .checked_mul(dim)
            .and_then(|len| bytemuck::allocation::try_zeroed_vec(len).ok())
            .unwrap_or_else(|| vec![T::ZERO; guess_rows * dim]);
        Grow {
            data,
            rows: 0,
            spare: Vec::new(),
            spare_out: false,
        }
    }

    /// The array of shape `[rows, SHAPE...]` holding the kept rows, in standard layout.
    pub(crate) fn into_array<R: RowSpec<Dtype = T> + ?Sized>(mut self) -> Array<T, R::Dim> {
        self.data.truncate(self.rows * R::DIM);
        self.data.shrink_to_fit();
        Array::from_shape_vec(batch_shape::<R>(self.rows), self.data).expect(
            "RowSpec invariants: DIM is the product of SHAPE and Dim has SHAPE.len() + 1 axes, \
             and the buffer holds exactly rows * DIM elements",
        )
    }
}

/// The shape `[rows, SHAPE...]` of a batch of `R`'s rows.
pub(crate) fn batch_shape<R: RowSpec + ?Sized>(rows: usize) -> R::Dim {
    let mut shape = R::Dim::zeros(R::SHAPE.len() + 1);
    shape[0] = rows;
    for (axis, &len) in R::SHAPE.iter().enumerate() {
        shape[axis + 1] = len;
    }
    shape
}

/// Rows per growth step.
fn growth_rows<T>(dim: usize) -> usize {
    (MIN_GROWTH_BYTES / (dim * size_of::<T>()).max(1)).max(1)
}

impl<T: Element> Target<T> for Grow<T> {
    type Stop = Infallible;
    const ZEROED: bool = true;

    fn free(&mut self, dim: usize) -> Result<Slots<'_, T>, Infallible> {
        if dim == 0 {
            return Ok(Slots {
                data: &mut [],
                rows: usize::MAX - self.rows,
            });
        }
        let used = self.rows * dim;
        self.spare_out = used == self.data.len();
        if self.spare_out {
            self.spare.resize(dim, T::ZERO);
            return Ok(Slots {
                data: &mut self.spare,
                rows: 1,
            });
        }
        Ok(Slots {
            rows: (self.data.len() - used) / dim,
            data: &mut self.data[used..],
        })
    }

    fn keep(&mut self, rows: usize, _: usize) -> Result<(), Infallible> {
        if self.spare_out && rows > 0 {
            // More items than the buffer holds (a lying or unknown length): grow by a step
            // (`Vec` doubles its capacity, so growth is amortized) and move the row in.
            let used = self.data.len();
            let dim = self.spare.len();
            self.data
                .resize(used + growth_rows::<T>(dim) * dim, T::ZERO);
            self.data[used..used + dim].copy_from_slice(&self.spare);
            self.spare.fill(T::ZERO);
        }
        self.rows += rows;
        Ok(())
    }

    fn flush(&mut self) -> Result<(), Infallible> {
        Ok(())
    }
}

/// The buffer `batch` found full: `written` rows, and item `index` gave one more.
pub(crate) struct Full {
    pub(crate) written: usize,
    pub(crate) index: usize,
}

/// A caller's buffer of `capacity` rows. Row-major buffers are written in place; any other
/// layout (a column-major array, a strided view) gets its rows through a small row-major block,
/// copied into the buffer a block at a time. When the buffer is full, items go on being run
/// (into a scratch row) until one gives a row, so that trailing items that are dropped do not
/// count as overflow.
pub(crate) struct Fill<'a, T, D> {
    out: ArrayViewMut<'a, T, D>,
    capacity: usize,
    /// Rows in the caller's buffer.
    written: usize,
    /// Rows in the block, not yet copied (strided buffers only).
    pending: usize,
    /// Allocated at the first use: row-major buffers need none.
    block: Vec<T>,
    block_rows: usize,
    /// The row past the end, for the item that shows whether the buffer overflows.
    scratch: Vec<T>,
    /// Where the slots of the last `free` were.
    last_free: Region,
    /// Copies element `p` of each block row into a contiguous lane
    /// ([`copy_lane`] for the row function's `DIM`, a constant there).
    copy_lane: fn(&[T], usize, &mut [T]),
}

/// Element `position` of each `DIM`-element row of `block` into `lane`: with `DIM` known at
/// compile time, the rows are fixed-size chunks and the copy needs no bounds check per element.
pub(crate) fn copy_lane<R: RowSpec + ?Sized>(
    block: &[R::Dtype],
    position: usize,
    lane: &mut [R::Dtype],
) {
    if R::DIM == 0 || position >= R::DIM {
        return;
    }
    for (dest, row) in lane.iter_mut().zip(block.chunks_exact(R::DIM)) {
        *dest = row[position];
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Region {
    InPlace,
    Block,
    Scratch,
}

impl<'a, T: Element, D: Dimension> Fill<'a, T, D> {
    pub(crate) fn new(
        out: ArrayViewMut<'a, T, D>,
        dim: usize,
        copy_lane: fn(&[T], usize, &mut [T]),
    ) -> Self {
        let capacity = out.shape().first().copied().unwrap_or(0);
        let block_rows = (BLOCK_BYTES / (dim * size_of::<T>()).max(1)).clamp(1, capacity.max(1));
        Fill {
            out,
            capacity,
            written: 0,
            pending: 0,
            block: Vec::new(),
            block_rows,
            scratch: Vec::new(),
            last_free: Region::InPlace,
            copy_lane,
        }
    }

    /// Rows written into the caller's buffer (after a flush, all of them).
    pub(crate) fn written(&self) -> usize {
        self.written + self.pending
    }
}

impl<T: Element, D: Dimension> Target<T> for Fill<'_, T, D> {
    type Stop = Full;
    const ZEROED: bool = false;

    fn free(&mut self, dim: usize) -> Result<Slots<'_, T>, Full> {
        if self.pending == self.block_rows {
            self.flush()?;
        }
        let room = self.capacity - self.written - self.pending;
        if room == 0 {
            self.last_free = Region::Scratch;
            self.scratch.clear();
            self.scratch.resize(dim, T::ZERO);
            return Ok(Slots {
                data: &mut self.scratch,
                rows: 1,
            });
        }
        if self.pending == 0 {
            if let Some(data) = self.out.as_slice_mut() {
                self.last_free = Region::InPlace;
                return Ok(Slots {
                    data: &mut data[self.written * dim..],
                    rows: room,
                });
            }
        }
        self.last_free = Region::Block;
        if self.block.is_empty() {
            self.block = vec![T::ZERO; self.block_rows * dim];
        }
        let rows = (self.block_rows - self.pending).min(room);
        Ok(Slots {
            data: &mut self.block[self.pending * dim..(self.pending + rows) * dim],
            rows,
        })
    }

    fn keep(&mut self, rows: usize, last: usize) -> Result<(), Full> {
        match self.last_free {
            Region::InPlace => self.written += rows,
            Region::Block => self.pending += rows,
            Region::Scratch if rows == 0 => {}
            Region::Scratch => {
                self.flush()?;
                return Err(Full {
                    written: self.written,
                    index: last,
                });
            }
        }
        Ok(())
    }

    /// Copies the block's rows into the caller's buffer.
    fn flush(&mut self) -> Result<(), Full> {
        if self.pending > 0 {
            let (start, end) = (self.written, self.written + self.pending);
            let mut dest = self.out.slice_axis_mut(Axis(0), Slice::from(start..end));
            let dim = self.block.len() / self.block_rows;
            // Lane by lane along the row axis: in a column-major buffer each lane is contiguous,
            // and the block is small enough to stay in cache while it is read across. Lanes come
            // in row-major order of the row's axes, which is the order of a row's elements.
            let block = &self.block[..self.pending * dim];
            for (position, mut lane) in dest.lanes_mut(Axis(0)).into_iter().enumerate() {
                match lane.as_slice_mut() {
                    Some(lane) => (self.copy_lane)(block, position, lane),
                    None => {
                        let rows = block[position..].iter().step_by(dim.max(1));
                        lane.iter_mut().zip(rows).for_each(|(d, s)| *d = *s);
                    }
                }
            }
            self.written = end;
            self.pending = 0;
        }
        Ok(())
    }
}

/// One reused chunk buffer of `chunk_rows` rows: each full chunk (and the last, shorter one)
/// goes to `consume` as an `n × DIM` view.
pub(crate) struct Chunks<T, C> {
    buffer: Vec<T>,
    chunk_rows: usize,
    dim: usize,
    filled: usize,
    consume: C,
}

impl<T: Element, C> Chunks<T, C> {
    /// Allocated once, zeroed by the allocator, reused for every chunk.
    pub(crate) fn new(chunk_rows: usize, dim: usize, consume: C) -> Self {
        let buffer = bytemuck::allocation::try_zeroed_vec::<T>(chunk_rows * dim)
            .unwrap_or_else(|()| vec![T::ZERO; chunk_rows * dim]);
        Chunks {
            buffer,
            chunk_rows,
            dim,
            filled: 0,
            consume,
        }
    }
}

impl<T: Element, C, E> Target<T> for Chunks<T, C>
where
    C: FnMut(ArrayView2<'_, T>) -> Result<(), E>,
{
    type Stop = E;
    const ZEROED: bool = false;

    fn free(&mut self, dim: usize) -> Result<Slots<'_, T>, E> {
        if self.filled == self.chunk_rows {
            self.flush()?;
        }
        Ok(Slots {
            rows: self.chunk_rows - self.filled,
            data: &mut self.buffer[self.filled * dim..],
        })
    }

    fn keep(&mut self, rows: usize, _: usize) -> Result<(), E> {
        self.filled += rows;
        Ok(())
    }

    fn flush(&mut self) -> Result<(), E> {
        if self.filled > 0 {
            let rows = self.filled;
            self.filled = 0;
            let chunk = ArrayView2::from_shape((rows, self.dim), &self.buffer[..rows * self.dim])
                .expect("the chunk buffer holds `filled` rows of DIM elements");
            (self.consume)(chunk)?;
        }
        Ok(())
    }
}

/// Builds the `n × SHAPE` array of the rows of `items`, allocating it once when the length is
/// known; what it returns follows the row function's [`Policy`]: the array, a [`Batch`] with
/// the dropped items' indices, or a `Result` that stops at the first failure.
///
/// ```
/// use std::convert::Infallible;
/// use preallocate_runtime::{policy, RowFn, RowSpec};
///
/// struct Square;
/// impl RowSpec for Square {
///     type Dtype = i64;
///     type Dim = ndarray::Ix2;
///     type Policy = policy::Plain;
///     const DIM: usize = 2;
///     const SHAPE: &'static [usize] = &[2];
///     const OVERWRITES_ROW: bool = true;
/// }
/// impl RowFn<i64> for Square {
///     type Error = Infallible;
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
///
/// A fallible row function stops at the first failure and names the item:
///
/// ```
/// use preallocate_runtime::{policy, RowError, RowFn, RowSpec};
///
/// struct Parse;
/// impl RowSpec for Parse {
///     type Dtype = i32;
///     type Dim = ndarray::Ix2;
///     type Policy = policy::Fallible;
///     const DIM: usize = 1;
///     const SHAPE: &'static [usize] = &[1];
///     const OVERWRITES_ROW: bool = true;
/// }
/// impl RowFn<&str> for Parse {
///     type Error = std::num::ParseIntError;
///     fn write_row(&mut self, s: &str, row: &mut [i32]) -> Result<bool, RowError<Self::Error>> {
///         row[0] = s.parse().map_err(RowError::Row)?;
///         Ok(true)
///     }
/// }
///
/// assert_eq!(preallocate_runtime::batch(&mut Parse, ["1", "2"])?, ndarray::array![[1], [2]]);
/// let err = preallocate_runtime::batch(&mut Parse, ["1", "x", "3"]).unwrap_err();
/// assert_eq!(err.index(), 1);
/// # Ok::<(), preallocate_runtime::ItemError<std::num::ParseIntError>>(())
/// ```
// The return type is the policy's (see the `policy` module's table), spelled out so that it
// normalizes to the concrete type at every call site.
#[allow(clippy::type_complexity)]
pub fn batch<R, I>(
    row_fn: &mut R,
    items: I,
) -> <R::Policy as Policy>::Batch<Array<R::Dtype, R::Dim>, <R as RowFn<I::Item>>::Error>
where
    R: RowFn<I::Item> + ?Sized,
    I: IntoIterator,
{
    let items = items.into_iter();
    let mut target = Grow::new(items.size_hint(), R::DIM);
    let run = run(row_fn, items, &mut target).map_err(|stop| match stop {
        Stop::Item(failed) => failed,
        Stop::Target(never) => match never {},
    });
    R::Policy::batch(run.map(|skipped| Batch {
        rows: target.into_array::<R>(),
        skipped,
    }))
}

/// Writes the rows of `items` into the caller's buffer `out`; what it returns follows the row
/// function's [`Policy`]: the number of rows written, or a [`Batch`] of that count and the
/// dropped items' indices.
///
/// `out` may have any layout (a sub-view, a column-major array): a row-major buffer is written
/// in place, any other through a small block of rows copied in at once. The buffer is reused as
/// it is: an in-place row function still receives a zeroed row. Rows after the returned count
/// are left as they were (the first of them may be zeroed when an item produced no row).
///
/// # Errors
/// - [`Error::WidthMismatch`](crate::Error::WidthMismatch) (or
///   [`Error::ShapeMismatch`](crate::Error::ShapeMismatch) for multi-axis rows) when the rows of
///   `out` do not have the row function's shape; nothing is written.
/// - [`Error::BufferFull`](crate::Error::BufferFull) when the items outnumber the rows of
///   `out`: every row is written, and the error carries that count and the index of the item
///   that did not fit. The length of `items` is not checked up front, so an input of unknown
///   length works.
/// - [`Error::Item`](crate::Error::Item) when an item fails and the policy stops: the rows
///   before it are written.
///
/// ```
/// # use std::convert::Infallible;
/// use preallocate_runtime::{policy, Error, RowFn, RowSpec};
///
/// struct Pair;
/// impl RowSpec for Pair {
///     type Dtype = u16;
///     type Dim = ndarray::Ix2;
///     type Policy = policy::Plain;
///     const DIM: usize = 2;
///     const SHAPE: &'static [usize] = &[2];
///     const OVERWRITES_ROW: bool = true;
/// }
/// impl RowFn<u16> for Pair {
///     type Error = Infallible;
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
/// assert_eq!(full, Err(Error::BufferFull { written: 3, index: 3 }));
/// ```
pub fn fill<R, I>(
    row_fn: &mut R,
    items: I,
    out: ArrayViewMut<'_, R::Dtype, R::Dim>,
) -> <R::Policy as Policy>::Fill<<R as RowFn<I::Item>>::Error>
where
    R: RowFn<I::Item> + ?Sized,
    I: IntoIterator,
{
    let found = out.shape().get(1..).unwrap_or_default();
    if found != R::SHAPE {
        return R::Policy::fill(Err(FillStop::Rejected {
            expected: R::SHAPE,
            found: found.to_vec(),
        }));
    }
    let mut target = Fill::new(out, R::DIM, copy_lane::<R>);
    let run = run(row_fn, items, &mut target);
    let written = target.written();
    R::Policy::fill(match run {
        Ok(skipped) => Ok(Batch {
            rows: written,
            skipped,
        }),
        Err(Stop::Item(failed)) => Err(FillStop::Item { written, failed }),
        Err(Stop::Target(Full { written, index })) => Err(FillStop::Full { written, index }),
    })
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_policies;
