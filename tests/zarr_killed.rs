//! Zarr outputs killed (SIGKILL) mid-run and rerun, and partitions of one array: the rerun
//! skips the units already stored, and the array equals, file for file, the one an
//! uninterrupted single run writes, and row for row `batch` over the same items.
//!
//! The child process is this test binary (`child_process`, which does nothing unless
//! `ZARR_KILLED_CHILD` is set), as in `tests/killed_runs.rs`.
#![cfg(feature = "zarr")]

#[path = "common/child.rs"]
mod child;
#[path = "common/files.rs"]
mod files;

use child::kill_when;
use files::tree;
use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::process::Child;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use preallocate::{preallocate, Error, OutputCause, SinkError};

static COMPUTED: AtomicUsize = AtomicUsize::new(0);

fn pace() {
    COMPUTED.fetch_add(1, Ordering::SeqCst);
    if std::env::var_os("ZARR_KILLED_CHILD").is_some() {
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Drops every seventh item (zero row, `x_valid` 0).
#[preallocate(dim = 3, dtype = f32)]
fn features(i: u32) -> Option<[f32; 3]> {
    pace();
    (i % 7 != 3).then(|| [i as f32, (i as f32).sqrt(), -(i as f32) * 0.5])
}

const ITEMS: u32 = 400;
const CHUNK_ROWS: usize = 20;

macro_rules! pipeline {
    () => {
        features::pipeline().chunk_rows(CHUNK_ROWS)
    };
}

#[test]
fn child_process() {
    let Ok(job) = std::env::var("ZARR_KILLED_CHILD") else {
        return;
    };
    let (what, store) = job.split_once(':').unwrap();
    match what {
        "whole" => {
            pipeline!().write_zarr(0..ITEMS, store, "x").unwrap();
        }
        "partition1" => {
            pipeline!()
                .partition(1, 3)
                .write_zarr(0..ITEMS, store, "x")
                .unwrap();
        }
        other => panic!("unknown child job {other}"),
    }
}

fn spawn(what: &str, store: &Path) -> Child {
    child::spawn("ZARR_KILLED_CHILD", what, store)
}

/// Units recorded as stored by the unfinished job.
fn records(store: &Path) -> usize {
    recorded_units(store).len()
}

/// The array's rows from its raw (uncompressed, unsharded) chunk files: `x/c/<unit>/0`.
fn rows(store: &Path, items: usize) -> Vec<f32> {
    let mut values = Vec::new();
    for unit in 0..items.div_ceil(CHUNK_ROWS) {
        let chunk = store.join(format!("x/c/{unit}/0"));
        match fs::read(&chunk) {
            Ok(bytes) => values.extend(
                bytes
                    .chunks_exact(4)
                    .map(|b| f32::from_le_bytes(b.try_into().unwrap())),
            ),
            // A chunk of zeros only is not stored: it reads as the fill value.
            Err(_) => values.extend(std::iter::repeat_n(0.0, CHUNK_ROWS * 3)),
        }
    }
    values.truncate(items * 3);
    values
}

/// What the array holds: `batch`'s rows at their items' positions, zero for dropped items.
fn expected() -> Vec<f32> {
    let kept = features::batch(0..ITEMS);
    let mut values = vec![0.0; ITEMS as usize * 3];
    let mut kept_rows = kept.rows.rows().into_iter();
    for i in 0..ITEMS as usize {
        if !kept.skipped.contains(&i) {
            values[i * 3..i * 3 + 3].copy_from_slice(kept_rows.next().unwrap().as_slice().unwrap());
        }
    }
    values
}

fn serial() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[test]
fn a_killed_single_run_publishes_nothing_and_its_rerun_resumes() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("data.zarr");
    kill_when(spawn("whole", &store), || records(&store) >= 3);
    // Killed: no array for readers, only the units stored and their records.
    assert!(store.join("zarr.json").is_file());
    assert!(!store.join("x/zarr.json").exists());
    assert!(!store.join("x_valid/zarr.json").exists());

    COMPUTED.store(0, Ordering::SeqCst);
    let out = pipeline!().write_zarr(0..ITEMS, &store, "x").unwrap();
    assert!(out.complete);
    assert!(out.resumed >= 3, "{out:?}");
    assert_eq!(
        COMPUTED.load(Ordering::SeqCst),
        ITEMS as usize - out.resumed * CHUNK_ROWS
    );
    assert_eq!((out.shape.clone(), out.rows), (vec![400, 3], 400));
    assert_eq!(out.skipped, (3..400).step_by(7).collect::<Vec<_>>());
    assert_eq!(rows(&store, 400), expected());

    // File for file what an uninterrupted run writes.
    let single = dir.path().join("single.zarr");
    pipeline!().write_zarr(0..ITEMS, &single, "x").unwrap();
    assert_eq!(tree(&store), tree(&single));

    // Complete: a rerun computes nothing.
    COMPUTED.store(0, Ordering::SeqCst);
    let again = pipeline!().write_zarr(0..ITEMS, &store, "x").unwrap();
    assert_eq!(COMPUTED.load(Ordering::SeqCst), 0);
    assert_eq!(
        (again.resumed, again.complete, again.units.len()),
        (20, true, 20)
    );
}

#[test]
fn partitions_with_a_killed_worker_fill_one_array() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("data.zarr");
    // Worker 1 of 3 (units 6 to 12) dies after storing some of its units.
    kill_when(spawn("partition1", &store), || records(&store) >= 2);
    let meta = |store: &Path| -> serde_json::Value {
        serde_json::from_slice(&fs::read(store.join("x/zarr.json")).unwrap()).unwrap()
    };
    // The array exists while its partitions run, marked incomplete.
    assert_eq!(meta(&store)["attributes"]["preallocate"]["complete"], false);

    let zero = pipeline!()
        .partition(0, 3)
        .write_zarr(0..ITEMS, &store, "x")
        .unwrap();
    assert_eq!(
        (zero.units.clone(), zero.complete),
        ((0..6).collect(), false)
    );
    let two = pipeline!()
        .partition(2, 3)
        .write_zarr(0..ITEMS, &store, "x")
        .unwrap();
    assert!(!two.complete);
    assert_eq!(meta(&store)["attributes"]["preallocate"]["complete"], false);

    COMPUTED.store(0, Ordering::SeqCst);
    let one = pipeline!()
        .partition(1, 3)
        .write_zarr(0..ITEMS, &store, "x")
        .unwrap();
    assert!(one.complete && one.resumed >= 2, "{one:?}");
    assert_eq!(
        COMPUTED.load(Ordering::SeqCst),
        (7 - one.resumed) * CHUNK_ROWS
    );
    assert_eq!(meta(&store)["attributes"]["preallocate"]["complete"], true);
    assert_eq!(rows(&store, 400), expected());
    let mut skipped = [zero.skipped, one.skipped, two.skipped].concat();
    skipped.sort_unstable();
    assert_eq!(skipped, features::batch(0..ITEMS).skipped);

    // The same chunks as one process writes (the metadata differs: partitioned or not).
    let single = dir.path().join("single.zarr");
    pipeline!().write_zarr(0..ITEMS, &single, "x").unwrap();
    let chunks = |store: &Path| {
        tree(store)
            .into_iter()
            .filter(|(name, _)| name.contains("/c/"))
            .collect::<BTreeMap<_, _>>()
    };
    assert_eq!(chunks(&store), chunks(&single));
    assert!(chunks(&store).len() > 20);
    // And the same records, whoever committed which units.
    assert_eq!(record_files(&store), record_files(&single));
}

/// The record files of the array `x`'s jobs, by name, with their bytes.
fn record_files(store: &Path) -> BTreeMap<String, Vec<u8>> {
    tree(&store.join("x/.preallocate"))
        .into_iter()
        .filter_map(|(path, bytes)| {
            let name = Path::new(&path).file_name()?.to_str()?.to_owned();
            name.starts_with("u-").then_some((name, bytes))
        })
        .collect()
}

/// Runs before records were grouped by commit wrote one `u-<unit>.json` per unit (a JSON
/// object of its `rows`, `items` and `skipped`): a rerun resumes those units, and the complete
/// array keeps its records as an uninterrupted run does.
#[test]
fn records_of_one_unit_per_file_are_resumed() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("data.zarr");
    let zero = pipeline!()
        .partition(0, 2)
        .write_zarr(0..ITEMS, &store, "x")
        .unwrap();
    assert_eq!(
        (zero.units.clone(), zero.complete),
        ((0..10).collect(), false)
    );
    let job = fs::read_dir(store.join("x/.preallocate"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let mut rewritten = 0;
    for entry in fs::read_dir(&job).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("jsonl") {
            continue;
        }
        for line in fs::read_to_string(&path).unwrap().lines() {
            let record: serde_json::Value = serde_json::from_str(line).unwrap();
            let unit = record["unit"].as_u64().unwrap();
            let old = serde_json::json!({
                "rows": record["rows"],
                "items": record["items"],
                "skipped": record["skipped"],
            });
            let file = job.join(format!("u-{unit:06}.json"));
            fs::write(file, serde_json::to_vec_pretty(&old).unwrap()).unwrap();
            rewritten += 1;
        }
        fs::remove_file(&path).unwrap();
    }
    assert_eq!(rewritten, 10);

    COMPUTED.store(0, Ordering::SeqCst);
    let again = pipeline!()
        .partition(0, 2)
        .write_zarr(0..ITEMS, &store, "x")
        .unwrap();
    assert_eq!(COMPUTED.load(Ordering::SeqCst), 0);
    assert_eq!((again.resumed, again.units.len()), (10, 10));
    let one = pipeline!()
        .partition(1, 2)
        .write_zarr(0..ITEMS, &store, "x")
        .unwrap();
    assert!(one.complete, "{one:?}");
    assert_eq!(rows(&store, 400), expected());

    let single = dir.path().join("single.zarr");
    pipeline!().write_zarr(0..ITEMS, &single, "x").unwrap();
    assert_eq!(record_files(&store), record_files(&single));
    assert_eq!(
        record_files(&single).into_keys().collect::<Vec<_>>(),
        ["u-000000-000019.jsonl"]
    );
}

/// The units recorded as stored, in order: a whole line each of the record files
/// `x/.preallocate/<job>/u-<first>-<last>.jsonl`.
fn recorded_units(store: &Path) -> Vec<usize> {
    let Ok(jobs) = fs::read_dir(store.join("x/.preallocate")) else {
        return Vec::new();
    };
    let mut units: Vec<usize> = jobs
        .flat_map(|job| fs::read_dir(job.unwrap().path()).unwrap())
        .map(|entry| entry.unwrap().path())
        .filter(|path| {
            let name = path.file_name().unwrap().to_str().unwrap();
            name.starts_with("u-") && name.ends_with(".jsonl")
        })
        .flat_map(|path| {
            let text = fs::read_to_string(path).unwrap_or_default();
            let whole = text.rfind('\n').map_or("", |end| &text[..end]);
            whole
                .lines()
                .map(|line| {
                    let value: serde_json::Value = serde_json::from_str(line).unwrap();
                    value["unit"].as_u64().unwrap() as usize
                })
                .collect::<Vec<_>>()
        })
        .collect();
    units.sort_unstable();
    units
}

/// A chunk is written on a thread of its own while the next unit is computed: when that
/// write fails, the job stops with an error naming it, the unit is not recorded (the units
/// before it are), and a rerun writes it.
#[test]
fn a_chunk_that_fails_to_be_written_is_not_recorded_and_a_rerun_writes_it() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("data.zarr");
    // Files where the chunk directories of units 5 and 6 (`x/c/5/`, `x/c/6/`) go: two chunks
    // that fail, the second perhaps still in flight when the first is seen.
    fs::create_dir_all(store.join("x/c")).unwrap();
    fs::write(store.join("x/c/5"), b"in the way").unwrap();
    fs::write(store.join("x/c/6"), b"in the way").unwrap();
    let err = pipeline!().write_zarr(0..ITEMS, &store, "x").unwrap_err();
    assert!(
        matches!(
            &err,
            Error::Output {
                cause: OutputCause::Sink(SinkError::Store {
                    op: "write a chunk of",
                    ..
                }),
                ..
            }
        ),
        "{err:?}"
    );
    // The units before them are recorded, and those written on other threads meanwhile
    // (chunks are written on as many threads as cores, up to 4): each with its chunk.
    let recorded = recorded_units(&store);
    assert!(
        !recorded.contains(&5) && !recorded.contains(&6),
        "{recorded:?}"
    );
    assert_eq!(recorded[..5], [0, 1, 2, 3, 4]);
    assert!(recorded.len() <= 5 + 4, "{recorded:?}");
    for unit in &recorded {
        assert!(store.join(format!("x/c/{unit}/0")).is_file(), "unit {unit}");
    }
    assert!(!store.join("x/zarr.json").exists());
    // The rows the error counts as written are those of the recorded units, not those of
    // units 5 and 6.
    let kept = |unit: &usize| {
        (unit * CHUNK_ROWS..(unit + 1) * CHUNK_ROWS)
            .filter(|i| i % 7 != 3)
            .count()
    };
    let Error::Output { written, .. } = &err else {
        unreachable!("matched above")
    };
    assert_eq!(
        *written,
        recorded.iter().map(kept).sum::<usize>(),
        "{err:?}"
    );

    fs::remove_file(store.join("x/c/5")).unwrap();
    fs::remove_file(store.join("x/c/6")).unwrap();
    COMPUTED.store(0, Ordering::SeqCst);
    let out = pipeline!().write_zarr(0..ITEMS, &store, "x").unwrap();
    assert!(out.complete);
    assert_eq!(out.resumed, recorded.len());
    assert_eq!(
        COMPUTED.load(Ordering::SeqCst),
        ITEMS as usize - recorded.len() * CHUNK_ROWS
    );
    assert_eq!(rows(&store, 400), expected());
}

#[test]
fn another_job_over_an_unfinished_array_is_an_error() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("data.zarr");
    pipeline!()
        .partition(0, 2)
        .write_zarr(0..ITEMS, &store, "x")
        .unwrap();
    let err = pipeline!()
        .job_key("v2")
        .partition(1, 2)
        .write_zarr(0..ITEMS, &store, "x")
        .unwrap_err();
    assert!(
        matches!(&err, Error::Output { cause: OutputCause::Sink(SinkError::JobMismatch(m)), .. } if m.field == "key"),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .contains("holds an unfinished run of another job"),
        "{err}"
    );
}

#[test]
fn a_shorter_array_replaces_a_longer_one_and_its_chunks() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("data.zarr");
    pipeline!().write_zarr(0..ITEMS, &store, "x").unwrap();
    assert!(store.join("x/c/19/0").is_file());
    let out = pipeline!().write_zarr(0..50, &store, "x").unwrap();
    assert_eq!((out.shape.clone(), out.complete), (vec![50, 3], true));
    let mut chunks: Vec<String> = tree(&store)
        .into_keys()
        .filter(|name| name.contains("/c/"))
        .collect();
    chunks.sort();
    assert_eq!(
        chunks,
        [
            "x/c/0/0",
            "x/c/1/0",
            "x/c/2/0",
            "x_valid/c/0",
            "x_valid/c/1",
            "x_valid/c/2"
        ]
    );
    // The longer array's records went with it.
    assert_eq!(recorded_units(&store), [0, 1, 2]);
}

#[test]
fn bad_names_and_shards_are_errors_naming_them() {
    let dir = tempfile::tempdir().unwrap();
    let err = pipeline!()
        .write_zarr(0..10, dir.path(), "a/b")
        .unwrap_err();
    assert!(
        err.to_string().contains("invalid Zarr array name \"a/b\""),
        "{err}"
    );
    let err = pipeline!()
        .shard_rows(30)
        .write_zarr(0..10, dir.path(), "x")
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("`shard_rows` (30) must be a multiple of the chunk's rows (20)"),
        "{err}"
    );
    let err = pipeline!()
        .write_zarr(0..10, dir.path().join("missing/data.zarr"), "x")
        .unwrap_err();
    assert!(err.to_string().contains("does not exist"), "{err}");
}

/// One byte from an index; 1 item in 4 gives no row.
#[preallocate(dim = 1, dtype = u8)]
fn byte(i: u32) -> Option<[u8; 1]> {
    (!i.is_multiple_of(4)).then_some([i as u8])
}

/// A complete array's records are one file per block of units, about a million items each:
/// with units of 600 000 items, a file per unit; the same files whether one process wrote the
/// array or two partitions did, whose commits each span several blocks.
#[test]
fn a_complete_arrays_records_are_blocks_of_units() {
    let dir = tempfile::tempdir().unwrap();
    const ITEMS: u32 = 3_000_000;
    let single = dir.path().join("single.zarr");
    let whole = byte::pipeline()
        .chunk_rows(600_000)
        .write_zarr(0..ITEMS, &single, "x")
        .unwrap();
    assert_eq!((whole.units.len(), whole.complete), (5, true));
    let files = record_files(&single);
    let names: Vec<&str> = files.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        [
            "u-000000-000000.jsonl",
            "u-000001-000001.jsonl",
            "u-000002-000002.jsonl",
            "u-000003-000003.jsonl",
            "u-000004-000004.jsonl"
        ]
    );
    let line = String::from_utf8(files["u-000001-000001.jsonl"].clone()).unwrap();
    let record: serde_json::Value = serde_json::from_str(line.trim_end()).unwrap();
    assert_eq!(record["unit"], 1);
    assert_eq!(
        (record["items"].as_u64(), record["rows"].as_u64()),
        (Some(600_000), Some(450_000))
    );
    assert_eq!(record["skipped"][0], 600_000);

    let parts = dir.path().join("parts.zarr");
    for k in 0..2 {
        byte::pipeline()
            .chunk_rows(600_000)
            .partition(k, 2)
            .write_zarr(0..ITEMS, &parts, "x")
            .unwrap();
    }
    assert_eq!(record_files(&parts), files);
}
