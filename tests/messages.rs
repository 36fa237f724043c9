//! What a failure says: an item's index counted from 0, and every file that keeps the rows
//! written before it, with several outputs each in its own file.

use std::path::{Path, PathBuf};

use preallocate::{preallocate, Error, ItemError, OutputCause, RowError, Rows};

#[derive(Rows)]
struct Pair {
    x: [f32; 2],
    #[rows(dtype = i64)]
    y: [u8; 1],
}

/// Fails at item 2.
#[preallocate(rows = Pair)]
fn pair(i: u32) -> Result<Pair, String> {
    if i == 2 {
        return Err(format!("value {i} is bad"));
    }
    Ok(Pair {
        x: [i as f32, 0.5],
        y: [i as u8],
    })
}

/// The header's text and the data of a `.npy` file (format 1, 2 or 3).
fn read_npy(path: &Path) -> (String, Vec<u8>) {
    let bytes = std::fs::read(path).unwrap();
    assert_eq!(&bytes[..6], b"\x93NUMPY", "{}", path.display());
    let (len, start) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        _ => (
            u32::from_le_bytes(bytes[8..12].try_into().unwrap()) as usize,
            12,
        ),
    };
    let header = String::from_utf8(bytes[start..start + len].to_vec()).unwrap();
    (header, bytes[start + len..].to_vec())
}

fn f32s(data: &[u8]) -> Vec<f32> {
    data.chunks_exact(4)
        .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
        .collect()
}

fn i64s(data: &[u8]) -> Vec<i64> {
    data.chunks_exact(8)
        .map(|b| i64::from_le_bytes(b.try_into().unwrap()))
        .collect()
}

#[test]
fn a_failed_item_names_its_index_from_0_and_every_partial_file() {
    for threads in [1, 2] {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let err = pair::pipeline()
            .threads(threads)
            .write_npy(0..6u32, &out)
            .unwrap_err();
        let x: PathBuf = out.join("x.npy.partial");
        let y: PathBuf = out.join("y.npy.partial");
        assert_eq!(
            err.to_string(),
            format!(
                "item 2 (counting from 0): value 2 is bad (2 rows written, kept in `{}` and `{}`)",
                x.display(),
                y.display()
            ),
            "{threads} threads"
        );
        match &err {
            Error::Output {
                written: 2,
                partial: Some(first),
                other_partials,
                cause:
                    OutputCause::Item(ItemError {
                        index: 2,
                        error: RowError::Row(message),
                    }),
            } => {
                assert_eq!(first, &x);
                assert_eq!(&**other_partials, std::slice::from_ref(&y));
                assert_eq!(message, "value 2 is bad");
            }
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(err.partial_paths(), [x.as_path(), y.as_path()]);
        assert_eq!((err.item_index(), err.rows_written()), (Some(2), 2));

        // Both files keep the 2 rows before the failed item, and no final file exists.
        let (header, data) = read_npy(&x);
        assert!(header.contains("'descr': '<f4'"), "{header}");
        assert!(header.contains("'shape': (2, 2)"), "{header}");
        assert_eq!(f32s(&data), [0.0, 0.5, 1.0, 0.5]);
        let (header, data) = read_npy(&y);
        assert!(header.contains("'descr': '<i8'"), "{header}");
        assert!(header.contains("'shape': (2, 1)"), "{header}");
        assert_eq!(i64s(&data), [0, 1]);
        assert!(!out.join("x.npy").exists() && !out.join("y.npy").exists());

        // `Debug`, what `main` prints: the same message first (the row error by its `Debug`).
        let debug = format!("{err:?}");
        assert!(
            debug.starts_with(&format!(
                "item 2 (counting from 0): \"value 2 is bad\" (2 rows written, kept in `{}` and `{}`) [Output {{ written: 2,",
                x.display(),
                y.display()
            )),
            "{debug}"
        );
    }
}

#[test]
fn an_item_error_and_a_full_buffer_count_from_0() {
    let err = pair::batch(0..6u32).err().unwrap();
    assert_eq!(err.to_string(), "item 2 (counting from 0): value 2 is bad");
    assert_eq!(
        format!("{err:?}"),
        "item 2 (counting from 0): \"value 2 is bad\" \
         [ItemError { index: 2, error: Row(\"value 2 is bad\") }]"
    );

    #[preallocate(dim = 1, dtype = u8)]
    fn id(i: u8) -> [u8; 1] {
        [i]
    }
    let mut out = ndarray::Array2::<u8>::zeros((2, 1));
    let err = id::fill(0..5u8, &mut out).unwrap_err();
    assert_eq!(
        err.to_string(),
        "output buffer is full after 2 rows: item 2 (counting from 0) and any after it were not written"
    );
}

/// `RowError`, `IoError` and `JobMismatch` (through `thiserror`) keep the convention: the
/// message is the wrapped error's, and `source()` is the wrapped error's source (not the
/// wrapped error itself, whose message is already shown).
#[test]
fn transparent_errors_show_the_wrapped_message_once() {
    use std::error::Error as _;

    #[derive(Debug)]
    struct Inner;
    impl std::fmt::Display for Inner {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("the disk is on fire")
        }
    }
    impl std::error::Error for Inner {}
    #[derive(Debug)]
    struct Outer(Inner);
    impl std::fmt::Display for Outer {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "bad record: {}", self.0)
        }
    }
    impl std::error::Error for Outer {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    let row: preallocate::RowError<Outer> = preallocate::RowError::Row(Outer(Inner));
    assert_eq!(row.to_string(), "bad record: the disk is on fire");
    assert_eq!(
        row.source().map(ToString::to_string).as_deref(),
        Some("the disk is on fire")
    );

    let custom = std::io::Error::other(Inner);
    let io = preallocate::IoError::from(custom);
    assert_eq!(io.to_string(), "the disk is on fire");
    let plain = preallocate::IoError::from(std::io::Error::from_raw_os_error(28));
    assert!(plain.source().is_none());

    let mismatch = preallocate::JobMismatch {
        dir: "out".into(),
        field: "key".into(),
        recorded: "1".into(),
        current: "2".into(),
    };
    assert!(mismatch.source().is_none());
    assert!(mismatch
        .to_string()
        .starts_with("cannot write into `out`: it holds an unfinished run"));
}
