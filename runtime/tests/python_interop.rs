//! Interop with real numpy and the `safetensors` Python package: every `.npy` dtype through
//! `NpyWriter`, 0, 1 and many rows, as a known-length input (full chunks and
//! a short last one) and an unknown-length one (irregular chunks); safetensors in f32 and f16
//! (and the other numpy dtypes). The scripts compare with values Rust computed.
//!
//! Without Python and the modules, the tests print why they are skipped, or fail when `CI` is set.

mod common;

use std::convert::Infallible;
use std::fs;
use std::path::Path;
use std::process::Command;

use common::{chunk_sizes, le_bytes, python_with, rows, run_python_checker, Pattern, Sample};
use preallocate_runtime::ndarray::{s, Array2};
use preallocate_runtime::{
    f16, policy, FileOutput, NpyElement, NpyWriter, Pipeline, RowFn, RowSpec, SafetensorsElement,
    SafetensorsWriter, SinkFailure,
};
use serde_json::{json, Value};

const SHARD_ROWS: usize = 64;

/// The writers' common methods, to stream into any of them with one function.
trait Sink<T> {
    type Output;
    fn write_chunk(&mut self, rows: ndarray::ArrayView2<'_, T>) -> Result<(), SinkFailure>;
    fn finish(self) -> Result<Self::Output, SinkFailure>;
}

impl<T: NpyElement> Sink<T> for NpyWriter<T> {
    type Output = FileOutput;
    fn write_chunk(&mut self, rows: ndarray::ArrayView2<'_, T>) -> Result<(), SinkFailure> {
        NpyWriter::write_chunk(self, rows)
    }
    fn finish(self) -> Result<FileOutput, SinkFailure> {
        NpyWriter::finish(self)
    }
}

impl<T: SafetensorsElement> Sink<T> for SafetensorsWriter<T> {
    type Output = FileOutput;
    fn write_chunk(&mut self, rows: ndarray::ArrayView2<'_, T>) -> Result<(), SinkFailure> {
        SafetensorsWriter::write_chunk(self, rows)
    }
    fn finish(self) -> Result<FileOutput, SinkFailure> {
        SafetensorsWriter::finish(self)
    }
}

/// Feeds `values` to `sink` in chunks cut by `pattern`, then finishes it.
fn stream<T, S: Sink<T>>(mut sink: S, values: &Array2<T>, pattern: Pattern) -> S::Output {
    let mut start = 0;
    for size in chunk_sizes(values.nrows(), pattern) {
        sink.write_chunk(values.slice(s![start..start + size, ..]))
            .unwrap();
        start += size;
    }
    sink.finish().unwrap()
}

/// The cases for one dtype: `.npy` for 0, 1 and 300 rows, known and unknown length, plus one
/// `(n, 28, 28)` file. (The shards of every dtype are checked through the pipeline, in the
/// facade's `tests/numpy_pipeline.rs`.)
fn npy_cases<T: NpyElement + Sample>(dir: &Path, cases: &mut Vec<Value>) {
    let inputs = [
        ("known", Pattern::Fixed(SHARD_ROWS)),
        ("unknown", Pattern::Irregular),
    ];
    for n in [0, 1, 300] {
        for (length, pattern) in inputs {
            let stem = format!("{}-{n}-{length}", T::NAME);
            let values = rows::<T>(n, n, 3);
            let expected = dir.join(format!("{stem}.bin"));
            fs::write(&expected, le_bytes(&values)).unwrap();

            let path = dir.join(format!("{stem}.npy"));
            stream(
                NpyWriter::<T>::create(&path, &[3]).unwrap(),
                &values,
                pattern,
            );
            cases.push(json!({
                "kind": "npy", "path": path, "descr": T::DESCR, "shape": [n, 3],
                "expected": expected,
            }));
        }
    }
    let values = rows::<T>(7, 3, 28 * 28);
    let expected = dir.join(format!("{}-images.bin", T::NAME));
    fs::write(&expected, le_bytes(&values)).unwrap();
    let path = dir.join(format!("{}-images.npy", T::NAME));
    stream(
        NpyWriter::<T>::create(&path, &[28, 28]).unwrap(),
        &values,
        Pattern::Fixed(2),
    );
    cases.push(json!({
        "kind": "npy", "path": path, "descr": T::DESCR, "shape": [3, 28, 28],
        "expected": expected,
    }));
}

#[test]
fn numpy_loads_every_npy_and_shard_output_with_the_values_rust_computed() {
    let Some(python) = python_with(
        "numpy_loads_every_npy_and_shard_output_with_the_values_rust_computed",
        &["numpy"],
    ) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut cases = Vec::new();
    npy_cases::<f16>(dir.path(), &mut cases);
    npy_cases::<f32>(dir.path(), &mut cases);
    npy_cases::<f64>(dir.path(), &mut cases);
    npy_cases::<i8>(dir.path(), &mut cases);
    npy_cases::<i16>(dir.path(), &mut cases);
    npy_cases::<i32>(dir.path(), &mut cases);
    npy_cases::<i64>(dir.path(), &mut cases);
    npy_cases::<u8>(dir.path(), &mut cases);
    npy_cases::<u16>(dir.path(), &mut cases);
    npy_cases::<u32>(dir.path(), &mut cases);
    npy_cases::<u64>(dir.path(), &mut cases);
    assert_eq!(cases.len(), 11 * 7);
    let file = dir.path().join("cases.json");
    fs::write(&file, json!({ "cases": cases }).to_string()).unwrap();
    run_python_checker(&python, "check_npy.py", &file);
}

/// Item `i` is row `i` of the array: three `f32`s.
struct Rows3(Array2<f32>);

impl RowSpec for Rows3 {
    type Dtype = f32;
    type Dim = ndarray::Ix2;
    type Policy = policy::Plain;
    const DIM: usize = 3;
    const SHAPE: &'static [usize] = &[3];
    const OVERWRITES_ROW: bool = true;
}

impl RowFn<usize> for Rows3 {
    type Error = Infallible;
    fn write_row(&mut self, i: usize, row: &mut [f32]) -> Result<bool, Infallible> {
        row.copy_from_slice(self.0.row(i).as_slice().unwrap());
        Ok(true)
    }
}

/// The checker must be able to fail: a wrong value, a wrong shape and a stray `*.json` are each
/// reported, with a non-zero exit.
#[test]
fn the_numpy_checker_reports_mismatches() {
    let Some(python) = python_with("the_numpy_checker_reports_mismatches", &["numpy"]) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let values = rows::<f32>(0, 4, 3);
    let path = dir.path().join("x.npy");
    stream(
        NpyWriter::<f32>::create(&path, &[3]).unwrap(),
        &values,
        Pattern::Whole,
    );
    let mut wrong = values.clone();
    wrong[[2, 1]] = 0.5;
    let expected = dir.path().join("wrong.bin");
    fs::write(&expected, le_bytes(&wrong)).unwrap();
    let shards = dir.path().join("shards");
    Pipeline::new(Rows3(values.clone()))
        .shard_rows(2)
        .write_npy_shards(0..values.nrows(), &shards)
        .unwrap();
    fs::write(shards.join("extra.json"), "{}").unwrap();
    let good = dir.path().join("good.bin");
    fs::write(&good, le_bytes(&values)).unwrap();
    let cases = json!({ "cases": [
        { "kind": "npy", "path": path, "descr": "<f4", "shape": [4, 3], "expected": expected },
        { "kind": "npy", "path": path, "descr": "<f4", "shape": [3, 4], "expected": good },
        { "kind": "shards", "dir": shards, "descr": "<f4", "shape": [4, 3], "shard_rows": 2,
          "expected": good },
    ]});
    let file = dir.path().join("cases.json");
    fs::write(&file, cases.to_string()).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/py/check_npy.py");
    let out = Command::new(&python)
        .arg(script)
        .arg(&file)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    let at = |mode: &str, what: &str| {
        format!(
            "MISMATCH {}: np.load('x.npy', mmap_mode={mode}): {what}\n",
            path.display()
        )
    };
    let value = format!("value at (2, 1) is {:?}, expected 0.5", values[[2, 1]]);
    let shape = "shape (4, 3), expected (3, 4)";
    let expected_report = [
        at("None", &value),
        at("'r'", &value),
        at("None", shape),
        at("'r'", shape),
        format!(
            "MISMATCH {}: expected exactly one *.json (manifest.json), found ['extra.json', 'manifest.json']\n",
            shards.display()
        ),
    ]
    .concat();
    assert!(stdout.starts_with(&expected_report), "{stdout}");
    assert!(stdout.ends_with(": 3 cases, 5 mismatches\n"), "{stdout}");
}

fn safetensors_case<T: SafetensorsElement + Sample>(dir: &Path, cases: &mut Vec<Value>) {
    for n in [0, 1, 300] {
        for (length, pattern) in [
            ("known", Pattern::Fixed(64)),
            ("unknown", Pattern::Irregular),
        ] {
            let stem = format!("{}-{n}-{length}", T::NAME);
            let values = rows::<T>(n, n, 6);
            let expected = dir.join(format!("{stem}.bin"));
            fs::write(&expected, le_bytes(&values)).unwrap();
            let path = dir.join(format!("{stem}.safetensors"));
            let metadata = [("format".to_owned(), "pt".to_owned())].into();
            let writer =
                SafetensorsWriter::<T>::create_with_metadata(&path, "features", &[2, 3], metadata)
                    .unwrap();
            stream(writer, &values, pattern);
            cases.push(json!({
                "path": path, "name": "features", "dtype": T::DTYPE, "shape": [n, 2, 3],
                "metadata": {"format": "pt"}, "expected": expected,
            }));
        }
    }
}

#[test]
fn the_safetensors_package_reads_f32_and_f16_outputs() {
    let Some(python) = python_with(
        "the_safetensors_package_reads_f32_and_f16_outputs",
        &["numpy", "safetensors"],
    ) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut cases = Vec::new();
    safetensors_case::<f32>(dir.path(), &mut cases);
    safetensors_case::<f16>(dir.path(), &mut cases);
    safetensors_case::<f64>(dir.path(), &mut cases);
    safetensors_case::<i8>(dir.path(), &mut cases);
    safetensors_case::<u8>(dir.path(), &mut cases);
    safetensors_case::<i64>(dir.path(), &mut cases);
    safetensors_case::<u16>(dir.path(), &mut cases);
    let file = dir.path().join("cases.json");
    fs::write(&file, json!({ "cases": cases }).to_string()).unwrap();
    run_python_checker(&python, "check_safetensors.py", &file);
}
