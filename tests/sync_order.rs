//! What a machine crash may not take back: when a completion marker is published (a Zarr
//! array's final metadata, a shard directory's manifest) or a unit's record that a resume
//! trusts is written, every file it covers has been flushed to the device (`fsync`), and so
//! has every directory holding them, up to the output's root (or a `syncfs` covered both).
//!
//! Each run is a child process (this test binary, running only `child_process`) traced by
//! `strace -f -y`, which logs the file system calls in order with the path of each file
//! descriptor; the log is then checked against the files and directories the run left.
//! Without `strace` the tests are skipped with a message, except under `CI=true`, where they
//! fail.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use preallocate::{preallocate, Rows};

#[derive(Rows, Debug, Clone, Copy, PartialEq)]
struct Pair {
    x: [f32; 3],
    y: [u8; 1],
}

/// Drops every fifth item (Zarr then writes `x_valid` too).
#[cfg(feature = "zarr")]
#[preallocate(dim = 3, dtype = f32)]
fn features(i: u32) -> Option<[f32; 3]> {
    (i % 5 != 2).then(|| [i as f32, 1.0, -(i as f32)])
}

#[preallocate(rows = Pair)]
fn pair(i: u32) -> Pair {
    Pair {
        x: [i as f32, 0.5, 2.0],
        y: [(i % 3) as u8],
    }
}

const ITEMS: u32 = 100;
const CHUNK_ROWS: usize = 16;

#[test]
fn child_process() {
    let Ok(job) = std::env::var("SYNC_ORDER_CHILD") else {
        return;
    };
    let (what, path) = job.split_once(':').unwrap();
    match what {
        #[cfg(feature = "zarr")]
        "zarr" => {
            features::pipeline()
                .chunk_rows(CHUNK_ROWS)
                .write_zarr(0..ITEMS, path, "x")
                .unwrap();
        }
        #[cfg(feature = "zarr")]
        "zarr-pair" => {
            pair::pipeline()
                .chunk_rows(CHUNK_ROWS)
                .write_zarr(0..ITEMS, path)
                .unwrap();
        }
        "shards-pair" => {
            pair::pipeline()
                .chunk_rows(CHUNK_ROWS)
                .write_npy_shards(0..ITEMS, path)
                .unwrap();
        }
        other => panic!("unknown child job {other}"),
    }
}

/// One traced call, in the order of the log.
#[derive(Debug)]
enum Event {
    /// A file opened for writing (or created).
    Write(PathBuf),
    /// A directory created.
    Mkdir(PathBuf),
    /// A rename of the first path onto the second.
    Rename(PathBuf, PathBuf),
    /// `fsync` or `fdatasync` of this file or directory.
    Sync(PathBuf),
    /// `syncfs`: the whole file system.
    SyncFs,
}

/// The strings in double quotes of a strace line, in order.
fn quoted(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = line;
    while let Some(start) = rest.find('"') {
        let after = &rest[start + 1..];
        let Some(end) = after.find('"') else { break };
        out.push(after[..end].to_string());
        rest = &after[end + 1..];
    }
    out
}

/// The path strace shows for the first file descriptor of the call (`fsync(3</a/b>)`).
fn fd_path(line: &str) -> Option<PathBuf> {
    let open = line.find('(')?;
    let args = &line[open..];
    let start = args.find('<')? + 1;
    let end = start + args[start..].find('>')?;
    Some(PathBuf::from(&args[start..end]))
}

fn parse(log: &str) -> Vec<Event> {
    let mut events = Vec::new();
    // Calls of several threads interleave: `<pid> call(args <unfinished ...>`, later
    // `<pid> <... call resumed>rest) = result`. A call counts where it returned.
    let mut unfinished = std::collections::HashMap::new();
    for line in log.lines() {
        // `<pid> call(args) = result`; a failed call changes nothing.
        let (pid, line) = line.split_once(' ').unwrap_or(("", line));
        let line = line.trim();
        if let Some(start) = line.strip_suffix("<unfinished ...>") {
            unfinished.insert(pid.to_string(), start.to_string());
            continue;
        }
        let joined;
        let line = if line.starts_with("<...") {
            let (Some(start), Some((_, rest))) =
                (unfinished.remove(pid), line.split_once("resumed>"))
            else {
                continue;
            };
            joined = format!("{start}{rest}");
            joined.as_str()
        } else {
            line
        };
        if line.contains("= -1 ") {
            continue;
        }
        let Some(call) = line.split('(').next() else {
            continue;
        };
        let strings = quoted(line);
        let event = match call {
            "open" | "openat" | "creat" => {
                let writes = call == "creat"
                    || ["O_WRONLY", "O_RDWR", "O_CREAT"]
                        .iter()
                        .any(|flag| line.contains(flag));
                match strings.first() {
                    Some(path) if writes => Event::Write(PathBuf::from(path)),
                    _ => continue,
                }
            }
            "mkdir" | "mkdirat" => match strings.first() {
                Some(path) => Event::Mkdir(PathBuf::from(path)),
                None => continue,
            },
            "rename" | "renameat" | "renameat2" => match (strings.first(), strings.get(1)) {
                (Some(from), Some(to)) => Event::Rename(PathBuf::from(from), PathBuf::from(to)),
                _ => continue,
            },
            "fsync" | "fdatasync" => match fd_path(line) {
                Some(path) => Event::Sync(path),
                None => continue,
            },
            "syncfs" => Event::SyncFs,
            _ => continue,
        };
        events.push(event);
    }
    events
}

/// Every file and every directory under `root` (itself included), as the run left them.
fn tree(root: &Path) -> (Vec<PathBuf>, Vec<PathBuf>) {
    let (mut files, mut dirs) = (Vec::new(), vec![root.to_path_buf()]);
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path.clone());
                pending.push(path);
            } else {
                files.push(path);
            }
        }
    }
    (files, dirs)
}

/// Whether `path` was flushed (or the whole file system was) after event `after` and before
/// event `before`.
fn synced(events: &[Event], path: &Path, after: Option<usize>, before: usize) -> bool {
    let from = after.map_or(0, |i| i + 1);
    events[from..before]
        .iter()
        .any(|event| matches!(event, Event::Sync(p) if p == path) || matches!(event, Event::SyncFs))
}

/// Whether the contents of `file` are durable when event `marker` happens: flushed after it
/// was last written, or, when it was renamed into place since, flushed under its earlier name
/// before the rename.
fn contents_durable(events: &[Event], file: &Path, marker: usize) -> Result<(), String> {
    let (mut path, mut before) = (file.to_path_buf(), marker);
    loop {
        let last = events[..before].iter().rposition(
            |event| matches!(event, Event::Write(p) | Event::Rename(_, p) if *p == path),
        );
        let Some(last) = last else {
            return Err(format!("{} was never written", file.display()));
        };
        if synced(events, &path, Some(last), before) {
            return Ok(());
        }
        match &events[last] {
            Event::Rename(from, _) => (path, before) = (from.clone(), last),
            _ => return Err(format!("file {}", file.display())),
        }
    }
}

/// What is not durable when event `marker` happens: each of `files` must be flushed after it
/// was last written, each of `dirs` after an entry that is still there was last added to it.
fn not_durable(
    events: &[Event],
    marker: usize,
    files: &[PathBuf],
    dirs: &[PathBuf],
    left: &BTreeSet<PathBuf>,
) -> Vec<String> {
    let mut missing = Vec::new();
    for file in files {
        if let Err(problem) = contents_durable(events, file, marker) {
            missing.push(problem);
        }
    }
    for dir in dirs {
        let added = events[..marker].iter().rposition(|event| match event {
            Event::Write(p) | Event::Mkdir(p) | Event::Rename(_, p) => {
                p.parent() == Some(dir.as_path()) && left.contains(p)
            }
            _ => false,
        });
        if added.is_some() && !synced(events, dir, added, marker) {
            missing.push(format!("directory {}", dir.display()));
        }
    }
    missing
}

/// The calls traced: those that create or rename files and directories, and those that
/// flush them (`?`: a call this architecture does not have, such as `open` on aarch64, is
/// left out).
const TRACED: &str = "trace=?open,openat,?creat,?mkdir,mkdirat,?rename,renameat,?renameat2,\
                      fsync,fdatasync,syncfs";

/// Runs `what` on `path` under strace; returns the events, or `None` (with a message) when
/// strace cannot run here and this is not CI.
fn traced(what: &str, path: &Path) -> Option<Vec<Event>> {
    let log = path.with_extension("strace");
    let output = Command::new("strace")
        .args(["-f", "-y", "-qq", "-s", "4096", "-e", TRACED, "-o"])
        .arg(&log)
        .arg(std::env::current_exe().unwrap())
        .args([
            "child_process",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("SYNC_ORDER_CHILD", format!("{what}:{}", path.display()))
        .output();
    let ci = std::env::var("CI").is_ok_and(|v| v == "true");
    match output {
        Ok(out) if out.status.success() => {}
        Ok(out) => {
            let stderr = String::from_utf8_lossy(&out.stderr);
            // A container without ptrace: strace itself cannot start.
            if stderr.contains("ptrace") && !ci {
                eprintln!("skipped: strace cannot trace here: {}", stderr.trim());
                return None;
            }
            panic!("the traced run failed ({}):\n{stderr}", out.status);
        }
        Err(err) => {
            assert!(!ci, "strace is needed under CI=true: {err}");
            eprintln!("skipped: strace is not available ({err})");
            return None;
        }
    }
    let text = fs::read_to_string(&log).unwrap();
    Some(parse(&text))
}

/// The index of the last event that publishes `marker` (renamed onto it, or written in place).
fn published(events: &[Event], marker: &Path) -> usize {
    events
        .iter()
        .rposition(|event| matches!(event, Event::Rename(_, p) | Event::Write(p) if p == marker))
        .unwrap_or_else(|| panic!("{} was never published", marker.display()))
}

fn scratch() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    (dir, root)
}

/// A Zarr group, as a run left it: every file and directory of an array (its chunks, its
/// records), the group's metadata and the group's directory are durable before the array's
/// metadata, and each unit's chunk files, with their directories, before the unit's record.
#[cfg(feature = "zarr")]
fn check_zarr(events: &[Event], store: &Path, arrays: &[&str]) {
    let (files, dirs) = tree(store);
    let left: BTreeSet<PathBuf> = files.iter().chain(&dirs).cloned().collect();
    let mut problems = Vec::new();
    for array in arrays {
        let meta = store.join(array).join("zarr.json");
        let at = published(events, &meta);
        let (mut covered, mut array_dirs) = tree(&store.join(array));
        covered.retain(|f| *f != meta);
        covered.push(store.join("zarr.json"));
        array_dirs.push(store.to_path_buf());
        for what in not_durable(events, at, &covered, &array_dirs, &left) {
            problems.push(format!("{what} before {}", meta.display()));
        }
    }
    // The records of units: a line each of `<array>/.preallocate/<job>/u-<first>-<last>.jsonl`.
    let records = files.iter().filter(|f| {
        f.file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with("u-") && n.ends_with(".jsonl"))
    });
    let units = records.flat_map(|record| {
        let text = std::fs::read_to_string(record).unwrap();
        assert!(
            text.ends_with('\n'),
            "{} ends in a whole line",
            record.display()
        );
        text.lines()
            .map(|line| {
                let value: serde_json::Value = serde_json::from_str(line).unwrap();
                (record, value["unit"].as_u64().unwrap() as usize)
            })
            .collect::<Vec<_>>()
    });
    let mut recorded = 0;
    for (record, unit) in units {
        recorded += 1;
        let array = record.parent().unwrap().parent().unwrap().parent().unwrap();
        let written = events
            .iter()
            .position(|event| matches!(event, Event::Write(p) | Event::Rename(_, p) if p == record))
            .unwrap();
        // The unit's chunks: of the array, and of its companion `<array>_valid`.
        let mut valid = array.as_os_str().to_owned();
        valid.push("_valid");
        let of_unit = |f: &&PathBuf, array: &Path| {
            f.strip_prefix(array.join("c"))
                .ok()
                .and_then(|rest| rest.iter().next())
                .and_then(|first| first.to_str())
                .and_then(|first| first.parse::<usize>().ok())
                == Some(unit)
        };
        let chunks: Vec<PathBuf> = files
            .iter()
            .filter(|f| of_unit(f, array) || of_unit(f, Path::new(&valid)))
            .cloned()
            .collect();
        assert!(!chunks.is_empty(), "no chunk of unit {unit}");
        let mut chain: Vec<PathBuf> = Vec::new();
        for chunk in &chunks {
            let mut dir = chunk.parent();
            while let Some(d) = dir.filter(|d| d.starts_with(store)) {
                chain.push(d.to_path_buf());
                dir = d.parent();
            }
        }
        chain.sort();
        chain.dedup();
        for what in not_durable(events, written, &chunks, &chain, &left) {
            problems.push(format!("{what} before {}", record.display()));
        }
    }
    assert!(recorded > 0, "no unit's record in {}", store.display());
    assert!(problems.is_empty(), "not durable:\n{}", problems.join("\n"));
}

#[cfg(feature = "zarr")]
#[test]
fn a_zarr_array_is_durable_before_its_metadata_and_each_unit_before_its_record() {
    let (_dir, root) = scratch();
    let store = root.join("data.zarr");
    let Some(events) = traced("zarr", &store) else {
        return;
    };
    check_zarr(&events, &store, &["x", "x_valid"]);
}

#[cfg(feature = "zarr")]
#[test]
fn several_zarr_arrays_are_durable_before_their_metadata() {
    let (_dir, root) = scratch();
    let store = root.join("data.zarr");
    let Some(events) = traced("zarr-pair", &store) else {
        return;
    };
    check_zarr(&events, &store, &["x", "y"]);
}

#[test]
fn several_shard_directories_are_durable_before_their_manifests() {
    let (_dir, root) = scratch();
    let out = root.join("out");
    let Some(events) = traced("shards-pair", &out) else {
        return;
    };
    let (files, dirs) = tree(&out);
    let left: BTreeSet<PathBuf> = files.iter().chain(&dirs).cloned().collect();
    let mut problems = Vec::new();
    for field in ["x", "y"] {
        let dir = out.join(field);
        let manifest = dir.join("manifest.json");
        let at = published(&events, &manifest);
        let shards: Vec<PathBuf> = files
            .iter()
            .filter(|f| f.parent() == Some(dir.as_path()) && **f != manifest)
            .cloned()
            .collect();
        assert_eq!(shards.len(), (ITEMS as usize).div_ceil(CHUNK_ROWS));
        for what in not_durable(&events, at, &shards, &[dir.clone(), out.clone()], &left) {
            problems.push(format!("{what} before {}", manifest.display()));
        }
    }
    assert!(problems.is_empty(), "not durable:\n{}", problems.join("\n"));
}
