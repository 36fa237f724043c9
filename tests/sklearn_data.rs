//! The `breast_cancer` example on scikit-learn's own CSV, checked against scikit-learn's own
//! loader (`sklearn.datasets.load_breast_cancer()`), value for value.
//!
//! Without `python3` and scikit-learn the test prints why it is skipped, or fails when `CI` is
//! set (`.ci/run` installs scikit-learn).

#[path = "../examples/breast_cancer.rs"]
#[allow(dead_code)]
mod breast_cancer;

use std::process::Command;

#[test]
fn the_arrays_equal_scikit_learns_own_loader() {
    let path = match breast_cancer::find_csv() {
        Ok(path) => path,
        Err(err) if std::env::var_os("CI").is_none() => {
            eprintln!("SKIPPED the_arrays_equal_scikit_learns_own_loader: {err}");
            return;
        }
        Err(err) => panic!("CI needs scikit-learn: {err}"),
    };
    let breast_cancer::TumourArrays { x, y } = breast_cancer::load(&path).unwrap();
    assert_eq!(x.shape(), &[569, 30]);
    assert_eq!(y.shape(), &[569, 1]);

    let dir = tempfile::tempdir().unwrap();
    let lines: Vec<String> = std::fs::read_to_string(&path)
        .unwrap()
        .lines()
        .skip(1)
        .map(str::to_owned)
        .collect();
    let items = || lines.iter().map(String::as_str);
    // One pass, two files: `x.npy` and `y.npy`, named by the fields.
    let files = breast_cancer::tumour::pipeline()
        .chunk_rows(100)
        .write_npy(items(), dir.path())
        .unwrap();
    let names: Vec<_> = files
        .iter()
        .map(|f| f.path.file_name().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["x.npy", "y.npy"]);
    assert!(files.iter().all(|f| f.rows == 569));
    // The in-memory arrays are the files' too.
    let sums = format!(
        "{:.6} {}",
        x.iter().map(|&v| f64::from(v)).sum::<f64>(),
        y.iter().map(|&v| u32::from(v)).sum::<u32>()
    );

    let script = r#"
import sys
import numpy as np
from sklearn.datasets import load_breast_cancer
data = load_breast_cancer()
x = np.load(sys.argv[1] + "/x.npy")
y = np.load(sys.argv[1] + "/y.npy")
assert x.dtype == np.float32 and x.shape == (569, 30), (x.dtype, x.shape)
assert y.dtype == np.uint8 and y.shape == (569, 1), (y.dtype, y.shape)
assert np.array_equal(x, data.data.astype(np.float32)), "features differ"
assert np.array_equal(y[:, 0], data.target), "labels differ"
print(f"{x.astype(np.float64).sum():.6f} {int(y.sum())}")
"#;
    let out = Command::new("python3")
        .args(["-c", script])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "scikit-learn disagrees: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), sums);
}

#[test]
fn a_bad_line_is_named_by_its_index() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.csv");
    let good = vec!["1.5"; 30].join(",") + ",1";
    let bad = vec!["1.5"; 29].join(",") + ",oops,0";
    std::fs::write(
        &path,
        format!("3,30,malignant,benign\n{good}\n{good}\n{bad}\n"),
    )
    .unwrap();
    let err = breast_cancer::load(&path).unwrap_err();
    assert_eq!(
        err.to_string(),
        "item 2 (counting from 0): `oops` is not a number"
    );

    std::fs::write(&path, format!("5,30,malignant,benign\n{good}\n")).unwrap();
    let err = breast_cancer::load(&path).unwrap_err();
    assert_eq!(
        err.to_string(),
        "header `5,30,malignant,benign` does not describe 1 rows of 30"
    );
}
