//! Failures of `write_zarr`: a full disk, a read-only file system (small tmpfs mounts, skipped
//! with a printed message where mounting is not permitted), and an item that fails mid-run.
//! Nothing complete is damaged, the error says what was written, and a rerun resumes.
#![cfg(feature = "zarr")]

mod common;
// The facade's test helper: every file under a directory with its bytes.
#[path = "../../tests/common/files.rs"]
mod files;

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::fs;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use common::Tmpfs;
use files::tree;
use preallocate_runtime::__private::{Axes1, FnRow};
use preallocate_runtime::{policy, Error, OutputCause, Pipeline, RowError, SinkError};

fn wide() -> impl preallocate_runtime::RowFn<u32, Dtype = u8, Error = Infallible> + Clone {
    FnRow::<_, u8, Axes1<1024>, Infallible, policy::Plain, true>::new(|x: u32, row: &mut [u8]| {
        row.fill((x % 251) as u8 + 1);
        Ok::<bool, Infallible>(true)
    })
}

/// A good, complete array `good` in `store`; returns its files.
fn good_array(store: &Path) -> BTreeMap<String, Vec<u8>> {
    Pipeline::new(wide())
        .chunk_rows(4)
        .write_zarr(0..8, store, "good")
        .unwrap();
    tree(&store.join("good"))
}

#[test]
fn a_full_disk_reports_the_units_stored_and_keeps_the_good_array() {
    let Some(fs_) = Tmpfs::mount(
        "a_full_disk_reports_the_units_stored_and_keeps_the_good_array",
        "256k",
    ) else {
        return;
    };
    let store = fs_.path().join("data.zarr");
    let good = good_array(&store);
    let err = Pipeline::new(wide())
        .chunk_rows(16)
        .write_zarr(0..1000, &store, "x")
        .unwrap_err();
    let Error::Output {
        written,
        partial,
        other_partials,
        cause: OutputCause::Sink(SinkError::Store { op, message, .. }),
    } = &err
    else {
        panic!("{err:?}");
    };
    assert!(other_partials.is_empty(), "{other_partials:?}");
    assert_eq!(*op, "write a chunk of");
    assert!(message.contains("No space left on device"), "{message}");
    assert!(*written > 0 && written % 16 == 0, "{written}");
    assert!(*written < 1000);
    assert_eq!(partial.as_deref(), Some(store.as_path()));
    // Not published; the good array is as it was.
    assert!(!store.join("x/zarr.json").exists());
    assert_eq!(tree(&store.join("good")), good);
}

#[test]
fn a_read_only_file_system_fails_up_front_and_keeps_the_good_array() {
    let Some(fs_) = Tmpfs::mount(
        "a_read_only_file_system_fails_up_front_and_keeps_the_good_array",
        "256k",
    ) else {
        return;
    };
    let store = fs_.path().join("data.zarr");
    let good = good_array(&store);
    fs_.read_only();
    let err = Pipeline::new(wide())
        .chunk_rows(16)
        .write_zarr(0..100, &store, "x")
        .unwrap_err();
    let Error::Output {
        written: 0,
        cause: OutputCause::Sink(SinkError::Store { message, .. }),
        ..
    } = &err
    else {
        panic!("{err:?}");
    };
    assert!(message.contains("Read-only file system"), "{message}");
    // Rewriting the good array itself fails without touching it.
    let err = Pipeline::new(wide())
        .chunk_rows(2)
        .write_zarr(0..8, &store, "good")
        .unwrap_err();
    assert!(err.to_string().contains("Read-only file system"), "{err}");
    assert_eq!(tree(&store.join("good")), good);
}

static FAIL: AtomicBool = AtomicBool::new(true);

#[test]
fn an_item_failure_reports_the_units_stored_and_the_rerun_resumes() {
    let row_fn = || {
        FnRow::<_, f32, Axes1<2>, String, policy::Fallible, true>::new(|x: u32, row: &mut [f32]| {
            if x == 150 && FAIL.load(Ordering::SeqCst) {
                return Err(RowError::Row(format!("item {x} is bad")));
            }
            row.copy_from_slice(&[x as f32, 1.0]);
            Ok(true)
        })
    };
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("data.zarr");
    let err = Pipeline::new(row_fn())
        .chunk_rows(20)
        .write_zarr(0..400, &store, "x")
        .unwrap_err();
    let Error::Output {
        written,
        partial,
        other_partials,
        cause: OutputCause::Item(item),
    } = &err
    else {
        panic!("{err:?}");
    };
    assert!(other_partials.is_empty(), "{other_partials:?}");
    // Units 0 to 6 (items 0..140) are stored; unit 7 failed at item 150.
    assert_eq!((*written, item.index), (140, 150));
    assert_eq!(partial.as_deref(), Some(store.as_path()));
    assert!(err.to_string().contains("item 150 is bad"), "{err}");
    assert!(!store.join("x/zarr.json").exists());

    FAIL.store(false, Ordering::SeqCst);
    let out = Pipeline::new(row_fn())
        .chunk_rows(20)
        .write_zarr(0..400, &store, "x")
        .unwrap();
    assert_eq!((out.resumed, out.complete, out.rows), (7, true, 400));
    let chunk = fs::read(store.join("x/c/7/0")).unwrap();
    let values: Vec<f32> = chunk
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
        .collect();
    assert_eq!(&values[..4], &[140.0, 1.0, 141.0, 1.0]);
    assert_eq!(values[(150 - 140) * 2], 150.0);
}
