//! Parquet shards killed (SIGKILL) mid-run and rerun, and partitions of one dataset: the rerun
//! resumes after the parts committed, and the directory equals, byte for byte, the one an
//! uninterrupted single run writes, and row for row `batch` over the same items.
//!
//! The child process is this test binary (`child_process`, which does nothing unless
//! `PARQUET_KILLED_CHILD` is set), as in `tests/killed_runs.rs` and `tests/zarr_killed.rs`.
#![cfg(feature = "parquet")]

#[path = "common/child.rs"]
mod child;

use child::kill_when;
use std::collections::BTreeMap;
use std::fs;
use std::ops::Range;
use std::path::Path;
use std::process::Child;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use arrow_array::cast::AsArray;
use arrow_array::types::Float32Type;
use arrow_array::Array;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use preallocate::{preallocate, Error, OutputCause, SinkError};

/// Rows computed by `features` in this process.
static COMPUTED: AtomicUsize = AtomicUsize::new(0);

/// Slows a row down in the child, so that it can be killed mid-run.
fn pace() {
    COMPUTED.fetch_add(1, Ordering::SeqCst);
    if std::env::var_os("PARQUET_KILLED_CHILD").is_some() {
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Drops every seventh item: parts hold fewer rows than items.
#[preallocate(dim = 3, dtype = f32)]
fn features(i: u32) -> Option<[f32; 3]> {
    pace();
    (i % 7 != 3).then(|| [i as f32, (i as f32).sqrt(), -(i as f32) * 0.5])
}

const ITEMS: u32 = 400;
const CHUNK_ROWS: usize = 5;
const SHARD_ITEMS: usize = 20;
const SHARDS: usize = ITEMS as usize / SHARD_ITEMS;
/// The shards of partition 1 of 3: 20 shards over 3 workers, 6, 7 and 7.
const PARTITION_1: Range<usize> = 6..13;

macro_rules! pipeline {
    () => {
        features::pipeline()
            .chunk_rows(CHUNK_ROWS)
            .shard_rows(SHARD_ITEMS)
    };
}

/// What a child does: `<what>:<dir>` in `PARQUET_KILLED_CHILD`.
#[test]
fn child_process() {
    let Ok(job) = std::env::var("PARQUET_KILLED_CHILD") else {
        return;
    };
    let (what, dir) = job.split_once(':').unwrap();
    match what {
        "whole" => {
            pipeline!()
                .write_parquet_shards(0..ITEMS, dir, "x")
                .unwrap();
        }
        "partition0" | "partition1" | "partition2" => {
            let index = what["partition".len()..].parse().unwrap();
            pipeline!()
                .partition(index, 3)
                .write_parquet_shards(0..ITEMS, dir, "x")
                .unwrap();
        }
        other => panic!("unknown child job {other}"),
    }
}

fn spawn(what: &str, dir: &Path) -> Child {
    child::spawn("PARQUET_KILLED_CHILD", what, dir)
}

fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

/// Temporary files (`.part-00003.parquet.<pid>-<n>@<host>.tmp`) in `dir`.
fn temps(dir: &Path) -> Vec<String> {
    if !dir.is_dir() {
        return Vec::new();
    }
    names(dir)
        .into_iter()
        .filter(|n| n.starts_with('.') && n.ends_with(".tmp"))
        .collect()
}

/// The committed part files, in name order.
fn part_files(dir: &Path) -> Vec<String> {
    names(dir)
        .into_iter()
        .filter(|n| n.starts_with("part-") && n.ends_with(".parquet"))
        .collect()
}

/// The shards of `range` recorded as committed by the unfinished job in `dir`
/// (`.jobs/<job>/part-00003.json`).
fn records_in(dir: &Path, range: Range<usize>) -> usize {
    let Ok(jobs) = fs::read_dir(dir.join(".jobs")) else {
        return 0;
    };
    jobs.map(|job| {
        let Ok(entries) = fs::read_dir(job.unwrap().path()) else {
            return 0;
        };
        entries
            .filter_map(|e| {
                let name = e.ok()?.file_name().into_string().ok()?;
                let index = name.strip_prefix("part-")?.strip_suffix(".json")?;
                index.parse::<usize>().ok()
            })
            .filter(|index| range.contains(index))
            .count()
    })
    .sum()
}

fn records(dir: &Path) -> usize {
    records_in(dir, 0..usize::MAX)
}

/// A part file's rows, flattened, checking its one column: `x`, of `FixedSizeList(3 x Float32)`,
/// and that the footer's row count is the rows read.
fn read_part(path: &Path) -> Vec<f32> {
    let builder = ParquetRecordBatchReaderBuilder::try_new(fs::File::open(path).unwrap())
        .unwrap_or_else(|err| panic!("{}: {err}", path.display()));
    let schema = builder.schema().clone();
    assert_eq!(schema.fields().len(), 1, "{schema:?}");
    assert_eq!(schema.field(0).name(), "x");
    assert_eq!(
        schema.field(0).data_type().to_string(),
        "FixedSizeList(3 x non-null Float32)"
    );
    let rows = builder.metadata().file_metadata().num_rows() as usize;
    let mut values = Vec::new();
    for batch in builder.build().unwrap() {
        let batch = batch.unwrap();
        let lists = batch.column(0).as_fixed_size_list();
        assert_eq!(lists.null_count(), 0);
        values.extend(lists.values().as_primitive::<Float32Type>().values().iter());
    }
    assert_eq!(values.len(), rows * 3, "{}", path.display());
    values
}

/// Every part file of `dir` in name order, by name, with its bytes.
fn part_bytes(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    part_files(dir)
        .into_iter()
        .map(|name| {
            let bytes = fs::read(dir.join(&name)).unwrap();
            (name, bytes)
        })
        .collect()
}

fn manifest(dir: &Path) -> serde_json::Value {
    serde_json::from_slice(&fs::read(dir.join("manifest.json")).unwrap()).unwrap()
}

/// The manifest's entries that describe the dataset: its rows, items and shards.
fn manifest_entries(dir: &Path) -> (serde_json::Value, serde_json::Value, serde_json::Value) {
    let manifest = manifest(dir);
    (
        manifest["rows"].clone(),
        manifest["items"].clone(),
        manifest["shards"].clone(),
    )
}

/// `batch`'s kept rows, flattened, and the items it dropped.
fn expected() -> (Vec<f32>, Vec<usize>) {
    let batch = features::batch(0..ITEMS);
    (batch.rows.into_raw_vec_and_offset().0, batch.skipped)
}

/// What an uninterrupted single run writes.
fn single_run(dir: &Path) -> std::path::PathBuf {
    let single = dir.join("single");
    let out = pipeline!()
        .write_parquet_shards(0..ITEMS, &single, "x")
        .unwrap();
    assert!(out.complete && out.resumed == 0, "{out:?}");
    single
}

/// Every test counts rows computed in this process: one at a time.
fn serial() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[test]
fn a_killed_shard_job_resumes_to_the_bytes_of_an_uninterrupted_run() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let shards = dir.path().join("shards");
    // Killed while a part is being written: its temporary file is left behind.
    kill_when(spawn("whole", &shards), || {
        records(&shards) >= 3 && !temps(&shards).is_empty()
    });
    assert!(!shards.join("manifest.json").exists());
    let orphans = temps(&shards);
    assert!(
        !orphans.is_empty() && orphans.iter().all(|n| n.starts_with(".part-")),
        "{orphans:?}"
    );
    let committed = part_files(&shards);
    assert!((3..SHARDS).contains(&committed.len()), "{committed:?}");
    // A part is renamed into place, then recorded: one killed in between is written again.
    let recorded = records(&shards);
    assert!(recorded >= 3 && recorded <= committed.len(), "{recorded}");
    // The parts committed are whole, valid Parquet files: part 0 holds the kept rows of
    // items 0..20.
    assert_eq!(
        read_part(&shards.join("part-00000.parquet")),
        features::batch(0..SHARD_ITEMS as u32)
            .rows
            .into_raw_vec_and_offset()
            .0
    );

    COMPUTED.store(0, Ordering::SeqCst);
    let out = pipeline!()
        .write_parquet_shards(0..ITEMS, &shards, "x")
        .unwrap();
    let computed = COMPUTED.load(Ordering::SeqCst);
    assert!(out.complete, "{out:?}");
    assert!(out.resumed > 0, "{out:?}");
    assert_eq!(out.resumed, recorded, "{out:?}");
    // Only the items of the parts not committed were computed.
    assert_eq!(computed, ITEMS as usize - out.resumed * SHARD_ITEMS);
    let (rows, skipped) = expected();
    assert_eq!(out.rows, rows.len() / 3);
    assert_eq!(out.rows, ITEMS as usize - skipped.len());
    assert_eq!(out.shards.len(), SHARDS);
    assert_eq!(out.manifest, shards.join("manifest.json"));
    assert_eq!(out.dir, shards);
    for (j, shard) in out.shards.iter().enumerate() {
        assert_eq!(shard.path, shards.join(format!("part-{j:05}.parquet")));
    }
    // The orphan is gone, and so are the job's records and any `.partial`.
    assert!(temps(&shards).is_empty(), "{:?}", names(&shards));
    assert!(!shards.join(".jobs").exists());
    assert!(
        names(&shards).iter().all(|n| !n.ends_with(".partial")),
        "{:?}",
        names(&shards)
    );
    let mut all = Vec::new();
    for shard in &out.shards {
        let values = read_part(&shard.path);
        assert_eq!(values.len() / 3, shard.rows, "{shard:?}");
        all.extend(values);
    }
    assert_eq!(all, rows);
    let manifest = manifest(&shards);
    assert_eq!(manifest["format"], "parquet-shards");
    assert_eq!(manifest["rows"], rows.len() / 3);
    assert_eq!(manifest["items"], ITEMS);
    let recorded: Vec<usize> = manifest["shards"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|shard| shard["skipped"].as_array().unwrap().clone())
        .map(|index| index.as_u64().unwrap() as usize)
        .collect();
    assert_eq!(recorded, skipped);

    // Byte for byte what an uninterrupted run writes.
    let single = single_run(dir.path());
    let resumed = part_bytes(&shards);
    assert_eq!(resumed.len(), SHARDS);
    assert_eq!(
        resumed.keys().collect::<Vec<_>>(),
        part_bytes(&single).keys().collect::<Vec<_>>()
    );
    assert!(resumed == part_bytes(&single), "the part files differ");
    assert_eq!(manifest_entries(&shards), manifest_entries(&single));
    assert_eq!(names(&shards), names(&single));

    // Complete: a rerun computes nothing.
    COMPUTED.store(0, Ordering::SeqCst);
    let again = pipeline!()
        .write_parquet_shards(0..ITEMS, &shards, "x")
        .unwrap();
    assert_eq!(COMPUTED.load(Ordering::SeqCst), 0);
    assert_eq!(
        (again.resumed, again.rows, again.complete),
        (SHARDS, out.rows, true)
    );
    assert_eq!(again.shards, out.shards);
    assert_eq!(part_bytes(&shards), part_bytes(&single));
}

#[test]
fn partitions_with_a_killed_worker_give_the_parts_of_a_single_run() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let shards = dir.path().join("shards");
    // Three workers at once; worker 1 of 3 (shards 6 to 12) dies after committing one part.
    let mut zero = spawn("partition0", &shards);
    let mut two = spawn("partition2", &shards);
    kill_when(spawn("partition1", &shards), || {
        records_in(&shards, PARTITION_1) >= 1
    });
    assert!(zero.wait().unwrap().success());
    assert!(two.wait().unwrap().success());
    // Workers 0 and 2 are done, worker 1 is not: no manifest yet, and worker 1's parts are
    // some of its own.
    assert!(!shards.join("manifest.json").exists());
    let parts = part_files(&shards);
    let of_1 = parts
        .iter()
        .filter(|n| {
            let index: usize = n["part-".len().."part-00000".len()].parse().unwrap();
            PARTITION_1.contains(&index)
        })
        .count();
    assert!(
        (1..PARTITION_1.len()).contains(&of_1),
        "{of_1} of worker 1's parts in {parts:?}"
    );
    let recorded_1 = records_in(&shards, PARTITION_1);
    assert!((1..=of_1).contains(&recorded_1), "{recorded_1}");
    assert_eq!(parts.len(), SHARDS - PARTITION_1.len() + of_1, "{parts:?}");

    // Worker 1 again, here: it resumes after its committed parts and completes the dataset.
    COMPUTED.store(0, Ordering::SeqCst);
    let one = pipeline!()
        .partition(1, 3)
        .write_parquet_shards(0..ITEMS, &shards, "x")
        .unwrap();
    assert!(one.complete, "{one:?}");
    assert!(one.resumed > 0, "{one:?}");
    assert_eq!(one.resumed, recorded_1, "{one:?}");
    assert_eq!(
        COMPUTED.load(Ordering::SeqCst),
        (PARTITION_1.len() - one.resumed) * SHARD_ITEMS
    );
    assert_eq!(one.shards.len(), PARTITION_1.len());
    assert_eq!(
        one.shards[0].path,
        shards.join(format!("part-{:05}.parquet", PARTITION_1.start))
    );
    assert!(temps(&shards).is_empty(), "{:?}", names(&shards));
    assert!(!shards.join(".jobs").exists());

    // The parts, read back in name order, are `batch`'s rows.
    let (rows, skipped) = expected();
    let mut all = Vec::new();
    for name in part_files(&shards) {
        all.extend(read_part(&shards.join(name)));
    }
    assert_eq!(all, rows);
    assert_eq!(manifest(&shards)["rows"], rows.len() / 3);
    let recorded: Vec<usize> = manifest(&shards)["shards"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|shard| shard["skipped"].as_array().unwrap().clone())
        .map(|index| index.as_u64().unwrap() as usize)
        .collect();
    assert_eq!(recorded, skipped);

    // Byte for byte the parts one uninterrupted process writes.
    let single = single_run(dir.path());
    let partitioned = part_bytes(&shards);
    assert_eq!(partitioned.len(), SHARDS);
    assert_eq!(
        partitioned.keys().collect::<Vec<_>>(),
        part_bytes(&single).keys().collect::<Vec<_>>()
    );
    assert!(partitioned == part_bytes(&single), "the part files differ");
    assert_eq!(manifest_entries(&shards), manifest_entries(&single));
}

#[test]
fn another_job_over_a_killed_one_is_an_error_and_the_same_job_resumes() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let shards = dir.path().join("shards");
    kill_when(spawn("whole", &shards), || records(&shards) >= 1);
    let before = part_bytes(&shards);
    let recorded = records(&shards);
    assert!(recorded >= 1 && before.len() >= recorded);
    let err = pipeline!()
        .job_key("v2")
        .write_parquet_shards(0..ITEMS, &shards, "x")
        .unwrap_err();
    let Error::Output {
        written: 0,
        cause: OutputCause::Sink(SinkError::JobMismatch(mismatch)),
        ..
    } = &err
    else {
        panic!("{err:?}");
    };
    assert_eq!(mismatch.field, "key");
    assert!(
        err.to_string()
            .contains("holds an unfinished run of another job (`key` was null, is now \"v2\")"),
        "{err}"
    );
    // The other job's parts are untouched; the same job resumes after them.
    assert_eq!(part_bytes(&shards), before);
    let out = pipeline!()
        .write_parquet_shards(0..ITEMS, &shards, "x")
        .unwrap();
    assert!(out.complete && out.resumed >= 1, "{out:?}");
    assert_eq!(out.resumed, recorded, "{out:?}");
}
