//! The example Python package (`examples/python`), as a user gets it: `pip install` of the
//! folder into a fresh virtual environment (pip builds it with maturin, fetching what it needs
//! from PyPI), then its pytest suite, which checks every row function against a pure-Python
//! reference. Skipped with a message where Python cannot import `maturin`; under `CI=true` it
//! fails instead.
//!
//! The Rust build goes to `target/python-example`, so that a second run reuses it.

#[path = "common/python.rs"]
mod python;

use std::path::Path;
use std::process::Command;

/// Runs `command`, panicking with its output when it fails.
fn run(command: &mut Command, what: &str) -> String {
    let out = command
        .output()
        .unwrap_or_else(|err| panic!("{what}: {err}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{what} failed:\n{text}");
    text
}

#[test]
fn the_example_package_installs_from_its_folder_and_passes_its_tests() {
    let Some(python) = python::python_with(
        "import venv, maturin",
        "maturin pytest ml_dtypes",
        "to build the example Python package and run its tests",
    ) else {
        return;
    };
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let package = root.join("examples/python");
    let scratch = tempfile::tempdir().unwrap();
    let venv = scratch.path().join("venv");
    run(
        Command::new(&python).args(["-m", "venv"]).arg(&venv),
        "python3 -m venv",
    );
    let bin = venv.join("bin");
    let installed = run(
        Command::new(bin.join("pip"))
            .args(["install", "--disable-pip-version-check", "--quiet"])
            .arg(format!("{}[test]", package.display()))
            .env("CARGO_TARGET_DIR", root.join("target/python-example")),
        "pip install examples/python[test]",
    );
    eprintln!("{installed}");
    let tested = run(
        Command::new(bin.join("python"))
            .args(["-m", "pytest", "-q", "-p", "no:cacheprovider"])
            .arg(package.join("tests"))
            .current_dir(scratch.path()),
        "pytest examples/python/tests",
    );
    eprintln!("{tested}");
    let summary = tested.lines().last().unwrap_or_default();
    assert!(
        summary.contains(" passed") && !summary.contains("failed") && !summary.contains("skipped"),
        "{summary}"
    );
}
