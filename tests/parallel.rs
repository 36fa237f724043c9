//! `par_batch` and `par_fill`, through the macro: for every form of row function, the same
//! result as `batch` and `fill`, bit for bit, on pools of 1, 2, 3 and 8 threads, for inputs
//! short enough to run on the calling thread and long enough to be split.
#![cfg(feature = "parallel")]

use std::collections::HashSet;
use std::fmt::Debug;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::ThreadId;

use ndarray::{s, Array2, ArrayViewMut2, ArrayViewMut3, Axis, ShapeBuilder};
use preallocate::{preallocate, Batch, Error};
use proptest::prelude::*;
use rayon::iter::IntoParallelRefIterator;
use rayon::{ThreadPool, ThreadPoolBuilder};

// Row functions, one per form.

#[preallocate(dim = 3, dtype = f64)]
fn plain(x: &i32) -> [f64; 3] {
    let x = f64::from(*x);
    [x, x * 0.5, -x]
}

/// In place, relying on the row being zeroed first.
#[preallocate(dim = 2, dtype = i32)]
fn in_place(x: &i32, row: &mut [i32; 2]) {
    if x % 3 == 0 {
        row[0] = *x;
    }
    row[1] = x / 2;
}

#[preallocate(dim = 2, dtype = i32)]
fn odd(x: &i32) -> Option<[i32; 2]> {
    (x % 2 != 0).then_some([*x, x * 3])
}

#[derive(Clone, Debug, PartialEq)]
struct Bad(i32);

/// An item: its value, and whether the row function fails on it.
type Item = (i32, bool);

#[preallocate(dim = 1, dtype = i32)]
fn fallible(item: &Item) -> Result<[i32; 1], Bad> {
    if item.1 {
        Err(Bad(item.0))
    } else {
        Ok([item.0])
    }
}

#[preallocate(dim = 2, dtype = i32)]
fn fallible_odd(item: &Item) -> Result<Option<[i32; 2]>, Bad> {
    if item.1 {
        return Err(Bad(item.0));
    }
    Ok((item.0 % 2 != 0).then_some([item.0, -item.0]))
}

#[preallocate(dim = 1, dtype = i32, on_error = "skip")]
fn skip_bad(item: &Item) -> Result<[i32; 1], Bad> {
    fallible(item)
}

#[preallocate(shape = (2, 3), dtype = i32)]
fn grid(x: &i32) -> [[i32; 3]; 2] {
    [[*x, x + 1, x + 2], [x * 2, x * 3, x * 4]]
}

/// Fails on the items marked to fail, which are out of `u8`'s range.
#[preallocate(dim = 1, dtype = u8, cast = "checked")]
fn narrow(item: &Item) -> [i32; 1] {
    [if item.1 { 256 + item.0 } else { item.0 & 0xff }]
}

struct Offset {
    by: i32,
}

impl Offset {
    #[preallocate(dim = 2, dtype = i32)]
    fn shift(&self, x: &i32) -> Option<[i32; 2]> {
        (x % 5 != 0).then_some([x + self.by, x - self.by])
    }

    #[preallocate(dim = 1, dtype = i32)]
    fn check(&self, item: &Item) -> Result<[i32; 1], Bad> {
        if item.1 {
            Err(Bad(item.0))
        } else {
            Ok([item.0 + self.by])
        }
    }
}

// Pools and inputs.

const THREADS: [usize; 4] = [1, 2, 3, 8];

fn pools() -> &'static [(usize, ThreadPool)] {
    static POOLS: OnceLock<Vec<(usize, ThreadPool)>> = OnceLock::new();
    POOLS.get_or_init(|| {
        THREADS
            .iter()
            .map(|&n| (n, ThreadPoolBuilder::new().num_threads(n).build().unwrap()))
            .collect()
    })
}

/// `parallel()` on every pool gives `sequential`.
fn same_on_every_pool<T: PartialEq + Debug + Send>(
    sequential: &T,
    parallel: impl Fn() -> T + Sync,
) {
    for (threads, pool) in pools() {
        let got = pool.install(&parallel);
        assert_eq!(&got, sequential, "{threads} threads");
    }
}

/// Lengths on the calling thread (under the runtime's 2048), around it, and well above it.
fn len() -> impl Strategy<Value = usize> {
    prop_oneof![0..40usize, 2040..2060usize, 4000..20_000usize]
}

/// Values of either sign, for `len` items.
fn values(len: usize, seed: u64) -> Vec<i32> {
    (0..len as u64)
        .map(|i| {
            let mixed = (i ^ seed).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 40;
            i32::try_from(mixed % 2001).unwrap() - 1000
        })
        .collect()
}

/// Items that fail at the chosen positions (taken modulo the length), and at the first, a
/// middle or the last item.
fn items(len: usize, seed: u64, fail_at: &[usize], edge: u8) -> Vec<Item> {
    let mut items: Vec<Item> = values(len, seed).into_iter().map(|x| (x, false)).collect();
    if len > 0 {
        for &at in fail_at {
            items[at % len].1 = true;
        }
        match edge {
            0 => items[0].1 = true,
            1 => items[len / 2].1 = true,
            2 => items[len - 1].1 = true,
            _ => {}
        }
    }
    items
}

fn cfg() -> ProptestConfig {
    ProptestConfig {
        cases: 12,
        ..ProptestConfig::default()
    }
}

// Buffers for `fill`.

/// The rows a fill call reports as written.
trait Written {
    fn written(&self) -> usize;
}

impl<E> Written for Result<usize, Error<E>> {
    fn written(&self) -> usize {
        match self {
            Ok(rows) => *rows,
            Err(err) => err.rows_written(),
        }
    }
}

impl<E> Written for Result<Batch<usize>, Error<E>> {
    fn written(&self) -> usize {
        match self {
            Ok(batch) => batch.rows,
            Err(err) => err.rows_written(),
        }
    }
}

/// The layouts a buffer of `rows` rows of `dim` elements can have.
#[derive(Clone, Copy, Debug)]
enum Layout {
    RowMajor,
    ColumnMajor,
    /// Every other row and the inner columns of a larger array.
    Sliced,
}

const LAYOUTS: [Layout; 3] = [Layout::RowMajor, Layout::ColumnMajor, Layout::Sliced];

/// A value the rows never hold, to see which rows were written.
const STALE: i32 = 7_777_777;

fn buffer(layout: Layout, rows: usize, dim: usize) -> Array2<i32> {
    match layout {
        Layout::RowMajor => Array2::from_elem((rows, dim), STALE),
        Layout::ColumnMajor => Array2::from_elem((rows, dim).f(), STALE),
        Layout::Sliced => Array2::from_elem((rows * 2, dim + 2), STALE),
    }
}

fn view(layout: Layout, buffer: &mut Array2<i32>) -> ArrayViewMut2<'_, i32> {
    match layout {
        Layout::Sliced => {
            let dim = buffer.ncols() - 2;
            buffer.slice_mut(s![..;2, 1..=dim])
        }
        _ => buffer.view_mut(),
    }
}

/// `par_fill` into every layout of a buffer of `capacity` rows gives `fill`'s result and rows;
/// rows after the count that an item could have filled are zeroed, the rest left as they were.
fn same_fill<R>(
    len: usize,
    capacity: usize,
    dim: usize,
    fill: impl Fn(ArrayViewMut2<'_, i32>) -> R,
    par_fill: impl Fn(ArrayViewMut2<'_, i32>) -> R + Sync,
) where
    R: Written + PartialEq + Debug + Send,
{
    for layout in LAYOUTS {
        let mut expected = buffer(layout, capacity, dim);
        let sequential = fill(view(layout, &mut expected));
        let written = sequential.written();
        for (threads, pool) in pools() {
            let mut got = buffer(layout, capacity, dim);
            let parallel = pool.install(|| par_fill(view(layout, &mut got)));
            let context = format!("{threads} threads, {layout:?}, {capacity} rows for {len} items");
            assert_eq!(parallel, sequential, "{context}");
            let (expected, got) = (view(layout, &mut expected), view(layout, &mut got));
            assert_eq!(
                got.slice(s![..written, ..]),
                expected.slice(s![..written, ..]),
                "{context}"
            );
            let reached = len.min(capacity);
            let after = got.slice(s![written..reached.max(written), ..]);
            assert!(
                after.iter().all(|&x| x == 0),
                "{context}: rows after the count"
            );
            let beyond = got.slice(s![reached.max(written).., ..]);
            assert!(
                beyond.iter().all(|&x| x == STALE),
                "{context}: rows beyond the input"
            );
        }
    }
}

/// Capacities shorter than, equal to and longer than the input.
fn capacities(len: usize) -> [usize; 4] {
    [len / 2, len.saturating_sub(1), len, len + 3]
}

// par_batch == batch.

proptest! {
    #![proptest_config(cfg())]

    #[test]
    fn par_batch_is_batch_by_value(len in len(), seed in any::<u64>()) {
        let xs = values(len, seed);
        same_on_every_pool(&plain::batch(&xs), || plain::par_batch(&xs));
        same_on_every_pool(&plain::batch(&xs), || plain::par_batch(xs.par_iter()));
    }

    #[test]
    fn par_batch_is_batch_in_place(len in len(), seed in any::<u64>()) {
        let xs = values(len, seed);
        same_on_every_pool(&in_place::batch(&xs), || in_place::par_batch(&xs[..]));
    }

    #[test]
    fn par_batch_is_batch_with_dropped_items(len in len(), seed in any::<u64>()) {
        let xs = values(len, seed);
        same_on_every_pool(&odd::batch(&xs), || odd::par_batch(&xs));
    }

    #[test]
    fn par_batch_is_batch_with_failures(
        len in len(),
        seed in any::<u64>(),
        fail_at in prop::collection::vec(any::<usize>(), 0..4),
        edge in 0..4u8,
    ) {
        let items = items(len, seed, &fail_at, edge);
        same_on_every_pool(&fallible::batch(&items), || fallible::par_batch(&items));
        same_on_every_pool(&fallible_odd::batch(&items), || fallible_odd::par_batch(&items));
        same_on_every_pool(&skip_bad::batch(&items), || skip_bad::par_batch(&items));
        same_on_every_pool(&narrow::batch(&items), || narrow::par_batch(&items));
    }

    #[test]
    fn par_batch_is_batch_for_multi_axis_rows(len in len(), seed in any::<u64>()) {
        let xs = values(len, seed);
        same_on_every_pool(&grid::batch(&xs), || grid::par_batch(&xs));
    }

    #[test]
    fn par_batch_is_batch_for_methods(
        len in len(),
        seed in any::<u64>(),
        fail_at in prop::collection::vec(any::<usize>(), 0..4),
        edge in 0..4u8,
    ) {
        let offset = Offset { by: 11 };
        let xs = values(len, seed);
        same_on_every_pool(&offset.shift_batch(&xs), || offset.shift_par_batch(&xs));
        let items = items(len, seed, &fail_at, edge);
        same_on_every_pool(&offset.check_batch(&items), || offset.check_par_batch(&items));
    }
}

// par_fill == fill.

proptest! {
    #![proptest_config(cfg())]

    #[test]
    fn par_fill_is_fill_by_value_and_in_place(len in len(), seed in any::<u64>()) {
        let xs = values(len, seed);
        for capacity in capacities(len) {
            same_fill(len, capacity, 2, |out| in_place::fill(&xs, out), |out| in_place::par_fill(&xs, out));
            same_fill(len, capacity, 2, |out| odd::fill(&xs, out), |out| odd::par_fill(&xs, out));
        }
    }

    #[test]
    fn par_fill_is_fill_with_failures(
        len in len(),
        seed in any::<u64>(),
        fail_at in prop::collection::vec(any::<usize>(), 0..4),
        edge in 0..4u8,
    ) {
        let items = items(len, seed, &fail_at, edge);
        for capacity in capacities(len) {
            same_fill(len, capacity, 1, |out| fallible::fill(&items, out), |out| fallible::par_fill(&items, out));
            same_fill(len, capacity, 2, |out| fallible_odd::fill(&items, out), |out| fallible_odd::par_fill(&items, out));
            same_fill(len, capacity, 1, |out| skip_bad::fill(&items, out), |out| skip_bad::par_fill(&items, out));
        }
    }

    #[test]
    fn par_fill_is_fill_for_methods(
        len in len(),
        seed in any::<u64>(),
        fail_at in prop::collection::vec(any::<usize>(), 0..4),
        edge in 0..4u8,
    ) {
        let offset = Offset { by: -3 };
        let xs = values(len, seed);
        let items = items(len, seed, &fail_at, edge);
        for capacity in capacities(len) {
            same_fill(len, capacity, 2, |out| offset.shift_fill(&xs, out), |out| offset.shift_par_fill(&xs, out));
            same_fill(len, capacity, 1, |out| offset.check_fill(&items, out), |out| offset.check_par_fill(&items, out));
        }
    }
}

/// A multi-axis row and a checked cast into their own buffer types.
#[test]
fn par_fill_is_fill_for_multi_axis_rows_and_casts() {
    let xs = values(9_000, 3);
    let items = items(9_000, 4, &[6_000, 7_000], 1);
    for capacity in capacities(9_000) {
        let mut expected = ndarray::Array3::<i32>::from_elem((capacity, 2, 3), STALE);
        let sequential = grid::fill(&xs, expected.view_mut());
        let mut narrowed = Array2::<u8>::from_elem((capacity, 1), 9);
        let narrowed_seq = narrow::fill(&items, narrowed.view_mut());
        for (threads, pool) in pools() {
            let mut got = ndarray::Array3::<i32>::from_elem((capacity, 2, 3), STALE);
            let out: ArrayViewMut3<'_, i32> = got.view_mut();
            assert_eq!(
                pool.install(|| grid::par_fill(&xs, out)),
                sequential,
                "{threads} threads"
            );
            let written = sequential.written();
            assert_eq!(
                got.slice(s![..written, .., ..]),
                expected.slice(s![..written, .., ..])
            );

            let mut got = Array2::<u8>::from_elem((capacity, 1), 9);
            let parallel = pool.install(|| narrow::par_fill(&items, got.view_mut()));
            assert_eq!(parallel, narrowed_seq, "{threads} threads");
            let written = narrowed_seq.written();
            assert_eq!(
                got.slice(s![..written, ..]),
                narrowed.slice(s![..written, ..])
            );
        }
    }
}

// Items by value: every one is dropped, whether it gave a row, none, failed or was not reached.

struct Tracked {
    value: i32,
    fails: bool,
    drops: Arc<AtomicUsize>,
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.drops.fetch_add(1, Ordering::Relaxed);
    }
}

#[preallocate(dim = 1, dtype = i32)]
fn tracked(item: Tracked) -> Result<Option<[i32; 1]>, Bad> {
    if item.fails {
        return Err(Bad(item.value));
    }
    Ok((item.value % 2 == 0).then_some([item.value]))
}

#[test]
fn every_item_is_dropped() {
    for len in [0usize, 10, 3_000, 20_000] {
        for fails_at in [None, Some(0), Some(len / 2), Some(len.saturating_sub(1))] {
            let make = |drops: &Arc<AtomicUsize>| -> Vec<Tracked> {
                values(len, 9)
                    .into_iter()
                    .enumerate()
                    .map(|(i, value)| Tracked {
                        value,
                        fails: Some(i) == fails_at,
                        drops: Arc::clone(drops),
                    })
                    .collect()
            };
            let drops = Arc::new(AtomicUsize::new(0));
            let sequential = tracked::batch(make(&drops));
            assert_eq!(drops.load(Ordering::Relaxed), len);
            for (threads, pool) in pools() {
                let drops = Arc::new(AtomicUsize::new(0));
                let items = make(&drops);
                assert_eq!(pool.install(|| tracked::par_batch(items)), sequential);
                assert_eq!(
                    drops.load(Ordering::Relaxed),
                    len,
                    "{threads} threads, batch"
                );

                let drops = Arc::new(AtomicUsize::new(0));
                let items = make(&drops);
                let mut out = Array2::<i32>::zeros((len / 3, 1));
                let _ = pool.install(|| tracked::par_fill(items, out.view_mut()));
                assert_eq!(
                    drops.load(Ordering::Relaxed),
                    len,
                    "{threads} threads, fill"
                );
            }
        }
    }
}

// The rows are in fact computed on several threads.

static THREAD_IDS: Mutex<Option<HashSet<ThreadId>>> = Mutex::new(None);

/// Some work per row, and the thread that did it.
#[preallocate(dim = 1, dtype = u64)]
fn on_some_thread(x: u32) -> [u64; 1] {
    let mut hash = u64::from(x);
    for _ in 0..200 {
        hash = hash.rotate_left(5).wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0x2545_f491;
    }
    THREAD_IDS
        .lock()
        .unwrap()
        .get_or_insert_with(HashSet::new)
        .insert(std::thread::current().id());
    [hash]
}

#[test]
fn rows_are_computed_on_several_threads() {
    let pool = ThreadPoolBuilder::new().num_threads(4).build().unwrap();
    let rows = pool.install(|| on_some_thread::par_batch(0..200_000u32));
    let threads = THREAD_IDS.lock().unwrap().take().unwrap_or_default().len();
    assert!(threads >= 2, "rows computed on {threads} thread(s)");
    assert_eq!(rows.len_of(Axis(0)), 200_000);
    assert_eq!(rows.row(7), on_some_thread::batch([7u32]).row(0));
}
