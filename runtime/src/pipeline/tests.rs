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
            other_partials,
            cause:
                OutputCause::Item(ItemError {
                    index: 11,
                    error: RowError::Row(11),
                }),
        } => {
            assert_eq!(kept, &partial);
            assert!(other_partials.is_empty(), "{other_partials:?}");
        }
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(
        err.to_string(),
        format!(
            "item 11 (counting from 0): 11 (11 rows written, kept in `{}`)",
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
                other_partials,
                cause: OutputCause::Sink(SinkError::MissingDirectory { .. })
            } if other_partials.is_empty()
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

/// A row function's own error with a source of its own, to follow the chain.
#[derive(Debug)]
struct BadValue {
    value: u32,
    source: std::num::ParseIntError,
}

impl std::fmt::Display for BadValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "value {} is bad", self.value)
    }
}

impl std::error::Error for BadValue {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

/// What a script's row function returns: `Box<dyn Error + Send + Sync>`, so that a pipeline
/// may run it on threads.
type SendBox = Box<dyn std::error::Error + Send + Sync>;

/// Rows of three `i32`, on `threads` threads, into `x.npy`; the row function fails at `fail`
/// with a [`BadValue`], boxed.
#[cfg(feature = "parallel")]
fn threaded_run(dir: &Path, threads: usize, fail: u32) -> Result<FileOutput, Error<SendBox>> {
    let rows = FnRow::<_, i32, Axes1<3>, SendBox, Fallible, true>::new(
        move |i: u32, row: &mut [i32]| -> Result<bool, RowError<SendBox>> {
            if i == fail {
                let source = "x".parse::<u8>().unwrap_err();
                return Err(RowError::Row(Box::new(BadValue { value: i, source })));
            }
            let v = i as i32;
            row.copy_from_slice(&[v, 2 * v, 3 * v]);
            Ok(true)
        },
    );
    Pipeline::new(rows)
        .chunk_rows(4)
        .threads(threads)
        .write_npy(0..100u32, dir.join("x.npy"))
}

/// The message of the error [`threaded_run`] gives.
#[cfg(feature = "parallel")]
fn threaded_message(dir: &Path, fail: u32) -> String {
    format!(
        "item {fail} (counting from 0): value {fail} is bad ({fail} rows written, kept in `{}`)",
        dir.join("x.npy.partial").display()
    )
}

/// A script's row error `Box<dyn Error + Send + Sync>` on a threaded pipeline: the pipeline's
/// error goes into `Box<dyn Error + Send + Sync>` and into `Box<dyn Error>` by `?` after
/// `into_send_boxed`, with the message and the row error's source, and crosses threads.
#[cfg(feature = "parallel")]
#[test]
fn a_threaded_pipeline_error_boxes_into_either_box_and_crosses_threads() {
    use std::error::Error as StdError;

    fn send_script(dir: &Path) -> Result<(), Box<dyn StdError + Send + Sync>> {
        threaded_run(dir, 2, 37).map_err(Error::into_send_boxed)?;
        Ok(())
    }
    fn script(dir: &Path) -> Result<(), Box<dyn StdError>> {
        threaded_run(dir, 2, 37).map_err(Error::into_send_boxed)?;
        Ok(())
    }

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_path_buf();
    // Send: the boxed error comes back from another thread.
    let err = std::thread::spawn(move || send_script(&path))
        .join()
        .unwrap()
        .unwrap_err();
    assert_eq!(err.to_string(), threaded_message(dir.path(), 37));
    // `Debug`, what `main` prints, is the message too.
    assert_eq!(format!("{err:?}"), threaded_message(dir.path(), 37));
    let source = err.source().expect("the row error's source is reachable");
    assert_eq!(source.to_string(), "invalid digit found in string");
    assert!(source.downcast_ref::<std::num::ParseIntError>().is_some());
    let (header, _) = read_npy(&dir.path().join("x.npy.partial"));
    assert!(header.contains("'shape': (37, 3)"), "{header}");

    let err = script(dir.path()).unwrap_err();
    assert_eq!(err.to_string(), threaded_message(dir.path(), 37));
    assert_eq!(
        err.source().map(ToString::to_string).as_deref(),
        Some("invalid digit found in string")
    );

    // The error itself is `Send + Sync` too, and its `Debug` leads with the message.
    let path = dir.path().to_path_buf();
    let err = std::thread::spawn(move || threaded_run(&path, 2, 5))
        .join()
        .unwrap()
        .unwrap_err();
    let debug = format!("{err:?}");
    assert!(
        debug.starts_with(
            "item 5 (counting from 0): BadValue { value: 5, source: ParseIntError { kind: InvalidDigit } } (5 rows written, kept in `"
        ),
        "{debug}"
    );
    assert!(
        debug.ends_with("other_partials: [], cause: Item(ItemError { index: 5, error: Row(BadValue { value: 5, source: ParseIntError { kind: InvalidDigit } }) }) }]"),
        "{debug}"
    );
}

/// The same error, and an item's error alone, as the row function's error gives them: into
/// `Box<dyn Error + Send + Sync>` and `Box<dyn Error>`, for `Box<dyn Error + Send + Sync>`,
/// `String`, and an `Error + Send + Sync` type (which `?` converts as it is).
#[test]
fn item_and_pipeline_errors_box_for_every_script_error_type() {
    use std::error::Error as StdError;

    type AnyBox = Box<dyn StdError>;
    fn item<E>(error: RowError<E>) -> ItemError<E> {
        ItemError { index: 4, error }
    }

    // `Box<dyn Error + Send + Sync>`.
    let failed = || -> Result<(), ItemError<SendBox>> {
        let source = "x".parse::<u8>().unwrap_err();
        Err(item(RowError::Row(
            Box::new(BadValue { value: 9, source }) as SendBox
        )))
    };
    let send = || -> Result<(), SendBox> {
        failed().map_err(ItemError::into_send_boxed)?;
        Ok(())
    };
    let any = || -> Result<(), AnyBox> {
        failed().map_err(ItemError::into_send_boxed)?;
        Ok(())
    };
    for err in [send().unwrap_err() as AnyBox, any().unwrap_err()] {
        assert_eq!(err.to_string(), "item 4 (counting from 0): value 9 is bad");
        assert!(err.source().unwrap().is::<std::num::ParseIntError>());
    }

    // `String`: the old `into_boxed` and the new `into_send_boxed` give the same message.
    let failed = || -> Result<(), ItemError<String>> { Err(item(RowError::Row("bad".into()))) };
    let send = || -> Result<(), SendBox> {
        failed().map_err(ItemError::into_send_boxed)?;
        Ok(())
    };
    let any = || -> Result<(), AnyBox> {
        failed().map_err(ItemError::into_boxed)?;
        Ok(())
    };
    assert_eq!(
        send().unwrap_err().to_string(),
        "item 4 (counting from 0): bad"
    );
    assert_eq!(
        any().unwrap_err().to_string(),
        "item 4 (counting from 0): bad"
    );

    // An `Error + Send + Sync` type: `?` alone, into either box.
    let failed = || -> Result<(), ItemError<BadValue>> {
        let source = "x".parse::<u8>().unwrap_err();
        Err(item(RowError::Row(BadValue { value: 9, source })))
    };
    let send = || -> Result<(), SendBox> {
        failed()?;
        Ok(())
    };
    let any = || -> Result<(), AnyBox> {
        failed()?;
        Ok(())
    };
    for err in [send().unwrap_err() as AnyBox, any().unwrap_err()] {
        assert_eq!(err.to_string(), "item 4 (counting from 0): value 9 is bad");
        assert!(err.source().unwrap().is::<std::num::ParseIntError>());
    }
    let output = || -> Result<(), Error<BadValue>> {
        let source = "x".parse::<u8>().unwrap_err();
        Err(Error::Item {
            written: 4,
            error: item(RowError::Row(BadValue { value: 9, source })),
        })
    };
    let send = || -> Result<(), SendBox> {
        output()?;
        Ok(())
    };
    let any = || -> Result<(), AnyBox> {
        output()?;
        Ok(())
    };
    for err in [send().unwrap_err() as AnyBox, any().unwrap_err()] {
        assert_eq!(
            err.to_string(),
            "item 4 (counting from 0): value 9 is bad (4 rows written before it)"
        );
        assert!(err.source().unwrap().is::<std::num::ParseIntError>());
    }
}
