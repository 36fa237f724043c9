//! `NpyWriter` and the pipeline's `.npy` shards: every dtype, 0, 1 and many rows, whole, fixed
//! and irregular chunks; headers, offsets and bytes checked by a reader that shares no code with
//! the writers.

mod common;

use std::convert::Infallible;
use std::fs;
use std::path::Path;

use common::{chunk_sizes, le_bytes, read_npy, rows, Pattern, Sample};
use preallocate_runtime::ndarray::{s, Array2, ShapeBuilder};
use preallocate_runtime::{
    f16, policy, NpyElement, NpyWriter, Pipeline, RowFn, RowSpec, ShardsOutput, SinkError,
    SHARD_MANIFEST,
};

const COUNTS: [usize; 4] = [0, 1, 2, 300];
const PATTERNS: [Pattern; 4] = [
    Pattern::Whole,
    Pattern::Fixed(64),
    Pattern::Fixed(1),
    Pattern::Irregular,
];

/// Writes `values` through an `NpyWriter` in chunks cut by `pattern`.
fn write_npy<T: NpyElement>(
    path: &Path,
    row_shape: &[usize],
    values: &Array2<T>,
    pattern: Pattern,
) {
    let mut npy = NpyWriter::<T>::create(path, row_shape).unwrap();
    let mut start = 0;
    for size in chunk_sizes(values.nrows(), pattern) {
        npy.write_chunk(values.slice(s![start..start + size, ..]))
            .unwrap();
        start += size;
        assert_eq!(npy.rows_written(), start);
    }
    let out = npy.finish().unwrap();
    assert_eq!(out.rows, values.nrows());
    assert_eq!(out.path, path);
    assert_eq!(out.bytes, fs::metadata(path).unwrap().len());
    let mut shape = vec![values.nrows()];
    shape.extend_from_slice(row_shape);
    assert_eq!(out.shape, shape);
    assert_eq!(out.data_offset % 64, 0);
}

fn round_trip<T: NpyElement + Sample>() {
    let dir = tempfile::tempdir().unwrap();
    for n in COUNTS {
        for pattern in PATTERNS {
            let path = dir.path().join(format!("{}-{n}-{pattern:?}.npy", T::NAME));
            let values = rows::<T>(n, n, 3);
            write_npy(&path, &[3], &values, pattern);
            let npy = read_npy(&path);
            assert_eq!(npy.version, (1, 0));
            assert_eq!(npy.descr, T::DESCR);
            assert!(!npy.fortran_order);
            assert_eq!(npy.shape, vec![n, 3], "{}", path.display());
            assert_eq!(npy.data, le_bytes(&values), "{}", path.display());
            // No temporary or partial file is left beside a finished one.
            assert!(!Path::new(&format!("{}.partial", path.display())).exists());
        }
    }
    let leftovers: Vec<_> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|name| !name.ends_with(".npy"))
        .collect();
    assert_eq!(leftovers, Vec::<String>::new());
}

#[test]
fn every_npy_dtype_round_trips() {
    round_trip::<f16>();
    round_trip::<f32>();
    round_trip::<f64>();
    round_trip::<i8>();
    round_trip::<i16>();
    round_trip::<i32>();
    round_trip::<i64>();
    round_trip::<u8>();
    round_trip::<u16>();
    round_trip::<u32>();
    round_trip::<u64>();
}

#[test]
fn the_header_is_rewritten_with_the_count_and_keeps_its_length() {
    let dir = tempfile::tempdir().unwrap();
    let mut lengths = Vec::new();
    for n in [0, 1, 9, 10, 99_999] {
        let path = dir.path().join(format!("{n}.npy"));
        write_npy(&path, &[2], &rows::<u8>(0, n, 2), Pattern::Fixed(4096));
        let npy = read_npy(&path);
        let expected = format!("{{'descr': '|u1', 'fortran_order': False, 'shape': ({n}, 2), }}");
        assert!(
            npy.header_text.starts_with(&expected),
            "{:?}",
            npy.header_text
        );
        // numpy's growth padding: the dict, then spaces up to a 64-byte boundary and `\n`.
        assert!(npy.header_text[expected.len()..]
            .trim_end_matches('\n')
            .bytes()
            .all(|b| b == b' '));
        lengths.push(npy.data_offset);
    }
    assert_eq!(lengths, [128; 5]);
}

#[test]
fn rows_of_more_axes_keep_their_shape() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("images.npy");
    let values = rows::<u8>(0, 5, 28 * 28);
    write_npy(&path, &[28, 28], &values, Pattern::Fixed(2));
    let npy = read_npy(&path);
    assert_eq!(npy.shape, vec![5, 28, 28]);
    assert!(npy.header_text.contains("'shape': (5, 28, 28), }"));
    assert_eq!(npy.data, le_bytes(&values));

    let path = dir.path().join("scalars.npy");
    let values = rows::<i64>(0, 4, 1);
    write_npy(&path, &[], &values, Pattern::Whole);
    let npy = read_npy(&path);
    assert_eq!(npy.shape, vec![4]);
    assert!(npy.header_text.contains("'shape': (4,), }"));
    assert_eq!(npy.data, le_bytes(&values));

    let path = dir.path().join("volumes.npy");
    let values = rows::<f32>(0, 3, 2 * 3 * 4);
    write_npy(&path, &[2, 3, 4], &values, Pattern::Fixed(2));
    assert_eq!(read_npy(&path).shape, vec![3, 2, 3, 4]);
}

#[test]
fn a_column_major_chunk_is_written_in_row_order() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f.npy");
    let values = rows::<i32>(0, 4, 3);
    let mut fortran = Array2::<i32>::zeros((4, 3).f());
    fortran.assign(&values);
    let mut npy = NpyWriter::<i32>::create(&path, &[3]).unwrap();
    npy.write_chunk(fortran.view()).unwrap();
    npy.write_chunk(values.t().t()).unwrap();
    npy.finish().unwrap();
    let npy = read_npy(&path);
    assert_eq!(npy.shape, vec![8, 3]);
    assert_eq!(npy.data, [le_bytes(&values), le_bytes(&values)].concat());
}

#[test]
fn a_finished_file_replaces_an_older_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.npy");
    fs::write(&path, b"old").unwrap();
    write_npy(&path, &[1], &rows::<u16>(0, 3, 1), Pattern::Whole);
    assert_eq!(read_npy(&path).shape, vec![3, 1]);
}

#[test]
fn an_empty_path_is_rejected_without_writing_anything() {
    let failure = NpyWriter::<u8>::create("", &[1]).unwrap_err();
    assert_eq!(failure.source, SinkError::IsADirectory { path: "".into() });
    assert_eq!((failure.written, failure.partial), (0, None));
}

/// Item `i` is row `i` of the array, rows of shape `[N]`.
struct RowsOf<T, const N: usize>(Array2<T>);

impl<T: NpyElement, const N: usize> RowSpec for RowsOf<T, N> {
    type Dtype = T;
    type Dim = ndarray::Ix2;
    type Policy = policy::Plain;
    const DIM: usize = N;
    const SHAPE: &'static [usize] = &[N];
    const OVERWRITES_ROW: bool = true;
}

impl<T: NpyElement, const N: usize> RowFn<usize> for RowsOf<T, N> {
    type Error = Infallible;
    fn write_row(&mut self, i: usize, row: &mut [T]) -> Result<bool, Infallible> {
        row.copy_from_slice(self.0.row(i).as_slice().unwrap());
        Ok(true)
    }
}

/// The rows of `values` as shards of `shard_rows` in `dir`, through chunks of `chunk_rows`;
/// `known`: an input whose length is known.
fn write_shards<T: NpyElement, const N: usize>(
    dir: &Path,
    values: &Array2<T>,
    chunk_rows: usize,
    shard_rows: usize,
    known: bool,
) -> ShardsOutput {
    let pipeline = Pipeline::new(RowsOf::<T, N>(values.clone()))
        .chunk_rows(chunk_rows)
        .shard_rows(shard_rows);
    let n = values.nrows();
    if known {
        pipeline.write_npy_shards(0..n, dir).unwrap()
    } else {
        pipeline
            .write_npy_shards((0..n).filter(|_| true), dir)
            .unwrap()
    }
}

fn shards_round_trip<T: NpyElement + Sample>() {
    let dir = tempfile::tempdir().unwrap();
    for n in COUNTS {
        for (chunk_rows, known) in [(1000, true), (64, false), (1, true), (7, false)] {
            let shard_rows = 64;
            let out_dir = dir.path().join(format!("{}-{n}-{chunk_rows}", T::NAME));
            let values = rows::<T>(0, n, 3);
            let out = write_shards::<T, 3>(&out_dir, &values, chunk_rows, shard_rows, known);
            assert!(out.complete);
            assert_eq!(out.rows, n);
            assert_eq!(out.shards.len(), n.div_ceil(shard_rows));
            let mut data = Vec::new();
            for (i, shard) in out.shards.iter().enumerate() {
                assert_eq!(shard.path, out_dir.join(format!("part-{i:05}.npy")));
                let npy = read_npy(&shard.path);
                let expected_rows = shard_rows.min(n - i * shard_rows);
                assert_eq!(
                    (shard.rows, npy.shape.clone()),
                    (expected_rows, vec![expected_rows, 3])
                );
                assert_eq!(npy.descr, T::DESCR);
                data.extend(npy.data);
            }
            assert_eq!(data, le_bytes(&values));

            let manifest: serde_json::Value =
                serde_json::from_slice(&fs::read(out_dir.join(SHARD_MANIFEST)).unwrap()).unwrap();
            assert_eq!(manifest["rows"], n);
            assert_eq!(manifest["dtype"], T::DESCR);
            assert_eq!(manifest["rust_dtype"], T::NAME);
            assert_eq!(manifest["row_shape"], serde_json::json!([3]));
            assert_eq!(manifest["dim"], 3);
            assert_eq!(manifest["shard_rows"], shard_rows);
            let listed: Vec<(String, usize)> = manifest["shards"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| {
                    (
                        s["file"].as_str().unwrap().to_owned(),
                        s["rows"].as_u64().unwrap() as usize,
                    )
                })
                .collect();
            let expected: Vec<(String, usize)> = out
                .shards
                .iter()
                .map(|s| {
                    (
                        s.path.file_name().unwrap().to_str().unwrap().to_owned(),
                        s.rows,
                    )
                })
                .collect();
            assert_eq!(listed, expected);

            let mut names: Vec<String> = fs::read_dir(&out_dir)
                .unwrap()
                .map(|e| e.unwrap().file_name().into_string().unwrap())
                .collect();
            names.sort();
            let mut expected_names: Vec<String> =
                expected.into_iter().map(|(name, _)| name).collect();
            expected_names.push(SHARD_MANIFEST.to_owned());
            expected_names.sort();
            assert_eq!(names, expected_names, "exactly the shards and one manifest");
        }
    }
}

#[test]
fn every_npy_dtype_round_trips_through_shards() {
    shards_round_trip::<f16>();
    shards_round_trip::<f32>();
    shards_round_trip::<f64>();
    shards_round_trip::<i8>();
    shards_round_trip::<i16>();
    shards_round_trip::<i32>();
    shards_round_trip::<i64>();
    shards_round_trip::<u8>();
    shards_round_trip::<u16>();
    shards_round_trip::<u32>();
    shards_round_trip::<u64>();
}

#[test]
fn a_rerun_with_fewer_shards_removes_the_older_runs_extra_shards() {
    let dir = tempfile::tempdir().unwrap();
    let first = write_shards::<u8, 1>(dir.path(), &rows::<u8>(0, 7, 1), 2, 2, true);
    assert_eq!(first.shards.len(), 4);
    fs::write(dir.path().join("part-00009.npy.partial"), b"stale").unwrap();
    fs::write(dir.path().join("notes.txt"), b"mine").unwrap();

    let out = write_shards::<u8, 1>(dir.path(), &rows::<u8>(100, 3, 1), 2, 2, true);
    let mut names: Vec<String> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "manifest.json",
            "notes.txt",
            "part-00000.npy",
            "part-00001.npy"
        ]
    );
    assert_eq!(
        read_npy(&out.shards[1].path).data,
        le_bytes(&rows::<u8>(102, 1, 1))
    );
}

/// Zeroed `28 × 28` images.
struct Images;

impl RowSpec for Images {
    type Dtype = f32;
    type Dim = ndarray::Ix3;
    type Policy = policy::Plain;
    const DIM: usize = 784;
    const SHAPE: &'static [usize] = &[28, 28];
    const OVERWRITES_ROW: bool = false;
}

impl RowFn<usize> for Images {
    type Error = Infallible;
    fn write_row(&mut self, _: usize, _: &mut [f32]) -> Result<bool, Infallible> {
        Ok(true)
    }
}

#[test]
fn zero_rows_make_zero_shards_and_a_manifest() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("empty");
    let out = Pipeline::new(Images)
        .shard_rows(10)
        .write_npy_shards(0..0, &out_dir)
        .unwrap();
    assert_eq!((out.rows, out.shards.len()), (0, 0));
    let manifest: serde_json::Value =
        serde_json::from_slice(&fs::read(&out.manifest).unwrap()).unwrap();
    assert_eq!(manifest["shards"], serde_json::json!([]));
    assert_eq!(manifest["row_shape"], serde_json::json!([28, 28]));
    assert_eq!(manifest["dim"], 784);
    assert_eq!(fs::read_dir(&out_dir).unwrap().count(), 1);
}

#[test]
fn chunks_of_the_wrong_width_are_rejected_before_anything_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.npy");
    let mut npy = NpyWriter::<f32>::create(&path, &[28, 28]).unwrap();
    let failure = npy.write_chunk(Array2::zeros((2, 28)).view()).unwrap_err();
    assert_eq!(
        failure.source,
        SinkError::WidthMismatch {
            path: path.clone(),
            row_shape: vec![28, 28],
            expected: 784,
            found: 28
        }
    );
    assert_eq!(
        failure.to_string(),
        format!(
            "cannot write to `{}`: the chunk has 28 columns, but a row of shape [28, 28] has 784 elements \
             (0 rows written, kept in `{}.partial`)",
            path.display(),
            path.display()
        )
    );
    // The writer is closed: later calls say so, and the partial file holds no rows.
    let again = npy.write_chunk(Array2::zeros((1, 784)).view()).unwrap_err();
    assert_eq!(again.source, SinkError::Closed { path: path.clone() });
    assert_eq!(again.partial, failure.partial);
    let finish = npy.finish().unwrap_err();
    assert_eq!(finish.source, SinkError::Closed { path: path.clone() });
    assert!(!path.exists());
    assert_eq!(read_npy(&failure.partial.unwrap()).shape, vec![0, 28, 28]);
}
