//! Failures of the output writers: a missing directory, a failed run over a good file, a panic
//! while rows stream, a full disk and a read-only file system (small tmpfs mounts, skipped with a
//! printed message where mounting is not permitted).

mod common;

use std::fs;
use std::io::ErrorKind;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use common::{le_bytes, read_npy, rows, Tmpfs};
use preallocate_runtime::ndarray::{s, Array2};
use preallocate_runtime::{
    policy, Error, NpyElement, NpyWriter, OutputCause, Pipeline, RowFn, RowSpec, SafetensorsWriter,
    SinkError, SinkFailure, SHARD_MANIFEST,
};
use safetensors::SafeTensors;

/// Item `i` is row `i` of the array, rows of shape `[N]`; a row function that panics at item
/// `panic_at`, if any.
struct RowsOf<T, const N: usize> {
    values: Array2<T>,
    panic_at: Option<usize>,
}

impl<T: NpyElement, const N: usize> RowsOf<T, N> {
    fn new(values: Array2<T>) -> Self {
        RowsOf {
            values,
            panic_at: None,
        }
    }
}

impl<T: NpyElement, const N: usize> RowSpec for RowsOf<T, N> {
    type Dtype = T;
    type Dim = preallocate_runtime::ndarray::Ix2;
    type Policy = policy::Plain;
    const DIM: usize = N;
    const SHAPE: &'static [usize] = &[N];
    const OVERWRITES_ROW: bool = true;
}

impl<T: NpyElement, const N: usize> RowFn<usize> for RowsOf<T, N> {
    type Error = std::convert::Infallible;
    fn write_row(&mut self, i: usize, row: &mut [T]) -> Result<bool, Self::Error> {
        assert!(
            self.panic_at != Some(i),
            "the row function failed at item {i}"
        );
        row.copy_from_slice(self.values.row(i).as_slice().unwrap());
        Ok(true)
    }
}

/// The output's own failure behind a pipeline's error.
fn sink_error<E: std::fmt::Debug>(err: &Error<E>) -> &SinkError {
    match err {
        Error::Output {
            cause: OutputCause::Sink(source),
            ..
        } => source,
        other => panic!("{other:?}"),
    }
}

fn partial(path: &Path) -> PathBuf {
    PathBuf::from(format!("{}.partial", path.display()))
}

/// Names in `dir`, sorted.
fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

/// Writes a good 2-row file at `path`, returns its bytes.
fn good_npy(path: &Path) -> Vec<u8> {
    let mut npy = NpyWriter::<f32>::create(path, &[3]).unwrap();
    npy.write_chunk(rows::<f32>(1000, 2, 3).view()).unwrap();
    npy.finish().unwrap();
    fs::read(path).unwrap()
}

#[test]
fn a_missing_directory_is_a_typed_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing");
    let path = missing.join("x.npy");
    let failure = NpyWriter::<f32>::create(&path, &[3]).unwrap_err();
    assert_eq!(
        failure.source,
        SinkError::MissingDirectory {
            path: path.clone(),
            dir: missing.clone()
        }
    );
    assert_eq!((failure.written, failure.partial.clone()), (0, None));
    assert_eq!(
        failure.to_string(),
        format!(
            "cannot write `{}`: directory `{}` does not exist (0 rows written, none kept)",
            path.display(),
            missing.display()
        )
    );
    let failure = SafetensorsWriter::<f32>::create(&path, "x", &[3]).unwrap_err();
    assert!(matches!(failure.source, SinkError::MissingDirectory { .. }));

    // Shards: the directory itself is created, but not its parent.
    let shards = missing.join("shards");
    let err = Pipeline::new(RowsOf::<f32, 3>::new(rows::<f32>(0, 1, 3)))
        .write_npy_shards(0..1, &shards)
        .unwrap_err();
    assert_eq!(
        *sink_error(&err),
        SinkError::MissingDirectory {
            path: shards.clone(),
            dir: missing.clone()
        }
    );
    assert!(!missing.exists());
    assert_eq!(names(dir.path()), Vec::<String>::new());
}

#[test]
fn a_failed_run_keeps_the_good_file_and_its_rows_in_a_partial() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.npy");
    let good = good_npy(&path);

    // The source fails after two chunks: the driver abandons the writer.
    let values = rows::<f32>(0, 7, 3);
    let mut npy = NpyWriter::<f32>::create(&path, &[3]).unwrap();
    npy.write_chunk(values.slice(s![..4, ..])).unwrap();
    npy.write_chunk(values.slice(s![4.., ..])).unwrap();
    let kept = npy.abandon();
    assert_eq!((kept.rows, kept.error), (7, None));
    assert_eq!(kept.path, Some(partial(&path)));
    assert_eq!(fs::read(&path).unwrap(), good, "the good file is untouched");
    let npy = read_npy(&partial(&path));
    assert_eq!(npy.shape, vec![7, 3]);
    assert_eq!(npy.data, le_bytes(&values));

    // A second failed run replaces the older partial; the good file still stands.
    let mut npy = NpyWriter::<f32>::create(&path, &[3]).unwrap();
    npy.write_chunk(values.slice(s![..1, ..])).unwrap();
    let failure = npy.write_chunk(Array2::zeros((1, 4)).view()).unwrap_err();
    assert_eq!(
        (failure.written, failure.partial),
        (1, Some(partial(&path)))
    );
    assert_eq!(fs::read(&path).unwrap(), good);
    assert_eq!(read_npy(&partial(&path)).shape, vec![1, 3]);
    assert_eq!(names(dir.path()), ["x.npy", "x.npy.partial"]);
}

#[test]
fn a_writer_dropped_unfinished_keeps_its_rows() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.npy");
    {
        let mut npy = NpyWriter::<i16>::create(&path, &[2]).unwrap();
        npy.write_chunk(rows::<i16>(0, 3, 2).view()).unwrap();
    }
    assert!(!path.exists());
    assert_eq!(read_npy(&partial(&path)).shape, vec![3, 2]);
    assert_eq!(names(dir.path()), ["x.npy.partial"]);
}

/// Streams chunks of 4 rows from `source` through `write` (a writer's `write_chunk`, which owns
/// the writer) until the source panics.
fn stream_until_panic(
    mut write: impl FnMut(preallocate_runtime::ndarray::ArrayView2<'_, f32>) -> Result<(), SinkFailure>,
    panic_at: usize,
) {
    let source = |chunk: usize| -> Array2<f32> {
        assert!(chunk != panic_at, "the source failed at chunk {chunk}");
        rows::<f32>(chunk * 4, 4, 3)
    };
    for chunk in 0.. {
        write(source(chunk).view()).unwrap();
    }
}

fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_default()
}

#[test]
fn a_panic_mid_stream_propagates_and_keeps_the_rows_flushed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.npy");
    let good = good_npy(&path);
    let result = catch_unwind(AssertUnwindSafe(|| {
        let mut npy = NpyWriter::<f32>::create(&path, &[3]).unwrap();
        stream_until_panic(move |rows| npy.write_chunk(rows), 3);
    }));
    let message = panic_message(result.unwrap_err());
    assert_eq!(message, "the source failed at chunk 3");
    assert_eq!(
        fs::read(&path).unwrap(),
        good,
        "the final path is untouched"
    );
    let npy = read_npy(&partial(&path));
    assert_eq!(npy.shape, vec![12, 3]);
    assert_eq!(npy.data, le_bytes(&rows::<f32>(0, 12, 3)));
    assert_eq!(names(dir.path()), ["x.npy", "x.npy.partial"]);
}

#[test]
fn a_panic_mid_stream_keeps_safetensors_and_shard_rows_too() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.safetensors");
    let result = catch_unwind(AssertUnwindSafe(|| {
        let mut out = SafetensorsWriter::<f32>::create(&path, "x", &[3]).unwrap();
        stream_until_panic(move |rows| out.write_chunk(rows), 2);
    }));
    assert!(result.is_err());
    assert!(!path.exists());
    let bytes = fs::read(partial(&path)).unwrap();
    let tensors = SafeTensors::deserialize(&bytes).unwrap();
    assert_eq!(tensors.tensor("x").unwrap().shape(), &[8, 3]);
    assert_eq!(
        tensors.tensor("x").unwrap().data(),
        &le_bytes(&rows::<f32>(0, 8, 3))[..]
    );

    // Shards of 6 rows: the two committed shards are in place, the third keeps its rows in
    // its `.partial`; a rerun of the job resumes after the committed ones and clears it.
    let shards = dir.path().join("shards");
    let values = rows::<f32>(0, 20, 3);
    let result = catch_unwind(AssertUnwindSafe(|| {
        let row_fn = RowsOf::<f32, 3> {
            values: values.clone(),
            panic_at: Some(16),
        };
        Pipeline::new(row_fn)
            .chunk_rows(4)
            .shard_rows(6)
            .write_npy_shards(0..20, &shards)
    }));
    assert_eq!(
        panic_message(result.unwrap_err()),
        "the row function failed at item 16"
    );
    assert_eq!(
        names(&shards),
        [
            ".jobs",
            "part-00000.npy",
            "part-00001.npy",
            "part-00002.npy.partial"
        ]
    );
    let kept: Vec<u8> = ["part-00000.npy", "part-00001.npy", "part-00002.npy.partial"]
        .iter()
        .flat_map(|name| read_npy(&shards.join(name)).data)
        .collect();
    assert_eq!(kept, le_bytes(&rows::<f32>(0, 16, 3)));
    let out = Pipeline::new(RowsOf::<f32, 3>::new(values.clone()))
        .chunk_rows(4)
        .shard_rows(6)
        .write_npy_shards(0..20, &shards)
        .unwrap();
    assert_eq!((out.rows, out.resumed, out.complete), (20, 2, true));
    assert_eq!(
        names(&shards),
        [
            "manifest.json",
            "part-00000.npy",
            "part-00001.npy",
            "part-00002.npy",
            "part-00003.npy"
        ]
    );
}

#[test]
fn a_full_disk_keeps_the_rows_that_fit_and_the_good_file() {
    let Some(fs_) = Tmpfs::mount(
        "a_full_disk_keeps_the_rows_that_fit_and_the_good_file",
        "64k",
    ) else {
        return;
    };
    let path = fs_.path().join("x.npy");
    let good = good_npy(&path);

    // 1 KiB rows in chunks of 8: the 64 KiB file system fills up within the stream.
    let values = rows::<f32>(0, 200, 256);
    let mut npy = NpyWriter::<f32>::create(&path, &[256]).unwrap();
    let mut failure = None;
    for start in (0..200).step_by(8) {
        if let Err(err) = npy.write_chunk(values.slice(s![start..start + 8, ..])) {
            failure = Some(err);
            break;
        }
    }
    let failure = failure.expect("a 64 KiB file system cannot hold 200 KiB");
    let written = failure.written;
    assert!(
        written > 0 && written < 64 && written % 8 == 0,
        "{written} rows"
    );
    assert_eq!(failure.partial, Some(partial(&path)));
    let io = failure.source.io_error().expect("an I/O error");
    assert_eq!(io.kind(), ErrorKind::StorageFull, "{failure}");
    let message = failure.to_string();
    assert!(
        message.starts_with("cannot write rows to `") && message.contains(".x.npy."),
        "{message}"
    );
    assert!(
        message.ends_with(&format!(
            "({written} rows written, kept in `{}`)",
            partial(&path).display()
        )),
        "{message}"
    );
    assert_eq!(fs::read(&path).unwrap(), good, "the good file is untouched");
    let npy = read_npy(&partial(&path));
    assert_eq!(npy.shape, vec![written, 256]);
    assert_eq!(
        npy.data,
        le_bytes(&values.slice(s![..written, ..]).to_owned())
    );
    assert_eq!(names(fs_.path()), ["x.npy", "x.npy.partial"]);
}

#[test]
fn a_full_disk_keeps_the_shards_that_fit() {
    let Some(fs_) = Tmpfs::mount("a_full_disk_keeps_the_shards_that_fit", "64k") else {
        return;
    };
    let values = rows::<u8>(0, 100, 4096);
    let dir = fs_.path().join("s");
    let err = Pipeline::new(RowsOf::<u8, 4096>::new(values.clone()))
        .chunk_rows(3)
        .shard_rows(3)
        .write_npy_shards(0..100, &dir)
        .expect_err("100 pages cannot fit in 16");
    let Error::Output {
        written, partial, ..
    } = &err
    else {
        panic!("{err:?}")
    };
    assert_eq!(partial.as_deref(), Some(dir.as_path()));
    assert_eq!(
        sink_error(&err).io_error().map(|e| e.kind()),
        Some(ErrorKind::StorageFull)
    );
    // The committed shards, then the rows of the one that did not fit, if any did.
    let kept_names: Vec<String> = names(&dir)
        .into_iter()
        .filter(|n| n.starts_with("part-"))
        .collect();
    assert!(kept_names.len() >= 2, "{kept_names:?}");
    let kept: Vec<u8> = kept_names
        .iter()
        .flat_map(|n| read_npy(&dir.join(n)).data)
        .collect();
    assert_eq!(kept.len(), written * 4096);
    assert_eq!(kept, le_bytes(&values.slice(s![..*written, ..]).to_owned()));
}

#[test]
fn a_read_only_file_system_fails_up_front_and_keeps_the_good_file() {
    let Some(fs_) = Tmpfs::mount(
        "a_read_only_file_system_fails_up_front_and_keeps_the_good_file",
        "64k",
    ) else {
        return;
    };
    let path = fs_.path().join("x.npy");
    let good = good_npy(&path);
    fs_.read_only();

    let failure = NpyWriter::<f32>::create(&path, &[3]).unwrap_err();
    assert_eq!((failure.written, failure.partial.clone()), (0, None));
    match &failure.source {
        SinkError::Io {
            op,
            path: temp,
            source,
        } => {
            assert_eq!(*op, "create");
            assert_eq!(temp.parent(), Some(fs_.path()));
            assert_eq!(source.kind(), ErrorKind::ReadOnlyFilesystem);
        }
        other => panic!("{other}"),
    }
    assert!(
        failure.to_string().contains("Read-only file system"),
        "{failure}"
    );

    let failure =
        SafetensorsWriter::<f32>::create(fs_.path().join("y.safetensors"), "y", &[3]).unwrap_err();
    assert_eq!(
        failure.source.io_error().map(|e| e.kind()),
        Some(ErrorKind::ReadOnlyFilesystem)
    );
    let err = Pipeline::new(RowsOf::<f32, 3>::new(rows::<f32>(0, 1, 3)))
        .write_npy_shards(0..1, fs_.path().join("s"))
        .unwrap_err();
    assert!(
        matches!(
            sink_error(&err),
            SinkError::Io {
                op: "create directory",
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(fs::read(&path).unwrap(), good);
    assert_eq!(names(fs_.path()), ["x.npy"]);
}

#[test]
fn a_rename_that_fails_at_finish_keeps_the_rows_in_the_partial() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.npy");
    let values = rows::<u32>(0, 5, 2);
    let mut npy = NpyWriter::<u32>::create(&path, &[2]).unwrap();
    npy.write_chunk(values.view()).unwrap();
    // Something takes the final name meanwhile: a non-empty directory cannot be replaced.
    fs::create_dir(&path).unwrap();
    fs::write(path.join("inside"), b"x").unwrap();
    let failure = npy.finish().unwrap_err();
    assert!(
        matches!(&failure.source, SinkError::Rename { to, .. } if *to == path),
        "{failure}"
    );
    assert_eq!(
        (failure.written, failure.partial.clone()),
        (5, Some(partial(&path)))
    );
    let npy = read_npy(&partial(&path));
    assert_eq!(npy.data, le_bytes(&values));
    assert_eq!(names(dir.path()), ["x.npy", "x.npy.partial"]);
    assert!(path.join("inside").exists());
}

#[test]
fn a_shard_whose_name_is_taken_stops_the_run_after_the_shards_before_it() {
    let dir = tempfile::tempdir().unwrap();
    let values = rows::<i8>(0, 7, 1);
    fs::create_dir(dir.path().join("part-00001.npy")).unwrap();
    fs::write(dir.path().join("part-00001.npy").join("inside"), b"x").unwrap();
    let err = Pipeline::new(RowsOf::<i8, 1>::new(values.clone()))
        .shard_rows(3)
        .write_npy_shards(0..7, dir.path())
        .unwrap_err();
    assert_eq!(
        *sink_error(&err),
        SinkError::IsADirectory {
            path: dir.path().join("part-00001.npy")
        }
    );
    assert!(
        matches!(&err, Error::Output { written: 3, partial: Some(p), .. } if p == dir.path()),
        "{err:?}"
    );
    // Shard 0 was committed before the failure; no manifest.
    assert_eq!(
        names(dir.path()),
        [".jobs", "part-00000.npy", "part-00001.npy"]
    );
    assert!(!dir.path().join(SHARD_MANIFEST).exists());
    let kept = read_npy(&dir.path().join("part-00000.npy")).data;
    assert_eq!(kept, le_bytes(&values.slice(s![..3, ..]).to_owned()));
}
