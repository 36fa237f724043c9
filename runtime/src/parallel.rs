//! Every core: the engine's one loop, run on rayon's current pool over disjoint row ranges.
//!
//! The items are split by index (rayon's `Producer::split_at`) together with the output's rows
//! (`ArrayViewMut::split_at`), so that item `i` may write only rows `..= i` of its range: each
//! leaf runs [`drivers::run`] into its own rows, then the leaves' kept rows are moved together in
//! input order (a no-op when nothing was dropped). The result is the sequential one, bit for
//! bit, whatever the number of threads:
//! - the same rows in the same order, and the same `skipped` list;
//! - the failure with the lowest item index, and the rows before it: a leaf that starts after a
//!   failure already found is not run, and leaves after the first failing one are ignored;
//! - no lock and no allocation per row; a clone of the row function per leaf.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use ndarray::{Array, ArrayViewMut, Axis, RemoveAxis, Slice};
use rayon::iter::plumbing::{Producer, ProducerCallback};
use rayon::iter::{IndexedParallelIterator, IntoParallelIterator, ParallelDrainRange};

use crate::drivers::{self, copy_lane, Fatal, Fill, Full, Run, Stop};
use crate::element::Element;
use crate::policy::{Failed, FillStop, Policy};
use crate::row::{Batch, RowFn, RowSpec};

/// How finely a run is split among threads.
#[derive(Clone, Copy)]
pub(crate) struct Grain {
    /// Inputs shorter than this run on the calling thread.
    min_items: usize,
    /// The fewest items a leaf runs.
    min_leaf: usize,
    /// Leaves per thread, so that rows of uneven cost still balance.
    leaves_per_thread: usize,
}

/// `par_batch` and `par_fill`: below a few thousand items, starting threads costs more than
/// cheap rows gain; the run is long, so a few leaves per thread balance it.
const CALLS: Grain = Grain {
    min_items: 2048,
    min_leaf: 512,
    leaves_per_thread: 4,
};

/// A threaded pipeline's chunks: the caller asked for threads, and every chunk ends at a join,
/// where threads wait for the last leaf: many small leaves keep that wait short.
pub(crate) const CHUNKS: Grain = Grain {
    min_items: 2,
    min_leaf: 16,
    leaves_per_thread: 16,
};

/// What one leaf did with its range of items and rows.
struct Leaf<F> {
    /// Its first row, in the output of its pass.
    row: usize,
    /// Rows kept, at the start of its rows.
    kept: usize,
    /// Input indices of its items that gave no row.
    skipped: Vec<usize>,
    /// Its first failure, by the policy's rule.
    failed: Option<Failed<F>>,
    /// `false` when it was not run because a failure before it was already found.
    ran: bool,
    /// More items than rows: the iterator yielded more items than its `len()` said.
    overflowed: bool,
}

/// Where a leaf's items and rows are, and when to stop.
#[derive(Clone, Copy)]
struct Range<'s> {
    /// Input index of the first item.
    item: usize,
    /// The first row, in the output of the pass.
    row: usize,
    /// Split ranges longer than this.
    leaf_items: usize,
    /// The lowest failing item index found so far (`usize::MAX`: none).
    stop: &'s AtomicUsize,
}

/// Runs the items of `producer` into the rows of `out` (one row per item), splitting both in
/// halves down to `range.leaf_items`, on the current rayon pool.
fn split_run<R, P>(
    row_fn: &R,
    producer: P,
    mut out: ArrayViewMut<'_, R::Dtype, R::Dim>,
    range: Range<'_>,
) -> Vec<Leaf<Fatal<R, P::Item>>>
where
    P: Producer,
    R: RowFn<P::Item> + Clone + Send + Sync,
    Fatal<R, P::Item>: Send,
{
    let len = out.len_of(Axis(0));
    if len > range.leaf_items {
        let mid = split_point::<R>(range.row, len);
        let (left_items, right_items) = producer.split_at(mid);
        let (left_out, right_out) = out.split_at(Axis(0), mid);
        let right = Range {
            item: range.item + mid,
            row: range.row + mid,
            ..range
        };
        let (mut left, right) = rayon::join(
            || split_run(row_fn, left_items, left_out, range),
            || split_run(row_fn, right_items, right_out, right),
        );
        left.extend(right);
        return left;
    }
    let mut leaf = Leaf {
        row: range.row,
        kept: 0,
        skipped: Vec::new(),
        failed: None,
        ran: false,
        overflowed: false,
    };
    if range.stop.load(Ordering::Relaxed) < range.item {
        return vec![leaf];
    }
    leaf.ran = true;
    let mut row_fn = row_fn.clone();
    let mut target = Fill::new(out.view_mut(), R::DIM, copy_lane::<R>);
    let run = drivers::run(&mut row_fn, producer.into_iter(), &mut target);
    leaf.kept = target.written();
    match run {
        Ok(skipped) => leaf.skipped = skipped.into_iter().map(|i| i + range.item).collect(),
        Err(Stop::Item(failed)) => {
            let index = failed.index + range.item;
            range.stop.fetch_min(index, Ordering::Relaxed);
            leaf.failed = Some(Failed {
                index,
                failure: failed.failure,
            });
        }
        Err(Stop::Target(Full { .. })) => leaf.overflowed = true,
    }
    vec![leaf]
}

/// Where to split `len` rows starting at row `first`: near the middle, on a row whose first
/// byte starts a cache line when the buffer does, so that two threads do not write the same
/// line at their border.
fn split_point<R: RowSpec + ?Sized>(first: usize, len: usize) -> usize {
    const CACHE_LINE: usize = 64;
    let row_bytes = (R::DIM * size_of::<R::Dtype>()).max(1);
    // Rows per cache-line period: the smallest count whose bytes are a multiple of a line.
    let period = CACHE_LINE / gcd(CACHE_LINE, row_bytes);
    let end = first + len / 2;
    let aligned = end - end % period;
    if aligned > first {
        aligned - first
    } else {
        len / 2
    }
}

fn gcd(mut a: usize, mut b: usize) -> usize {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// The rows of one pass, moved together at the start of the pass's output.
struct Pass<F> {
    written: usize,
    skipped: Vec<usize>,
    failed: Option<Failed<F>>,
    overflowed: bool,
}

/// Moves the leaves' kept rows together, in input order, to the start of `out`, up to the
/// first failure, and zeroes the rows after them (which held dropped or moved rows).
fn compact<T: Element, D: RemoveAxis, F>(
    out: &mut ArrayViewMut<'_, T, D>,
    leaves: Vec<Leaf<F>>,
) -> Pass<F> {
    let mut pass = Pass {
        written: 0,
        skipped: Vec::new(),
        failed: None,
        overflowed: false,
    };
    for leaf in leaves {
        if !leaf.ran {
            break;
        }
        move_rows(out, leaf.row, pass.written, leaf.kept);
        pass.written += leaf.kept;
        pass.skipped.extend(leaf.skipped);
        if leaf.failed.is_some() || leaf.overflowed {
            pass.failed = leaf.failed;
            pass.overflowed = leaf.overflowed;
            break;
        }
    }
    out.slice_axis_mut(Axis(0), Slice::from(pass.written..))
        .fill(T::ZERO);
    pass
}

/// Moves rows `from..from + count` of `out` to `to..to + count`, `to <= from`.
fn move_rows<T: Element, D: RemoveAxis>(
    out: &mut ArrayViewMut<'_, T, D>,
    from: usize,
    to: usize,
    count: usize,
) {
    if from == to || count == 0 {
        return;
    }
    let dim: usize = out.shape().iter().skip(1).product();
    if let Some(data) = out.as_slice_mut() {
        data.copy_within(from * dim..(from + count) * dim, to * dim);
        return;
    }
    // Any other layout, row by row: each row moves down, so a row is read before a later one
    // overwrites it.
    for row in 0..count {
        let (mut low, high) = out.view_mut().split_at(Axis(0), from + row);
        low.index_axis_mut(Axis(0), to + row)
            .assign(&high.index_axis(Axis(0), 0));
    }
}

/// Runs every item into `out` from the first row on, in passes of as many items as there are
/// free rows, each pass on every thread: sequential `fill`'s result, whatever the threads.
struct FillRun<'r, 'o, R: RowSpec> {
    row_fn: &'r R,
    out: ArrayViewMut<'o, R::Dtype, R::Dim>,
    /// The number of items.
    len: usize,
    /// Threads to spread a pass over (the pool's size, or a pipeline's `threads`).
    threads: usize,
    grain: Grain,
}

impl<R, Item> ProducerCallback<Item> for FillRun<'_, '_, R>
where
    R: RowFn<Item> + Clone + Send + Sync,
    Fatal<R, Item>: Send,
{
    type Output = Result<Batch<usize>, FillStop<Fatal<R, Item>>>;

    fn callback<P: Producer<Item = Item>>(self, producer: P) -> Self::Output {
        let FillRun {
            row_fn,
            mut out,
            len,
            threads,
            grain,
        } = self;
        let capacity = out.len_of(Axis(0));
        let (mut rest, mut taken, mut written) = (producer, 0, 0);
        let mut skipped = Vec::new();
        while taken < len {
            let free = capacity - written;
            if free == 0 {
                // The buffer is full: as `fill` does, run the items left until one gives a
                // row (the overflow) or the input ends; on this thread, since one item decides.
                let full = out.slice_axis_mut(Axis(0), Slice::from(capacity..));
                let mut target = Fill::new(full, R::DIM, copy_lane::<R>);
                let mut row_fn = row_fn.clone();
                return match drivers::run(&mut row_fn, rest.into_iter(), &mut target) {
                    Ok(more) => {
                        skipped.extend(more.into_iter().map(|i| i + taken));
                        Ok(Batch {
                            rows: written,
                            skipped,
                        })
                    }
                    Err(Stop::Target(Full { index, .. })) => Err(FillStop::Full {
                        written,
                        index: index + taken,
                    }),
                    Err(Stop::Item(failed)) => Err(FillStop::Item {
                        written,
                        failed: Failed {
                            index: failed.index + taken,
                            failure: failed.failure,
                        },
                    }),
                };
            }
            let pass_items = free.min(len - taken);
            let (items, tail) = rest.split_at(pass_items);
            rest = tail;
            let mut pass_out =
                out.slice_axis_mut(Axis(0), Slice::from(written..written + pass_items));
            let stop = AtomicUsize::new(usize::MAX);
            let range = Range {
                item: taken,
                row: 0,
                leaf_items: leaf_items(pass_items, threads, grain),
                stop: &stop,
            };
            let leaves = split_run(row_fn, items, pass_out.view_mut(), range);
            let pass = compact(&mut pass_out, leaves);
            written += pass.written;
            skipped.extend(pass.skipped);
            if let Some(failed) = pass.failed {
                return Err(FillStop::Item { written, failed });
            }
            if pass.overflowed {
                return Err(FillStop::Full {
                    written,
                    index: taken + pass_items,
                });
            }
            taken += pass_items;
        }
        Ok(Batch {
            rows: written,
            skipped,
        })
    }
}

/// Items per leaf: a few leaves per thread, none tiny; one leaf (this thread) for a short input
/// or one thread.
fn leaf_items(items: usize, threads: usize, grain: Grain) -> usize {
    if threads <= 1 || items < grain.min_items {
        return items.max(1);
    }
    (items / (threads * grain.leaves_per_thread)).max(grain.min_leaf)
}

/// Runs the rows of `items` into `out` on `threads` threads of the current pool.
pub(crate) fn fill_on<R, I>(
    row_fn: &R,
    items: I,
    out: ArrayViewMut<'_, R::Dtype, R::Dim>,
    threads: usize,
    grain: Grain,
) -> Result<Batch<usize>, FillStop<Fatal<R, I::Item>>>
where
    I: IndexedParallelIterator,
    R: RowFn<I::Item> + Clone + Send + Sync,
    Fatal<R, I::Item>: Send,
{
    let found = out.shape().get(1..).unwrap_or_default();
    if found != R::SHAPE {
        return Err(FillStop::Rejected {
            expected: R::SHAPE,
            found: found.to_vec(),
        });
    }
    let len = items.len();
    items.with_producer(FillRun {
        row_fn,
        out,
        len,
        threads,
        grain,
    })
}

/// Like [`batch`](crate::batch), with the rows computed on every thread of rayon's current
/// pool; the same result, bit for bit, whatever the number of threads.
///
/// `items` is anything rayon splits by index: a `&Vec<T>` or `&[T]`, a range, `v.par_iter()`.
/// The row function is cloned for each range of items a thread takes (the generated row types
/// are empty structs; a method's captures `&self`). The output is allocated once, zeroed, and
/// each item's row written in place; items that give no row leave a gap that is closed in
/// input order at the end. Inputs of fewer than a few thousand items run on this thread.
///
/// ```
/// use std::convert::Infallible;
/// use preallocate_runtime::{policy, RowFn, RowSpec};
///
/// #[derive(Clone)]
/// struct Square;
/// impl RowSpec for Square {
///     type Dtype = u64;
///     type Dim = ndarray::Ix2;
///     type Policy = policy::Filtered;
///     const DIM: usize = 2;
///     const SHAPE: &'static [usize] = &[2];
///     const OVERWRITES_ROW: bool = true;
/// }
/// impl RowFn<u32> for Square {
///     type Error = Infallible;
///     fn write_row(&mut self, x: u32, row: &mut [u64]) -> Result<bool, Infallible> {
///         let x = u64::from(x);
///         row.copy_from_slice(&[x, x * x]);
///         Ok(x % 3 != 0) // multiples of 3 give no row
///     }
/// }
///
/// let parallel = preallocate_runtime::par_batch(&Square, 0..100_000u32);
/// let sequential = preallocate_runtime::batch(&mut Square, 0..100_000u32);
/// assert_eq!(parallel, sequential);
/// assert_eq!(parallel.rows[[1, 1]], 4);
/// ```
// The return type is the policy's, as for `batch`.
#[allow(clippy::type_complexity)]
pub fn par_batch<R, I>(
    row_fn: &R,
    items: I,
) -> <R::Policy as Policy>::Batch<Array<R::Dtype, R::Dim>, <R as RowFn<I::Item>>::Error>
where
    I: IntoParallelIterator,
    I::Iter: IndexedParallelIterator,
    R: RowFn<I::Item> + Clone + Send + Sync,
    Fatal<R, I::Item>: Send,
{
    let items = items.into_par_iter();
    let len = items.len();
    if len < CALLS.min_items || rayon::current_num_threads() == 1 {
        // One thread: the sequential loop itself, at its speed.
        return items.with_producer(Sequential { row_fn });
    }
    let Some(mut data) = len
        .checked_mul(R::DIM)
        .and_then(|elements| bytemuck::allocation::try_zeroed_vec(elements).ok())
    else {
        // Too large to allocate at once: the sequential loop grows its buffer as it goes.
        return items.with_producer(Sequential { row_fn });
    };
    let shape = drivers::batch_shape::<R>(len);
    let out = ArrayViewMut::from_shape(shape, &mut data)
        .expect("the buffer holds `len` rows of the row shape");
    let run = fill_on(row_fn, items, out, rayon::current_num_threads(), CALLS);
    R::Policy::batch(match run {
        Ok(Batch { rows, skipped }) => {
            data.truncate(rows * R::DIM);
            data.shrink_to_fit();
            let rows = Array::from_shape_vec(drivers::batch_shape::<R>(rows), data)
                .expect("the buffer holds exactly the kept rows");
            Ok(Batch { rows, skipped })
        }
        Err(FillStop::Item { failed, .. }) => Err(failed),
        Err(FillStop::Full { .. } | FillStop::Rejected { .. }) => panic!(
            "the parallel iterator yielded more items than its `len()` said ({len}): \
             an `IndexedParallelIterator` must yield exactly `len()` items"
        ),
    })
}

/// `batch` on this thread, over a producer's items.
struct Sequential<'r, R> {
    row_fn: &'r R,
}

impl<R, Item> ProducerCallback<Item> for Sequential<'_, R>
where
    R: RowFn<Item> + Clone,
{
    type Output = <R::Policy as Policy>::Batch<Array<R::Dtype, R::Dim>, <R as RowFn<Item>>::Error>;

    fn callback<P: Producer<Item = Item>>(self, producer: P) -> Self::Output {
        drivers::batch(&mut self.row_fn.clone(), producer.into_iter())
    }
}

/// Like [`fill`](crate::fill), with the rows computed on every thread of rayon's current pool:
/// the same rows, count, `skipped` list and errors (`BufferFull` included) as `fill`, whatever
/// the number of threads.
///
/// Items are run in passes of as many items as the buffer has free rows, each pass on every
/// thread, so that no row is computed that `fill` would not compute. One difference: rows
/// after the returned count that items were run into (up to the number of items) are zeroed,
/// since threads wrote there before the rows were closed up; `fill` leaves them as they were.
/// Rows past the number of items are left as they were by both.
///
/// # Errors
/// As [`fill`](crate::fill).
///
/// ```
/// use std::convert::Infallible;
/// use preallocate_runtime::{policy, Error, RowFn, RowSpec};
///
/// #[derive(Clone)]
/// struct Pair;
/// impl RowSpec for Pair {
///     type Dtype = u32;
///     type Dim = ndarray::Ix2;
///     type Policy = policy::Plain;
///     const DIM: usize = 2;
///     const SHAPE: &'static [usize] = &[2];
///     const OVERWRITES_ROW: bool = true;
/// }
/// impl RowFn<u32> for Pair {
///     type Error = Infallible;
///     fn write_row(&mut self, x: u32, row: &mut [u32]) -> Result<bool, Infallible> {
///         row.copy_from_slice(&[x, x + 1]);
///         Ok(true)
///     }
/// }
///
/// let mut out = ndarray::Array2::<u32>::zeros((10_000, 2));
/// assert_eq!(preallocate_runtime::par_fill(&Pair, 0..10_000u32, out.view_mut()), Ok(10_000));
/// assert_eq!(out[[9_999, 1]], 10_000);
/// let full = preallocate_runtime::par_fill(&Pair, 0..10_001u32, out.view_mut());
/// assert_eq!(full, Err(Error::BufferFull { written: 10_000, index: 10_000 }));
/// ```
pub fn par_fill<R, I>(
    row_fn: &R,
    items: I,
    out: ArrayViewMut<'_, R::Dtype, R::Dim>,
) -> <R::Policy as Policy>::Fill<<R as RowFn<I::Item>>::Error>
where
    I: IntoParallelIterator,
    I::Iter: IndexedParallelIterator,
    R: RowFn<I::Item> + Clone + Send + Sync,
    Fatal<R, I::Item>: Send,
{
    R::Policy::fill(fill_on(
        row_fn,
        items.into_par_iter(),
        out,
        rayon::current_num_threads(),
        CALLS,
    ))
}

/// A threaded pipeline's loop: each chunk of items is computed on `threads` threads of the
/// current pool into one of two chunk buffers, while this thread hands the previous chunk to
/// `consume` and reads the next chunk's items. The rows, their order, the `skipped` list and
/// the failure reported are `Chunks`'s, whatever the number of threads.
pub(crate) fn run_chunks<R, I, C, E>(
    row_fn: &R,
    mut items: I,
    chunk_rows: usize,
    threads: usize,
    mut consume: C,
) -> Run<Fatal<R, I::Item>, E>
where
    I: Iterator,
    I::Item: Send,
    R: RowFn<I::Item> + Clone + Send + Sync,
    Fatal<R, I::Item>: Send,
    C: FnMut(ndarray::ArrayView2<'_, R::Dtype>) -> Result<(), E>,
{
    let dim = R::DIM;
    let zeroed = || {
        bytemuck::allocation::try_zeroed_vec::<R::Dtype>(chunk_rows * dim)
            .unwrap_or_else(|()| vec![<R::Dtype as Element>::ZERO; chunk_rows * dim])
    };
    // `computing` takes the current chunk's rows; `ready` holds the previous chunk's.
    let (mut computing, mut ready) = (zeroed(), zeroed());
    let mut ready_rows = None;
    let (mut current, mut next) = (
        Vec::with_capacity(chunk_rows),
        Vec::with_capacity(chunk_rows),
    );
    next.extend(items.by_ref().take(chunk_rows));
    let (mut taken, mut skipped) = (0, Vec::new());
    // How long a chunk takes to compute on the threads and to hand on, as running averages:
    // when computing is the smaller part (cheap rows, a slow file), threads gain nothing over
    // this thread and cost a crossing of cores per chunk, so the chunk is computed here, then
    // handed on. Averages, so that one slow write does not switch a costly row to one thread.
    let (mut compute_time, mut consume_time) = (Average::default(), Average::default());
    let mut consume_timed = |rows: ndarray::ArrayView2<'_, R::Dtype>, time: &mut Average| {
        let start = Instant::now();
        let result = consume(rows);
        time.add(start.elapsed().as_secs_f64());
        result
    };
    loop {
        if next.is_empty() {
            if let Some(rows) = ready_rows {
                consume_timed(rows_of(&ready, rows, dim), &mut consume_time)
                    .map_err(Stop::Target)?;
            }
            return Ok(skipped);
        }
        std::mem::swap(&mut current, &mut next);
        let count = current.len();
        let here = compute_time.below(&consume_time);
        let computed = if here {
            if let Some(rows) = ready_rows.take() {
                consume_timed(rows_of(&ready, rows, dim), &mut consume_time)
                    .map_err(Stop::Target)?;
            }
            let start = Instant::now();
            let computed = fill_on(
                row_fn,
                current.par_drain(..),
                chunk_view::<R>(&mut computing, count),
                1,
                CHUNKS,
            );
            // What the threads would take: the work shared among them.
            compute_time.add(start.elapsed().as_secs_f64() / threads as f64);
            next.extend(items.by_ref().take(chunk_rows));
            computed
        } else {
            let mut computed = None;
            let handed_on = rayon::in_place_scope(|scope| {
                let (out, current, computed, compute_time) = (
                    &mut computing,
                    &mut current,
                    &mut computed,
                    &mut compute_time,
                );
                scope.spawn(move |_| {
                    let start = Instant::now();
                    *computed = Some(fill_on(
                        row_fn,
                        current.par_drain(..),
                        chunk_view::<R>(out, count),
                        threads,
                        CHUNKS,
                    ));
                    compute_time.add(start.elapsed().as_secs_f64());
                });
                let handed_on = match ready_rows.take() {
                    Some(rows) => consume_timed(rows_of(&ready, rows, dim), &mut consume_time),
                    None => Ok(()),
                };
                if handed_on.is_ok() {
                    next.extend(items.by_ref().take(chunk_rows));
                }
                handed_on
            });
            handed_on.map_err(Stop::Target)?;
            computed.expect("the scope ends when the chunk is computed")
        };
        match computed {
            Ok(Batch {
                rows,
                skipped: dropped,
            }) => {
                skipped.extend(dropped.into_iter().map(|i| i + taken));
                if here {
                    consume_timed(rows_of(&computing, rows, dim), &mut consume_time)
                        .map_err(Stop::Target)?;
                } else {
                    ready_rows = Some(rows);
                    std::mem::swap(&mut computing, &mut ready);
                }
            }
            Err(FillStop::Item { written, failed }) => {
                // The rows before the failure are handed on first, as `Chunks` does.
                if written > 0 {
                    consume_timed(rows_of(&computing, written, dim), &mut consume_time)
                        .map_err(Stop::Target)?;
                }
                return Err(Stop::Item(Failed {
                    index: failed.index + taken,
                    failure: failed.failure,
                }));
            }
            Err(FillStop::Full { .. } | FillStop::Rejected { .. }) => {
                unreachable!("a chunk of `count` items fills `count` rows of the row shape")
            }
        }
        taken += count;
    }
}

/// A running average of seconds, none until the first.
#[derive(Default)]
struct Average(Option<f64>);

impl Average {
    fn add(&mut self, seconds: f64) {
        self.0 = Some(match self.0 {
            Some(average) => 0.75 * average + 0.25 * seconds,
            None => seconds,
        });
    }

    /// Whether both are known and this one is the smaller.
    fn below(&self, other: &Average) -> bool {
        matches!((self.0, other.0), (Some(a), Some(b)) if a < b)
    }
}

/// The first `count` rows of a chunk buffer, as the view the engine writes.
fn chunk_view<R: RowSpec + ?Sized>(
    data: &mut [R::Dtype],
    count: usize,
) -> ArrayViewMut<'_, R::Dtype, R::Dim> {
    ArrayViewMut::from_shape(
        drivers::batch_shape::<R>(count),
        &mut data[..count * R::DIM],
    )
    .expect("a chunk buffer holds `count` rows of the row shape")
}

/// The first `rows` rows of a chunk buffer, as the `n × DIM` view a consumer takes.
fn rows_of<T>(data: &[T], rows: usize, dim: usize) -> ndarray::ArrayView2<'_, T> {
    ndarray::ArrayView2::from_shape((rows, dim), &data[..rows * dim])
        .expect("a chunk buffer holds `rows` rows of DIM elements")
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Rows12;
    impl RowSpec for Rows12 {
        type Dtype = f32;
        type Dim = ndarray::Ix2;
        type Policy = crate::policy::Plain;
        const DIM: usize = 3;
        const SHAPE: &'static [usize] = &[3];
        const OVERWRITES_ROW: bool = true;
    }

    #[test]
    fn splits_fall_on_cache_line_borders_near_the_middle() {
        // 12-byte rows: every 16th row starts a 64-byte line.
        assert_eq!(split_point::<Rows12>(0, 1000), 496);
        assert_eq!((100 + split_point::<Rows12>(100, 1000)) % 16, 0);
        // Too short to align: the middle.
        assert_eq!(split_point::<Rows12>(1, 10), 5);
        for (first, len) in [(0, 2), (3, 7), (17, 33), (0, 100_000)] {
            let mid = split_point::<Rows12>(first, len);
            assert!(0 < mid && mid < len, "{first} {len}: {mid}");
        }
    }
}
