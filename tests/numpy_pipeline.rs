//! Every `.npy` dtype written through the generated `pipeline()` (`write_npy` and
//! `write_npy_shards`), for 0, 1 and many rows, of known and unknown length, checked by real
//! numpy (`tests/py/check_npy.py`: `np.load`, also with `mmap_mode="r"`, bit for bit).
//!
//! Without `python3` and numpy the test prints why it is skipped, or fails when `CI` is set.

#[path = "common/python.rs"]
mod python;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use preallocate::{f16, preallocate, NpyElement};

const SHARD_ROWS: usize = 64;

/// The cases for one dtype: files and shards of `n` rows, from `0..n` and from a filter of
/// unknown length; the expected values go to a raw little-endian file computed independently.
macro_rules! dtype_cases {
    ($($name:ident: $ty:ty => $value:expr;)*) => {$(
        fn $name(dir: &Path, cases: &mut Vec<String>) {
            #[preallocate(dim = 3, dtype = $ty)]
            fn row(i: u32) -> [$ty; 3] {
                let value = $value;
                [value(i), value(i + 1), value(i * 7)]
            }
            let value = $value;
            for n in [0u32, 1, 300] {
                let mut expected = Vec::new();
                for i in 0..n {
                    for v in [value(i), value(i + 1), value(i * 7)] {
                        expected.extend_from_slice(&v.to_le_bytes());
                    }
                }
                let name = stringify!($name);
                let bin = dir.join(format!("{name}-{n}.bin"));
                std::fs::write(&bin, &expected).unwrap();
                for length in ["known", "unknown"] {
                    let items: Box<dyn Iterator<Item = u32>> = match length {
                        "known" => Box::new(0..n),
                        _ => Box::new((0..n).filter(|_| true)),
                    };
                    let path = dir.join(format!("{name}-{n}-{length}.npy"));
                    let out = row::pipeline().chunk_rows(SHARD_ROWS).write_npy(items, &path).unwrap();
                    assert_eq!(out.shape, vec![n as usize, 3]);
                    cases.push(npy_case(&path, <$ty as NpyElement>::DESCR, n, &bin));

                    let items: Box<dyn Iterator<Item = u32>> = match length {
                        "known" => Box::new(0..n),
                        _ => Box::new((0..n).filter(|_| true)),
                    };
                    let shards = dir.join(format!("{name}-{n}-{length}"));
                    let out = row::pipeline().chunk_rows(SHARD_ROWS).write_npy_shards(items, &shards).unwrap();
                    assert_eq!(out.rows, n as usize);
                    cases.push(shards_case(&shards, <$ty as NpyElement>::DESCR, n, &bin));
                }
            }
        }
    )*
        fn all_cases(dir: &Path) -> Vec<String> {
            let mut cases = Vec::new();
            $($name(dir, &mut cases);)*
            cases
        }
    };
}

dtype_cases! {
    f16s: f16 => |i: u32| f16::from_f32(i as f32 * 0.25 - 10.0);
    f32s: f32 => |i: u32| i as f32 / 3.0 - 50.0;
    f64s: f64 => |i: u32| f64::from(i).sqrt() - 7.5;
    i8s: i8 => |i: u32| (i % 256) as u8 as i8;
    i16s: i16 => |i: u32| (i as i16).wrapping_mul(-257);
    i32s: i32 => |i: u32| (i as i32).wrapping_mul(-65_537);
    i64s: i64 => |i: u32| i64::from(i) * -4_294_967_311;
    u8s: u8 => |i: u32| (i % 256) as u8;
    u16s: u16 => |i: u32| (i as u16).wrapping_mul(257);
    u32s: u32 => |i: u32| i.wrapping_mul(2_654_435_761);
    u64s: u64 => |i: u32| u64::from(i).wrapping_mul(11_400_714_819_323_198_485);
}

fn json_str(path: &Path) -> String {
    let text = path.display().to_string();
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}

fn npy_case(path: &Path, descr: &str, n: u32, expected: &Path) -> String {
    format!(
        r#"{{"kind": "npy", "path": {}, "descr": "{descr}", "shape": [{n}, 3], "expected": {}}}"#,
        json_str(path),
        json_str(expected)
    )
}

fn shards_case(dir: &Path, descr: &str, n: u32, expected: &Path) -> String {
    format!(
        r#"{{"kind": "shards", "dir": {}, "descr": "{descr}", "shape": [{n}, 3], "shard_rows": {SHARD_ROWS}, "expected": {}}}"#,
        json_str(dir),
        json_str(expected)
    )
}

/// `python3` when it imports numpy; `None` (after saying why) when it does not, outside CI.
fn python_with_numpy() -> Option<String> {
    python::python_with("import numpy", "numpy", "to check the files with numpy")
}

#[test]
fn numpy_loads_every_dtype_written_through_the_pipeline() {
    let dir = tempfile::tempdir().unwrap();
    let cases = all_cases(dir.path());
    assert_eq!(cases.len(), 11 * 3 * 2 * 2);
    let Some(python) = python_with_numpy() else {
        return;
    };
    let mut json = String::from("{\"cases\": [\n");
    for (i, case) in cases.iter().enumerate() {
        let sep = if i + 1 < cases.len() { "," } else { "" };
        writeln!(json, "  {case}{sep}").unwrap();
    }
    json.push_str("]}\n");
    let cases_path = dir.path().join("cases.json");
    std::fs::write(&cases_path, json).unwrap();
    let script: PathBuf = [env!("CARGO_MANIFEST_DIR"), "tests", "py", "check_npy.py"]
        .iter()
        .collect();
    let out = Command::new(&python)
        .arg(&script)
        .arg(&cases_path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{} failed:\n{}\n{}",
        script.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
