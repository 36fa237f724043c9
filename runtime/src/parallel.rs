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
//!
//! `par_batch` and `par_fill` share only work worth sharing: they time their first items on the
//! calling thread and run the rest there too when it is short (see [`Probe`]).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use ndarray::{Array, ArrayViewMut};
use rayon::iter::plumbing::{Producer, ProducerCallback};
use rayon::iter::{IndexedParallelIterator, IntoParallelIterator, ParallelDrainRange};

use crate::drivers::{self, Fatal, Outputs, Run, Stop, WriteRows};
use crate::error::Error;
use crate::layout::{Full, Layout, Target};
use crate::policy::Batch;
use crate::policy::{Failed, FillStop, Policy};
use crate::row::RowFn;

/// How finely a run is split among threads, by counts of items.
#[derive(Clone, Copy)]
pub(crate) struct Grain {
    /// Inputs shorter than this run on the calling thread.
    min_items: usize,
    /// The fewest items a leaf runs.
    min_leaf: usize,
    /// Leaves per thread, so that rows of uneven cost still balance.
    leaves_per_thread: usize,
}

/// A threaded pipeline's chunks: the caller asked for threads, and every chunk ends at a join,
/// where threads wait for the last leaf: many small leaves keep that wait short.
pub(crate) const CHUNKS: Grain = Grain {
    min_items: 2,
    min_leaf: 16,
    leaves_per_thread: 16,
};

/// How a run decides what to share among threads.
#[derive(Clone, Copy)]
pub(crate) enum Split {
    /// By counts of items: a threaded pipeline's chunks, whose loop measures its own times.
    Items(Grain),
    /// By the work, measured: `par_batch` and `par_fill` (see [`Probe`]), against what is
    /// worth sharing.
    Work(Worth),
}

/// The least work (time on one thread) worth sharing, and the least work a leaf gets when it
/// is shared (leaves hold between this and twice this, so that a short run wakes only the
/// threads it can keep busy, each long enough to repay its wake-up). Work below the first runs
/// on the calling thread, where sharing costs nothing.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Worth {
    share: Duration,
    leaf: Duration,
}

/// `par_batch`, into a new buffer. Sharing costs the wake-up of sleeping threads and a join,
/// and here also the first writes to pages this thread has just had zeroed, which the other
/// threads must take over; and a thread the machine runs something else on makes the others
/// wait for its leaf. On a shared 2-core virtual machine, trivial rows into a new buffer gained
/// from being shared only from a millisecond or more of work.
const NEW_BUFFER: Worth = Worth {
    share: Duration::from_millis(1),
    leaf: Duration::from_micros(250),
};

/// `par_fill`, into a caller's buffer (its pages in place): on the same machine, trivial rows
/// shared by count gained from about a tenth of a millisecond of work (a quarter of a
/// millisecond: 1.3 times as fast) and lost below (a fiftieth: 0.9 times).
pub(crate) const CALLER_BUFFER: Worth = Worth {
    share: Duration::from_micros(200),
    leaf: Duration::from_micros(50),
};

/// Work timed on the calling thread before deciding: long enough that the clock's own cost and
/// a first row's cold caches weigh little; short beside the work worth sharing, so that such
/// work starts on every thread early.
const PROBE_WORK: Duration = Duration::from_micros(25);

/// How much costlier than the items timed so far the items left would have to be for their
/// work to be worth sharing, for the run to stop timing and keep them on this thread before
/// [`PROBE_WORK`] is spent: so that a short input of cheap rows is decided after a block or two.
const MARGIN: f64 = 16.0;

/// Items in the first probe block: enough that a clock reading weighs little beside even the
/// cheapest rows, few enough that costly rows are not kept long from the other threads.
const PROBE_FIRST: usize = 4;

/// The most a probe block grows over the items run before it.
const PROBE_GROWTH: usize = 64;

/// Inputs shorter than this are not timed: they run on the calling thread. Two clock readings
/// (tens of nanoseconds) would weigh on the shortest runs of cheap rows, and so few items are
/// worth sharing only when each takes a millisecond or so.
const PROBE_MIN_ITEMS: usize = 2048;

/// Leaves per thread when the work is shared, so that rows of uneven cost still balance.
const LEAVES_PER_THREAD: usize = 4;

/// How `par_batch` and `par_fill` find out whether their work is worth sharing: the first items
/// run on the calling thread in blocks that grow (the first of [`PROBE_FIRST`]), each timed, until
/// [`PROBE_WORK`] has been spent; the rest is then shared only if it is [`Worth`] it at the cost
/// per item seen ([`NEW_BUFFER`], [`CALLER_BUFFER`]). A short input of cheap rows stops being
/// timed as soon as the rest is clearly too small ([`MARGIN`]).
///
/// The decision is in time, not in items: a row's cost is measured where it runs, whatever the
/// row function and the machine, with one clock reading per block (a few per call). The cost
/// taken is the lower of the whole sample's and its last block's (its larger half): a first row
/// slowed by a lazy initialization or a cold cache, or a block interrupted by the scheduler,
/// makes the work look larger than it is, and larger is the side on which a wrong guess would
/// share what is too small to share.
/// Once decided, the decision stands: rows that grow costlier later in the input are not seen
/// (the run is then as fast as the sequential one, not faster).
struct Probe {
    split: Split,
    threads: usize,
    state: Probing,
    /// The clock reading that ended the last timed block (or started the first).
    clock: Option<Instant>,
    /// Blocks and items timed so far, and their time.
    blocks: usize,
    items: usize,
    time: Duration,
}

/// Where a [`Probe`] stands.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Probing {
    /// Timing blocks of items.
    Timing,
    /// The rest runs on this thread, untimed.
    Alone,
    /// Seconds per item, measured: each pass is shared or not by [`share`].
    Measured(f64),
}

/// What a run does with its next items.
#[derive(Debug, PartialEq)]
enum Next {
    /// Runs `items` items on this thread (timed while probing).
    Here { items: usize, timed: bool },
    /// Runs the pass on every thread, in leaves of at most `leaf_items` items.
    Share { leaf_items: usize },
}

impl Probe {
    /// The probe of a run of `len` items on `threads` threads.
    fn new(split: Split, threads: usize, len: usize) -> Self {
        let alone = threads <= 1 || len < PROBE_MIN_ITEMS;
        Probe {
            split,
            threads,
            state: if alone {
                Probing::Alone
            } else {
                Probing::Timing
            },
            clock: None,
            blocks: 0,
            items: 0,
            time: Duration::ZERO,
        }
    }

    /// What to do with the next of `pass_items` items (at least one), `left` items being left
    /// in the input (at least `pass_items`).
    fn next(&self, pass_items: usize, left: usize) -> Next {
        if let Split::Items(grain) = self.split {
            return Next::Share {
                leaf_items: leaf_items(pass_items, self.threads, grain),
            };
        }
        match self.state {
            Probing::Timing => {
                let items = self.block().min(pass_items);
                // The last block decides nothing: it is not timed.
                Next::Here {
                    items,
                    timed: items < left,
                }
            }
            Probing::Alone => Next::Here {
                items: pass_items,
                timed: false,
            },
            Probing::Measured(cost) => match share(cost, pass_items, self.threads, self.worth()) {
                Some(leaf_items) => Next::Share { leaf_items },
                None => Next::Here {
                    items: pass_items,
                    timed: false,
                },
            },
        }
    }

    /// The next probe block: the items that would bring the sample to twice [`PROBE_WORK`] at
    /// the cost seen so far, between as many items as so far and [`PROBE_GROWTH`] times that.
    fn block(&self) -> usize {
        if self.items == 0 {
            return PROBE_FIRST;
        }
        let seconds = self.time.as_secs_f64();
        let wanted = if seconds > 0.0 {
            (2.0 * PROBE_WORK.as_secs_f64() * self.items as f64 / seconds) as usize
        } else {
            usize::MAX
        };
        wanted
            .saturating_sub(self.items)
            .clamp(self.items, self.items.saturating_mul(PROBE_GROWTH))
    }

    /// What is worth sharing (the default for a split by count, which does not ask).
    fn worth(&self) -> Worth {
        match self.split {
            Split::Work(worth) => worth,
            Split::Items(_) => NEW_BUFFER,
        }
    }

    /// Reads the clock before the first timed block.
    fn start(&mut self) {
        if self.clock.is_none() {
            self.clock = Some(Instant::now());
        }
    }

    /// Reads the clock after a timed block of `items` items, `left` items being left in the
    /// input, and decides if it can.
    fn stop(&mut self, items: usize, left: usize) {
        let now = Instant::now();
        let time = self.clock.map_or(Duration::ZERO, |start| now - start);
        self.clock = Some(now);
        self.record(items, time, left);
    }

    /// Counts a timed block of `items` items that took `time`, `left` items being left: the
    /// rest stays here when even at many times the cost seen it would be too small to share;
    /// otherwise the cost is taken once [`PROBE_WORK`] has been spent over two blocks or more
    /// (so that the last block is not the first, which may have paid for a lazy start).
    fn record(&mut self, items: usize, time: Duration, left: usize) {
        self.blocks += 1;
        self.items += items;
        self.time += time;
        let whole = self.time.as_secs_f64() / self.items.max(1) as f64;
        if whole * left as f64 * MARGIN < self.worth().share.as_secs_f64() {
            self.state = Probing::Alone;
        } else if self.time >= PROBE_WORK && self.blocks >= 2 {
            let last = time.as_secs_f64() / items.max(1) as f64;
            self.state = Probing::Measured(whole.min(last));
        }
    }
}

/// Items per leaf for `items` items of `cost` seconds each on `threads` threads, or `None` when
/// their work is not `worth` sharing (then they run on the calling thread): a few leaves per
/// thread, none with less work than `worth.leaf`. Leaves are halves of halves: the count
/// returned is the most a leaf holds, and each holds more than half of it.
fn share(cost: f64, items: usize, threads: usize, worth: Worth) -> Option<usize> {
    if threads <= 1 || cost * (items as f64) < worth.share.as_secs_f64() {
        return None;
    }
    let by_work = (2.0 * worth.leaf.as_secs_f64() / cost).ceil() as usize;
    let by_threads = items.div_ceil(threads * LEAVES_PER_THREAD);
    let leaf_items = by_work.max(by_threads).max(1);
    (leaf_items < items).then_some(leaf_items)
}

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
    /// Every row of the output is zero (a new buffer).
    zeroed: bool,
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
    let (kept, run) = run_here(&mut row_fn.clone(), producer.into_iter(), out, range.zeroed);
    leaf.kept = kept;
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

/// Runs `items` on this thread into the rows of `out`, from its first row: the rows kept, and
/// how the run ended (item indices counted from 0). `zeroed`: every row of `out` is zero.
fn run_here<W, I>(
    row_fn: &mut W,
    items: I,
    out: <W::Layout as Layout>::Mut<'_>,
    zeroed: bool,
) -> (usize, Run<Fatal<W, I::Item>, Full>)
where
    W: WriteRows<I::Item>,
    I: Iterator,
{
    let target = W::Layout::fill(W::shape(), out);
    if zeroed {
        let mut target = Zeroed(target);
        let run = drivers::run(row_fn, items, &mut target);
        (W::Layout::written(&target.0), run)
    } else {
        let mut target = target;
        let run = drivers::run(row_fn, items, &mut target);
        (W::Layout::written(&target), run)
    }
}

/// The rows of a caller's buffer in which every row is zero (a new buffer's): the same target,
/// without zeroing a slot before a row is written in place into it, as `batch` does not.
///
/// Its slots are in place (a new buffer's rows are contiguous), and the loop zeroes a slot whose
/// item gave no row before handing it to the next item, so every slot handed out is zero.
struct Zeroed<T>(T);

impl<L: Layout, T: Target<L>> Target<L> for Zeroed<T> {
    type Stop = T::Stop;
    const ZEROED: bool = true;
    type Slots<'s>
        = T::Slots<'s>
    where
        Self: 's;

    #[inline(always)]
    fn free(&mut self) -> Result<Self::Slots<'_>, Self::Stop> {
        self.0.free()
    }

    #[inline(always)]
    fn keep(&mut self, rows: usize, last: usize) -> Result<(), Self::Stop> {
        self.0.keep(rows, last)
    }

    #[inline(always)]
    fn flush(&mut self) -> Result<(), Self::Stop> {
        self.0.flush()
    }
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

impl<F> Pass<F> {
    /// Why the run stops after this pass, if it does, with `written` rows in all: an item
    /// failed, or a row did not fit (the pass's items end before input index `end`).
    fn stop(self, written: usize, end: usize) -> Option<FillStop<F>> {
        match (self.failed, self.overflowed) {
            (Some(failed), _) => Some(FillStop::Item { written, failed }),
            (None, true) => Some(FillStop::Full {
                written,
                index: end,
            }),
            (None, false) => None,
        }
    }
}

/// One pass of the rows of `items` (from input index `taken` on) shared among the threads in
/// leaves of `leaf_items`, into `out` (`zeroed`: a new buffer), then compacted to its start.
fn shared_pass<W, P>(
    row_fn: &W,
    items: P,
    mut out: <W::Layout as Layout>::Mut<'_>,
    taken: usize,
    leaf_items: usize,
    zeroed: bool,
) -> Pass<Fatal<W, P::Item>>
where
    P: Producer,
    W: WriteRows<P::Item> + Clone + Send + Sync,
    Fatal<W, P::Item>: Send,
{
    let stop = AtomicUsize::new(usize::MAX);
    let range = Range {
        item: taken,
        row: 0,
        leaf_items,
        stop: &stop,
        zeroed,
    };
    let rows = W::Layout::rows(&out);
    let leaves = split_run(row_fn, items, W::Layout::slice(&mut out, 0, rows), range);
    compact::<W::Layout, _>(&mut out, leaves)
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

/// Where a run writes its rows.
enum Rows<'o, L: Layout> {
    /// A caller's buffers.
    Views(L::Mut<'o>),
    /// New buffers of `rows` rows, every one zero, and a row past their end (see [`Fresh`]).
    New {
        buf: &'o mut L::Buf,
        rows: usize,
        spare: Option<L::Buf>,
    },
}

impl<L: Layout> Rows<'_, L> {
    fn rows(&self) -> usize {
        match self {
            Rows::Views(out) => L::rows(out),
            Rows::New { rows, .. } => *rows,
        }
    }

    /// Rows `start..end`.
    fn slice(&mut self, shape: L::Shape, start: usize, end: usize) -> L::Mut<'_> {
        match self {
            Rows::Views(out) => L::slice(out, start, end),
            Rows::New { buf, .. } => L::split_at(L::buf_mut(buf, shape, end), start).1,
        }
    }

    /// Zeroes rows `from..to`, if any.
    fn zero_rows(&mut self, shape: L::Shape, from: usize, to: usize) {
        if from < to {
            L::zero_from(&mut self.slice(shape, from, to), 0);
        }
    }

    /// [`Rows::run_here`] of `items` from row `start` on, timed by `probe` (with the items left
    /// after these) when given.
    fn run_timed<W, I>(
        &mut self,
        row_fn: &mut W,
        items: I,
        start: usize,
        probe: Option<(&mut Probe, usize)>,
    ) -> (usize, Run<Fatal<W, I::Item>, Full>)
    where
        W: WriteRows<I::Item, Layout = L>,
        I: ExactSizeIterator,
    {
        let count = items.len();
        let Some((probe, left)) = probe else {
            return self.run_here(row_fn, items, start, start + count);
        };
        probe.start();
        let run = self.run_here(row_fn, items, start, start + count);
        probe.stop(count, left);
        run
    }

    /// Runs `items` on this thread into rows `start..end`: the rows kept, and how the run
    /// ended (item indices counted from 0).
    fn run_here<W, I>(
        &mut self,
        row_fn: &mut W,
        items: I,
        start: usize,
        end: usize,
    ) -> (usize, Run<Fatal<W, I::Item>, Full>)
    where
        W: WriteRows<I::Item, Layout = L>,
        I: Iterator,
    {
        match self {
            Rows::Views(out) => run_here(row_fn, items, L::slice(out, start, end), false),
            Rows::New { buf, spare, .. } => {
                let mut target = Fresh::<W> {
                    buf,
                    written: start,
                    end,
                    spare,
                    spare_out: false,
                };
                let run = drivers::run(row_fn, items, &mut target);
                (target.written - start, run)
            }
        }
    }
}

/// Rows `written..end` of new buffers, every one zero: the loop of `batch` (whose rows are new
/// and zero too), for the items `par_batch` runs on the calling thread.
struct Fresh<'b, W: Outputs> {
    buf: &'b mut <W::Layout as Layout>::Buf,
    written: usize,
    end: usize,
    /// A row after `end`, handed out once the rows have run out (the loop asks for a slot
    /// before it asks for an item): an item that gives a row into it is one too many, as in
    /// `fill`'s buffer. It stays zero otherwise (the loop zeroes a slot whose item gave no
    /// row), and is allocated once per call.
    spare: &'b mut Option<<W::Layout as Layout>::Buf>,
    /// The last slots handed out were the spare row.
    spare_out: bool,
}

impl<W: Outputs> Target<W::Layout> for Fresh<'_, W> {
    type Stop = Full;
    const ZEROED: bool = true;
    type Slots<'s>
        = <W::Layout as Layout>::BufSlots<'s>
    where
        Self: 's;

    #[inline(always)]
    fn free(&mut self) -> Result<Self::Slots<'_>, Full> {
        // The shape of the row type, a constant, rather than a field: the loop then knows the
        // row's width.
        let shape = W::shape();
        self.spare_out = self.written == self.end;
        if self.spare_out {
            let spare = self.spare.get_or_insert_with(|| W::Layout::buf(shape, 1));
            return Ok(W::Layout::buf_slots(spare, shape, 0, 1));
        }
        Ok(W::Layout::buf_slots(
            self.buf,
            shape,
            self.written,
            self.end,
        ))
    }

    #[inline(always)]
    fn keep(&mut self, rows: usize, last: usize) -> Result<(), Full> {
        if self.spare_out && rows > 0 {
            return Err(Full {
                written: self.written,
                index: last,
            });
        }
        self.written += rows;
        Ok(())
    }

    #[inline(always)]
    fn flush(&mut self) -> Result<(), Full> {
        Ok(())
    }
}

/// Runs every item into `out` from the first row on, in passes of as many items as there are
/// free rows, each pass on this thread or on every thread as `split` decides: sequential
/// `fill`'s result, whatever the threads.
struct FillRun<'r, 'o, W, L: Layout> {
    row_fn: &'r W,
    out: Rows<'o, L>,
    /// The number of items.
    len: usize,
    /// Threads to spread a pass over (the pool's size, or a pipeline's `threads`).
    threads: usize,
    split: Split,
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
            split,
        } = self;
        let shape = W::shape();
        let zeroed = matches!(out, Rows::New { .. });
        let capacity = out.rows();
        let (mut rest, mut taken, mut written) = (producer, 0, 0);
        let mut skipped = Vec::new();
        let mut probe = Probe::new(split, threads, len);
        // This thread's row function, for the items it runs itself.
        let mut here = row_fn.clone();
        let mut ran_here = false;
        let result = 'run: {
            while taken < len {
                let free = capacity - written;
                if free == 0 {
                    let full = out.slice(shape, capacity, capacity);
                    break 'run past_the_end(
                        &mut here,
                        rest.into_iter(),
                        full,
                        written,
                        taken,
                        skipped,
                    );
                }
                let pass_items = free.min(len - taken);
                let leaf_items = match probe.next(pass_items, len - taken) {
                    Next::Here { items, timed } => {
                        // A block of items into the rows after those written, on this thread:
                        // no split, no join, no rows to move.
                        ran_here = true;
                        let (block, tail) = rest.split_at(items);
                        rest = tail;
                        let probe = timed.then_some((&mut probe, len - taken - items));
                        let (kept, run) =
                            out.run_timed(&mut here, block.into_iter(), written, probe);
                        written += kept;
                        match run {
                            Ok(dropped) => skipped.extend(dropped.into_iter().map(|i| i + taken)),
                            Err(stop) => {
                                break 'run Err(fill_stop(stop, written, taken, |_| taken + items))
                            }
                        }
                        taken += items;
                        continue;
                    }
                    Next::Share { leaf_items } => leaf_items,
                };
                let (items, tail) = rest.split_at(pass_items);
                rest = tail;
                let pass_out = out.slice(shape, written, written + pass_items);
                let mut pass = shared_pass(row_fn, items, pass_out, taken, leaf_items, zeroed);
                written += pass.written;
                skipped.append(&mut pass.skipped);
                if let Some(stop) = pass.stop(written, taken + pass_items) {
                    break 'run Err(stop);
                }
                taken += pass_items;
            }
            Ok(Batch {
                rows: written,
                skipped,
            })
        };
        if ran_here && !zeroed {
            // Rows that items were run into after the last kept row hold what dropped items
            // left, or what the caller left: zeroed, as a shared pass leaves them, so that
            // the rows are the same whether work was shared or not.
            out.zero_rows(shape, written, capacity.min(len));
        }
        result
    }
}

/// The buffer is full after `written` rows: as `fill` does, the items left (from input index
/// `taken` on) run on this thread, since one item decides, until one gives a row (the
/// overflow) or the input ends.
fn past_the_end<W, I>(
    row_fn: &mut W,
    items: I,
    full: <W::Layout as Layout>::Mut<'_>,
    written: usize,
    taken: usize,
    mut skipped: Vec<usize>,
) -> Result<Batch<usize>, FillStop<Fatal<W, I::Item>>>
where
    I: Iterator,
    W: WriteRows<I::Item>,
{
    let mut target = W::Layout::fill(W::shape(), full);
    match drivers::run(row_fn, items, &mut target) {
        Ok(more) => {
            skipped.extend(more.into_iter().map(|i| i + taken));
            Ok(Batch {
                rows: written,
                skipped,
            })
        }
        Err(stop) => Err(fill_stop(stop, written, taken, |index| index + taken)),
    }
}

/// A run's stop as a fill's that had written `written` rows: a failed item's index counted
/// from `taken`, a full buffer's overflowing item at `full(its index in the run)`.
fn fill_stop<F>(
    stop: Stop<F, Full>,
    written: usize,
    taken: usize,
    full: impl FnOnce(usize) -> usize,
) -> FillStop<F> {
    match stop {
        Stop::Item(failed) => FillStop::Item {
            written,
            failed: Failed {
                index: failed.index + taken,
                failure: failed.failure,
            },
        },
        Stop::Target(Full { index, .. }) => FillStop::Full {
            written,
            index: full(index),
        },
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

/// Runs the rows of `items` into `out` on up to `threads` threads of the current pool, as
/// `split` decides.
pub(crate) fn fill_on<W, I>(
    row_fn: &W,
    items: I,
    out: <W::Layout as Layout>::Mut<'_>,
    threads: usize,
    split: Split,
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
        out: Rows::Views(out),
        len,
        threads,
        split,
    })
}

/// Like [`batch`](crate::batch), with the rows computed on every thread of rayon's current
/// pool; the same result, bit for bit, whatever the number of threads.
///
/// `items` is anything rayon splits by index: a `&Vec<T>` or `&[T]`, a range, `v.par_iter()`.
/// The row function is cloned for each range of items a thread takes (the generated row types
/// are empty structs; a method's captures `&self`). The output is allocated once, zeroed, and
/// each item's row written in place; items that give no row leave a gap that is closed in
/// input order at the end.
///
/// Work too small to share runs on this thread: inputs of fewer than 2048 items, and inputs
/// whose first items, run here and timed, show that the rest would take this thread less than
/// about a millisecond. Shared work is split in ranges of at least a quarter of a millisecond
/// each, so that a short run wakes only the threads it can keep busy.
///
/// ```
/// use std::convert::Infallible;
/// use preallocate::{policy, RowFn, RowSpec};
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
/// let parallel = preallocate::par_batch(&Square, 0..100_000u32);
/// let sequential = preallocate::batch(&mut Square, 0..100_000u32);
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
    let threads = rayon::current_num_threads();
    if len < PROBE_MIN_ITEMS || threads == 1 {
        // One thread, or too short to be timed: the sequential loop itself, at its speed.
        return items.with_producer(Sequential { row_fn });
    }
    let shape = W::shape();
    let Some(mut data) = W::Layout::try_buf(shape, len) else {
        // Too large to allocate at once: the sequential loop grows its buffer as it goes.
        return items.with_producer(Sequential { row_fn });
    };
    let out = Rows::New {
        buf: &mut data,
        rows: len,
        spare: None,
    };
    let run = items.with_producer(FillRun {
        row_fn,
        out,
        len,
        threads,
        split: Split::Work(NEW_BUFFER),
    });
    match run {
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
/// thread, so that no row is computed that `fill` would not compute. Work too small to share
/// runs on this thread, as for [`par_batch`]; since the rows go into a buffer that is already
/// in place, less work is worth sharing: about a fifth of a millisecond, in ranges of at least
/// a twentieth. One difference: rows
/// after the returned count that items were run into (up to the number of items) are zeroed,
/// since threads wrote there before the rows were closed up; `fill` leaves them as they were.
/// Rows past the number of items are left as they were by both.
///
/// # Errors
/// As [`fill`](crate::fill).
///
/// ```
/// use std::convert::Infallible;
/// use preallocate::{policy, Error, RowFn, RowSpec};
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
/// assert_eq!(preallocate::par_fill(&Pair, 0..10_000u32, out.view_mut()), Ok(10_000));
/// assert_eq!(out[[9_999, 1]], 10_000);
/// let full = preallocate::par_fill(&Pair, 0..10_001u32, out.view_mut());
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
        Split::Work(CALLER_BUFFER),
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
    consume: C,
) -> Run<Fatal<W, I::Item>, E>
where
    I: Iterator,
    I::Item: Send,
    W: WriteRows<I::Item> + Clone + Send + Sync,
    Fatal<W, I::Item>: Send,
    C: FnMut(<W::Layout as Layout>::View<'_>) -> Result<(), E>,
{
    let mut handoff = Handoff::<W::Layout, C>::new(W::shape(), chunk_rows, consume);
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
    let mut compute_time = Average::default();
    loop {
        if next.is_empty() {
            handoff.ready().map_err(Stop::Target)?;
            return Ok(skipped);
        }
        std::mem::swap(&mut current, &mut next);
        let count = current.len();
        let mut read_next = || next.extend(items.by_ref().take(chunk_rows));
        let here = compute_time.below(&handoff.consume_time);
        let computed = if here {
            handoff.ready().map_err(Stop::Target)?;
            let start = Instant::now();
            let computed = handoff.compute(row_fn, &mut current, 1);
            // What the threads would take: the work shared among them.
            compute_time.add(start.elapsed().as_secs_f64() / threads as f64);
            read_next();
            computed
        } else {
            handoff
                .compute_while_handing_on(
                    row_fn,
                    &mut current,
                    threads,
                    &mut compute_time,
                    read_next,
                )
                .map_err(Stop::Target)?
        };
        match computed {
            Ok(Batch {
                rows,
                skipped: dropped,
            }) => {
                skipped.extend(dropped.into_iter().map(|i| i + taken));
                handoff.computed(rows, here).map_err(Stop::Target)?;
            }
            Err(FillStop::Item { written, failed }) => {
                // The rows before the failure are handed on first, as `Chunks` does.
                if written > 0 {
                    handoff.computed(written, true).map_err(Stop::Target)?;
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

/// What a chunk's computation gives: its rows and dropped items, or where it stopped.
type Computed<F> = Result<Batch<usize>, FillStop<F>>;

/// The two chunk buffers of a threaded pipeline and the consumer they are handed to.
struct Handoff<L: Layout, C> {
    shape: L::Shape,
    consume: C,
    /// How long handing a chunk on takes, as a running average.
    consume_time: Average,
    /// Takes the current chunk's rows.
    computing: L::Buf,
    /// Holds the previous chunk's rows until they are handed on.
    ready: L::Buf,
    /// Rows in `ready`, if it holds a chunk not handed on yet.
    ready_rows: Option<usize>,
}

impl<L: Layout, C> Handoff<L, C> {
    /// Two zeroed chunk buffers of `chunk_rows` rows, for `consume`.
    fn new(shape: L::Shape, chunk_rows: usize, consume: C) -> Self {
        Handoff {
            shape,
            consume,
            consume_time: Average::default(),
            computing: L::buf(shape, chunk_rows),
            ready: L::buf(shape, chunk_rows),
            ready_rows: None,
        }
    }

    /// Hands `rows` of `buf` to the consumer, timing it.
    fn hand_on<E>(
        consume: &mut C,
        time: &mut Average,
        buf: &L::Buf,
        shape: L::Shape,
        rows: usize,
    ) -> Result<(), E>
    where
        C: FnMut(L::View<'_>) -> Result<(), E>,
    {
        let start = Instant::now();
        let result = consume(L::buf_view(buf, shape, rows));
        time.add(start.elapsed().as_secs_f64());
        result
    }

    /// Hands on the previous chunk, if one is waiting.
    fn ready<E>(&mut self) -> Result<(), E>
    where
        C: FnMut(L::View<'_>) -> Result<(), E>,
    {
        match self.ready_rows.take() {
            Some(rows) => Self::hand_on(
                &mut self.consume,
                &mut self.consume_time,
                &self.ready,
                self.shape,
                rows,
            ),
            None => Ok(()),
        }
    }

    /// `rows` rows of the chunk just computed: handed on now (`now`), else kept ready while
    /// the next chunk is computed.
    fn computed<E>(&mut self, rows: usize, now: bool) -> Result<(), E>
    where
        C: FnMut(L::View<'_>) -> Result<(), E>,
    {
        if now {
            return Self::hand_on(
                &mut self.consume,
                &mut self.consume_time,
                &self.computing,
                self.shape,
                rows,
            );
        }
        self.ready_rows = Some(rows);
        std::mem::swap(&mut self.computing, &mut self.ready);
        Ok(())
    }

    /// Computes the rows of `items` into the computing buffer on `threads` threads.
    fn compute<W, Item>(
        &mut self,
        row_fn: &W,
        items: &mut Vec<Item>,
        threads: usize,
    ) -> Computed<Fatal<W, Item>>
    where
        Item: Send,
        W: WriteRows<Item, Layout = L> + Clone + Send + Sync,
        Fatal<W, Item>: Send,
    {
        let count = items.len();
        fill_on(
            row_fn,
            items.par_drain(..),
            L::buf_mut(&mut self.computing, self.shape, count),
            threads,
            Split::Items(CHUNKS),
        )
    }

    /// Computes the rows of `items` on the threads while this thread hands on the previous
    /// chunk, then (if that worked) reads the next chunk's items with `read_next`.
    fn compute_while_handing_on<W, Item, E>(
        &mut self,
        row_fn: &W,
        items: &mut Vec<Item>,
        threads: usize,
        compute_time: &mut Average,
        read_next: impl FnOnce(),
    ) -> Result<Computed<Fatal<W, Item>>, E>
    where
        Item: Send,
        W: WriteRows<Item, Layout = L> + Clone + Send + Sync,
        Fatal<W, Item>: Send,
        C: FnMut(L::View<'_>) -> Result<(), E>,
    {
        let Handoff {
            shape,
            consume,
            consume_time,
            computing,
            ready,
            ready_rows,
        } = self;
        let (shape, count) = (*shape, items.len());
        let mut computed = None;
        let handed_on = rayon::in_place_scope(|scope| {
            let computed = &mut computed;
            scope.spawn(move |_| {
                let start = Instant::now();
                *computed = Some(fill_on(
                    row_fn,
                    items.par_drain(..),
                    L::buf_mut(computing, shape, count),
                    threads,
                    Split::Items(CHUNKS),
                ));
                compute_time.add(start.elapsed().as_secs_f64());
            });
            let handed_on = match ready_rows.take() {
                Some(rows) => Self::hand_on(consume, consume_time, ready, shape, rows),
                None => Ok(()),
            };
            if handed_on.is_ok() {
                read_next();
            }
            handed_on
        });
        handed_on?;
        Ok(computed.expect("the scope ends when the chunk is computed"))
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

    /// Seconds.
    const NS: f64 = 1e-9;
    const US: f64 = 1e-6;
    const MS: f64 = 1e-3;

    #[test]
    fn work_too_small_to_share_stays_on_this_thread() {
        let new = |cost, items, threads| share(cost, items, threads, NEW_BUFFER);
        // Trivial rows (1.5 ns): a thousand, or a hundred thousand (0.15 ms), are not shared.
        assert_eq!(new(1.5 * NS, 1000, 2), None);
        assert_eq!(new(1.5 * NS, 100_000, 16), None);
        // Just under the threshold, on any number of threads.
        let items = (NEW_BUFFER.share.as_secs_f64() / US) as usize - 1;
        for threads in [2, 4, 16, 64] {
            assert_eq!(new(US, items, threads), None, "{threads} threads");
        }
        // One thread never shares, however long the work.
        assert_eq!(new(MS, 1_000_000, 1), None);
        // Into a caller's buffer, less is worth sharing, but 65,536 trivial rows are not.
        assert_eq!(share(1.1 * NS, 65_536, 2, CALLER_BUFFER), None);
        assert!(share(1.1 * NS, 262_144, 2, CALLER_BUFFER).is_some());
        assert_eq!(new(1.1 * NS, 262_144, 2), None);
    }

    #[test]
    fn work_worth_sharing_is_split_in_leaves_of_enough_work() {
        let new = |cost, items, threads| share(cost, items, threads, NEW_BUFFER);
        // Ten million trivial rows (15 ms) on 2 threads: 4 leaves per thread, as by count.
        assert_eq!(new(1.5 * NS, 10_000_000, 2), Some(1_250_000));
        // Heavy rows: a few items are worth sharing, one per leaf.
        assert_eq!(new(MS, 8, 2), Some(1));
        for worth in [NEW_BUFFER, CALLER_BUFFER] {
            for (cost, items, threads) in [
                (1.5 * NS, 1_000_000, 2),
                (US, 2_000, 16),
                (US, 1_000_000, 16),
                (20.0 * US, 2048, 8),
                (MS, 3, 64),
            ] {
                let leaf = share(cost, items, threads, worth).expect("worth sharing");
                assert!(leaf < items, "{cost} {items} {threads}: {leaf}");
                // Leaves are halves of halves down to `leaf` items: each has more than half of
                // it, and that is at least `worth.leaf` (or a whole item).
                let smallest = leaf.div_ceil(2).max(1) as f64 * cost;
                assert!(
                    smallest >= worth.leaf.as_secs_f64() * 0.999 || leaf == 1,
                    "{cost} {items} {threads}: leaves of {smallest} s"
                );
                assert!(items.div_ceil(leaf) <= 2 * threads * LEAVES_PER_THREAD);
            }
        }
        // Two milliseconds on 16 threads wake only the few threads it keeps busy.
        let leaf = new(US, 2_000, 16).unwrap();
        assert!(2_000usize.div_ceil(leaf) <= 4, "{leaf}");
        // A second on 16 threads uses them all, a few leaves each.
        assert_eq!(new(US, 1_000_000, 16), Some(15_625));
    }

    fn probe(threads: usize, len: usize) -> Probe {
        Probe::new(Split::Work(NEW_BUFFER), threads, len)
    }

    fn nanos(ns: f64) -> Duration {
        Duration::from_secs_f64(ns * NS)
    }

    #[test]
    fn short_inputs_and_one_thread_are_not_timed() {
        let untimed = |items| Next::Here {
            items,
            timed: false,
        };
        assert_eq!(probe(8, 2047).next(2047, 2047), untimed(2047));
        assert_eq!(
            probe(1, 1_000_000).next(1_000_000, 1_000_000),
            untimed(1_000_000)
        );
        // A pipeline's chunks are split by count, as before.
        let chunks = Probe::new(Split::Items(CHUNKS), 4, 100_000);
        assert_eq!(
            chunks.next(100_000, 100_000),
            Next::Share {
                leaf_items: leaf_items(100_000, 4, CHUNKS)
            }
        );
    }

    #[test]
    fn cheap_rows_stop_being_timed_after_a_block_or_two() {
        // 4096 rows at 2 ns: after the first block, even 16 times that cost is too little.
        let mut p = probe(2, 4096);
        assert_eq!(
            p.next(4096, 4096),
            Next::Here {
                items: PROBE_FIRST,
                timed: true
            }
        );
        p.record(PROBE_FIRST, nanos(8.0), 4096 - PROBE_FIRST);
        assert_eq!(p.state, Probing::Alone);
        assert_eq!(
            p.next(4092, 4092),
            Next::Here {
                items: 4092,
                timed: false
            }
        );

        // 200,000 rows at 1.5 ns (0.3 ms): timed until the sample reaches PROBE_WORK, then
        // kept here.
        let mut p = probe(2, 200_000);
        let mut taken = 0;
        while p.state == Probing::Timing {
            let Next::Here { items, timed: true } = p.next(200_000 - taken, 200_000 - taken) else {
                panic!("a timed block while probing");
            };
            taken += items;
            p.record(items, nanos(1.5 * items as f64), 200_000 - taken);
        }
        assert!(p.time >= PROBE_WORK || p.state == Probing::Alone);
        assert!(taken < 200_000 / 2, "{taken} items timed");
        assert!(matches!(
            p.next(200_000 - taken, 200_000 - taken),
            Next::Here { timed: false, .. }
        ));

        // The same rows, ten million of them (15 ms): shared.
        let mut p = probe(2, 10_000_000);
        let mut taken = 0;
        while p.state == Probing::Timing {
            let Next::Here { items, .. } = p.next(10_000_000 - taken, 10_000_000 - taken) else {
                panic!("a block here while probing");
            };
            taken += items;
            p.record(items, nanos(1.5 * items as f64), 10_000_000 - taken);
        }
        assert!(matches!(p.state, Probing::Measured(cost) if (cost - 1.5 * NS).abs() < 1e-12));
        assert!(matches!(
            p.next(10_000_000 - taken, 10_000_000 - taken),
            Next::Share { .. }
        ));
    }

    #[test]
    fn costly_rows_are_shared_after_two_blocks() {
        // 1 ms a row: 4 rows here, 4 more to confirm, and the rest on every thread.
        let mut p = probe(4, 2048);
        p.record(PROBE_FIRST, nanos(4e6), 2048 - 4);
        assert_eq!(p.state, Probing::Timing, "one block does not decide");
        assert_eq!(
            p.next(2044, 2044),
            Next::Here {
                items: PROBE_FIRST,
                timed: true
            }
        );
        p.record(PROBE_FIRST, nanos(4e6), 2048 - 8);
        assert_eq!(p.state, Probing::Measured(MS));
        assert_eq!(
            p.next(2040, 2040),
            Next::Share {
                leaf_items: 2040usize.div_ceil(4 * LEAVES_PER_THREAD)
            }
        );
    }

    #[test]
    fn a_slow_first_block_does_not_make_cheap_rows_look_costly() {
        // The first block pays 2 ms for a lazy initialization; the rows cost 1.5 ns.
        let mut p = probe(2, 100_000);
        p.record(PROBE_FIRST, nanos(2e6), 100_000 - 4);
        let Next::Here { items, timed: true } = p.next(99_996, 99_996) else {
            panic!("still probing");
        };
        p.record(items, nanos(1.5 * items as f64), 99_996 - items);
        assert!(matches!(p.state, Probing::Measured(cost) if cost < 2.0 * NS));
        assert!(matches!(
            p.next(99_996 - items, 99_996 - items),
            Next::Here { timed: false, .. }
        ));
    }

    #[test]
    fn probe_blocks_grow_towards_the_sample_time_within_bounds() {
        let mut p = probe(2, 1 << 30);
        assert_eq!(p.block(), PROBE_FIRST);
        // 10 ns a row: aim at twice PROBE_WORK, at most PROBE_GROWTH times the items so far.
        p.record(4, nanos(40.0), 1 << 29);
        assert_eq!(p.block(), 4 * PROBE_GROWTH);
        p.record(256, nanos(2560.0), 1 << 29);
        let wanted = (2.0 * PROBE_WORK.as_secs_f64() / (10.0 * NS)) as usize - 260;
        assert_eq!(p.block(), wanted);
        // A clock that did not move: the most growth, never zero.
        let mut p = probe(2, 1 << 30);
        p.record(4, Duration::ZERO, 1 << 29);
        assert_eq!(p.block(), 4 * PROBE_GROWTH);
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
