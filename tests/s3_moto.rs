//! Zarr on S3-compatible object storage (feature `s3`): a moto server started by this test on
//! 127.0.0.1, never a remote endpoint. Two partitions of `examples/zarr_partitioned` write
//! `s3://bucket/data.zarr` at once, configured by the standard AWS environment variables; a
//! rerun of a finished partition returns at once; the objects, copied out, open in zarr-python
//! and xarray and equal a single process's `batch` bit for bit (`tests/py/s3_check.py`).
//!
//! Without `python3` and `moto[server]`, zarr and xarray the test prints why it is skipped, or
//! fails when `CI` is set (`.ci/run` installs them).
#![cfg(feature = "s3")]

#[path = "common/python.rs"]
mod python;

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn python_with_moto() -> Option<String> {
    python::python_with(
        "import moto.server, boto3, zarr, xarray",
        "\"moto[server]\" zarr xarray",
        "to test S3 stores",
    )
}

/// A moto server on 127.0.0.1, stopped when dropped.
struct Moto {
    child: Child,
    endpoint: String,
}

impl Moto {
    fn start(python: &str) -> Moto {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(python)
            .args([
                "-m",
                "moto.server",
                "-H",
                "127.0.0.1",
                "-p",
                &port.to_string(),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let moto = Moto {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
        };
        let start = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "moto did not start on port {port}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        moto
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The example's binary beside this test's (`target/<profile>/examples/`), built with the
/// feature `s3` if it is missing or was built without it.
fn example_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().and_then(|deps| deps.parent()).unwrap();
    let binary = profile_dir
        .join("examples")
        .join(format!("zarr_partitioned{}", std::env::consts::EXE_SUFFIX));
    // With the feature, a URL without a bucket is refused as such.
    let without_s3 = |binary: &Path| {
        let out = Command::new(binary).arg("s3:///probe").output().unwrap();
        !String::from_utf8_lossy(&out.stderr).contains("names no bucket")
    };
    if !binary.is_file() || without_s3(&binary) {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut build = Command::new(cargo);
        build.current_dir(env!("CARGO_MANIFEST_DIR")).args([
            "build",
            "--features",
            "s3",
            "--example",
            "zarr_partitioned",
        ]);
        if profile_dir.ends_with("release") {
            build.arg("--release");
        }
        assert!(
            build.status().unwrap().success(),
            "building the example failed"
        );
    }
    assert!(
        !without_s3(&binary),
        "{} has no S3 support",
        binary.display()
    );
    binary
}

fn helper(python: &str, args: &[&str]) -> String {
    let script: PathBuf = [env!("CARGO_MANIFEST_DIR"), "tests", "py", "s3_check.py"]
        .iter()
        .collect();
    let out = Command::new(python)
        .arg(&script)
        .args(args)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "s3_check.py {args:?} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

const ARGS: [&str; 6] = [
    "--rows",
    "6000",
    "--chunk-rows",
    "500",
    "--shard-rows",
    "1000",
];

fn worker(binary: &Path, endpoint: &str, url: &str, partition: &str) -> Child {
    Command::new(binary)
        .arg(url)
        .args(ARGS)
        .env("PREALLOCATE_PARTITION", partition)
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn report(child: Child) -> serde_json::Value {
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "worker failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(text.lines().last().unwrap()).unwrap()
}

#[test]
fn partitions_write_one_array_to_s3() {
    let Some(python) = python_with_moto() else {
        return;
    };
    let binary = example_binary();
    let moto = Moto::start(&python);
    helper(&python, &["create", &moto.endpoint, "features"]);
    let url = "s3://features/runs/data.zarr";

    let workers = [
        worker(&binary, &moto.endpoint, url, "0/2"),
        worker(&binary, &moto.endpoint, url, "1/2"),
    ];
    let reports: Vec<serde_json::Value> = workers.into_iter().map(report).collect();
    assert_eq!(reports[0]["units"], serde_json::json!([0, 1, 2]));
    assert_eq!(reports[1]["units"], serde_json::json!([3, 4, 5]));
    assert!(reports.iter().any(|r| r["complete"] == true), "{reports:?}");

    // A rerun of a finished partition: complete, nothing written again.
    let again = report(worker(&binary, &moto.endpoint, url, "0/2"));
    assert_eq!(
        (again["resumed"].as_u64(), again["complete"].as_bool()),
        (Some(3), Some(true))
    );

    let dir = tempfile::tempdir().unwrap();
    let reference = dir.path().join("ref.bin");
    let out = Command::new(&binary)
        .arg("--batch")
        .arg(&reference)
        .args(&ARGS[..2])
        .output()
        .unwrap();
    assert!(out.status.success());
    let checked = helper(
        &python,
        &[
            "check",
            &moto.endpoint,
            "features",
            "runs/data.zarr",
            dir.path().to_str().unwrap(),
            reference.to_str().unwrap(),
        ],
    );
    let checked: serde_json::Value = serde_json::from_str(checked.lines().last().unwrap()).unwrap();
    for (check, ok) in checked["checks"].as_object().unwrap() {
        assert_eq!(ok, true, "{check}: {checked}");
    }
}

#[test]
fn an_s3_url_without_a_bucket_is_an_error() {
    use preallocate::preallocate;

    #[preallocate(dim = 1, dtype = u8)]
    fn one(x: u8) -> [u8; 1] {
        [x]
    }
    let err = one::pipeline()
        .write_zarr(0..3u8, "s3:///x", "x")
        .unwrap_err();
    assert!(
        err.to_string()
            .ends_with("cannot open `s3:///x`: `s3:///x` names no bucket: give `s3://bucket/prefix` (0 rows written, none kept)"),
        "{err}"
    );
}
