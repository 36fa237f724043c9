//! Every Zarr dtype written through the generated `pipeline().write_zarr`, with and without
//! sharding and compression, of known and unknown length, for 0, 1 and many rows, and a
//! filtering row function with its `_valid` companion: read back by zarr-python 3
//! (`zarr.open_array`), `dask.array.from_zarr` and `xarray.open_zarr`
//! (`tests/py/check_zarr.py`), bit for bit.
//!
//! Without `python3` and those packages the test prints why it is skipped, or fails when `CI`
//! is set (`.ci/run` installs them).
#![cfg(feature = "zarr")]

#[path = "common/files.rs"]
mod files;
#[path = "common/python.rs"]
mod python;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use files::tree;
use preallocate::{f16, preallocate, Compression, ZarrElement};

const CHUNK_ROWS: usize = 16;
const SHARD_ROWS: usize = 64;

fn json_str(path: &Path) -> String {
    serde_json::to_string(&path.display().to_string()).unwrap()
}

macro_rules! dtype_cases {
    ($($name:ident: $ty:ty => $value:expr;)*) => {$(
        fn $name(dir: &Path, cases: &mut Vec<String>) {
            #[preallocate(dim = 3, dtype = $ty)]
            fn row(i: u32) -> [$ty; 3] {
                let value = $value;
                [value(i), value(i + 1), value(i * 7)]
            }
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
                for (layout, sharded, compression) in [
                    ("plain", false, Compression::None),
                    ("zstd", false, Compression::Zstd(3)),
                    ("sharded-zstd", true, Compression::Zstd(1)),
                    ("sharded", true, Compression::None),
                ] {
                    for length in ["known", "unknown"] {
                        let items: Box<dyn Iterator<Item = u32>> = match length {
                            "known" => Box::new(0..n),
                            _ => Box::new((0..n).filter(|_| true)),
                        };
                        let store = dir.join(format!("{name}-{n}-{layout}-{length}.zarr"));
                        let mut pipeline = row::pipeline().chunk_rows(CHUNK_ROWS).compression(compression);
                        if sharded {
                            pipeline = pipeline.shard_rows(SHARD_ROWS);
                        }
                        let out = pipeline.write_zarr(items, &store, "x").unwrap();
                        assert_eq!(out.shape, vec![n as usize, 3]);
                        assert!(out.complete);
                        assert_eq!(out.valid, None);
                        cases.push(format!(
                            r#"{{"store": {}, "name": "x", "dtype": "{}", "shape": [{n}, 3], "expected": {}, "valid": null, "sharded": {sharded}}}"#,
                            json_str(&store),
                            <$ty as ZarrElement>::ZARR_DTYPE,
                            json_str(&bin),
                        ));
                    }
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

/// Drops every item divisible by 5: its row is zero, and `x_valid` says so.
#[preallocate(dim = 2, dtype = f32)]
fn kept(i: u32) -> Option<[f32; 2]> {
    (!i.is_multiple_of(5)).then(|| [i as f32, -(i as f32)])
}

fn filtered_cases(dir: &Path, cases: &mut Vec<String>) {
    let n = 130u32;
    let mut expected = Vec::new();
    let mut valid = Vec::new();
    for i in 0..n {
        let row = if !i.is_multiple_of(5) {
            [i as f32, -(i as f32)]
        } else {
            [0.0, 0.0]
        };
        for v in row {
            expected.extend_from_slice(&v.to_le_bytes());
        }
        valid.push(u8::from(!i.is_multiple_of(5)));
    }
    let bin = dir.join("kept.bin");
    let valid_bin = dir.join("kept-valid.bin");
    std::fs::write(&bin, &expected).unwrap();
    std::fs::write(&valid_bin, &valid).unwrap();
    for (layout, sharded) in [("plain", false), ("sharded", true)] {
        for length in ["known", "unknown"] {
            let items: Box<dyn Iterator<Item = u32>> = match length {
                "known" => Box::new(0..n),
                _ => Box::new((0..n).filter(|_| true)),
            };
            let store = dir.join(format!("kept-{layout}-{length}.zarr"));
            let mut pipeline = kept::pipeline().chunk_rows(CHUNK_ROWS);
            if sharded {
                pipeline = pipeline.shard_rows(SHARD_ROWS);
            }
            let out = pipeline.write_zarr(items, &store, "x").unwrap();
            assert_eq!((out.rows, out.kept), (130, 130 - 26));
            assert_eq!(out.skipped, (0..130).step_by(5).collect::<Vec<_>>());
            assert_eq!(out.valid.as_deref(), Some("x_valid"));
            cases.push(format!(
                r#"{{"store": {}, "name": "x", "dtype": "float32", "shape": [{n}, 2], "expected": {}, "valid": {}, "sharded": {sharded}}}"#,
                json_str(&store),
                json_str(&bin),
                json_str(&valid_bin),
            ));
        }
    }
}

fn python_with_zarr() -> Option<String> {
    python::python_with(
        "import zarr, dask.array, xarray; assert zarr.__version__ >= '3'",
        "zarr dask xarray",
        "to check the arrays",
    )
}

/// Runs `tests/py/<script>` on `cases` (written to `dir/cases.json`).
pub fn run_python(python: &str, script: &str, dir: &Path, cases: &[String]) {
    let mut json = String::from("{\"cases\": [\n");
    for (i, case) in cases.iter().enumerate() {
        let sep = if i + 1 < cases.len() { "," } else { "" };
        writeln!(json, "  {case}{sep}").unwrap();
    }
    json.push_str("]}\n");
    let cases_path = dir.join("cases.json");
    std::fs::write(&cases_path, json).unwrap();
    let script: PathBuf = [env!("CARGO_MANIFEST_DIR"), "tests", "py", script]
        .iter()
        .collect();
    let out = Command::new(python)
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

#[test]
fn zarr_dask_and_xarray_read_every_dtype_and_layout() {
    let dir = tempfile::tempdir().unwrap();
    let mut cases = all_cases(dir.path());
    assert_eq!(cases.len(), 11 * 3 * 4 * 2);
    filtered_cases(dir.path(), &mut cases);
    let Some(python) = python_with_zarr() else {
        return;
    };
    run_python(&python, "check_zarr.py", dir.path(), &cases);
}

/// Snappy is Parquet's: a Zarr output refuses it, naming it, before anything is written.
#[test]
fn snappy_is_refused_before_anything_is_written() {
    #[preallocate(dim = 2, dtype = f32)]
    fn pair(i: u32) -> [f32; 2] {
        [i as f32, 1.0]
    }
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("data.zarr");
    let err = pair::pipeline()
        .compression(Compression::Snappy)
        .write_zarr(0..10u32, &store, "x")
        .unwrap_err();
    let message = err.to_string();
    assert!(
        message.contains("Zarr has no Snappy compression (use zstd, or none)"),
        "{message}"
    );
    assert!(
        matches!(
            err,
            preallocate::Error::Output {
                written: 0,
                cause: preallocate::OutputCause::Sink(
                    preallocate::SinkError::UnsupportedCompression { .. }
                ),
                ..
            }
        ),
        "{err:?}"
    );
    assert!(!store.exists(), "nothing is written: {store:?}");
}

/// The chunk files are those `zarrs` itself writes for the same rows: a chunk of zeros is
/// absent (erased as the fill value), one of `-0.0` is kept (not the fill value's bytes), the
/// last chunk is padded with zeros; uncompressed and with zstd, in chunks and in shards.
#[test]
fn chunk_files_are_those_zarrs_writes() {
    use std::sync::Arc;
    use zarrs::array::{codec::ZstdCodec, ArrayBuilder};

    const CHUNK: usize = 4;
    fn value(i: u32) -> [f32; 2] {
        match i / CHUNK as u32 {
            0 => [0.0, 0.0],
            1 => [-0.0, -0.0],
            _ => [i as f32, 0.5],
        }
    }
    #[preallocate(dim = 2, dtype = f32)]
    fn rows(i: u32) -> [f32; 2] {
        value(i)
    }
    let items = 0..14u32;
    for (zstd, sharded) in [(false, false), (true, false), (false, true), (true, true)] {
        let dir = tempfile::tempdir().unwrap();
        let ours = dir.path().join("ours.zarr");
        let compression = if zstd {
            Compression::Zstd(3)
        } else {
            Compression::None
        };
        // Shards of 2 chunks: the array's chunks (files) are the shards.
        let unit = if sharded { 2 * CHUNK } else { CHUNK };
        let pipeline = rows::pipeline().chunk_rows(CHUNK).compression(compression);
        let pipeline = if sharded {
            pipeline.shard_rows(unit)
        } else {
            pipeline
        };
        pipeline.write_zarr(items.clone(), &ours, "x").unwrap();
        let theirs = dir.path().join("theirs.zarr");
        let store = Arc::new(zarrs::filesystem::FilesystemStore::new(&theirs).unwrap());
        let mut builder = ArrayBuilder::new(vec![14, 2], vec![unit as u64, 2], "float32", 0u8);
        if sharded {
            builder.subchunk_shape(vec![CHUNK as u64, 2]);
        }
        if zstd {
            builder.bytes_to_bytes_codecs(vec![Arc::new(ZstdCodec::new(3, false))]);
        }
        let array = builder.build(store, "/x").unwrap();
        for chunk in 0..14usize.div_ceil(unit) {
            let mut values = vec![0.0f32; unit * 2];
            for (k, i) in (chunk * unit..(chunk * unit + unit).min(14)).enumerate() {
                values[k * 2..k * 2 + 2].copy_from_slice(&value(i as u32));
            }
            array.store_chunk(&[chunk as u64, 0], &values[..]).unwrap();
        }
        // The chunk files, by path, with their bytes.
        let files = |root: &Path| -> Vec<(String, Vec<u8>)> {
            tree(root)
                .into_iter()
                .filter(|(name, _)| name.starts_with("x/c/"))
                .collect()
        };
        let (ours, theirs) = (files(&ours), files(&theirs));
        let names: Vec<&str> = ours.iter().map(|(name, _)| name.as_str()).collect();
        let expected: &[&str] = if sharded {
            &["x/c/0/0", "x/c/1/0"]
        } else {
            &["x/c/1/0", "x/c/2/0", "x/c/3/0"]
        };
        assert_eq!(names, expected, "zstd: {zstd}, sharded: {sharded}");
        assert_eq!(ours, theirs, "zstd: {zstd}, sharded: {sharded}");
    }
}
