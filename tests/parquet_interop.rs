//! Parquet written through the generated `pipeline().write_parquet` and
//! `write_parquet_shards`, read back by the tools that load Parquet for training: pyarrow
//! (`pq.read_table`, `pyarrow.dataset`), Hugging Face `datasets` (`load_dataset("parquet")`
//! then `.with_format("numpy")`) and polars (`read_parquet`, `scan_parquet`), bit for bit
//! against the rows computed here (`tests/py/check_parquet.py`). Every dtype, rows of one and
//! two axes, one output and several, dropped items, compression, row groups, and a sharded,
//! partitioned job; and the README's "rows to Parquet, then `datasets` and a PyTorch
//! `DataLoader`" section, run as it is written.
//!
//! Without `python3` and those packages the test prints why it is skipped, or fails when `CI`
//! is set (`.ci/run` installs them).
#![cfg(feature = "parquet")]

#[path = "common/python.rs"]
mod python;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use preallocate::{f16, preallocate, Compression, ParquetElement, Rows};

const CHUNK_ROWS: usize = 64;

fn json_str(path: &Path) -> String {
    serde_json::to_string(&path.display().to_string()).unwrap()
}

/// One column of a case: its name, numpy dtype, shape, and the file of its expected bytes.
fn column(name: &str, dtype: &str, shape: &[usize], expected: &Path) -> String {
    format!(
        r#"{{"name": "{name}", "dtype": "{dtype}", "shape": {shape:?}, "expected": {}}}"#,
        json_str(expected)
    )
}

fn case(path: &Path, kind: &str, datasets: bool, columns: &[String]) -> String {
    format!(
        r#"{{"path": {}, "kind": "{kind}", "datasets": {datasets}, "columns": [{}]}}"#,
        json_str(path),
        columns.join(", ")
    )
}

macro_rules! dtype_cases {
    ($($name:ident: $ty:ty, $numpy:literal => $value:expr;)*) => {$(
        fn $name(dir: &Path, cases: &mut Vec<String>) {
            #[preallocate(dim = 3, dtype = $ty)]
            fn row(i: u32) -> [$ty; 3] {
                let value = $value;
                [value(i), value(i + 1), value(i * 7)]
            }
            assert_eq!(<$ty as ParquetElement>::ARROW_TYPE.is_empty(), false);
            let value = $value;
            let name = stringify!($name);
            for n in [0u32, 1, 300] {
                let mut expected = Vec::new();
                for i in 0..n {
                    for v in [value(i), value(i + 1), value(i * 7)] {
                        expected.extend_from_slice(&v.to_le_bytes());
                    }
                }
                let bin = dir.join(format!("{name}-{n}.bin"));
                std::fs::write(&bin, &expected).unwrap();
                for (variant, compression, row_group_rows) in [
                    ("plain", Compression::None, None),
                    ("zstd-groups", Compression::Zstd(3), Some(100)),
                    ("snappy", Compression::Snappy, None),
                ] {
                    let path = dir.join(format!("{name}-{n}-{variant}.parquet"));
                    let mut pipeline = row::pipeline().chunk_rows(CHUNK_ROWS).compression(compression);
                    if let Some(rows) = row_group_rows {
                        pipeline = pipeline.row_group_rows(rows);
                    }
                    let out = pipeline.write_parquet(0..n, &path, "x").unwrap();
                    assert_eq!((out.rows, out.shape.clone()), (n as usize, vec![n as usize, 3]));
                    assert!(out.skipped.is_empty());
                    let columns = [column("x", $numpy, &[n as usize, 3], &bin)];
                    cases.push(case(&path, "file", n == 300 && variant == "plain", &columns));
                }
            }
        }
    )*
        fn all_dtype_cases(dir: &Path) -> Vec<String> {
            let mut cases = Vec::new();
            $($name(dir, &mut cases);)*
            cases
        }
    };
}

dtype_cases! {
    f16s: f16, "float16" => |i: u32| f16::from_f32(i as f32 * 0.25 - 10.0);
    f32s: f32, "float32" => |i: u32| i as f32 / 3.0 - 50.0;
    f64s: f64, "float64" => |i: u32| f64::from(i).sqrt() - 7.5;
    i8s: i8, "int8" => |i: u32| (i % 256) as u8 as i8;
    i16s: i16, "int16" => |i: u32| (i as i16).wrapping_mul(-257);
    i32s: i32, "int32" => |i: u32| (i as i32).wrapping_mul(-65_537);
    i64s: i64, "int64" => |i: u32| i64::from(i) * -4_294_967_311;
    u8s: u8, "uint8" => |i: u32| (i % 256) as u8;
    u16s: u16, "uint16" => |i: u32| (i as u16).wrapping_mul(257);
    u32s: u32, "uint32" => |i: u32| i.wrapping_mul(2_654_435_761);
    u64s: u64, "uint64" => |i: u32| u64::from(i).wrapping_mul(11_400_714_819_323_198_485);
}

/// An image row of shape `(2, 3)`: nested fixed-size lists.
#[preallocate(shape = (2, 3), dtype = u8)]
fn tile(i: u32) -> [[u8; 3]; 2] {
    let b = (i % 200) as u8;
    [[b, b + 1, b + 2], [b + 10, b + 11, b + 12]]
}

/// A rank-3 `f16` row.
#[preallocate(shape = (2, 2, 2), dtype = f16)]
fn cube(i: u32) -> [[[f16; 2]; 2]; 2] {
    let v = |k: u32| f16::from_f32((i * 8 + k) as f32 * 0.5);
    [[[v(0), v(1)], [v(2), v(3)]], [[v(4), v(5)], [v(6), v(7)]]]
}

fn shape_cases(dir: &Path, cases: &mut Vec<String>) {
    let n = 150u32;
    let tiles: Vec<u8> = (0..n).flat_map(tile_row).collect();
    let bin = dir.join("tile.bin");
    std::fs::write(&bin, &tiles).unwrap();
    let path = dir.join("tile.parquet");
    let out = tile::pipeline()
        .chunk_rows(CHUNK_ROWS)
        .write_parquet(0..n, &path, "image")
        .unwrap();
    assert_eq!(out.shape, vec![150, 2, 3]);
    cases.push(case(
        &path,
        "file",
        true,
        &[column("image", "uint8", &[150, 2, 3], &bin)],
    ));

    let cubes: Vec<u8> = (0..n)
        .flat_map(|i| {
            (0..8).flat_map(move |k| f16::from_f32((i * 8 + k) as f32 * 0.5).to_le_bytes())
        })
        .collect();
    let bin = dir.join("cube.bin");
    std::fs::write(&bin, &cubes).unwrap();
    let path = dir.join("cube.parquet");
    let out = cube::pipeline()
        .chunk_rows(CHUNK_ROWS)
        .compression(Compression::Zstd(1))
        .write_parquet(0..n, &path, "cube")
        .unwrap();
    assert_eq!(out.shape, vec![150, 2, 2, 2]);
    cases.push(case(
        &path,
        "file",
        true,
        &[column("cube", "float16", &[150, 2, 2, 2], &bin)],
    ));
}

fn tile_row(i: u32) -> Vec<u8> {
    tile(i).into_iter().flatten().collect()
}

/// Several outputs: a column per field, all of one item in one row; every ninth item dropped.
#[derive(Rows)]
struct Example {
    #[rows(shape = (2, 3))]
    pixels: [u8; 6],
    #[rows(dtype = f32)]
    features: [f32; 4],
    label: [i64; 1],
}

#[preallocate(rows = Example)]
fn example(i: u32) -> Option<Example> {
    (i % 9 != 4).then(|| Example {
        pixels: tile(i).as_flattened().try_into().unwrap(),
        features: [i as f32, 0.5, -(i as f32), 1e-3 * i as f32],
        label: [i64::from(i % 10)],
    })
}

fn several_output_cases(dir: &Path, cases: &mut Vec<String>) {
    let n = 200u32;
    let kept: Vec<u32> = (0..n).filter(|i| i % 9 != 4).collect();
    let rows = kept.len();
    let pixels: Vec<u8> = kept.iter().flat_map(|&i| tile_row(i)).collect();
    let features: Vec<u8> = kept
        .iter()
        .flat_map(|&i| {
            [i as f32, 0.5, -(i as f32), 1e-3 * i as f32]
                .into_iter()
                .flat_map(f32::to_le_bytes)
        })
        .collect();
    let labels: Vec<u8> = kept
        .iter()
        .flat_map(|&i| i64::from(i % 10).to_le_bytes())
        .collect();
    let bins: Vec<PathBuf> = ["pixels", "features", "label"]
        .iter()
        .map(|name| dir.join(format!("example-{name}.bin")))
        .collect();
    for (bin, bytes) in bins.iter().zip([&pixels, &features, &labels]) {
        std::fs::write(bin, bytes).unwrap();
    }
    let columns = [
        column("pixels", "uint8", &[rows, 2, 3], &bins[0]),
        column("features", "float32", &[rows, 4], &bins[1]),
        column("label", "int64", &[rows, 1], &bins[2]),
    ];

    let path = dir.join("example.parquet");
    let out = example::pipeline()
        .chunk_rows(CHUNK_ROWS)
        .write_parquet(0..n, &path)
        .unwrap();
    assert_eq!((out.rows, out.shape.clone()), (rows, vec![rows]));
    assert_eq!(out.skipped, (4..n as usize).step_by(9).collect::<Vec<_>>());
    cases.push(case(&path, "file", true, &columns));

    // Row groups across chunks, each column's pages held until its row group ends.
    let path = dir.join("example-groups.parquet");
    example::pipeline()
        .chunk_rows(CHUNK_ROWS)
        .row_group_rows(37)
        .compression(Compression::Snappy)
        .write_parquet(0..n, &path)
        .unwrap();
    cases.push(case(&path, "file", true, &columns));

    // The same rows as a sharded job of two partitions, the second run twice (complete at
    // once the second time): one dataset in name order.
    let shards = dir.join("example-shards");
    for index in [0, 1, 1] {
        let out = example::pipeline()
            .chunk_rows(16)
            .shard_rows(48)
            .partition(index, 2)
            .compression(Compression::Zstd(3))
            .write_parquet_shards(0..n, &shards)
            .unwrap();
        assert_eq!(out.complete, index == 1);
    }
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(shards.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["format"], "parquet-shards");
    assert_eq!(manifest["rows"], rows);
    assert_eq!(manifest["items"], n);
    assert_eq!(manifest["shards"].as_array().unwrap().len(), 5);
    assert_eq!(manifest["shards"][0]["file"], "part-00000.parquet");
    assert_eq!(
        manifest["shards"][0]["skipped"],
        serde_json::json!([4, 13, 22, 31, 40])
    );
    assert_eq!(manifest["columns"][1]["name"], "features");
    assert_eq!(manifest["columns"][1]["dtype"], "Float32");
    cases.push(case(&shards, "dir", true, &columns));

    let one = dir.join("tile-shards");
    let out = tile::pipeline()
        .shard_rows(40)
        .write_parquet_shards(0..150u32, &one, "image")
        .unwrap();
    assert_eq!((out.rows, out.shards.len()), (150, 4));
    cases.push(case(
        &one,
        "dir",
        false,
        &[column(
            "image",
            "uint8",
            &[150, 2, 3],
            &dir.join("tile.bin"),
        )],
    ));
}

fn python_with_readers() -> Option<String> {
    python::python_with(
        "import numpy, pyarrow, polars, datasets",
        "numpy pyarrow polars datasets",
        "to read the Parquet files back",
    )
}

/// Runs the Python file `script` with `args`, in `dir` (the Hugging Face caches there,
/// offline).
fn run_python(python: &str, script: &Path, dir: &Path, args: &[&Path]) -> String {
    let out = Command::new(python)
        .arg(script)
        .args(args)
        .current_dir(dir)
        .env("HF_HOME", dir.join("hf"))
        .env("HF_DATASETS_OFFLINE", "1")
        .env("HF_HUB_OFFLINE", "1")
        .env("HF_HUB_DISABLE_TELEMETRY", "1")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{} failed:\n{}\n{}",
        script.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn pyarrow_datasets_and_polars_read_every_dtype_shape_and_output() {
    let dir = tempfile::tempdir().unwrap();
    let mut cases = all_dtype_cases(dir.path());
    assert_eq!(cases.len(), 11 * 3 * 3);
    shape_cases(dir.path(), &mut cases);
    several_output_cases(dir.path(), &mut cases);
    let Some(python) = python_with_readers() else {
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
    let script: PathBuf = [
        env!("CARGO_MANIFEST_DIR"),
        "tests",
        "py",
        "check_parquet.py",
    ]
    .iter()
    .collect();
    let out = run_python(&python, &script, dir.path(), &[&cases_path]);
    assert!(out.contains(&format!("{} cases", cases.len())), "{out}");
}

/// The README's section "Rows to Parquet": its Python blocks, run as they are, on the file
/// its Rust block writes. The first (Hugging Face `datasets` to numpy) always runs; the second
/// (a PyTorch `DataLoader`) where PyTorch is installed: CI does not install it (its wheel from
/// PyPI pulls several GB of CUDA libraries), and says so.
#[test]
fn the_readme_parquet_section_runs() {
    #[preallocate(dim = 3, dtype = f32)]
    fn featurize(i: u32) -> [f32; 3] {
        [i as f32, (i as f32).sqrt(), 1.0]
    }
    let dir = tempfile::tempdir().unwrap();
    let out = featurize::pipeline()
        .write_parquet(0..1000u32, dir.path().join("train.parquet"), "x")
        .unwrap();
    assert_eq!(out.rows, 1000);

    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let section = readme
        .split("\n## ")
        .find(|section| section.starts_with("Rows to Parquet"))
        .expect("the README has a section \"Rows to Parquet\"");
    assert!(
        section.contains(".write_parquet(0..1000u32, \"train.parquet\", \"x\")"),
        "the section's Rust block writes train.parquet as this test does"
    );
    let blocks: Vec<&str> = section
        .split("```python\n")
        .skip(1)
        .filter_map(|rest| rest.split("\n```").next())
        .collect();
    assert_eq!(blocks.len(), 2, "a `datasets` block and a DataLoader block");
    let Some(python) = python_with_readers() else {
        return;
    };
    let script = dir.path().join("readme_datasets.py");
    std::fs::write(&script, blocks[0]).unwrap();
    let out = run_python(&python, &script, dir.path(), &[]);
    assert!(out.contains("(1000, 3) float32"), "{out}");
    assert!(out.contains("(32, 3)"), "{out}");

    let torch = Command::new(&python)
        .args(["-c", "import torch"])
        .output()
        .is_ok_and(|out| out.status.success());
    if !torch {
        eprintln!(
            "SKIPPED the README's DataLoader block: PyTorch is not installed (`pip install torch`)"
        );
        return;
    }
    let script = dir.path().join("readme_torch.py");
    std::fs::write(&script, format!("{}\n{}\n", blocks[0], blocks[1])).unwrap();
    let out = run_python(&python, &script, dir.path(), &[]);
    assert!(out.contains("torch.Size([32, 3])"), "{out}");
}
