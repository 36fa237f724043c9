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

use ndarray::{Array, ArrayViewMut};
use rayon::iter::plumbing::{Producer, ProducerCallback};
use rayon::iter::{IndexedParallelIterator, IntoParallelIterator, ParallelDrainRange};

use crate::drivers::{self, Fatal, Run, Stop, WriteRows};
use crate::error::Error;
use crate::layout::Full;
use crate::layout::Layout;
use crate::policy::Batch;
use crate::policy::{Failed, FillStop, Policy};
use crate::row::RowFn;

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
fn split_run<W, P>(
    row_fn: &W,
    producer: P,
    out: <W::Layout as Layout>::Mut<'_>,
    range: Range<'_>,
) -> Vec<Leaf<Fatal<W, P::Item>>>
where
    P: Producer,
    W: WriteRows<P::Item> + Clone + Send + Sync,
    Fatal<W, P::Item>: Send,
{
    let len = W::Layout::rows(&out);
    if len > range.leaf_items {
        let mid = split_point(W::Layout::period(W::shape()), range.row, len);
        let (left_items, right_items) = producer.split_at(mid);
        let (left_out, right_out) = W::Layout::split_at(out, mid);
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
    let mut target = W::Layout::fill(W::shape(), out);
    let run = drivers::run(&mut row_fn, producer.into_iter(), &mut target);
    leaf.kept = W::Layout::written(&target);
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
///
/// `period` is the number of rows whose bytes are a whole number of cache lines (in every
/// output).
fn split_point(period: usize, first: usize, len: usize) -> usize {
    let end = first + len / 2;
    let aligned = end - end % period;
    if aligned > first {
        aligned - first
    } else {
        len / 2
    }
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
fn compact<L: Layout, F>(out: &mut L::Mut<'_>, leaves: Vec<Leaf<F>>) -> Pass<F> {
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
        L::move_rows(out, leaf.row, pass.written, leaf.kept);
        pass.written += leaf.kept;
        pass.skipped.extend(leaf.skipped);
        if leaf.failed.is_some() || leaf.overflowed {
            pass.failed = leaf.failed;
            pass.overflowed = leaf.overflowed;
            break;
        }
    }
    L::zero_from(out, pass.written);
    pass
}

/// Runs every item into `out` from the first row on, in passes of as many items as there are
/// free rows, each pass on every thread: sequential `fill`'s result, whatever the threads.
struct FillRun<'r, 'o, W, L: Layout> {
    row_fn: &'r W,
    out: L::Mut<'o>,
    /// The number of items.
    len: usize,
    /// Threads to spread a pass over (the pool's size, or a pipeline's `threads`).
    threads: usize,
    grain: Grain,
}

impl<W, Item> ProducerCallback<Item> for FillRun<'_, '_, W, W::Layout>
where
    W: WriteRows<Item> + Clone + Send + Sync,
    Fatal<W, Item>: Send,
{
    type Output = Result<Batch<usize>, FillStop<Fatal<W, Item>>>;

    fn callback<P: Producer<Item = Item>>(self, producer: P) -> Self::Output {
        let FillRun {
            row_fn,
            mut out,
            len,
            threads,
            grain,
        } = self;
        let capacity = W::Layout::rows(&out);
        let (mut rest, mut taken, mut written) = (producer, 0, 0);
        let mut skipped = Vec::new();
        while taken < len {
            let free = capacity - written;
            if free == 0 {
                // The buffer is full: as `fill` does, run the items left until one gives a
                // row (the overflow) or the input ends; on this thread, since one item decides.
                let full = W::Layout::slice(&mut out, capacity, capacity);
                let mut target = W::Layout::fill(W::shape(), full);
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
            let mut pass_out = W::Layout::slice(&mut out, written, written + pass_items);
            let stop = AtomicUsize::new(usize::MAX);
            let range = Range {
                item: taken,
                row: 0,
                leaf_items: leaf_items(pass_items, threads, grain),
                stop: &stop,
            };
            let leaves = split_run(
                row_fn,
                items,
                W::Layout::slice(&mut pass_out, 0, pass_items),
                range,
            );
            let pass = compact::<W::Layout, _>(&mut pass_out, leaves);
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
pub(crate) fn fill_on<W, I>(
    row_fn: &W,
    items: I,
    out: <W::Layout as Layout>::Mut<'_>,
    threads: usize,
    grain: Grain,
) -> Result<Batch<usize>, FillStop<Fatal<W, I::Item>>>
where
    I: IndexedParallelIterator,
    W: WriteRows<I::Item> + Clone + Send + Sync,
    Fatal<W, I::Item>: Send,
{
    if let Err(rejected) = W::Layout::check(W::shape(), &out) {
        return Err(rejected.widen());
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
    par_batch_rows(row_fn, items)
}

/// [`par_batch`] for any layout: one output or several.
#[allow(clippy::type_complexity)]
pub fn par_batch_rows<W, I>(
    row_fn: &W,
    items: I,
) -> <W::Policy as Policy>::Batch<W::Arrays, W::Error>
where
    I: IntoParallelIterator,
    I::Iter: IndexedParallelIterator,
    W: WriteRows<I::Item> + Clone + Send + Sync,
    Fatal<W, I::Item>: Send,
{
    drivers::shape_batch::<W, I::Item>(par_grow(row_fn, items))
}

/// The rows of `items` in new arrays, computed on every thread.
fn par_grow<W, I>(row_fn: &W, items: I) -> drivers::Grown<W, I::Item>
where
    I: IntoParallelIterator,
    I::Iter: IndexedParallelIterator,
    W: WriteRows<I::Item> + Clone + Send + Sync,
    Fatal<W, I::Item>: Send,
{
    let items = items.into_par_iter();
    let len = items.len();
    if len < CALLS.min_items || rayon::current_num_threads() == 1 {
        // One thread: the sequential loop itself, at its speed.
        return items.with_producer(Sequential { row_fn });
    }
    let shape = W::shape();
    let Some(mut data) = W::Layout::try_buf(shape, len) else {
        // Too large to allocate at once: the sequential loop grows its buffer as it goes.
        return items.with_producer(Sequential { row_fn });
    };
    let out = W::Layout::buf_mut(&mut data, shape, len);
    match fill_on(row_fn, items, out, rayon::current_num_threads(), CALLS) {
        Ok(Batch { rows, skipped }) => Ok(Batch {
            rows: W::Layout::buf_into_array(data, shape, rows),
            skipped,
        }),
        Err(FillStop::Item { failed, .. }) => Err(failed),
        Err(FillStop::Full { .. } | FillStop::Rejected { .. } | FillStop::Unequal { .. }) => {
            panic!(
                "the parallel iterator yielded more items than its `len()` said ({len}): \
                 an `IndexedParallelIterator` must yield exactly `len()` items"
            )
        }
    }
}

/// `batch` on this thread, over a producer's items.
struct Sequential<'r, W> {
    row_fn: &'r W,
}

impl<W, Item> ProducerCallback<Item> for Sequential<'_, W>
where
    W: WriteRows<Item> + Clone,
{
    type Output = drivers::Grown<W, Item>;

    fn callback<P: Producer<Item = Item>>(self, producer: P) -> Self::Output {
        drivers::grow_rows(&mut self.row_fn.clone(), producer.into_iter())
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
// The return type is the policy's, as for `batch`.
#[allow(clippy::type_complexity)]
pub fn par_fill<R, I>(
    row_fn: &R,
    items: I,
    out: ArrayViewMut<'_, R::Dtype, R::Dim>,
) -> Result<
    <R::Policy as Policy>::Filled,
    Error<<R::Policy as Policy>::Reported<<R as RowFn<I::Item>>::Error>>,
>
where
    I: IntoParallelIterator,
    I::Iter: IndexedParallelIterator,
    R: RowFn<I::Item> + Clone + Send + Sync,
    Fatal<R, I::Item>: Send,
{
    par_fill_rows(row_fn, items, out)
}

/// [`par_fill`] for any layout: one output or several.
#[allow(clippy::type_complexity)]
pub fn par_fill_rows<W, I>(
    row_fn: &W,
    items: I,
    out: W::Views<'_>,
) -> Result<<W::Policy as Policy>::Filled, Error<<W::Policy as Policy>::Reported<W::Error>>>
where
    I: IntoParallelIterator,
    I::Iter: IndexedParallelIterator,
    W: WriteRows<I::Item> + Clone + Send + Sync,
    Fatal<W, I::Item>: Send,
{
    drivers::shape_fill::<W::Policy, W::Error>(fill_on(
        row_fn,
        items.into_par_iter(),
        W::views(out),
        rayon::current_num_threads(),
        CALLS,
    ))
}

/// A threaded pipeline's loop: each chunk of items is computed on `threads` threads of the
/// current pool into one of two chunk buffers, while this thread hands the previous chunk to
/// `consume` and reads the next chunk's items. The rows, their order, the `skipped` list and
/// the failure reported are `Chunks`'s, whatever the number of threads.
pub(crate) fn run_chunks<W, I, C, E>(
    row_fn: &W,
    mut items: I,
    chunk_rows: usize,
    threads: usize,
    mut consume: C,
) -> Run<Fatal<W, I::Item>, E>
where
    I: Iterator,
    I::Item: Send,
    W: WriteRows<I::Item> + Clone + Send + Sync,
    Fatal<W, I::Item>: Send,
    C: FnMut(<W::Layout as Layout>::View<'_>) -> Result<(), E>,
{
    let shape = W::shape();
    let zeroed = || W::Layout::buf(shape, chunk_rows);
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
    let mut consume_timed = |rows: <W::Layout as Layout>::View<'_>, time: &mut Average| {
        let start = Instant::now();
        let result = consume(rows);
        time.add(start.elapsed().as_secs_f64());
        result
    };
    loop {
        if next.is_empty() {
            if let Some(rows) = ready_rows {
                consume_timed(W::Layout::buf_view(&ready, shape, rows), &mut consume_time)
                    .map_err(Stop::Target)?;
            }
            return Ok(skipped);
        }
        std::mem::swap(&mut current, &mut next);
        let count = current.len();
        let here = compute_time.below(&consume_time);
        let computed = if here {
            if let Some(rows) = ready_rows.take() {
                consume_timed(W::Layout::buf_view(&ready, shape, rows), &mut consume_time)
                    .map_err(Stop::Target)?;
            }
            let start = Instant::now();
            let computed = fill_on(
                row_fn,
                current.par_drain(..),
                W::Layout::buf_mut(&mut computing, shape, count),
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
                        W::Layout::buf_mut(out, shape, count),
                        threads,
                        CHUNKS,
                    ));
                    compute_time.add(start.elapsed().as_secs_f64());
                });
                let handed_on = match ready_rows.take() {
                    Some(rows) => {
                        consume_timed(W::Layout::buf_view(&ready, shape, rows), &mut consume_time)
                    }
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
                    consume_timed(
                        W::Layout::buf_view(&computing, shape, rows),
                        &mut consume_time,
                    )
                    .map_err(Stop::Target)?;
                } else {
                    ready_rows = Some(rows);
                    std::mem::swap(&mut computing, &mut ready);
                }
            }
            Err(FillStop::Item { written, failed }) => {
                // The rows before the failure are handed on first, as `Chunks` does.
                if written > 0 {
                    consume_timed(
                        W::Layout::buf_view(&computing, shape, written),
                        &mut consume_time,
                    )
                    .map_err(Stop::Target)?;
                }
                return Err(Stop::Item(Failed {
                    index: failed.index + taken,
                    failure: failed.failure,
                }));
            }
            Err(FillStop::Full { .. } | FillStop::Rejected { .. } | FillStop::Unequal { .. }) => {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::row::RowSpec;

    struct Rows12;
    impl RowFn<u32> for Rows12 {
        type Error = core::convert::Infallible;
        fn write_row(&mut self, _: u32, _: &mut [f32]) -> Result<bool, Self::Error> {
            Ok(true)
        }
    }
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
        use crate::drivers::Outputs;
        let period = <Rows12 as Outputs>::Layout::period(<Rows12 as Outputs>::shape());
        assert_eq!(period, 16);
        assert_eq!(split_point(period, 0, 1000), 496);
        assert_eq!((100 + split_point(period, 100, 1000)) % 16, 0);
        // Too short to align: the middle.
        assert_eq!(split_point(period, 1, 10), 5);
        for (first, len) in [(0, 2), (3, 7), (17, 33), (0, 100_000)] {
            let mid = split_point(period, first, len);
            assert!(0 < mid && mid < len, "{first} {len}: {mid}");
        }
    }
}
