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

use ndarray::{Array, ArrayViewMut};

use crate::error::Error;
use crate::layout::{copy_lane, Col, ColShape, Full, Layout, Target};
use crate::policy::Batch;
use crate::policy::{Failed, FillStop, Policy};
use crate::row::{RowFn, RowSpec};
use crate::rows::{Rows, RowsFn, RowsSpec};

/// What stops a run of `W` over `Item`.
pub type Fatal<W, Item> = <<W as Outputs>::Policy as Policy>::Fatal<<W as WriteRows<Item>>::Error>;

/// Why [`run`] stopped early.
pub enum Stop<F, S> {
    /// An item failed and the policy stops at failures; the rows before it are kept.
    Item(Failed<F>),
    /// The target could not take more rows (a full buffer, a failed sink).
    Target(S),
}

/// What a row function writes, whatever its items: one output or several, and its policy.
///
/// Implemented for every [`RowSpec`] (one output, [`Col`]) and for the row functions of a
/// `#[derive(Rows)]` struct (several outputs). Not a stable API.
pub trait Outputs {
    /// Where the rows go: one output or several.
    type Layout: Layout;
    /// What happens to items that fail or give no row.
    type Policy: Policy;
    /// Whether every element of every output's slot is overwritten.
    const OVERWRITES_ROW: bool;
    /// What `batch` builds: one array, or a struct of arrays.
    type Arrays;
    /// What `fill` takes: one array view, or a struct of views.
    type Views<'a>;
    /// What a `for_each_chunk` closure gets: one view, or a struct of views.
    type Chunk<'a>;
    /// One report per output: `T` for one output, `Vec<T>` (in the order of the fields) for
    /// several.
    type Each<T>;
    /// The outputs' names: `None` for one output, which the call names.
    const NAMES: Option<&'static [&'static str]>;
    /// The row shapes.
    fn shape() -> <Self::Layout as Layout>::Shape;
    /// The reports of the outputs, one per output in order, as the caller gets them.
    fn each<T>(reports: Vec<T>) -> Self::Each<T>;
    /// The arrays, as the caller sees them.
    fn arrays(arrays: <Self::Layout as Layout>::Array) -> Self::Arrays;
    /// The caller's views, as the engine writes them.
    fn views(views: Self::Views<'_>) -> <Self::Layout as Layout>::Mut<'_>;
    /// A chunk, as the caller sees it.
    fn chunk(chunk: <Self::Layout as Layout>::View<'_>) -> Self::Chunk<'_>;
}

/// What the loop runs: one item into its slot of every output.
///
/// Implemented for every [`RowFn`] and for the row functions of a `#[derive(Rows)]` struct.
/// Not a stable API.
pub trait WriteRows<Item>: Outputs {
    /// The row function's own error type.
    type Error;
    /// Writes `item`'s rows; `Ok(false)` drops the item.
    ///
    /// # Errors
    /// The item's failure, by the policy.
    fn write_rows(
        &mut self,
        item: Item,
        row: <Self::Layout as Layout>::Row<'_>,
    ) -> Result<bool, <Self::Policy as Policy>::Failure<Self::Error>>;
}

/// A row function with several outputs, as the engine runs it.
#[derive(Debug, Clone, Copy, Default)]
pub struct Multi<M>(pub M);

impl<M: RowsSpec> Outputs for Multi<M> {
    type Layout = <M::Rows as Rows>::Layout;
    type Policy = M::Policy;
    const OVERWRITES_ROW: bool = M::OVERWRITES_ROW;
    type Arrays = <M::Rows as Rows>::Arrays;
    type Views<'a> = <M::Rows as Rows>::Views<'a>;
    type Chunk<'a> = <M::Rows as Rows>::Chunk<'a>;
    type Each<T> = Vec<T>;
    const NAMES: Option<&'static [&'static str]> = Some(<M::Rows as Rows>::NAMES);

    fn shape() -> <Self::Layout as Layout>::Shape {
        M::Rows::shape()
    }

    fn each<T>(reports: Vec<T>) -> Vec<T> {
        reports
    }

    fn arrays(arrays: <Self::Layout as Layout>::Array) -> Self::Arrays {
        M::Rows::arrays(arrays)
    }

    fn views(views: Self::Views<'_>) -> <Self::Layout as Layout>::Mut<'_> {
        M::Rows::views(views)
    }

    fn chunk(chunk: <Self::Layout as Layout>::View<'_>) -> Self::Chunk<'_> {
        M::Rows::chunk(chunk)
    }
}

impl<Item, M: RowsFn<Item>> WriteRows<Item> for Multi<M> {
    type Error = M::Error;

    #[inline(always)]
    fn write_rows(
        &mut self,
        item: Item,
        row: <Self::Layout as Layout>::Row<'_>,
    ) -> Result<bool, <M::Policy as Policy>::Failure<M::Error>> {
        self.0.write_rows(item, row)
    }
}

/// The layout of a one-output row function.
pub type ColOf<R> = Col<<R as RowSpec>::Dtype, <R as RowSpec>::Dim>;

impl<R: RowSpec + ?Sized> Outputs for R {
    type Layout = ColOf<R>;
    type Policy = R::Policy;
    const OVERWRITES_ROW: bool = R::OVERWRITES_ROW;
    type Arrays = Array<R::Dtype, R::Dim>;
    type Views<'a> = ArrayViewMut<'a, R::Dtype, R::Dim>;
    type Chunk<'a> = ndarray::ArrayView2<'a, R::Dtype>;
    type Each<T> = T;
    const NAMES: Option<&'static [&'static str]> = None;

    fn each<T>(reports: Vec<T>) -> T {
        reports
            .into_iter()
            .next()
            .expect("an output reports once per field, and this layout has one")
    }

    #[inline(always)]
    fn shape() -> ColShape<R::Dtype> {
        ColShape {
            shape: R::SHAPE,
            dim: R::DIM,
            copy_lane: copy_lane::<R>,
        }
    }

    fn arrays(arrays: Self::Arrays) -> Self::Arrays {
        arrays
    }

    fn views(views: Self::Views<'_>) -> Self::Views<'_> {
        views
    }

    fn chunk(chunk: Self::Chunk<'_>) -> Self::Chunk<'_> {
        chunk
    }
}

impl<Item, R: RowFn<Item> + ?Sized> WriteRows<Item> for R {
    type Error = R::Error;

    #[inline(always)]
    fn write_rows(
        &mut self,
        item: Item,
        row: &mut [R::Dtype],
    ) -> Result<bool, <R::Policy as Policy>::Failure<R::Error>> {
        // Re-sliced to the constant `DIM`, so that a by-value row's copy is inlined instead of
        // a `memcpy` call of unknown length per row.
        self.write_row(item, &mut row[..R::DIM])
    }
}

/// What [`run`] returns: the input indices of the items that gave no row, or why it stopped.
pub type Run<F, S> = Result<Vec<usize>, Stop<F, S>>;

/// The loop: the rows of `items` into `target`, by `W`'s policy. Returns the input indices of
/// the items that gave no row.
pub(crate) fn run<W, I, T>(
    row_fn: &mut W,
    items: I,
    target: &mut T,
) -> Run<Fatal<W, I::Item>, T::Stop>
where
    W: WriteRows<I::Item> + ?Sized,
    I: IntoIterator,
    T: Target<W::Layout>,
{
    let mut items = items.into_iter().enumerate();
    let mut skipped = Vec::new();
    loop {
        let slots = target.free().map_err(Stop::Target)?;
        let step = write_slots(row_fn, &mut items, slots, T::ZEROED, &mut skipped);
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
fn write_slots<'s, W, Item, S>(
    row_fn: &mut W,
    items: &mut impl Iterator<Item = (usize, Item)>,
    slots: S,
    zeroed: bool,
    skipped: &mut Vec<usize>,
) -> Step<Fatal<W, Item>>
where
    W: WriteRows<Item> + ?Sized,
    S: Iterator<Item = <W::Layout as Layout>::Row<'s>>,
{
    let mut kept = 0;
    let mut last = 0;
    for mut slot in slots {
        loop {
            let Some((index, item)) = items.next() else {
                return Step {
                    kept,
                    last,
                    end: End::Exhausted,
                };
            };
            last = index;
            if !W::OVERWRITES_ROW && !zeroed {
                W::Layout::zero(&mut slot);
            }
            match row_fn.write_rows(item, W::Layout::reborrow(&mut slot)) {
                Ok(true) => {
                    kept += 1;
                    break;
                }
                Ok(false) => {
                    W::Layout::zero(&mut slot);
                    skipped.push(index);
                }
                Err(failure) => {
                    W::Layout::zero(&mut slot);
                    match W::Policy::on_failure(failure) {
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

/// One reused chunk buffer of `chunk_rows` rows (one per output): each full chunk (and the
/// last, shorter one) goes to `consume` as `n × DIM` views.
pub(crate) struct Chunks<L: Layout, C> {
    buffer: L::Buf,
    shape: L::Shape,
    chunk_rows: usize,
    filled: usize,
    consume: C,
}

impl<L: Layout, C> Chunks<L, C> {
    /// Allocated once, zeroed by the allocator, reused for every chunk.
    pub(crate) fn new(chunk_rows: usize, shape: L::Shape, consume: C) -> Self {
        Chunks {
            buffer: L::buf(shape, chunk_rows),
            shape,
            chunk_rows,
            filled: 0,
            consume,
        }
    }
}

impl<L: Layout, C, E> Target<L> for Chunks<L, C>
where
    C: FnMut(L::View<'_>) -> Result<(), E>,
{
    type Stop = E;
    const ZEROED: bool = false;
    type Slots<'s>
        = L::BufSlots<'s>
    where
        Self: 's;

    fn free(&mut self) -> Result<L::BufSlots<'_>, E> {
        if self.filled == self.chunk_rows {
            self.flush()?;
        }
        Ok(L::buf_slots(
            &mut self.buffer,
            self.shape,
            self.filled,
            self.chunk_rows,
        ))
    }

    fn keep(&mut self, rows: usize, _: usize) -> Result<(), E> {
        self.filled += rows;
        Ok(())
    }

    fn flush(&mut self) -> Result<(), E> {
        if self.filled > 0 {
            let rows = self.filled;
            self.filled = 0;
            (self.consume)(L::buf_view(&self.buffer, self.shape, rows))?;
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
/// use preallocate::{policy, RowFn, RowSpec};
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
/// let x = preallocate::batch(&mut Square, (0..6).filter(|x| x % 2 == 1));
/// assert_eq!(x, ndarray::array![[1, 1], [3, 9], [5, 25]]);
/// ```
///
/// A fallible row function stops at the first failure and names the item:
///
/// ```
/// use preallocate::{policy, RowError, RowFn, RowSpec};
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
/// assert_eq!(preallocate::batch(&mut Parse, ["1", "2"])?, ndarray::array![[1], [2]]);
/// let err = preallocate::batch(&mut Parse, ["1", "x", "3"]).unwrap_err();
/// assert_eq!(err.index(), 1);
/// # Ok::<(), preallocate::ItemError<std::num::ParseIntError>>(())
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
    batch_rows(row_fn, items)
}

/// [`batch`] for any layout: one output or several.
#[allow(clippy::type_complexity)]
pub fn batch_rows<W, I>(
    row_fn: &mut W,
    items: I,
) -> <W::Policy as Policy>::Batch<W::Arrays, W::Error>
where
    W: WriteRows<I::Item> + ?Sized,
    I: IntoIterator,
{
    shape_batch::<W, I::Item>(grow_rows(row_fn, items))
}

/// What a run into a new array ended with, before the policy shapes it.
pub(crate) type Grown<W, Item> =
    Result<Batch<<<W as Outputs>::Layout as Layout>::Array>, Failed<Fatal<W, Item>>>;

/// The rows of `items` in new arrays, allocated once when the length is known.
pub(crate) fn grow_rows<W, I>(row_fn: &mut W, items: I) -> Grown<W, I::Item>
where
    W: WriteRows<I::Item> + ?Sized,
    I: IntoIterator,
{
    let items = items.into_iter();
    let shape = W::shape();
    let mut target = W::Layout::grow(shape, items.size_hint());
    let run = run(row_fn, items, &mut target).map_err(|stop| match stop {
        Stop::Item(failed) => failed,
        Stop::Target(never) => match never {},
    });
    run.map(|skipped| Batch {
        rows: W::Layout::grown(target, shape),
        skipped,
    })
}

/// What `batch` returns: the arrays as the caller sees them, in the policy's shape.
pub(crate) fn shape_batch<W, Item>(
    grown: Grown<W, Item>,
) -> <W::Policy as Policy>::Batch<W::Arrays, W::Error>
where
    W: WriteRows<Item> + ?Sized,
{
    W::Policy::batch(grown.map(|batch| Batch {
        rows: W::arrays(batch.rows),
        skipped: batch.skipped,
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
/// use preallocate::{policy, Error, RowFn, RowSpec};
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
/// assert_eq!(preallocate::fill(&mut Pair, [10, 20], out.view_mut()), Ok(2));
/// assert_eq!(out, ndarray::array![[10, 11], [20, 21], [0, 0]]);
///
/// let full = preallocate::fill(&mut Pair, [1, 2, 3, 4], out.view_mut());
/// assert_eq!(full, Err(Error::BufferFull { written: 3, index: 3 }));
/// ```
// The return type is the policy's, as for `batch`.
#[allow(clippy::type_complexity)]
pub fn fill<R, I>(
    row_fn: &mut R,
    items: I,
    out: ArrayViewMut<'_, R::Dtype, R::Dim>,
) -> Result<
    <R::Policy as Policy>::Filled,
    Error<<R::Policy as Policy>::Reported<<R as RowFn<I::Item>>::Error>>,
>
where
    R: RowFn<I::Item> + ?Sized,
    I: IntoIterator,
{
    fill_rows(row_fn, items, out)
}

/// [`fill`] for any layout: one output or several.
#[allow(clippy::type_complexity)]
pub fn fill_rows<W, I>(
    row_fn: &mut W,
    items: I,
    out: W::Views<'_>,
) -> Result<<W::Policy as Policy>::Filled, Error<<W::Policy as Policy>::Reported<W::Error>>>
where
    W: WriteRows<I::Item> + ?Sized,
    I: IntoIterator,
{
    shape_fill::<W::Policy, W::Error>(fill_into(row_fn, items, W::views(out)))
}

/// The result of a `fill`, as its policy shapes it.
pub(crate) fn shape_fill<P: Policy, E>(
    run: Result<Batch<usize>, FillStop<P::Fatal<E>>>,
) -> Result<P::Filled, Error<P::Reported<E>>> {
    run.map(P::filled)
        .map_err(|stop| Error::from_fill_stop(stop.map_failure(P::reported)))
}

/// The rows of `items` into the caller's buffers, before the policy shapes the result.
pub(crate) fn fill_into<W, I>(
    row_fn: &mut W,
    items: I,
    out: <W::Layout as Layout>::Mut<'_>,
) -> Result<Batch<usize>, FillStop<Fatal<W, I::Item>>>
where
    W: WriteRows<I::Item> + ?Sized,
    I: IntoIterator,
{
    let shape = W::shape();
    if let Err(rejected) = W::Layout::check(shape, &out) {
        return Err(rejected.widen());
    }
    let mut target = W::Layout::fill(shape, out);
    let run = run(row_fn, items, &mut target);
    let written = W::Layout::written(&target);
    match run {
        Ok(skipped) => Ok(Batch {
            rows: written,
            skipped,
        }),
        Err(Stop::Item(failed)) => Err(FillStop::Item { written, failed }),
        Err(Stop::Target(Full { written, index })) => Err(FillStop::Full { written, index }),
    }
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_policies;
