//! The bounded-memory pipeline through the generated `pipeline()` entry points.

use std::convert::Infallible;

use ndarray::{array, Array2};
use preallocate::{bf16, preallocate, Error, ItemError, OutputCause, RowError};

#[preallocate(dim = 3, dtype = f32)]
fn featurize(i: u32) -> [f32; 3] {
    [i as f32, i as f32 * 0.5, -(i as f32)]
}

#[preallocate(dim = 1, dtype = i64)]
fn parse(line: &str) -> Result<[i64; 1], std::num::ParseIntError> {
    Ok([line.parse()?])
}

#[preallocate(dim = 2, dtype = bf16)]
fn brain(x: u8) -> [u8; 2] {
    [x, x / 2]
}

#[test]
fn pipeline_batch_is_the_module_batch() {
    assert_eq!(featurize::pipeline().batch(0..5), featurize::batch(0..5));
    assert_eq!(
        parse::pipeline().batch(["1", "x"]).unwrap_err(),
        parse::batch(["1", "x"]).unwrap_err()
    );
}

#[test]
fn for_each_chunk_sees_bounded_chunks() {
    let mut total = Array2::<f32>::zeros((0, 3));
    let mut largest = 0;
    let done = featurize::pipeline()
        .chunk_rows(1000)
        .for_each_chunk((0..2500).filter(|_| true), |chunk| {
            largest = largest.max(chunk.nrows());
            total
                .append(ndarray::Axis(0), chunk)
                .map_err(|e| e.to_string())
        })
        .unwrap();
    assert_eq!((done.rows, done.skipped.len()), (2500, 0));
    assert_eq!(largest, 1000);
    assert_eq!(total, featurize::batch(0..2500));
}

#[derive(Debug)]
enum JobError {
    Row(ItemError<std::num::ParseIntError>),
}

impl From<ItemError<std::num::ParseIntError>> for JobError {
    fn from(err: ItemError<std::num::ParseIntError>) -> Self {
        JobError::Row(err)
    }
}

#[test]
fn a_failing_item_stops_for_each_chunk_with_its_index() {
    let mut rows = 0;
    let err = parse::pipeline()
        .chunk_rows(2)
        .for_each_chunk(["1", "2", "3", "four", "5"], |chunk| {
            rows += chunk.nrows();
            Ok::<(), JobError>(())
        })
        .unwrap_err();
    let JobError::Row(err) = err;
    assert_eq!(err.index(), 3);
    assert_eq!(rows, 3, "the rows before the failure were handed on");
}

#[test]
fn write_npy_and_its_failure_report() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.npy");
    let out = featurize::pipeline()
        .memory_budget(1 << 10)
        .write_npy(0..1000, &path)
        .unwrap();
    assert_eq!(out.rows, 1000);
    assert_eq!(out.shape, vec![1000, 3]);
    assert_eq!(out.bytes, std::fs::metadata(&path).unwrap().len());
    assert!(out.skipped.is_empty());

    let bad = dir.path().join("bad.npy");
    let err = parse::pipeline()
        .chunk_rows(2)
        .write_npy(["1", "2", "3", "x"], &bad)
        .unwrap_err();
    assert!(!bad.exists(), "no file under the final name");
    match &err {
        Error::Output {
            written: 3,
            partial: Some(kept),
            other_partials,
            cause:
                OutputCause::Item(ItemError {
                    index: 3,
                    error: RowError::Row(_),
                }),
        } => {
            assert!(kept.ends_with("bad.npy.partial") && kept.exists());
            assert!(other_partials.is_empty(), "{other_partials:?}");
        }
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(err.item_index(), Some(3));
    assert_eq!(err.rows_written(), 3);
}

#[test]
fn bf16_goes_to_safetensors() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.safetensors");
    let out = brain::pipeline()
        .write_safetensors([2u8, 4, 6], &path, "features")
        .unwrap();
    assert_eq!(out.shape, vec![3, 2]);
    let bytes = std::fs::read(&path).unwrap();
    let header_len = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header = std::str::from_utf8(&bytes[8..8 + header_len]).unwrap();
    assert!(header.contains("\"BF16\""), "{header}");
    let data: Vec<f32> = bytes[8 + header_len..]
        .chunks_exact(2)
        .map(|b| bf16::from_le_bytes([b[0], b[1]]).to_f32())
        .collect();
    assert_eq!(data, vec![2.0, 1.0, 4.0, 2.0, 6.0, 3.0]);
}

pub struct Scale(f32);

impl Scale {
    #[preallocate(dim = 1, dtype = f32)]
    fn apply(&self, x: &f32) -> Option<[f32; 1]> {
        (*x >= 0.0).then_some([x * self.0])
    }
}

#[test]
fn methods_have_a_pipeline_too() {
    let scale = Scale(10.0);
    let dir = tempfile::tempdir().unwrap();
    let out = scale
        .apply_pipeline()
        .chunk_rows(2)
        .write_npy_shards(&[1.0, -1.0, 2.0, 3.0, -5.0, 4.0], dir.path().join("shards"))
        .unwrap();
    assert_eq!(out.rows, 4);
    assert_eq!(out.skipped, vec![1, 4]);
    // A shard holds the rows of two items: those kept.
    assert_eq!(
        out.shards.iter().map(|s| s.rows).collect::<Vec<_>>(),
        [1, 2, 1]
    );
    let mut sum = 0.0;
    scale
        .apply_pipeline()
        .for_each_chunk(&[1.0, 2.0], |chunk| {
            sum += chunk.sum();
            Ok::<(), Infallible>(())
        })
        .unwrap();
    assert_eq!(sum, 30.0);
    assert_eq!(scale.apply_pipeline().batch(&[1.0]).rows, array![[10.0]]);
}

/// Every kind of row function gives the same rows through `batch`, `fill`, `pipeline().batch`,
/// `for_each_chunk` and `write_npy`, including failures at the first, a middle and the last
/// item, and inputs whose every item is dropped.
mod every_form {
    use super::*;

    #[preallocate(dim = 2, dtype = u16)]
    fn kept_if_even(x: u16, row: &mut [u16; 2]) -> bool {
        row[1] = x;
        x.is_multiple_of(2)
    }

    #[preallocate(dim = 2, dtype = u16)]
    fn fails_on_odd(x: u16) -> Result<[u16; 2], String> {
        if !x.is_multiple_of(2) {
            return Err(format!("odd {x}"));
        }
        Ok([x, x + 1])
    }

    #[preallocate(dim = 2, dtype = u16, on_error = "skip")]
    fn skips_odd(x: u16) -> Result<[u16; 2], String> {
        fails_on_odd(x)
    }

    fn npy_rows(path: &std::path::Path) -> usize {
        let bytes = std::fs::read(path).unwrap();
        let header = String::from_utf8_lossy(&bytes[10..]).into_owned();
        let start = header.find("'shape': (").unwrap() + 10;
        header[start..]
            .split(',')
            .next()
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    }

    #[test]
    fn filtering_in_place() {
        let items = [0u16, 1, 2, 3, 4];
        let batch = kept_if_even::batch(items);
        assert_eq!(batch.rows, array![[0, 0], [0, 2], [0, 4]]);
        assert_eq!(kept_if_even::pipeline().batch(items), batch);
        let mut out = Array2::<u16>::from_elem((3, 2), 9);
        assert_eq!(kept_if_even::fill(items, &mut out).unwrap().rows, 3);
        assert_eq!(out, batch.rows);
        let mut seen = Vec::new();
        let done = kept_if_even::pipeline()
            .chunk_rows(2)
            .for_each_chunk(items, |chunk| {
                seen.extend(chunk.iter().copied());
                Ok::<(), Infallible>(())
            })
            .unwrap();
        assert_eq!(seen, batch.rows.iter().copied().collect::<Vec<_>>());
        assert_eq!(done.skipped, vec![1, 3]);
        let none = kept_if_even::batch([1u16, 3, 5]);
        assert_eq!(none.rows.shape(), &[0, 2]);
        assert_eq!(none.skipped, vec![0, 1, 2]);
    }

    #[test]
    fn failures_at_the_first_a_middle_and_the_last_item() {
        let dir = tempfile::tempdir().unwrap();
        for (items, at) in [
            (vec![1u16, 2, 4], 0),
            (vec![2, 4, 5, 6], 2),
            (vec![0, 2, 4, 7], 3),
        ] {
            let err = fails_on_odd::batch(items.clone()).unwrap_err();
            assert_eq!(err.index(), at);
            assert_eq!(
                fails_on_odd::pipeline().batch(items.clone()).unwrap_err(),
                err
            );
            let mut out = Array2::<u16>::zeros((4, 2));
            let filled = fails_on_odd::fill(items.clone(), &mut out).unwrap_err();
            assert_eq!((filled.rows_written(), filled.item_index()), (at, Some(at)));
            let path = dir.path().join(format!("fail-{at}.npy"));
            let written = fails_on_odd::pipeline()
                .chunk_rows(2)
                .write_npy(items.clone(), &path)
                .unwrap_err();
            assert_eq!(
                (written.rows_written(), written.item_index()),
                (at, Some(at))
            );
            assert!(!path.exists());
            let Error::Output {
                partial: Some(partial),
                ..
            } = &written
            else {
                panic!("unexpected {written:?}");
            };
            assert_eq!(npy_rows(partial), at);
        }
    }

    #[test]
    fn skipping_everything_still_writes_a_valid_empty_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("none.npy");
        let out = skips_odd::pipeline()
            .write_npy([1u16, 3, 5], &path)
            .unwrap();
        assert_eq!((out.rows, out.skipped.clone()), (0, vec![0, 1, 2]));
        assert_eq!(npy_rows(&path), 0);
        let batch = skips_odd::batch([1u16, 2, 3]);
        assert_eq!(batch.rows, array![[2, 3]]);
        assert_eq!(skips_odd::pipeline().batch([1u16, 2, 3]), batch);
    }
}

#[preallocate(dim = 1, dtype = u32)]
fn panics_at_ten(i: u32) -> [u32; 1] {
    assert!(i != 10, "a bug in the row function at item {i}");
    [i]
}

#[test]
fn a_panic_propagates_and_keeps_the_flushed_rows() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.npy");
    std::fs::write(&path, b"an earlier good file").unwrap();
    let caught = std::panic::catch_unwind(|| {
        panics_at_ten::pipeline()
            .chunk_rows(4)
            .write_npy(0..100, &path)
    });
    let message = caught.unwrap_err();
    let message = message.downcast_ref::<String>().unwrap();
    assert_eq!(message, "a bug in the row function at item 10");
    assert_eq!(std::fs::read(&path).unwrap(), b"an earlier good file");
    // Chunks 0..4 and 4..8 were flushed; rows 8 and 9 were still in the chunk buffer.
    let partial = std::fs::read(dir.path().join("x.npy.partial")).unwrap();
    let header = String::from_utf8_lossy(&partial[..128]).into_owned();
    assert!(header.contains("'shape': (8, 1)"), "{header}");
    let data_start = partial.len() - 8 * 4;
    let values: Vec<u32> = partial[data_start..]
        .chunks_exact(4)
        .map(|b| u32::from_le_bytes(b.try_into().unwrap()))
        .collect();
    assert_eq!(values, (0..8).collect::<Vec<_>>());
}
