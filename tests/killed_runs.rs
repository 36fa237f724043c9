//! Runs killed as a user's job dies (SIGKILL: the OOM killer, a preempted node), then rerun.
//!
//! Each test spawns this very test binary as a child process (`child_process` below, which does
//! nothing unless `KILLED_RUNS_CHILD` is set), lets it write slowly, kills it with SIGKILL once
//! it has written something, and checks what the rerun makes of what it left: orphaned
//! temporary files removed, committed shards kept and not computed again, and an output equal to
//! `batch` over the same items.

#[path = "common/child.rs"]
mod child;

use child::kill_when;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use preallocate::{preallocate, Error, JobMismatch, OutputCause, SinkError};

/// Rows computed by `features` and `kept_features` in this process.
static COMPUTED: AtomicUsize = AtomicUsize::new(0);

/// Slows a row down in the child, so that it can be killed mid-write.
fn pace() {
    COMPUTED.fetch_add(1, Ordering::SeqCst);
    if std::env::var_os("KILLED_RUNS_CHILD").is_some() {
        std::thread::sleep(Duration::from_millis(2));
    }
}

#[preallocate(dim = 3, dtype = f32)]
fn features(i: u32) -> [f32; 3] {
    pace();
    [i as f32, (i as f32).sqrt(), -(i as f32) * 0.5]
}

/// Drops every seventh item: shards hold fewer rows than items.
#[preallocate(dim = 3, dtype = f32)]
fn kept_features(i: u32) -> Option<[f32; 3]> {
    pace();
    (i % 7 != 3).then(|| [i as f32, (i as f32).sqrt(), -(i as f32) * 0.5])
}

const ITEMS: u32 = 400;
const SHARD_ITEMS: usize = 20;

/// What a child does: `<what>:<path>` in `KILLED_RUNS_CHILD`.
#[test]
fn child_process() {
    let Ok(job) = std::env::var("KILLED_RUNS_CHILD") else {
        return;
    };
    let (what, path) = job.split_once(':').unwrap();
    match what {
        "npy" => {
            features::pipeline()
                .chunk_rows(5)
                .write_npy(0..ITEMS, path)
                .unwrap();
        }
        "shards" => {
            features::pipeline()
                .chunk_rows(5)
                .shard_rows(SHARD_ITEMS)
                .write_npy_shards(0..ITEMS, path)
                .unwrap();
        }
        "safetensors" => {
            features::pipeline()
                .chunk_rows(5)
                .write_safetensors(0..ITEMS, path, "x")
                .unwrap();
        }
        "partition1" => {
            kept_features::pipeline()
                .chunk_rows(4)
                .shard_rows(SHARD_ITEMS)
                .partition(1, 3)
                .write_npy_shards(0..ITEMS, path)
                .unwrap();
        }
        other => panic!("unknown child job {other}"),
    }
}

fn spawn(what: &str, path: &Path) -> Child {
    child::spawn("KILLED_RUNS_CHILD", what, path)
}

fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

fn temps(dir: &Path) -> Vec<String> {
    names(dir)
        .into_iter()
        .filter(|n| n.starts_with('.') && n.ends_with(".tmp"))
        .collect()
}

fn shard_files(dir: &Path) -> Vec<String> {
    names(dir)
        .into_iter()
        .filter(|n| n.starts_with("part-") && n.ends_with(".npy"))
        .collect()
}

/// The `f32` values of a little-endian `.npy` file, and its shape as written in the header.
/// The shards recorded as committed by the unfinished job in `dir` (a shard is renamed into
/// place, then recorded: one killed in between is written again).
fn records(dir: &Path) -> usize {
    let Ok(jobs) = fs::read_dir(dir.join(".jobs")) else {
        return 0;
    };
    jobs.map(|job| {
        let job = job.unwrap().path();
        names(&job)
            .iter()
            .filter(|n| n.starts_with("part-") && n.ends_with(".json"))
            .count()
    })
    .sum()
}

fn read_f32_npy(path: &Path) -> (String, Vec<f32>) {
    let bytes = fs::read(path).unwrap();
    assert!(bytes.starts_with(b"\x93NUMPY"), "{}", path.display());
    let (len, start) = match bytes[6] {
        1 => (usize::from(u16::from_le_bytes([bytes[8], bytes[9]])), 10),
        _ => (
            u32::from_le_bytes(bytes[8..12].try_into().unwrap()) as usize,
            12,
        ),
    };
    let header = String::from_utf8(bytes[start..start + len].to_vec()).unwrap();
    let data = bytes[start + len..]
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
        .collect();
    (header, data)
}

fn manifest(dir: &Path) -> serde_json::Value {
    serde_json::from_slice(&fs::read(dir.join("manifest.json")).unwrap()).unwrap()
}

/// Every test counts rows computed in this process: one at a time.
fn serial() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[test]
fn a_killed_npy_writer_leaves_an_orphan_that_the_next_run_removes() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.npy");
    let child = spawn("npy", &path);
    let pid = child.id();
    kill_when(child, || {
        temps(dir.path())
            .iter()
            .any(|name| fs::metadata(dir.path().join(name)).is_ok_and(|m| m.len() > 1000))
    });
    let orphans = temps(dir.path());
    assert_eq!(orphans.len(), 1, "{orphans:?}");
    assert!(
        orphans[0].starts_with(&format!(".x.npy.{pid}-")),
        "{orphans:?}"
    );
    assert!(!path.exists());

    let out = features::pipeline()
        .chunk_rows(64)
        .write_npy(0..ITEMS, &path)
        .unwrap();
    assert_eq!(out.shape, vec![ITEMS as usize, 3]);
    assert_eq!(names(dir.path()), ["x.npy"]);
    let (header, data) = read_f32_npy(&path);
    assert!(header.contains("'shape': (400, 3)"), "{header}");
    assert_eq!(data, features::batch(0..ITEMS).into_raw_vec_and_offset().0);
}

#[test]
fn a_killed_safetensors_writer_leaves_an_orphan_that_the_next_run_removes() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.safetensors");
    kill_when(spawn("safetensors", &path), || {
        temps(dir.path())
            .iter()
            .any(|name| fs::metadata(dir.path().join(name)).is_ok_and(|m| m.len() > 1000))
    });
    assert_eq!(temps(dir.path()).len(), 1);
    let out = features::pipeline()
        .write_safetensors(0..ITEMS, &path, "x")
        .unwrap();
    assert_eq!(out.shape, vec![400, 3]);
    assert_eq!(names(dir.path()), ["x.safetensors"]);
    let bytes = fs::read(&path).unwrap();
    let data = &bytes[out.data_offset as usize..];
    let values: Vec<f32> = data
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
        .collect();
    assert_eq!(
        values,
        features::batch(0..ITEMS).into_raw_vec_and_offset().0
    );
}

#[test]
fn a_killed_shard_job_resumes_after_its_committed_shards() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let shards = dir.path().join("shards");
    let child = spawn("shards", &shards);
    // Killed while a shard is being written: its temporary file is left behind.
    kill_when(child, || {
        records(&shards) >= 3 && !temps(&shards).is_empty()
    });
    assert!(!shards.join("manifest.json").exists());
    let orphans = temps(&shards);
    assert!(
        orphans.iter().all(|n| n.starts_with(".part-")),
        "{orphans:?}"
    );
    let committed = shard_files(&shards).len();
    assert!((3..20).contains(&committed), "{committed}");
    // The shards committed are whole: numpy-readable, 20 rows each.
    let (header, data) = read_f32_npy(&shards.join("part-00000.npy"));
    assert!(header.contains("'shape': (20, 3)"), "{header}");
    assert_eq!(data, features::batch(0..20).into_raw_vec_and_offset().0);

    COMPUTED.store(0, Ordering::SeqCst);
    let out = features::pipeline()
        .chunk_rows(5)
        .shard_rows(SHARD_ITEMS)
        .write_npy_shards(0..ITEMS, &shards)
        .unwrap();
    let computed = COMPUTED.load(Ordering::SeqCst);
    assert!(out.complete);
    assert!(out.resumed >= 3, "{out:?}");
    // Only the items of the shards not committed were computed.
    assert_eq!(computed, ITEMS as usize - out.resumed * SHARD_ITEMS);
    assert_eq!(out.rows, ITEMS as usize);
    assert_eq!(out.shards.len(), 20);
    assert!(temps(&shards).is_empty(), "{:?}", names(&shards));
    assert!(!shards.join(".jobs").exists());
    let mut all = Vec::new();
    for shard in &out.shards {
        all.extend(read_f32_npy(&shard.path).1);
    }
    assert_eq!(all, features::batch(0..ITEMS).into_raw_vec_and_offset().0);
    assert_eq!(manifest(&shards)["rows"], 400);

    // Run again: complete, nothing computed.
    COMPUTED.store(0, Ordering::SeqCst);
    let again = features::pipeline()
        .chunk_rows(5)
        .shard_rows(SHARD_ITEMS)
        .write_npy_shards(0..ITEMS, &shards)
        .unwrap();
    assert_eq!(COMPUTED.load(Ordering::SeqCst), 0);
    assert_eq!((again.resumed, again.rows, again.complete), (20, 400, true));
    assert_eq!(again.shards, out.shards);
}

#[test]
fn another_job_over_a_killed_one_is_an_error_naming_the_difference() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let shards = dir.path().join("shards");
    let child = spawn("shards", &shards);
    kill_when(child, || records(&shards) >= 1);
    let err = features::pipeline()
        .chunk_rows(5)
        .shard_rows(SHARD_ITEMS)
        .job_key("v2")
        .write_npy_shards(0..ITEMS, &shards)
        .unwrap_err();
    let Error::Output {
        written: 0,
        cause: OutputCause::Sink(SinkError::JobMismatch(mismatch)),
        ..
    } = &err
    else {
        panic!("{err:?}");
    };
    let JobMismatch {
        field,
        recorded,
        current,
        ..
    } = &**mismatch;
    assert_eq!(
        (field.as_str(), recorded.as_str(), current.as_str()),
        ("key", "null", "\"v2\"")
    );
    assert!(
        err.to_string()
            .contains("holds an unfinished run of another job (`key` was null, is now \"v2\")"),
        "{err}"
    );
    // The other job's shards are untouched; the same job still resumes.
    let out = features::pipeline()
        .chunk_rows(5)
        .shard_rows(SHARD_ITEMS)
        .write_npy_shards(0..ITEMS, &shards)
        .unwrap();
    assert!(out.complete && out.resumed >= 1, "{out:?}");
}

#[test]
fn partitions_with_a_killed_worker_make_one_dataset() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let shards = dir.path().join("shards");
    let job = |k| {
        kept_features::pipeline()
            .chunk_rows(4)
            .shard_rows(SHARD_ITEMS)
            .partition(k, 3)
    };
    // Worker 1 of 3 (shards 6 to 12) dies after committing one shard.
    let child = spawn("partition1", &shards);
    kill_when(child, || records(&shards) >= 1);
    let first_of_1 = shard_files(&shards);
    assert!(
        first_of_1.iter().all(|n| n.as_str() >= "part-00006.npy"),
        "{first_of_1:?}"
    );

    let zero = job(0).write_npy_shards(0..ITEMS, &shards).unwrap();
    assert!(!zero.complete);
    assert_eq!(zero.shards.len(), 6);
    let two = job(2).write_npy_shards(0..ITEMS, &shards).unwrap();
    assert!(!two.complete);
    assert!(!shards.join("manifest.json").exists());

    COMPUTED.store(0, Ordering::SeqCst);
    let one = job(1).write_npy_shards(0..ITEMS, &shards).unwrap();
    assert!(one.complete, "{one:?}");
    assert!(one.resumed >= 1);
    assert_eq!(
        COMPUTED.load(Ordering::SeqCst),
        (7 - one.resumed) * SHARD_ITEMS
    );
    assert!(temps(&shards).is_empty(), "{:?}", names(&shards));

    let expected = kept_features::batch(0..ITEMS);
    let mut all = Vec::new();
    let mut skipped: Vec<usize> = Vec::new();
    for out in [&zero, &one, &two] {
        for shard in &out.shards {
            all.extend(read_f32_npy(&shard.path).1);
        }
        skipped.extend(&out.skipped);
    }
    assert_eq!(all, expected.rows.into_raw_vec_and_offset().0);
    assert_eq!(skipped, expected.skipped);
    let manifest = manifest(&shards);
    assert_eq!(manifest["rows"], 400 - expected.skipped.len());
    assert_eq!(manifest["items"], 400);
    assert_eq!(manifest["shards"].as_array().unwrap().len(), 20);
}

#[test]
fn a_complete_dataset_of_another_job_is_replaced() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let shards = dir.path().join("shards");
    let long = features::pipeline()
        .shard_rows(10)
        .write_npy_shards(0..50u32, &shards)
        .unwrap();
    assert_eq!(long.shards.len(), 5);
    let short = features::pipeline()
        .shard_rows(10)
        .write_npy_shards(0..15u32, &shards)
        .unwrap();
    assert_eq!((short.shards.len(), short.resumed, short.rows), (2, 0, 15));
    assert_eq!(
        names(&shards),
        ["manifest.json", "part-00000.npy", "part-00001.npy"]
    );
    let manifest = manifest(&shards);
    assert_eq!(manifest["rows"], 15);
    assert_eq!(manifest["fingerprint"]["items"], 15);
}

#[test]
fn a_bad_partition_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let err = features::pipeline()
        .partition(3, 3)
        .write_npy_shards(0..10u32, dir.path().join("s"))
        .unwrap_err();
    assert!(
        err.to_string()
            .ends_with("partition 3 of 3 (from arguments): the index must be below the count (0..3) (0 rows written, none kept)"),
        "{err}"
    );
    let err = features::pipeline()
        .partition(0, 2)
        .write_npy_shards((0..10u32).filter(|_| true), dir.path().join("s"))
        .unwrap_err();
    assert!(
        matches!(
            &err,
            Error::Output {
                cause: OutputCause::Sink(SinkError::Partition { .. }),
                ..
            }
        ),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("needs an input of known length"),
        "{err}"
    );
    assert!(!dir.path().join("s").exists());
}

/// Where a shard's items start: the partition skips the items before its range.
#[test]
fn a_partition_computes_only_its_own_items() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    COMPUTED.store(0, Ordering::SeqCst);
    let out = features::pipeline()
        .shard_rows(10)
        .partition(2, 4)
        .write_npy_shards(0..100u32, dir.path().join("s"))
        .unwrap();
    // 10 shards over 4 workers: 2, 3, 2, 3; worker 2 takes shards 5 and 6.
    assert_eq!(COMPUTED.load(Ordering::SeqCst), 20);
    let files: Vec<PathBuf> = out.shards.iter().map(|s| s.path.clone()).collect();
    assert_eq!(
        files,
        [
            dir.path().join("s/part-00005.npy"),
            dir.path().join("s/part-00006.npy")
        ]
    );
    assert_eq!(
        read_f32_npy(&files[0]).1,
        features::batch(50..60).into_raw_vec_and_offset().0
    );
}
