//! A real distributed engine: Dask distributed (a `LocalCluster` of 3 worker processes) runs
//! the 3 partitions of `examples/zarr_partitioned` as tasks, one of them killed with SIGKILL
//! mid-way and rerun; the array then opens in `dask.array.from_zarr` and `xarray.open_zarr`
//! and equals a single process's `batch` of the same readings bit for bit
//! (`tests/py/dask_partitions.py`).
//!
//! Without `python3` and `dask[distributed]`, zarr and xarray the test prints why it is
//! skipped, or fails when `CI` is set (`.ci/run` installs them).
#![cfg(feature = "zarr")]

#[path = "common/python.rs"]
mod python;

use std::path::PathBuf;
use std::process::Command;

/// The example's binary beside this test's (`target/<profile>/examples/`), built if missing.
fn example_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().and_then(|deps| deps.parent()).unwrap();
    let binary = profile_dir
        .join("examples")
        .join(format!("zarr_partitioned{}", std::env::consts::EXE_SUFFIX));
    if !binary.is_file() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut build = Command::new(cargo);
        build.current_dir(env!("CARGO_MANIFEST_DIR")).args([
            "build",
            "--features",
            "zarr",
            "--example",
            "zarr_partitioned",
        ]);
        if profile_dir.ends_with("release") {
            build.arg("--release");
        }
        let status = build.status().unwrap();
        assert!(status.success(), "building the example failed");
    }
    assert!(binary.is_file(), "no {}", binary.display());
    binary
}

fn python_with_dask() -> Option<String> {
    python::python_with(
        "import dask.distributed, zarr, xarray",
        "\"dask[distributed]\" zarr xarray",
        "to run the partitions under Dask",
    )
}

#[test]
fn dask_runs_the_partitions_and_reads_one_array_equal_to_batch() {
    let Some(python) = python_with_dask() else {
        return;
    };
    let binary = example_binary();
    let dir = tempfile::tempdir().unwrap();
    let script: PathBuf = [
        env!("CARGO_MANIFEST_DIR"),
        "tests",
        "py",
        "dask_partitions.py",
    ]
    .iter()
    .collect();
    let out = Command::new(&python)
        .arg(&script)
        .arg(&binary)
        .arg(dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{} failed:\n{stdout}\n{}",
        script.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert_eq!(report["workers"], 3);
    assert_eq!(report["reports"][1]["returncode"], -9);
    assert!(report["rerun"]["resumed"].as_u64().unwrap() >= 1);
    assert_eq!(report["rerun"]["complete"], true);
    for (check, ok) in report["checks"].as_object().unwrap() {
        assert_eq!(ok, true, "{check}");
    }
}
