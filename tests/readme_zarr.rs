//! The README's section "Scale out: Zarr v3": its readers' Python block (zarr-python, Dask,
//! xarray) and its one-line completeness check, run as they are on the store its Rust block
//! writes, as a job of two partitions: after the first, the check prints `False`, the block stops
//! on its assertion and the rows of the second partition read as zeros; after the second, the
//! check prints `True` and the block reads the whole array. Also what the section says of the
//! units' records and of the report's `resumed`.
//!
//! Without `python3` and those packages the test prints why it is skipped, or fails when `CI`
//! is set (`.ci/run` installs them).
#![cfg(feature = "zarr")]

#[path = "common/python.rs"]
mod python;

use std::path::Path;
use std::process::{Command, Output};

use preallocate::{preallocate, Compression};

/// The section's row function.
#[preallocate(dim = 3, dtype = f32)]
fn reading(i: u64) -> Option<[f32; 3]> {
    (i % 50 != 7).then(|| [i as f32, (i as f32).sqrt(), 1.0])
}

/// The README's section that starts with `title`.
fn section(title: &str) -> String {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    readme
        .split("\n## ")
        .find(|section| section.starts_with(title))
        .unwrap_or_else(|| panic!("the README has a section {title:?}"))
        .to_owned()
}

/// Runs `python` with `args` in `dir`.
fn python(python: &str, args: &[&str], dir: &Path) -> Output {
    Command::new(python)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The section's count of the units done so far.
const COUNT_UNITS: &str = "cat data.zarr/readings/.preallocate/*/u-*.jsonl | sort -u | wc -l";

/// The units done so far, as the section's command counts them in `dir` (the store's parent).
fn records(dir: &Path) -> usize {
    let out = Command::new("sh")
        .args(["-c", COUNT_UNITS])
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

#[test]
fn the_readme_zarr_section_runs_on_a_partitioned_job() {
    let section = section("Scale out");
    assert!(
        section.contains(r#".write_zarr(0..200_000u64, dir.path().join("data.zarr"), "readings")"#),
        "the section's Rust block writes data.zarr/readings as this test does"
    );
    assert!(section.contains(".chunk_rows(4096)") && section.contains(".shard_rows(65_536)"));
    assert!(section.contains(&format!("`{COUNT_UNITS}`")));
    let check = section
        .lines()
        .find_map(|line| line.strip_prefix("python3 -c '"))
        .and_then(|line| line.strip_suffix('\''))
        .expect("a one-line check, python3 -c '...'");
    let readers = section
        .split("```python\n")
        .nth(1)
        .and_then(|rest| rest.split("\n```").next())
        .expect("a readers' Python block");
    assert!(readers.contains("da.from_zarr(\"data.zarr\", component=\"readings\")"));

    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("data.zarr");
    let script = dir.path().join("readers.py");
    std::fs::write(&script, readers).unwrap();
    let script = script.to_str().unwrap();
    let worker = |k: usize| {
        reading::pipeline()
            .chunk_rows(4096)
            .shard_rows(65_536)
            .compression(Compression::Zstd(3))
            .partition(k, 2)
            .write_zarr(0..200_000u64, &store, "readings")
            .unwrap()
    };

    // Worker 0 of 2: shards 0 and 1 (items 0..131 072) stored, the job unfinished.
    let first = worker(0);
    assert_eq!(
        (first.units.clone(), first.resumed, first.complete),
        (vec![0, 1], 0, false)
    );
    assert_eq!(records(dir.path()), 2);
    let Some(py) = python::python_with(
        "import zarr, dask, xarray",
        "zarr dask xarray",
        "to run the README's Zarr readers",
    ) else {
        return;
    };
    let out = python(&py, &["-c", check], dir.path());
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "False");
    let out = python(&py, &[script], dir.path());
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("some partitions have not finished"),
        "{}",
        text(&out)
    );
    // What the section warns of: worker 1's rows read as zeros, like data.
    let zeros = "import zarr; x = zarr.open_array('data.zarr', path='readings', mode='r'); \
                 print(x[131_072:].any(), x[131_071, 0], x[131_071, 2], x[150_000].tolist())";
    let out = python(&py, &["-c", zeros], dir.path());
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "False 131071.0 1.0 [0.0, 0.0, 0.0]"
    );

    // Worker 1 of 2 completes the job; a rerun of it resumes both of its shards.
    let second = worker(1);
    assert_eq!(
        (second.units.clone(), second.resumed, second.complete),
        (vec![2, 3], 0, true)
    );
    assert_eq!(records(dir.path()), 4);
    let rerun = worker(1);
    assert_eq!((rerun.resumed, rerun.complete), (2, true));
    let out = python(&py, &["-c", check], dir.path());
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "True");
    let out = python(&py, &[script], dir.path());
    assert!(out.status.success(), "{}", text(&out));
    // 200 000 items, one in 50 dropped.
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "(200000, 3) float32 196000"
    );
}
