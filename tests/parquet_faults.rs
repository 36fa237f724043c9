//! `write_parquet` when the file system or an item fails: a typed error, nothing under the
//! final name, no temporary file left, and the rows written before the failure kept in
//! `<path>.partial`, itself a valid Parquet file holding exactly the rows reported.
#![cfg(feature = "parquet")]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float32Type, UInt8Type};
use arrow_array::{Array, ArrowPrimitiveType};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use preallocate::{preallocate, Error, ItemError, OutputCause, RowError, SinkError};

/// Rows of 1024 `u8` that differ from item to item. Parquet stores `u8` as 32-bit integers
/// (annotated as unsigned 8-bit), so a row takes about 4 KiB in the file, a row group of 8
/// rows about 32 KiB.
#[preallocate(dim = 1024, dtype = u8)]
fn wide(i: u32) -> [u8; 1024] {
    let mut row = [0u8; 1024];
    for (k, value) in row.iter_mut().enumerate() {
        *value = (i as usize * 31 + k * 7) as u8;
    }
    row
}

/// Fallible: `"1.5"` → `[1.5, 3.0]`.
#[preallocate(dim = 2, dtype = f32)]
fn parse(s: &str) -> Result<[f32; 2], std::num::ParseFloatError> {
    let x: f32 = s.parse()?;
    Ok([x, x * 2.0])
}

fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

/// A Parquet file's one column, checked to be `column` of `FixedSizeList(<width> x <T>)`,
/// flattened; and the rows its footer counts, checked to be the rows read.
fn read_column<T: ArrowPrimitiveType>(
    path: &Path,
    column: &str,
    data_type: &str,
    width: usize,
) -> (Vec<T::Native>, usize) {
    let file = fs::File::open(path).unwrap_or_else(|err| panic!("{}: {err}", path.display()));
    let builder = ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap_or_else(|err| panic!("{} is not a valid Parquet file: {err}", path.display()));
    let schema = builder.schema().clone();
    assert_eq!(schema.fields().len(), 1, "{schema:?}");
    assert_eq!(schema.field(0).name(), column);
    assert_eq!(schema.field(0).data_type().to_string(), data_type);
    let rows = usize::try_from(builder.metadata().file_metadata().num_rows()).unwrap();
    let mut values = Vec::new();
    for batch in builder.build().unwrap() {
        let batch = batch.unwrap();
        let lists = batch.column(0).as_fixed_size_list();
        assert_eq!(lists.null_count(), 0);
        values.extend(lists.values().as_primitive::<T>().values().iter().copied());
    }
    assert_eq!(values.len(), rows * width, "{}", path.display());
    (values, rows)
}

/// A tmpfs mounted on a fresh directory (`options`: `size=64k`, `ro`, ...), unmounted on drop;
/// `None` when this machine cannot mount one (not root, in a container without the right).
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(options: &str) -> Option<Tmpfs> {
        let dir = tempfile::tempdir().unwrap();
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", options, "tmpfs"])
            .arg(dir.path())
            .output();
        mounted
            .is_ok_and(|out| out.status.success())
            .then_some(Tmpfs { dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).output();
    }
}

/// A full disk while the rows stream in: a typed error naming a full disk, no file under the
/// final name, no temporary file, and the whole row groups before the failure kept in a valid
/// `.partial` (or, when even that does not fit, nothing kept).
#[test]
fn a_full_disk_during_write_parquet_is_an_error_and_keeps_the_whole_row_groups() {
    // Room for a few row groups of 8 rows, not for 200 rows.
    let Some(disk) = Tmpfs::mount("size=256k") else {
        eprintln!("SKIPPED a full disk during write_parquet: cannot mount a tmpfs here");
        return;
    };
    let path = disk.path().join("data.parquet");
    let err = wide::pipeline()
        .chunk_rows(8)
        .write_parquet(0..200u32, &path, "x")
        .unwrap_err();
    let Error::Output {
        written,
        partial,
        other_partials,
        cause,
    } = &err
    else {
        panic!("{err}")
    };
    assert!(other_partials.is_empty(), "{err}");
    let OutputCause::Sink(sink) = cause else {
        panic!("{err}")
    };
    let io = sink
        .io_error()
        .unwrap_or_else(|| panic!("not an I/O error: {err}"));
    assert_eq!(io.kind(), std::io::ErrorKind::StorageFull, "{err}");
    // 200 rows of 4 KiB do not fit in 256 KiB; what is kept is whole row groups of 8 rows.
    assert!(*written < 64 && written % 8 == 0, "{written} rows: {err}");
    assert!(!path.exists());
    let names = names(disk.path());
    match partial {
        Some(kept) => {
            // The row groups written before the disk filled up: some fit.
            assert!(*written >= 8, "{written} rows: {err}");
            assert_eq!(kept, &disk.path().join("data.parquet.partial"));
            assert_eq!(names, ["data.parquet.partial"]);
            assert!(
                err.to_string()
                    .ends_with(&format!("kept in `{}`)", kept.display())),
                "{err}"
            );
            let (values, rows) =
                read_column::<UInt8Type>(kept, "x", "FixedSizeList(1024 x non-null UInt8)", 1024);
            assert_eq!(rows, *written);
            // Each row is the row of its item.
            let expected = wide::batch(0..*written as u32).into_raw_vec_and_offset().0;
            assert!(values == expected, "the kept rows are not the items' rows");
        }
        None => {
            assert_eq!(*written, 0, "{err}");
            assert!(names.is_empty(), "{names:?}");
        }
    }
}

#[test]
fn a_missing_directory_is_an_error_naming_it_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("no/such/x.parquet");
    let err = parse::pipeline()
        .write_parquet(["1", "2"], &path, "x")
        .unwrap_err();
    let Error::Output {
        written: 0,
        partial: None,
        other_partials,
        cause:
            OutputCause::Sink(SinkError::MissingDirectory {
                path: file,
                dir: missing,
            }),
    } = &err
    else {
        panic!("{err:?}")
    };
    assert!(other_partials.is_empty(), "{err}");
    assert_eq!(file, &path);
    assert_eq!(missing, &dir.path().join("no/such"));
    assert_eq!(
        err.to_string(),
        format!(
            "cannot write `{}`: directory `{}` does not exist (0 rows written, none kept)",
            path.display(),
            dir.path().join("no/such").display()
        )
    );
    assert!(names(dir.path()).is_empty());

    let err = wide::pipeline()
        .write_parquet(0..10u32, &path, "x")
        .unwrap_err();
    assert!(
        matches!(
            &err,
            Error::Output {
                written: 0,
                partial: None,
                other_partials,
                cause: OutputCause::Sink(SinkError::MissingDirectory { .. }),
            } if other_partials.is_empty()
        ),
        "{err:?}"
    );
    assert!(names(dir.path()).is_empty());
}

/// A directory this process cannot write into: by its mode, or, for root (whom modes do not
/// stop), a read-only tmpfs.
#[test]
fn a_read_only_directory_is_an_io_error_naming_the_path() {
    let base = tempfile::tempdir().unwrap();
    let by_mode = base.path().join("ro");
    fs::create_dir(&by_mode).unwrap();
    set_mode(&by_mode, 0o555);
    let _restore = Restore(by_mode.clone());
    let probe = by_mode.join("probe");
    let read_only_tmpfs;
    let dir: &Path = if fs::write(&probe, b"").is_ok() {
        // Root writes through the mode: mount a read-only file system instead.
        let _ = fs::remove_file(&probe);
        read_only_tmpfs = Tmpfs::mount("ro,size=64k");
        match &read_only_tmpfs {
            Some(tmpfs) if fs::write(tmpfs.path().join("probe"), b"").is_err() => tmpfs.path(),
            _ => {
                eprintln!(
                    "SKIPPED a read-only directory: this process writes through the mode \
                     and cannot mount a read-only tmpfs"
                );
                return;
            }
        }
    } else {
        &by_mode
    };

    let path = dir.join("data.parquet");
    let err = parse::pipeline()
        .write_parquet(["1", "2", "3"], &path, "x")
        .unwrap_err();
    let Error::Output {
        written: 0,
        partial: None,
        other_partials,
        cause: OutputCause::Sink(sink),
    } = &err
    else {
        panic!("{err:?}")
    };
    assert!(other_partials.is_empty(), "{err}");
    let io = sink
        .io_error()
        .unwrap_or_else(|| panic!("not an I/O error: {err}"));
    assert!(
        matches!(
            io.kind(),
            std::io::ErrorKind::PermissionDenied | std::io::ErrorKind::ReadOnlyFilesystem
        ),
        "{err}"
    );
    let message = err.to_string();
    assert!(message.starts_with("cannot create `"), "{message}");
    assert!(
        message.contains(&format!("{}/.data.parquet.", dir.display())),
        "{message}"
    );
    assert!(
        message.ends_with("(0 rows written, none kept)"),
        "{message}"
    );
    assert!(!path.exists());
    assert!(names(dir).is_empty(), "{:?}", names(dir));
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

/// Makes the directory writable again, so that its temporary parent can be removed.
struct Restore(PathBuf);

impl Drop for Restore {
    fn drop(&mut self) {
        set_mode(&self.0, 0o755);
    }
}

/// An item that fails midway: the error names it, and the rows before it are kept in a
/// valid `.partial` holding exactly those rows.
#[test]
fn an_item_error_midway_keeps_the_rows_before_it_in_a_valid_partial() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.parquet");
    let numbers: Vec<String> = (0..50).map(|i| format!("{}.5", i)).collect();
    let mut items: Vec<&str> = numbers.iter().map(String::as_str).collect();
    items[37] = "3.x";
    let err = parse::pipeline()
        .chunk_rows(8)
        .write_parquet(items.iter().copied(), &path, "x")
        .unwrap_err();
    let Error::Output {
        written,
        partial: Some(kept),
        other_partials,
        cause:
            OutputCause::Item(ItemError {
                index: 37,
                error: RowError::Row(parse_error),
            }),
    } = &err
    else {
        panic!("{err:?}")
    };
    assert!(other_partials.is_empty(), "{err}");
    assert_eq!(parse_error, &"3.x".parse::<f32>().unwrap_err());
    assert_eq!(err.item_index(), Some(37));
    // The rows of the items before it: 4 whole chunks, and the 5 rows of the fifth before it.
    assert_eq!(*written, 37, "{err}");
    assert_eq!(err.rows_written(), 37);
    assert!(
        err.to_string().starts_with("item 37 (counting from 0): "),
        "{err}"
    );
    assert!(
        err.to_string()
            .ends_with(&format!("(37 rows written, kept in `{}`)", kept.display())),
        "{err}"
    );
    assert_eq!(kept, &dir.path().join("x.parquet.partial"));
    assert!(!path.exists(), "no file under the final name");
    assert_eq!(names(dir.path()), ["x.parquet.partial"]);
    let (values, rows) =
        read_column::<Float32Type>(kept, "x", "FixedSizeList(2 x non-null Float32)", 2);
    assert_eq!(rows, 37);
    let expected = parse::batch(items[..37].iter().copied())
        .unwrap()
        .into_raw_vec_and_offset()
        .0;
    assert_eq!(values, expected);
    assert_eq!(&values[72..74], [36.5, 73.0]);

    // Run again with the item fixed: the complete file replaces the `.partial`.
    items[37] = "37.5";
    let out = parse::pipeline()
        .chunk_rows(8)
        .write_parquet(items.iter().copied(), &path, "x")
        .unwrap();
    assert_eq!((out.rows, out.shape), (50, vec![50, 2]));
    assert_eq!(names(dir.path()), ["x.parquet"]);
    let (values, rows) =
        read_column::<Float32Type>(&path, "x", "FixedSizeList(2 x non-null Float32)", 2);
    assert_eq!(rows, 50);
    assert_eq!(
        values,
        parse::batch(items.iter().copied())
            .unwrap()
            .into_raw_vec_and_offset()
            .0
    );
}
