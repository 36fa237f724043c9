//! The parallel drivers against the sequential ones: the same rows, counts, `skipped` lists,
//! errors and files, whatever the number of threads.
#![cfg(feature = "parallel")]

use std::collections::{BTreeSet, HashSet};
use std::marker::PhantomData;
use std::sync::Mutex;
use std::thread::ThreadId;
use std::time::{Duration, Instant};

use preallocate_runtime::ndarray::{Array2, ShapeBuilder};
use preallocate_runtime::policy::{Fallible, FallibleFiltered, Filtered, Plain, Skipping};
use preallocate_runtime::{
    batch, fill, par_batch, par_fill, Batch, Error, Pipeline, Policy, RowError, RowFn, RowSpec,
};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

/// Row `i` is `[i, i², i % 7]`; items in `drop` give no row, items in `fail` fail with their
/// value. Under a policy that cannot fail, `fail` must be empty. Each row takes at least `cost`
/// (spent spinning), so that work is shared: `par_batch` and `par_fill` keep cheap work that
/// they time on the calling thread.
#[derive(Clone)]
struct Rows<P> {
    drop: BTreeSet<u32>,
    fail: BTreeSet<u32>,
    in_place: bool,
    cost: Duration,
    policy: PhantomData<P>,
}

fn rows<P>(drop: &[u32], fail: &[u32], in_place: bool) -> Rows<P> {
    Rows {
        drop: drop.iter().copied().collect(),
        fail: fail.iter().copied().collect(),
        in_place,
        cost: Duration::ZERO,
        policy: PhantomData,
    }
}

impl<P> Rows<P> {
    /// The same rows, each taking at least `cost`.
    fn costing(self, cost: Duration) -> Self {
        Rows { cost, ..self }
    }
}

impl<P: Policy> RowSpec for Rows<P> {
    type Dtype = i64;
    type Dim = preallocate_runtime::ndarray::Ix2;
    type Policy = P;
    const DIM: usize = 3;
    const SHAPE: &'static [usize] = &[3];
    const OVERWRITES_ROW: bool = false;
}

/// What each policy's row function fails with, for the one body below.
trait Failing: Policy {
    fn failure(item: u32) -> Self::Failure<u32>;
}

impl Failing for Plain {
    fn failure(item: u32) -> std::convert::Infallible {
        unreachable!("item {item} fails under a policy that cannot fail")
    }
}
impl Failing for Filtered {
    fn failure(item: u32) -> std::convert::Infallible {
        unreachable!("item {item} fails under a policy that cannot fail")
    }
}
impl Failing for Fallible {
    fn failure(item: u32) -> RowError<u32> {
        RowError::Row(item)
    }
}
impl Failing for FallibleFiltered {
    fn failure(item: u32) -> RowError<u32> {
        RowError::Row(item)
    }
}
impl Failing for Skipping {
    fn failure(item: u32) -> RowError<u32> {
        RowError::Row(item)
    }
}

impl<P: Failing> RowFn<u32> for Rows<P> {
    type Error = u32;
    fn write_row(&mut self, item: u32, row: &mut [i64]) -> Result<bool, P::Failure<u32>> {
        // In place, the slot must arrive zeroed; scribble before deciding, so that a dropped
        // or failed row that left a trace would show.
        if self.in_place {
            assert!(row.iter().all(|&x| x == 0), "slot handed over dirty");
            row[2] = -99;
        }
        let start = Instant::now();
        while start.elapsed() < self.cost {
            std::hint::spin_loop();
        }
        if self.fail.contains(&item) {
            return Err(P::failure(item));
        }
        let x = i64::from(item);
        row.copy_from_slice(&[x, x * x, x % 7]);
        Ok(!self.drop.contains(&item))
    }
}

/// `par_fill` and `fill` of `0..len`, each into a fresh `buffer()`, give the same result and
/// the same rows.
fn same_fill<P>(
    threads: usize,
    row_fn: &Rows<P>,
    len: u32,
    buffer: &dyn Fn() -> Array2<i64>,
) -> Result<(), TestCaseError>
where
    P: Failing<Failure<u32> = RowError<u32>, Filled = Batch<usize>, Reported<u32> = u32>
        + Clone
        + Send
        + Sync,
    P::Fatal<u32>: Send,
{
    let (mut parallel, mut sequential) = (buffer(), buffer());
    let got = on_threads(threads, || par_fill(row_fn, 0..len, parallel.view_mut()));
    let expected = fill(&mut row_fn.clone(), 0..len, sequential.view_mut());
    prop_assert_eq!(&got, &expected);
    let written = match &expected {
        Ok(batch) => batch.rows,
        Err(err) => err.rows_written(),
    };
    prop_assert_eq!(
        parallel.slice(preallocate_runtime::ndarray::s![..written, ..]),
        sequential.slice(preallocate_runtime::ndarray::s![..written, ..])
    );
    Ok(())
}

fn on_threads<T: Send>(threads: usize, f: impl FnOnce() -> T + Send) -> T {
    preallocate_runtime::rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("a thread pool")
        .install(f)
}

fn positions(len: u32) -> impl Strategy<Value = Vec<u32>> {
    // First, a middle and the last item are the cases that matter most; the rest at random.
    let ends = if len == 0 {
        vec![]
    } else {
        vec![0, len / 2, len - 1]
    };
    proptest::collection::vec(0..len.max(1), 0..4)
        .prop_map(move |mut picked| {
            picked.retain(|&p| p < len);
            picked
        })
        .prop_flat_map(move |picked| {
            let ends = ends.clone();
            proptest::sample::subsequence(ends.clone(), 0..=ends.len()).prop_map(
                move |mut chosen| {
                    chosen.extend(picked.iter().copied());
                    chosen
                },
            )
        })
}

fn case() -> impl Strategy<Value = (u32, Vec<u32>, Vec<u32>, bool, usize)> {
    prop_oneof![Just(0u32), 1u32..3000, Just(20_000u32)].prop_flat_map(|len| {
        (
            Just(len),
            proptest::collection::vec(0..len.max(1), 0..200),
            positions(len),
            any::<bool>(),
            prop_oneof![Just(1usize), Just(2), Just(3), Just(8)],
        )
    })
}

/// Cheap rows (kept on the calling thread, as a rule), or rows of 2 µs (shared from 2048 items
/// on: 4 ms of work and more).
fn cost() -> impl Strategy<Value = Duration> {
    prop_oneof![Just(Duration::ZERO), Just(Duration::from_micros(2))]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn par_batch_is_batch_for_every_policy(
        (len, drop, fail, in_place, threads) in case(),
        cost in cost(),
    ) {
        let filtered = rows::<Filtered>(&drop, &[], in_place).costing(cost);
        let got = on_threads(threads, || par_batch(&filtered, 0..len));
        prop_assert_eq!(got, batch(&mut filtered.clone(), 0..len));

        let plain = rows::<Plain>(&[], &[], in_place).costing(cost);
        let got = on_threads(threads, || par_batch(&plain, 0..len));
        prop_assert_eq!(got, batch(&mut plain.clone(), 0..len));

        let fallible = rows::<Fallible>(&[], &fail, in_place).costing(cost);
        let got = on_threads(threads, || par_batch(&fallible, 0..len));
        prop_assert_eq!(got, batch(&mut fallible.clone(), 0..len));

        let both = rows::<FallibleFiltered>(&drop, &fail, in_place).costing(cost);
        let got = on_threads(threads, || par_batch(&both, 0..len));
        prop_assert_eq!(got, batch(&mut both.clone(), 0..len));

        let skipping = rows::<Skipping>(&drop, &fail, in_place).costing(cost);
        let got = on_threads(threads, || par_batch(&skipping, 0..len));
        prop_assert_eq!(got, batch(&mut skipping.clone(), 0..len));
    }

    #[test]
    fn par_fill_is_fill_in_any_layout(
        (len, drop, fail, in_place, threads) in case(),
        cost in cost(),
        capacity_delta in -300i64..300,
        column_major in any::<bool>(),
    ) {
        let capacity = (i64::from(len) + capacity_delta).max(0) as usize;
        let buffer = || if column_major {
            Array2::<i64>::from_elem((capacity, 3).f(), 42)
        } else {
            Array2::<i64>::from_elem((capacity, 3), 42)
        };
        let both = rows::<FallibleFiltered>(&drop, &fail, in_place).costing(cost);
        same_fill(threads, &both, len, &buffer)?;
        let skipping = rows::<Skipping>(&drop, &fail, in_place).costing(cost);
        same_fill(threads, &skipping, len, &buffer)?;
    }

    #[test]
    fn a_threaded_pipeline_hands_on_the_sequential_chunks(
        (len, drop, fail, in_place, threads) in case(),
        chunk_rows in prop_oneof![Just(1usize), 7usize..5000],
        exact in any::<bool>(),
    ) {
        let collect = |threads: usize| {
            let items: Box<dyn Iterator<Item = u32> + Send> = if exact {
                Box::new(0..len)
            } else {
                Box::new((0..len).filter(|_| true))
            };
            let mut seen = Vec::new();
            let pipeline = Pipeline::new(rows::<FallibleFiltered>(&drop, &fail, in_place))
                .chunk_rows(chunk_rows)
                .threads(threads);
            let done = on_threads(threads.max(2), || {
                pipeline.for_each_chunk(items, |chunk| {
                    seen.push(chunk.to_owned());
                    Ok::<(), preallocate_runtime::ItemError<u32>>(())
                })
            });
            (done, seen)
        };
        let (sequential, sequential_chunks) = collect(1);
        let (threaded, threaded_chunks) = collect(threads);
        prop_assert_eq!(threaded, sequential);
        let items = || -> Box<dyn Iterator<Item = u32> + Send> {
            if exact { Box::new(0..len) } else { Box::new((0..len).filter(|_| true)) }
        };
        let threaded_batch = on_threads(threads.max(2), || {
            Pipeline::new(rows::<FallibleFiltered>(&drop, &fail, in_place))
                .chunk_rows(chunk_rows)
                .threads(threads)
                .batch(items())
        });
        prop_assert_eq!(threaded_batch, batch(&mut rows::<FallibleFiltered>(&drop, &fail, in_place), items()));
        // The same rows, in the same order (chunks may be cut where the sequential ones are).
        let flat = |chunks: Vec<Array2<i64>>| chunks.iter().flat_map(|c| c.iter().copied().collect::<Vec<_>>()).collect::<Vec<_>>();
        prop_assert_eq!(flat(threaded_chunks), flat(sequential_chunks));
    }
}

#[test]
fn costly_rows_around_the_thresholds_give_the_sequential_result() {
    // 2 µs a row: under 2048 items every row runs on the calling thread; from 2048 on (4 ms of
    // work) the first rows are timed there, in blocks of 4, 4, ..., and the rest is shared.
    // Drops and failures fall in the first timed block, the second, the shared rows and the
    // last row; with two failures, the lower one is reported.
    let cost = Duration::from_micros(2);
    for len in [2047u32, 2048, 2049, 2600] {
        let marks = [0, 3, 4, 5, 7, 8, 300, len / 2, len - 1];
        let cases: [(&[u32], &[u32]); 5] = [
            (&marks, &[]),
            (&[1, 6, 700], &[5]),
            (&[], &[len - 1]),
            (&[2, 9], &[len / 2, 300]),
            (&[len - 2], &[0]),
        ];
        for (drop, fail) in cases {
            for threads in [2, 8] {
                let row_fn = rows::<FallibleFiltered>(drop, fail, true).costing(cost);
                let got = on_threads(threads, || par_batch(&row_fn, 0..len));
                assert_eq!(
                    got,
                    batch(&mut row_fn.clone(), 0..len),
                    "{len} items, drop {drop:?}, fail {fail:?}, {threads} threads"
                );
                let skipping = rows::<Skipping>(drop, fail, false).costing(cost);
                let got = on_threads(threads, || par_batch(&skipping, 0..len));
                assert_eq!(got, batch(&mut skipping.clone(), 0..len));
                for capacity in [len as usize, len as usize - 100] {
                    let buffer = || Array2::<i64>::from_elem((capacity, 3), 42);
                    same_fill(threads, &row_fn, len, &buffer).unwrap();
                    same_fill(threads, &skipping, len, &buffer).unwrap();
                }
            }
        }
    }
}

#[test]
fn inputs_under_2048_items_run_on_the_calling_thread() {
    for len in [1000u32, 2047] {
        let seen = Mutex::new(HashSet::new());
        let caller = on_threads(4, || {
            let rows = par_batch(&Spy(&seen), 0..len);
            assert_eq!(rows.shape(), &[len as usize, 1]);
            let mut out = Array2::<f64>::zeros((len as usize, 1));
            par_fill(&Spy(&seen), 0..len, out.view_mut()).unwrap();
            std::thread::current().id()
        });
        assert_eq!(seen.into_inner().unwrap(), HashSet::from([caller]));
    }
}

#[test]
fn every_item_dropped_gives_an_empty_batch_on_any_threads() {
    let all: Vec<u32> = (0..10_000).collect();
    let cost = Duration::from_micros(1);
    for threads in [1, 2, 8] {
        let got = on_threads(threads, || {
            par_batch(
                &rows::<Filtered>(&all, &[], true).costing(cost),
                0..10_000u32,
            )
        });
        assert_eq!(got.rows.shape(), &[0, 3]);
        assert_eq!(got.skipped, (0..10_000).collect::<Vec<usize>>());
    }
}

#[test]
fn the_lowest_failure_wins_even_when_a_later_one_is_found_first() {
    // Item 19_990 sits in the last leaf, which a thread may well run before the first leaf's
    // failure at item 3 is found: the answer is still item 3 and the rows before it.
    let failing = rows::<Fallible>(&[], &[3, 19_990], false).costing(Duration::from_micros(1));
    for threads in [2, 3, 8] {
        let err = on_threads(threads, || par_batch(&failing, 0..20_000u32)).unwrap_err();
        assert_eq!(err.index(), 3);
        let mut out = Array2::<i64>::zeros((20_000, 3));
        let err =
            on_threads(threads, || par_fill(&failing, 0..20_000u32, out.view_mut())).unwrap_err();
        assert_eq!(
            err,
            Error::Item {
                written: 3,
                error: preallocate_runtime::ItemError {
                    index: 3,
                    error: RowError::Row(3)
                }
            }
        );
    }
}

#[test]
fn a_full_buffer_reports_what_fill_reports() {
    // 5000 rows of room, items 1000..3000 dropped: item 7000 is the first that does not fit.
    let dropped: Vec<u32> = (1000..3000).collect();
    let row_fn = rows::<Filtered>(&dropped, &[], false).costing(Duration::from_micros(1));
    let mut out = Array2::<i64>::zeros((5000, 3));
    let got = on_threads(4, || par_fill(&row_fn, 0..20_000u32, out.view_mut()));
    assert_eq!(
        got,
        Err(Error::BufferFull {
            written: 5000,
            index: 7000
        })
    );
    let mut expected = Array2::<i64>::zeros((5000, 3));
    let sequential = fill(&mut row_fn.clone(), 0..20_000u32, expected.view_mut());
    assert_eq!(got, sequential);
    assert_eq!(out, expected);
}

/// Records the thread of every row it writes.
#[derive(Clone)]
struct Spy<'a>(&'a Mutex<HashSet<ThreadId>>);

impl RowSpec for Spy<'_> {
    type Dtype = f64;
    type Dim = preallocate_runtime::ndarray::Ix2;
    type Policy = Plain;
    const DIM: usize = 1;
    const SHAPE: &'static [usize] = &[1];
    const OVERWRITES_ROW: bool = true;
}

impl RowFn<u32> for Spy<'_> {
    type Error = std::convert::Infallible;
    fn write_row(&mut self, item: u32, row: &mut [f64]) -> Result<bool, std::convert::Infallible> {
        // Some work per row, so that every thread of the pool gets a share.
        let mut x = f64::from(item);
        for _ in 0..200 {
            x = (x * 1.000_001 + 0.5).sqrt();
        }
        row[0] = x;
        if item.is_multiple_of(1000) {
            self.0
                .lock()
                .expect("no panic while held")
                .insert(std::thread::current().id());
        }
        Ok(true)
    }
}

#[test]
fn rows_are_computed_on_several_threads() {
    let seen = Mutex::new(HashSet::new());
    let got = on_threads(4, || par_batch(&Spy(&seen), 0..200_000u32));
    assert_eq!(got.shape(), &[200_000, 1]);
    let threads = seen.lock().unwrap().len();
    assert!(threads >= 2, "rows were computed on {threads} thread(s)");

    let seen = Mutex::new(HashSet::new());
    let done = on_threads(4, || {
        Pipeline::new(Spy(&seen))
            .chunk_rows(50_000)
            .threads(4)
            .for_each_chunk(0..200_000u32, |_| Ok::<(), std::convert::Infallible>(()))
    })
    .unwrap();
    assert_eq!(
        done,
        Batch {
            rows: 200_000,
            skipped: vec![]
        }
    );
    let threads = seen.lock().unwrap().len();
    assert!(
        threads >= 2,
        "pipeline rows were computed on {threads} thread(s)"
    );
}

/// Every file of a directory tree, by relative path, with its bytes.
fn files(dir: &std::path::Path) -> Vec<(String, Vec<u8>)> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(at) = stack.pop() {
        for entry in std::fs::read_dir(&at).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let name = path.strip_prefix(dir).unwrap().display().to_string();
                found.push((name, std::fs::read(&path).unwrap()));
            }
        }
    }
    found.sort();
    found
}

#[test]
fn threaded_files_are_byte_identical_to_sequential_ones() {
    let dropped: Vec<u32> = (0..30_000).filter(|i| i % 11 == 3).collect();
    for exact in [true, false] {
        for failing in [&[][..], &[17_000u32][..]] {
            let run = |threads: usize| {
                let dir = tempfile::tempdir().unwrap();
                let items = || -> Box<dyn Iterator<Item = u32>> {
                    if exact {
                        Box::new(0..30_000u32)
                    } else {
                        Box::new((0..30_000u32).filter(|_| true))
                    }
                };
                let pipeline = || {
                    Pipeline::new(rows::<FallibleFiltered>(&dropped, failing, false))
                        .chunk_rows(4096)
                        .threads(threads)
                };
                let results = on_threads(threads.max(2), || {
                    (
                        pipeline()
                            .write_npy(items(), dir.path().join("x.npy"))
                            .map(|o| (o.rows, o.skipped)),
                        pipeline()
                            .write_npy_shards(items(), dir.path().join("shards"))
                            .map(|o| (o.rows, o.skipped)),
                        pipeline()
                            .write_safetensors(items(), dir.path().join("x.safetensors"), "x")
                            .map(|o| (o.rows, o.skipped)),
                    )
                });
                let results =
                    format!("{results:?}").replace(&dir.path().display().to_string(), "<dir>");
                (results, files(dir.path()))
            };
            let sequential = run(1);
            for threads in [2, 3, 8] {
                let threaded = run(threads);
                assert_eq!(threaded.0, sequential.0, "reports, {threads} threads");
                assert!(
                    threaded.1 == sequential.1,
                    "files differ with {threads} threads (exact length: {exact}, failing: {failing:?})"
                );
            }
            assert!(!sequential.1.is_empty());
        }
    }
}

/// Panics at item `at`, on whichever thread runs it.
#[derive(Clone)]
struct PanicsAt(u32);

impl RowSpec for PanicsAt {
    type Dtype = f32;
    type Dim = preallocate_runtime::ndarray::Ix2;
    type Policy = Plain;
    const DIM: usize = 2;
    const SHAPE: &'static [usize] = &[2];
    const OVERWRITES_ROW: bool = true;
}

impl RowFn<u32> for PanicsAt {
    type Error = std::convert::Infallible;
    fn write_row(&mut self, item: u32, row: &mut [f32]) -> Result<bool, std::convert::Infallible> {
        assert_ne!(item, self.0, "bad item");
        row.fill(item as f32);
        Ok(true)
    }
}

#[test]
fn a_panic_on_any_thread_reaches_the_caller_and_files_keep_their_flushed_rows() {
    let message = |payload: Box<dyn std::any::Any + Send>| {
        payload
            .downcast_ref::<String>()
            .cloned()
            .unwrap_or_default()
    };
    for threads in [2, 8] {
        let caught = std::panic::catch_unwind(|| {
            on_threads(threads, || par_batch(&PanicsAt(15_000), 0..20_000u32))
        });
        assert!(message(caught.unwrap_err()).contains("bad item"));

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.npy");
        let caught = std::panic::catch_unwind(|| {
            on_threads(threads, || {
                Pipeline::new(PanicsAt(15_000))
                    .chunk_rows(4000)
                    .threads(threads)
                    .write_npy(0..20_000u32, &path)
            })
        });
        assert!(message(caught.unwrap_err()).contains("bad item"));
        assert!(!path.exists(), "a failed run never writes the destination");
        // Chunks 0..3 (12 000 rows) were computed before the chunk holding item 15 000; at
        // least the first two were written before the panic reached the writer.
        let partial = std::fs::read(dir.path().join("x.npy.partial")).unwrap();
        let header = std::str::from_utf8(&partial[10..128]).unwrap();
        let rows: usize = header
            .split("'shape': (")
            .nth(1)
            .and_then(|rest| rest.split(',').next())
            .and_then(|n| n.trim().parse().ok())
            .unwrap();
        assert!(
            rows >= 8000 && rows.is_multiple_of(4000) && rows <= 12_000,
            "{rows} rows kept"
        );
        let data: Vec<f32> = partial[128..]
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
            .collect();
        assert_eq!(data.len(), rows * 2);
        assert!(data
            .chunks_exact(2)
            .enumerate()
            .all(|(i, row)| row == [i as f32, i as f32]));
    }
}

#[test]
fn a_slow_consumer_gets_the_same_chunks_when_rows_are_computed_on_its_thread() {
    // Cheap rows and a consumer far slower than them: after a few chunks the pipeline computes
    // each chunk on the calling thread, then hands it on; the rows, the `skipped` list and the
    // failure are the same as ever.
    let dropped: Vec<u32> = (0..6000).filter(|i| i % 5 == 0).collect();
    for failing in [&[][..], &[4321u32][..]] {
        let run = |threads: usize| {
            let mut seen = Vec::new();
            let done = on_threads(2, || {
                Pipeline::new(rows::<FallibleFiltered>(&dropped, failing, true))
                    .chunk_rows(500)
                    .threads(threads)
                    .for_each_chunk(0..6000u32, |chunk| {
                        std::thread::sleep(std::time::Duration::from_millis(30));
                        seen.push(chunk.to_owned());
                        Ok::<(), preallocate_runtime::ItemError<u32>>(())
                    })
            });
            let rows: Vec<i64> = seen
                .iter()
                .flat_map(|c| c.iter().copied().collect::<Vec<_>>())
                .collect();
            (done, rows)
        };
        assert_eq!(run(2), run(1));
    }
}
