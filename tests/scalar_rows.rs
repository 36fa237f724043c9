//! Scalar rows (`-> f32`, `row: &mut u8`, a `y: i64` field): 1-D outputs of shape `(n,)`.

#[path = "common/python.rs"]
mod python;

use ndarray::{array, Array1};
use preallocate::{preallocate, Rows};

struct Rec {
    x: f32,
    label: i64,
}

/// By value: the label alone.
#[preallocate(dtype = i64)]
fn label(r: &Rec) -> i64 {
    r.label
}

/// By value, converted losslessly.
#[preallocate(dtype = f64)]
fn widened(r: &Rec) -> f32 {
    r.x
}

/// `shape = ()` says the same as leaving it out.
#[preallocate(shape = (), dtype = f32)]
fn explicit(r: &Rec) -> f32 {
    r.x * 2.0
}

/// Filtering.
#[preallocate(dtype = u8)]
fn small(r: &Rec) -> Option<u8> {
    u8::try_from(r.label).ok()
}

/// Fallible.
#[preallocate(dtype = i64)]
fn checked(r: &Rec) -> Result<i64, String> {
    if r.label < 0 {
        Err(format!("negative label {}", r.label))
    } else {
        Ok(r.label)
    }
}

/// In place.
#[preallocate(dtype = u8)]
fn in_place(r: &Rec, row: &mut u8) {
    *row = u8::try_from(r.label).unwrap_or(u8::MAX);
}

struct Scale(f32);

impl Scale {
    #[preallocate(dtype = f32)]
    fn scaled(&self, r: &Rec) -> f32 {
        r.x * self.0
    }
}

#[derive(Rows)]
struct Example {
    x: [f32; 2],
    y: i64,
    #[rows(dtype = f64)]
    w: f32,
}

#[preallocate(rows = Example)]
fn example(r: &Rec) -> Example {
    Example {
        x: [r.x, -r.x],
        y: r.label,
        w: r.x / 2.0,
    }
}

#[preallocate(rows = Example)]
fn example_in_place(r: &Rec, row: ExampleRow<'_>) {
    *row.x = [r.x, -r.x];
    *row.y = r.label;
    *row.w = f64::from(r.x);
}

fn recs() -> Vec<Rec> {
    vec![
        Rec { x: 1.5, label: 3 },
        Rec {
            x: -2.0,
            label: 300,
        },
        Rec { x: 0.25, label: -1 },
    ]
}

#[test]
fn a_scalar_row_gives_a_1d_array() {
    let recs = recs();
    let y: Array1<i64> = label::batch(&recs);
    assert_eq!(y, array![3, 300, -1]);
    assert_eq!(label::DIM, 1);
    assert_eq!(label::SHAPE, &[] as &[usize]);
    assert_eq!(widened::batch(&recs), array![1.5f64, -2.0, 0.25]);
    assert_eq!(explicit::batch(&recs), array![3.0f32, -4.0, 0.5]);
    let kept = small::batch(&recs);
    assert_eq!(kept.rows, array![3u8]);
    assert_eq!(kept.skipped, vec![1, 2]);
    let err = checked::batch(&recs).unwrap_err();
    assert_eq!(err.index, 2);
    assert_eq!(
        err.to_string(),
        "item 2 (counting from 0): negative label -1"
    );
    assert_eq!(in_place::batch(&recs), array![3u8, 255, 255]);
    assert_eq!(Scale(2.0).scaled_batch(&recs), array![3.0f32, -4.0, 0.5]);
    assert_eq!(Scale::SCALED_SHAPE, &[] as &[usize]);
}

#[test]
fn fill_takes_1d_buffers() {
    let recs = recs();
    let mut out = Array1::<i64>::from_elem(4, 7);
    assert_eq!(label::fill(&recs, out.view_mut()).unwrap(), 3);
    assert_eq!(out, array![3, 300, -1, 7]);
    let mut strided = Array1::<i64>::zeros(6);
    let view = strided.slice_mut(ndarray::s![..;2]);
    assert_eq!(label::fill(&recs, view).unwrap(), 3);
    assert_eq!(strided, array![3, 0, 300, 0, -1, 0]);
    let mut slice = [0i64; 3];
    label::fill(&recs, &mut slice).unwrap();
    assert_eq!(slice, [3, 300, -1]);
    let mut v = vec![0i64; 3];
    label::fill(&recs, &mut v).unwrap();
    assert_eq!(v, vec![3, 300, -1]);
    let mut small = [0i64; 2];
    let full = label::fill(&recs, &mut small).unwrap_err();
    assert!(full.to_string().contains("2"), "{full}");
    let mut m = Array1::<f32>::zeros(3);
    assert_eq!(Scale(1.0).scaled_fill(&recs, &mut m).unwrap(), 3);
    assert_eq!(m, array![1.5f32, -2.0, 0.25]);
}

#[cfg(feature = "parallel")]
#[test]
fn par_batch_matches() {
    let recs: Vec<Rec> = (0..20_000)
        .map(|i| Rec {
            x: i as f32,
            label: i,
        })
        .collect();
    assert_eq!(label::par_batch(&recs), label::batch(&recs));
    let mut out = Array1::<i64>::zeros(recs.len());
    label::par_fill(&recs, out.view_mut()).unwrap();
    assert_eq!(out, label::batch(&recs));
    assert_eq!(
        Scale(2.0).scaled_par_batch(&recs),
        Scale(2.0).scaled_batch(&recs)
    );
}

#[test]
fn a_scalar_field_gives_a_1d_output() {
    let recs = recs();
    let out = example::batch(&recs);
    assert_eq!(out.x, array![[1.5f32, -1.5], [-2.0, 2.0], [0.25, -0.25]]);
    let y: &Array1<i64> = &out.y;
    assert_eq!(y, array![3, 300, -1]);
    assert_eq!(out.w, array![0.75f64, -1.0, 0.125]);
    let in_place = example_in_place::batch(&recs);
    assert_eq!(in_place.y, array![3, 300, -1]);
    assert_eq!(in_place.w, array![1.5f64, -2.0, 0.25]);
}

#[test]
fn files_hold_1d_arrays() -> Result<(), Box<dyn std::error::Error>> {
    let recs = recs();
    let dir = tempfile::tempdir()?;
    let npy = dir.path().join("y.npy");
    let report = label::pipeline().chunk_rows(2).write_npy(&recs, &npy)?;
    assert_eq!(report.shape, vec![3]);
    let bytes = std::fs::read(&npy)?;
    let header = String::from_utf8_lossy(&bytes[10..bytes.len() - 24]).into_owned();
    assert!(header.contains("'descr': '<i8'"), "{header}");
    assert!(header.contains("'shape': (3,)"), "{header}");
    let data: Vec<i64> = bytes[bytes.len() - 24..]
        .chunks(8)
        .map(|b| i64::from_le_bytes(b.try_into().unwrap()))
        .collect();
    assert_eq!(data, vec![3, 300, -1]);

    let st = dir.path().join("y.safetensors");
    label::pipeline().write_safetensors(&recs, &st, "y")?;
    let bytes = std::fs::read(&st)?;
    let len = u64::from_le_bytes(bytes[..8].try_into()?) as usize;
    let header = std::str::from_utf8(&bytes[8..8 + len])?;
    assert!(header.contains(r#""shape":[3]"#), "{header}");

    let multi = dir.path().join("multi");
    example::pipeline().write_npy(&recs, &multi)?;
    let bytes = std::fs::read(multi.join("y.npy"))?;
    let header = String::from_utf8_lossy(&bytes[10..bytes.len() - 24]).into_owned();
    assert!(header.contains("'shape': (3,)"), "{header}");
    Ok(())
}

/// numpy, safetensors, zarr-python and pyarrow read the 1-D outputs as shape `(3,)`, with the
/// row function's dtype and values; a `rows = ..` struct's scalar field too.
#[test]
fn python_reads_1d_outputs() -> Result<(), Box<dyn std::error::Error>> {
    let mut check = String::from("import numpy, safetensors.numpy");
    let mut install = String::from("numpy safetensors");
    if cfg!(feature = "zarr") {
        check.push_str(", zarr");
        install.push_str(" zarr");
    }
    if cfg!(feature = "parquet") {
        check.push_str(", pyarrow.parquet");
        install.push_str(" pyarrow");
    }
    let Some(python) = python::python_with(&check, &install, "to read 1-D outputs back") else {
        return Ok(());
    };
    let recs = recs();
    let dir = tempfile::tempdir()?;
    let d = dir.path();
    label::pipeline()
        .chunk_rows(2)
        .write_npy(&recs, d.join("y.npy"))?;
    example::pipeline().write_npy(&recs, d.join("multi"))?;
    label::pipeline().write_safetensors(&recs, d.join("y.safetensors"), "y")?;
    let mut script = format!(
        r#"
import numpy as np, safetensors.numpy
d = {dir:?}
def same(a, dtype, values):
    assert a.dtype == np.dtype(dtype) and a.shape == (len(values),), (a.dtype, a.shape)
    assert a.tolist() == values, a.tolist()
same(np.load(d + "/y.npy"), "int64", [3, 300, -1])
same(np.load(d + "/y.npy", mmap_mode="r"), "int64", [3, 300, -1])
same(np.load(d + "/multi/y.npy"), "int64", [3, 300, -1])
same(np.load(d + "/multi/w.npy"), "float64", [0.75, -1.0, 0.125])
assert np.load(d + "/multi/x.npy").shape == (3, 2)
same(safetensors.numpy.load_file(d + "/y.safetensors")["y"], "int64", [3, 300, -1])
"#,
        dir = d.to_str().ok_or("temp dir is not UTF-8")?
    );
    #[cfg(feature = "zarr")]
    {
        let out = label::pipeline()
            .chunk_rows(2)
            .write_zarr(&recs, d.join("y.zarr"), "y")?;
        assert_eq!(out.shape, vec![3]);
        script.push_str(
            r#"
import zarr
z = zarr.open_array(d + "/y.zarr", path="y", mode="r")
same(z[:], "int64", [3, 300, -1])
assert tuple(z.metadata.dimension_names) == ("row",), z.metadata.dimension_names
"#,
        );
    }
    #[cfg(feature = "parquet")]
    {
        label::pipeline()
            .chunk_rows(2)
            .write_parquet(&recs, d.join("y.parquet"), "y")?;
        example::pipeline().write_parquet(&recs, d.join("multi.parquet"))?;
        script.push_str(
            r#"
import pyarrow as pa, pyarrow.parquet as pq
t = pq.read_table(d + "/y.parquet")
assert t.schema.field("y").type == pa.int64(), t.schema
same(t.column("y").to_numpy(), "int64", [3, 300, -1])
m = pq.read_table(d + "/multi.parquet")
assert m.schema.field("y").type == pa.int64() and m.schema.field("w").type == pa.float64(), m.schema
same(m.column("w").to_numpy(), "float64", [0.75, -1.0, 0.125])
"#,
        );
    }
    let out = std::process::Command::new(python)
        .args(["-c", &script])
        .output()?;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}
