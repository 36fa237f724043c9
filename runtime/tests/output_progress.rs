//! With the `progress` feature, each writer advances its reporter by every chunk's rows, and
//! finishes it (or stops it) with the output.
#![cfg(feature = "progress")]

mod common;

use common::rows;
use preallocate_runtime::{NpyWriter, Progress, SafetensorsWriter};

#[test]
fn writers_report_every_row_and_finish_the_display() {
    let dir = tempfile::tempdir().unwrap();
    let values = rows::<f32>(0, 10, 3);

    let progress = Progress::hidden(Some(10));
    let mut npy = NpyWriter::<f32>::create(dir.path().join("x.npy"), &[3])
        .unwrap()
        .with_progress(progress.clone());
    npy.write_chunk(values.slice(preallocate_runtime::ndarray::s![..4, ..]))
        .unwrap();
    assert_eq!((progress.rows(), progress.is_finished()), (4, false));
    npy.write_chunk(values.slice(preallocate_runtime::ndarray::s![4.., ..]))
        .unwrap();
    npy.finish().unwrap();
    assert_eq!((progress.rows(), progress.is_finished()), (10, true));

    let progress = Progress::hidden(Some(100));
    let mut out = SafetensorsWriter::<f32>::create(dir.path().join("x.safetensors"), "x", &[3])
        .unwrap()
        .with_progress(progress.clone());
    out.write_chunk(values.view()).unwrap();
    let _ = out.abandon();
    assert_eq!((progress.rows(), progress.is_finished()), (10, true));
    assert_eq!(progress.total(), Some(100));
}
