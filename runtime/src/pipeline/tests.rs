use std::convert::Infallible;
use std::path::Path;

use super::*;
use crate::policy::{Fallible, Filtered, Plain, Skipping};
use crate::row::{Axes1, Axes2, FnRow};
use crate::{RowError, SinkError};

/// A row writer of `u32` items into rows of three `i32`.
type Rows3<F, E, P> = FnRow<F, i32, Axes1<3>, E, P, true>;

/// Row `i` is `[i, 2i, 3i]`; items in `fail` fail with their value, items in `drop` are dropped.
// The closure's type can only be spelled out with `impl`, which a type alias cannot hold.
#[allow(clippy::type_complexity)]
fn rows_with<P: Policy<Failure<u32> = RowError<u32>>>(
    drop: &'static [u32],
    fail: &'static [u32],
) -> Rows3<impl FnMut(u32, &mut [i32]) -> Result<bool, RowError<u32>>, u32, P> {
    FnRow::new(move |i: u32, row: &mut [i32]| {
        if fail.contains(&i) {
            return Err(RowError::Row(i));
        }
        let v = i as i32;
        row.copy_from_slice(&[v, 2 * v, 3 * v]);
        Ok(!drop.contains(&i))
    })
}

#[allow(clippy::type_complexity)]
fn plain() -> Rows3<impl FnMut(u32, &mut [i32]) -> Result<bool, Infallible>, Infallible, Plain> {
    FnRow::new(|i: u32, row: &mut [i32]| {
        let v = i as i32;
        row.copy_from_slice(&[v, 2 * v, 3 * v]);
        Ok(true)
    })
}

fn expected(items: impl IntoIterator<Item = u32>) -> Vec<i32> {
    items
        .into_iter()
        .flat_map(|i| [i as i32, 2 * i as i32, 3 * i as i32])
        .collect()
}

#[test]
fn chunks_cover_every_row_in_order_through_one_buffer() {
    let mut seen = Vec::new();
    let mut sizes = Vec::new();
    let mut buffers = Vec::new();
    let done = Pipeline::new(plain())
        .chunk_rows(4)
        .for_each_chunk(0..10u32, |chunk| {
            sizes.push(chunk.nrows());
            buffers.push(chunk.as_ptr() as usize);
            seen.extend(chunk.iter().copied());
            Ok::<(), Infallible>(())
        })
        .unwrap();
    assert_eq!(done.rows, 10);
    assert_eq!(sizes, vec![4, 4, 2]);
    assert!(
        buffers.windows(2).all(|w| w[0] == w[1]),
        "one buffer, reused"
    );
    assert_eq!(seen, expected(0..10));
}

#[test]
fn empty_input_calls_nothing() {
    let done = Pipeline::new(plain())
        .for_each_chunk(0..0u32, |_| Err::<(), &str>("must not be called"))
        .unwrap();
    assert_eq!(done.rows, 0);
}

#[test]
fn the_closure_s_error_stops_the_run() {
    let mut calls = 0;
    let err = Pipeline::new(plain())
        .chunk_rows(2)
        .for_each_chunk(0..10u32, |_| {
            calls += 1;
            if calls == 2 {
                Err("disk full")
            } else {
                Ok(())
            }
        })
        .unwrap_err();
    assert_eq!(err, "disk full");
    assert_eq!(calls, 2);
}

#[derive(Debug, PartialEq)]
enum JobError {
    Item(ItemError<u32>),
}

impl From<ItemError<u32>> for JobError {
    fn from(err: ItemError<u32>) -> Self {
        JobError::Item(err)
    }
}

#[test]
fn an_item_s_failure_is_returned_after_the_rows_before_it() {
    let mut seen = Vec::new();
    let err = Pipeline::new(rows_with::<Fallible>(&[], &[6]))
        .chunk_rows(4)
        .for_each_chunk(0..10u32, |chunk| {
            seen.extend(chunk.iter().copied());
            Ok::<(), JobError>(())
        })
        .unwrap_err();
    assert_eq!(
        err,
        JobError::Item(ItemError {
            index: 6,
            error: RowError::Row(6)
        })
    );
    assert_eq!(
        seen,
        expected(0..6),
        "rows 4 and 5 are handed on before the error"
    );
}

#[test]
fn skipped_and_dropped_items_are_listed() {
    let mut seen = Vec::new();
    let done = Pipeline::new(rows_with::<Skipping>(&[1], &[3, 8]))
        .chunk_rows(3)
        .for_each_chunk(0..10u32, |chunk| {
            seen.extend(chunk.iter().copied());
            Ok::<(), JobError>(())
        })
        .unwrap();
    assert_eq!(done.rows, 7);
    assert_eq!(done.skipped, vec![1, 3, 8]);
    assert_eq!(seen, expected([0, 2, 4, 5, 6, 7, 9]));
}

#[test]
fn batch_matches_the_drivers() {
    let piped = Pipeline::new(FnRow::<_, u8, Axes1<1>, Infallible, Filtered, true>::new(
        |x: u8, row: &mut [u8]| {
            row[0] = x;
            Ok::<bool, Infallible>(x.is_multiple_of(2))
        },
    ))
    .batch(0..6u8);
    assert_eq!(piped.rows, ndarray::array![[0], [2], [4]]);
    assert_eq!(piped.skipped, vec![1, 3, 5]);
}

#[test]
fn memory_budget_sets_rows_per_chunk() {
    let p = Pipeline::new(plain());
    assert_eq!(p.rows_per_chunk(), DEFAULT_MEMORY_BUDGET / 12);
    let p = p.memory_budget(120);
    assert_eq!(p.rows_per_chunk(), 10);
    let p = p.memory_budget(1);
    assert_eq!(p.rows_per_chunk(), 1, "at least one row");
    let p = p.chunk_rows(0);
    assert_eq!(p.rows_per_chunk(), 1);
}

/// Reads a little-endian `.npy` of `i32` or `u8` written by this crate: shape and raw data.
fn read_npy(path: &Path) -> (String, Vec<u8>) {
    let bytes = std::fs::read(path).unwrap();
    assert_eq!(&bytes[..6], b"\x93NUMPY");
    let (len, start) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        _ => (
            u32::from_le_bytes(bytes[8..12].try_into().unwrap()) as usize,
            12,
        ),
    };
    let header = String::from_utf8(bytes[start..start + len].to_vec()).unwrap();
    assert_eq!((start + len) % 64, 0, "data starts on a 64-byte boundary");
    (header, bytes[start + len..].to_vec())
}

fn i32s(bytes: &[u8]) -> Vec<i32> {
    bytes
        .chunks_exact(4)
        .map(|b| i32::from_le_bytes(b.try_into().unwrap()))
        .collect()
}

#[test]
fn write_npy_streams_rows_of_unknown_length() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.npy");
    let out = Pipeline::new(plain())
        .chunk_rows(7)
        .write_npy((0..100u32).filter(|i| i % 3 != 0), &path)
        .unwrap();
    assert_eq!(out.rows, 66);
    assert_eq!(out.shape, vec![66, 3]);
    let (header, data) = read_npy(&path);
    assert!(header.contains("'descr': '<i4'"), "{header}");
    assert!(header.contains("'shape': (66, 3)"), "{header}");
    assert_eq!(i32s(&data), expected((0..100).filter(|i| i % 3 != 0)));
}

#[test]
fn a_failing_item_keeps_the_rows_before_it_in_a_partial_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.npy");
    std::fs::write(&path, b"an earlier good file").unwrap();
    let err = Pipeline::new(rows_with::<Fallible>(&[], &[11]))
        .chunk_rows(4)
        .write_npy(0..20u32, &path)
        .unwrap_err();
    let partial = dir.path().join("x.npy.partial");
    match &err {
        Error::Output {
            written: 11,
            partial: Some(kept),
            cause:
                OutputCause::Item(ItemError {
                    index: 11,
                    error: RowError::Row(11),
                }),
        } => assert_eq!(kept, &partial),
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(
        err.to_string(),
        format!(
            "item 11: 11 (11 rows written, kept in `{}`)",
            partial.display()
        )
    );
    assert_eq!(std::fs::read(&path).unwrap(), b"an earlier good file");
    let (header, data) = read_npy(&partial);
    assert!(header.contains("'shape': (11, 3)"), "{header}");
    assert_eq!(i32s(&data), expected(0..11));
}

#[test]
fn a_missing_directory_is_a_typed_error() {
    let dir = tempfile::tempdir().unwrap();
    let err = Pipeline::new(plain())
        .write_npy(0..3u32, dir.path().join("missing/x.npy"))
        .unwrap_err();
    assert!(
        matches!(
            &err,
            Error::Output {
                written: 0,
                partial: None,
                cause: OutputCause::Sink(SinkError::MissingDirectory { .. })
            }
        ),
        "{err:?}"
    );
}

#[test]
fn shards_hold_a_chunk_each() {
    let dir = tempfile::tempdir().unwrap();
    let out = Pipeline::new(plain())
        .chunk_rows(4)
        .write_npy_shards(0..10u32, dir.path().join("shards"))
        .unwrap();
    assert_eq!(out.rows, 10);
    assert_eq!(
        out.shards.iter().map(|s| s.rows).collect::<Vec<_>>(),
        vec![4, 4, 2]
    );
    let (_, data) = read_npy(&out.shards[1].path);
    assert_eq!(i32s(&data), expected(4..8));
}

#[test]
fn multi_axis_rows_keep_their_shape_in_files() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("img.npy");
    let images =
        FnRow::<_, u8, Axes2<2, 3>, Infallible, Plain, false>::new(|x: u8, row: &mut [u8]| {
            row[5] = x;
            Ok::<bool, Infallible>(true)
        });
    let out = Pipeline::new(images)
        .chunk_rows(2)
        .write_npy([1u8, 2, 3], &path)
        .unwrap();
    assert_eq!(out.shape, vec![3, 2, 3]);
    let (header, data) = read_npy(&path);
    assert!(header.contains("'shape': (3, 2, 3)"), "{header}");
    assert_eq!(
        data,
        vec![0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 3]
    );
}

#[test]
fn a_complete_file_supersedes_an_earlier_partial_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.npy");
    let err = Pipeline::new(rows_with::<Fallible>(&[], &[3]))
        .write_npy(0..10u32, &path)
        .unwrap_err();
    assert_eq!(err.rows_written(), 3);
    let partial = dir.path().join("x.npy.partial");
    assert!(partial.exists());
    let out = Pipeline::new(rows_with::<Fallible>(&[], &[]))
        .write_npy(0..10u32, &path)
        .unwrap();
    assert_eq!(out.rows, 10);
    assert!(!partial.exists(), "the stale partial file is removed");
    let (_, data) = read_npy(&path);
    assert_eq!(i32s(&data), expected(0..10));
}
