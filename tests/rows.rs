//! Several outputs per item: `#[derive(Rows)]` and `#[preallocate(rows = ..)]`.
// Items are passed by reference on purpose (the form most callers use), though the entry
// points also take them by value, which clippy suggests where the borrow is the last use.
#![allow(clippy::needless_borrows_for_generic_args)]

use ndarray::{array, Array2};
use preallocate::{f16, preallocate, Rows};

#[derive(Rows, Debug, Clone, Copy, PartialEq)]
struct Example {
    #[rows(dtype = f16, cast = "as")]
    x: [f32; 3],
    y: [u8; 1],
}

#[preallocate(rows = Example)]
fn parse(line: &str) -> Result<Example, std::num::ParseFloatError> {
    let mut fields = line.split(',');
    let mut x = [0.0f32; 3];
    for v in &mut x {
        *v = fields.next().unwrap_or("nan").trim().parse()?;
    }
    let y = fields.next().unwrap_or("0").trim().parse::<f32>()? as u8;
    Ok(Example { x, y: [y] })
}

const LINES: [&str; 3] = ["1, 2, 3, 1", "4.5, 5, 6, 0", "7, 8, 9.25, 1"];

#[test]
fn batch_gives_one_array_per_field() {
    let out = parse::batch(LINES).unwrap();
    assert_eq!(
        out.x,
        array![[1.0f32, 2.0, 3.0], [4.5, 5.0, 6.0], [7.0, 8.0, 9.25]].mapv(f16::from_f32)
    );
    assert_eq!(out.y, array![[1u8], [0], [1]]);
}

#[test]
fn a_failed_item_is_named() {
    let err = parse::batch(["1,2,3,1", "x,2,3,1"]).unwrap_err();
    assert_eq!(err.index(), 1);
}

#[preallocate(rows = Example)]
fn keep_positive(v: &f32) -> Option<Example> {
    (*v > 0.0).then(|| Example {
        x: [*v, 2.0 * v, 3.0 * v],
        y: [*v as u8],
    })
}

#[test]
fn dropped_items_are_dropped_from_every_output() {
    let out = keep_positive::batch(&[1.0, -1.0, 2.0]);
    assert_eq!(out.skipped, vec![1]);
    assert_eq!(out.rows.x.nrows(), 2);
    assert_eq!(out.rows.y, array![[1u8], [2]]);
    assert_eq!(out.source_index(), vec![0, 2]);
}

#[test]
fn fill_writes_every_buffer() {
    let mut x = Array2::<f16>::zeros((4, 3));
    let mut y = Array2::<u8>::zeros((4, 1));
    let got = parse::fill(
        LINES,
        ExampleViews {
            x: x.view_mut(),
            y: y.view_mut(),
        },
    )
    .unwrap();
    assert_eq!(got, 3);
    assert_eq!(y, array![[1u8], [0], [1], [0]]);
    assert_eq!(x[[1, 0]], f16::from_f32(4.5));
}

#[test]
fn pipeline_chunks_hold_every_output() {
    let mut seen = Vec::new();
    let done = parse::pipeline()
        .chunk_rows(2)
        .for_each_chunk(LINES, |chunk: ExampleChunk<'_>| {
            seen.push((chunk.x.nrows(), chunk.y.sum()));
            Ok::<(), preallocate::ItemError<std::num::ParseFloatError>>(())
        })
        .unwrap();
    assert_eq!(done.rows, 3);
    assert_eq!(seen, vec![(2, 1), (1, 1)]);

    let done = keep_positive::pipeline()
        .chunk_rows(2)
        .for_each_chunk(&[1.0, -1.0, 2.0, 3.0], |chunk| {
            seen.push((chunk.x.nrows(), chunk.y.sum()))
        })
        .unwrap();
    assert_eq!((done.rows, done.skipped), (3, vec![1]));
    assert_eq!(seen[2..], [(2, 3), (1, 3)]);
}

/// An image and its class, the image's output with two axes.
#[derive(Rows, Clone, Copy)]
struct Labelled {
    #[rows(shape = (2, 3))]
    pixels: [u8; 6],
    #[rows(dtype = i64)]
    class: [u16; 1],
}

#[preallocate(rows = Labelled)]
fn labelled(i: u32) -> Labelled {
    let p = (i % 200) as u8;
    Labelled {
        pixels: [p, p + 1, p + 2, p + 3, p + 4, p + 5],
        class: [(i % 10) as u16],
    }
}

#[test]
fn a_field_shape_gives_its_output_more_axes() {
    let out = labelled::batch(0..4u32);
    assert_eq!(out.pixels.shape(), &[4, 2, 3]);
    assert_eq!(out.pixels[[3, 1, 2]], 8);
    assert_eq!(out.class, array![[0i64], [1], [2], [3]]);
}

#[test]
fn every_core_gives_the_same_outputs() {
    let sequential = labelled::batch(0..50_000u32);
    let parallel = labelled::par_batch(0..50_000u32);
    assert_eq!(parallel, sequential);
    let threaded = labelled::pipeline()
        .chunk_rows(777)
        .threads(2)
        .batch(0..50_000u32);
    assert_eq!(threaded, sequential);

    let mut pixels = ndarray::Array3::<u8>::zeros((50_000, 2, 3));
    let mut class = Array2::<i64>::zeros((50_000, 1));
    let views = LabelledViews {
        pixels: pixels.view_mut(),
        class: class.view_mut(),
    };
    assert_eq!(labelled::par_fill(0..50_000u32, views), Ok(50_000));
    assert_eq!((pixels, class), (sequential.pixels, sequential.class));
}

#[test]
fn filtered_parallel_runs_drop_from_every_output() {
    let items: Vec<f32> = (0..10_000)
        .map(|i| if i % 7 == 3 { -1.0 } else { (i % 50) as f32 })
        .collect();
    let sequential = keep_positive::batch(&items);
    let parallel = keep_positive::par_batch(&items);
    assert_eq!(parallel, sequential);
    assert_eq!(parallel.rows.x.nrows(), parallel.rows.y.nrows());
    assert_eq!(parallel.source_index().len(), parallel.rows.y.nrows());
}

/// `parse`'s rows of `LINES` into `x` and `y`.
fn fill_both(
    x: &mut Array2<f16>,
    y: &mut Array2<u8>,
) -> Result<usize, preallocate::Error<std::num::ParseFloatError>> {
    parse::fill(
        LINES,
        ExampleViews {
            x: x.view_mut(),
            y: y.view_mut(),
        },
    )
}

#[test]
fn buffers_of_different_lengths_are_refused() {
    let mut x = Array2::<f16>::zeros((4, 3));
    let mut y = Array2::<u8>::zeros((3, 1));
    let err = fill_both(&mut x, &mut y).unwrap_err();
    assert_eq!(
        err,
        preallocate::Error::RowCountMismatch { rows: vec![4, 3] }
    );
    assert_eq!(
        err.to_string(),
        "the output buffers have [4, 3] rows: every output needs the same number of rows; nothing was written"
    );
    assert!(x.iter().all(|v| *v == f16::ZERO));

    let mut y = Array2::<u8>::zeros((4, 2));
    let err = fill_both(&mut x, &mut y).unwrap_err();
    assert_eq!(
        err,
        preallocate::Error::WidthMismatch {
            expected: 1,
            found: 2
        }
    );
}

#[test]
fn a_full_buffer_keeps_the_rows_that_fit_in_every_output() {
    let mut x = Array2::<f16>::zeros((2, 3));
    let mut y = Array2::<u8>::zeros((2, 1));
    let err = fill_both(&mut x, &mut y).unwrap_err();
    assert_eq!(
        err,
        preallocate::Error::BufferFull {
            written: 2,
            index: 2
        }
    );
    assert_eq!(y, array![[1u8], [0]]);
}

/// A checked conversion on one field makes the function fallible.
#[derive(Rows)]
struct Checked {
    #[rows(dtype = u8, cast = "checked")]
    small: [i32; 2],
    wide: [i32; 1],
}

#[preallocate(rows = Checked)]
fn checked(v: i32) -> Checked {
    Checked {
        small: [v, v + 1],
        wide: [v * 1000],
    }
}

#[test]
fn a_checked_field_that_does_not_fit_fails_its_item() {
    let out = checked::batch([1, 2, 255]).unwrap_err();
    assert_eq!(out.index(), 2);
    assert_eq!(
        out.to_string(),
        "item 2 (counting from 0): row element 1 (256) does not fit in u8"
    );
    let ok = checked::batch([1, 2]).unwrap();
    assert_eq!(ok.small, array![[1u8, 2], [2, 3]]);
    assert_eq!(ok.wide, array![[1000], [2000]]);
}

/// One field works as a one-output struct.
#[derive(Rows)]
struct Only {
    v: [f64; 2],
}

#[preallocate(rows = Only)]
fn only(v: f64) -> Only {
    Only { v: [v, -v] }
}

#[test]
fn a_single_field_is_one_output() {
    assert_eq!(only::batch([1.0, 2.0]).v, array![[1.0, -1.0], [2.0, -2.0]]);
}

#[test]
fn write_npy_puts_one_file_per_field_in_a_directory() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("made/here");
    let files = labelled::pipeline()
        .chunk_rows(3)
        .write_npy(0..10u32, &out)
        .unwrap();
    let paths: Vec<_> = files.iter().map(|f| f.path.clone()).collect();
    assert_eq!(paths, [out.join("pixels.npy"), out.join("class.npy")]);
    assert_eq!(files[0].shape, vec![10, 2, 3]);
    assert_eq!(files[1].shape, vec![10, 1]);
    let batch = labelled::batch(0..10u32);
    let pixels = std::fs::read(out.join("pixels.npy")).unwrap();
    let data = &pixels[files[0].data_offset as usize..];
    assert_eq!(data, batch.pixels.as_slice().unwrap());
    let class = std::fs::read(out.join("class.npy")).unwrap();
    let data: Vec<i64> = class[files[1].data_offset as usize..]
        .chunks(8)
        .map(|b| i64::from_le_bytes(b.try_into().unwrap()))
        .collect();
    assert_eq!(data, batch.class.into_raw_vec_and_offset().0);
}

#[test]
fn a_failed_item_leaves_partial_files_of_equal_length() {
    let dir = tempfile::tempdir().unwrap();
    let lines = ["1,2,3,1", "4,5,6,0", "7,8,9,1", "bad,1,1,1"];
    let err = parse::pipeline()
        .chunk_rows(2)
        .write_npy(lines, dir.path())
        .unwrap_err();
    assert_eq!(err.rows_written(), 3);
    assert_eq!(err.item_index(), Some(3));
    // The rows before the failed item, in both, and no finished file.
    assert_eq!(npy_rows(&dir.path().join("x.npy.partial"), 6), 3);
    assert_eq!(npy_rows(&dir.path().join("y.npy.partial"), 1), 3);
    assert!(!dir.path().join("x.npy").exists() && !dir.path().join("y.npy").exists());
}

/// The data rows of a `.npy` file (format 1.0: the header's length is at bytes 8..10).
fn npy_rows(path: &std::path::Path, row_bytes: usize) -> usize {
    let bytes = std::fs::read(path).unwrap();
    let header = 10 + usize::from(u16::from_le_bytes([bytes[8], bytes[9]]));
    (bytes.len() - header) / row_bytes
}

#[test]
fn write_npy_shards_gives_each_field_its_directory() {
    let dir = tempfile::tempdir().unwrap();
    let out = labelled::pipeline()
        .chunk_rows(4)
        .write_npy_shards(0..10u32, dir.path())
        .unwrap();
    assert_eq!(out.len(), 2);
    assert!(out.iter().all(|shards| shards.rows == 10));
    assert!(dir
        .path()
        .join("pixels")
        .join(preallocate::SHARD_MANIFEST)
        .exists());
    assert!(dir
        .path()
        .join("class")
        .join(preallocate::SHARD_MANIFEST)
        .exists());
}

/// A safetensors file of several tensors, checked by the `safetensors` package itself.
#[test]
fn write_safetensors_puts_one_tensor_per_field_in_one_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data.safetensors");
    for (n, chunk) in [(0u32, 4), (1, 4), (10, 3), (1000, 64)] {
        let out = labelled::pipeline()
            .chunk_rows(chunk)
            .write_safetensors(0..n, &path)
            .unwrap();
        assert_eq!(
            (out.rows, out.shape.clone()),
            (n as usize, vec![n as usize])
        );
        assert_eq!(out.bytes, std::fs::metadata(&path).unwrap().len());
        assert_eq!(out.data_offset % 8, 0);
        // No spill is left beside the file.
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["data.safetensors"]);

        let batch = labelled::batch(0..n);
        let bytes = std::fs::read(&path).unwrap();
        let header_len = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
        let header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + header_len]).unwrap();
        let (pixels, class) = (6 * n as usize, 8 * n as usize);
        assert_eq!(
            header,
            serde_json::json!({
                "pixels": {"dtype": "U8", "shape": [n, 2, 3], "data_offsets": [0, pixels]},
                "class": {"dtype": "I64", "shape": [n, 1], "data_offsets": [pixels, pixels + class]},
            })
        );
        let data = &bytes[8 + header_len..];
        assert_eq!(&data[..pixels], batch.pixels.as_slice().unwrap());
        let classes: Vec<i64> = data[pixels..]
            .chunks(8)
            .map(|b| i64::from_le_bytes(b.try_into().unwrap()))
            .collect();
        assert_eq!(classes, batch.class.into_raw_vec_and_offset().0);
    }
    let script = r#"
import sys
from safetensors.numpy import load_file
t = load_file(sys.argv[1])
p, c = t["pixels"], t["class"]
assert p.shape == (1000, 2, 3) and str(p.dtype) == "uint8", (p.shape, p.dtype)
assert c.shape == (1000, 1) and str(c.dtype) == "int64", (c.shape, c.dtype)
print(int(p.astype("int64").sum()), int(c.sum()))
"#;
    let Some(out) = python(script, &path) else {
        return;
    };
    let batch = labelled::batch(0..1000u32);
    let expected = format!(
        "{} {}",
        batch.pixels.iter().map(|&v| i64::from(v)).sum::<i64>(),
        batch.class.sum()
    );
    assert_eq!(out, expected);
}

#[test]
fn a_failed_item_keeps_the_rows_of_every_tensor_in_a_partial_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data.safetensors");
    let lines = ["1,2,3,1", "4,5,6,0", "7,8,9,1", "bad,1,1,1"];
    let err = parse::pipeline()
        .chunk_rows(2)
        .write_safetensors(lines, &path)
        .unwrap_err();
    assert_eq!((err.rows_written(), err.item_index()), (3, Some(3)));
    assert!(!path.exists());
    let partial = dir.path().join("data.safetensors.partial");
    let bytes = std::fs::read(&partial).unwrap();
    let header_len = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + header_len]).unwrap();
    assert_eq!(
        header,
        serde_json::json!({
            "x": {"dtype": "F16", "shape": [3, 3], "data_offsets": [0, 18]},
            "y": {"dtype": "U8", "shape": [3, 1], "data_offsets": [18, 21]},
        })
    );
    assert_eq!(bytes.len(), 8 + header_len + 21);
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["data.safetensors.partial"]);
}

/// Runs `script` with `path` on `python3`; `None` (with a message) where python3 or its
/// packages are missing, except under `CI`, where they are required.
fn python(script: &str, path: &std::path::Path) -> Option<String> {
    match std::process::Command::new("python3")
        .args(["-c", script])
        .arg(path)
        .output()
    {
        Ok(out) if out.status.success() => {
            Some(String::from_utf8_lossy(&out.stdout).trim().to_owned())
        }
        Ok(out) => {
            let err = String::from_utf8_lossy(&out.stderr);
            if err.contains("ModuleNotFoundError") && std::env::var_os("CI").is_none() {
                eprintln!("SKIPPED the python check: {err}");
                return None;
            }
            panic!("python3 disagrees: {err}");
        }
        Err(err) if std::env::var_os("CI").is_none() => {
            eprintln!("SKIPPED the python check: python3: {err}");
            None
        }
        Err(err) => panic!("CI needs python3: {err}"),
    }
}

/// A one-hot label written in place next to the features: only some elements are set, so the
/// slots arrive zeroed, also when a slot is reused after a dropped item.
#[derive(Rows)]
struct OneHot {
    x: [f32; 2],
    class: [u8; 4],
}

#[preallocate(rows = OneHot)]
fn one_hot(v: &(f32, usize), row: OneHotRow<'_>) -> bool {
    if v.1 >= 4 {
        row.class[0] = 9; // dirtied, then dropped: the next item still gets a zeroed slot
        return false;
    }
    row.x[0] = v.0;
    row.class[v.1] = 1;
    true
}

#[preallocate(rows = OneHot)]
fn one_hot_checked(v: &(f32, usize), row: OneHotRow<'_>) -> Result<(), String> {
    *row.class
        .get_mut(v.1)
        .ok_or(format!("class {} of 4", v.1))? = 1;
    *row.x = [v.0, -v.0];
    Ok(())
}

#[test]
fn an_in_place_row_writes_every_output_into_zeroed_slots() {
    let items = [(1.0, 2), (2.0, 7), (3.0, 0)];
    let out = one_hot::batch(&items);
    assert_eq!(out.skipped, vec![1]);
    assert_eq!(out.rows.x, array![[1.0f32, 0.0], [3.0, 0.0]]);
    assert_eq!(out.rows.class, array![[0u8, 0, 1, 0], [1, 0, 0, 0]]);

    let mut x = Array2::<f32>::from_elem((3, 2), 5.0);
    let mut class = Array2::<u8>::from_elem((3, 4), 5);
    let got = one_hot::fill(
        &items,
        OneHotViews {
            x: x.view_mut(),
            class: class.view_mut(),
        },
    )
    .unwrap();
    assert_eq!((got.rows, got.skipped), (2, vec![1]));
    assert_eq!(class.row(1).to_vec(), vec![1, 0, 0, 0]);

    let err = one_hot_checked::batch(&[(1.0, 1), (2.0, 4)]).unwrap_err();
    assert_eq!(err.to_string(), "item 1 (counting from 0): class 4 of 4");
    let ok = one_hot_checked::par_batch(&vec![(1.0, 1); 5000]).unwrap();
    assert_eq!(ok.x.row(4999).to_vec(), vec![1.0, -1.0]);
}

/// A fitted tokenizer: token ids and an attention mask, the classic pair of outputs with state.
struct Vocab(Vec<&'static str>);

#[derive(Rows)]
struct Encoded {
    ids: [u32; 4],
    mask: [u8; 4],
}

impl Vocab {
    #[preallocate(rows = Encoded)]
    fn encode(&self, line: &str) -> Option<Encoded> {
        if line.is_empty() {
            return None;
        }
        let mut out = Encoded {
            ids: [0; 4],
            mask: [0; 4],
        };
        for (i, word) in line.split_whitespace().take(4).enumerate() {
            out.ids[i] = self
                .0
                .iter()
                .position(|w| *w == word)
                .map_or(0, |p| p as u32 + 1);
            out.mask[i] = 1;
        }
        Some(out)
    }

    #[preallocate(rows = Encoded)]
    fn count(&mut self, line: &str, row: EncodedRow<'_>) {
        self.0.push("seen");
        row.ids[0] = self.0.len() as u32;
        row.mask[0] = u8::from(!line.is_empty());
    }
}

#[test]
fn a_method_with_several_outputs_uses_its_state() {
    let vocab = Vocab(vec!["hello", "world"]);
    let lines = ["hello world", "", "world peace again and more"];
    let out = vocab.encode_batch(lines);
    assert_eq!(out.skipped, vec![1]);
    assert_eq!(out.rows.ids, array![[1u32, 2, 0, 0], [2, 0, 0, 0]]);
    assert_eq!(out.rows.mask, array![[1u8, 1, 0, 0], [1, 1, 1, 1]]);
    let many: Vec<&str> = (0..5000)
        .map(|i| if i % 3 == 0 { "" } else { "hello" })
        .collect();
    use preallocate::rayon::iter::{IntoParallelRefIterator, ParallelIterator};
    assert_eq!(
        vocab.encode_par_batch(many.par_iter().copied()),
        vocab.encode_batch(many.iter().copied())
    );

    let mut chunks = 0;
    let done = vocab
        .encode_pipeline()
        .chunk_rows(1)
        .for_each_chunk(lines, |chunk| chunks += chunk.ids.nrows())
        .unwrap();
    assert_eq!((done.rows, chunks), (2, 2));

    let mut counter = Vocab(Vec::new());
    let counted = counter.count_batch(["a", "", "b"]);
    assert_eq!(counted.ids.column(0).to_vec(), vec![1, 2, 3]);
    assert_eq!(counted.mask.column(0).to_vec(), vec![1, 0, 1]);
}

/// The directory of `.npy` files, opened by numpy: dtypes, shapes and values of every field.
#[test]
fn numpy_reads_every_file_of_the_directory() {
    let dir = tempfile::tempdir().unwrap();
    labelled::pipeline()
        .chunk_rows(7)
        .write_npy(0..100u32, dir.path())
        .unwrap();
    parse::pipeline()
        .write_npy(LINES, dir.path().join("parsed"))
        .unwrap();
    let script = r#"
import sys, numpy as np
d = sys.argv[1]
p, c = np.load(d + "/pixels.npy"), np.load(d + "/class.npy", mmap_mode="r")
x, y = np.load(d + "/parsed/x.npy"), np.load(d + "/parsed/y.npy")
assert (p.dtype, p.shape, c.dtype, c.shape) == (np.uint8, (100, 2, 3), np.int64, (100, 1)), (p.dtype, p.shape, c.dtype, c.shape)
assert (x.dtype, x.shape, y.dtype, y.shape) == (np.float16, (3, 3), np.uint8, (3, 1))
print(int(p.astype(np.int64).sum()), int(c.sum()), float(x.astype(np.float64).sum()), int(y.sum()))
"#;
    let Some(out) = python(script, dir.path()) else {
        return;
    };
    let batch = labelled::batch(0..100u32);
    let parsed = parse::batch(LINES).unwrap();
    let expected = format!(
        "{} {} {} {}",
        batch.pixels.iter().map(|&v| i64::from(v)).sum::<i64>(),
        batch.class.sum(),
        parsed.x.iter().map(|v| f64::from(v.to_f32())).sum::<f64>(),
        parsed.y.iter().map(|&v| u32::from(v)).sum::<u32>()
    );
    assert_eq!(out, expected);
}

/// A full disk while the tensors stream in: a typed error, no file under the final name, and no
/// temporary file left behind (the rows kept in `.partial` when it fits, else reported lost).
#[test]
fn a_full_disk_during_write_safetensors_is_an_error_and_leaves_no_temporary_file() {
    let dir = tempfile::tempdir().unwrap();
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=64k", "tmpfs"])
        .arg(dir.path())
        .output();
    if !mounted.is_ok_and(|out| out.status.success()) {
        eprintln!("SKIPPED a full disk during write_safetensors: cannot mount a tmpfs here");
        return;
    }
    struct Unmount<'a>(&'a std::path::Path);
    impl Drop for Unmount<'_> {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount").arg(self.0).output();
        }
    }
    let _unmount = Unmount(dir.path());

    #[derive(Rows)]
    struct Wide {
        x: [u8; 1024],
        y: [u8; 1],
    }
    #[preallocate(rows = Wide)]
    fn wide(i: u32) -> Wide {
        Wide {
            x: [i as u8; 1024],
            y: [1],
        }
    }

    let path = dir.path().join("data.safetensors");
    let err = wide::pipeline()
        .chunk_rows(8)
        .write_safetensors(0..200u32, &path)
        .unwrap_err();
    let preallocate::Error::Output {
        written,
        partial,
        other_partials,
        cause,
    } = &err
    else {
        panic!("{err}")
    };
    // One file holds every field: only `partial` keeps rows.
    assert!(other_partials.is_empty(), "{err}");
    let preallocate::OutputCause::Sink(sink) = cause else {
        panic!("{err}")
    };
    let io = sink.io_error().expect("an I/O error");
    assert_eq!(io.kind(), std::io::ErrorKind::StorageFull, "{err}");
    assert!(*written < 64 && written % 8 == 0, "{written} rows");
    assert!(!path.exists());
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    match partial {
        Some(kept) => {
            assert_eq!(kept, &dir.path().join("data.safetensors.partial"));
            assert_eq!(names, ["data.safetensors.partial"]);
        }
        None => assert!(names.is_empty(), "{names:?}"),
    }
}

/// Several outputs through the unit-by-unit shards: two partitions write one job, each field
/// in its own directory, and the second to finish completes every output.
#[test]
fn partitions_of_a_several_output_shard_job_complete_every_output() {
    let dir = tempfile::tempdir().unwrap();
    let run = |k| {
        labelled::pipeline()
            .chunk_rows(4)
            .shard_rows(8)
            .job_key("labelled-v1")
            .partition(k, 2)
            .write_npy_shards(0..50u32, dir.path())
            .unwrap()
    };
    let first = run(1);
    assert_eq!(first.len(), 2);
    assert!(first.iter().all(|out| !out.complete));
    let second = run(0);
    assert!(second.iter().all(|out| out.complete));
    assert_eq!(second[0].dir, dir.path().join("pixels"));
    assert_eq!(second[1].dir, dir.path().join("class"));
    // Every shard of both outputs, in order, holds the rows of `batch`.
    let batch = labelled::batch(0..50u32);
    let mut class = Vec::new();
    for j in 0..7 {
        let path = dir.path().join("class").join(format!("part-{j:05}.npy"));
        let bytes = std::fs::read(&path).unwrap();
        let header = 10 + usize::from(u16::from_le_bytes([bytes[8], bytes[9]]));
        class.extend(
            bytes[header..]
                .chunks(8)
                .map(|b| i64::from_le_bytes(b.try_into().unwrap())),
        );
    }
    assert_eq!(class, batch.class.into_raw_vec_and_offset().0);
    // A rerun of the complete job returns at once, with every shard resumed.
    let again = run(0);
    assert!(again.iter().all(|out| out.complete && out.resumed > 0));
}

/// Several outputs as arrays of one Zarr group, read back by zarr-python.
#[cfg(feature = "zarr")]
#[test]
fn write_zarr_puts_one_array_per_field_in_one_group() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("data.zarr");
    let items: Vec<f32> = (0..300)
        .map(|i| if i % 7 == 3 { -1.0 } else { i as f32 })
        .collect();
    let out = keep_positive::pipeline()
        .chunk_rows(16)
        .shard_rows(64)
        .write_zarr(&items, &store)
        .unwrap();
    let names: Vec<_> = out.iter().map(|o| o.name.clone()).collect();
    assert_eq!(names, ["x", "y"]);
    assert_eq!(out[0].shape, vec![300, 3]);
    assert_eq!(out[1].shape, vec![300, 1]);
    assert_eq!(out[0].valid.as_deref(), Some("x_valid"));
    let kept = keep_positive::batch(&items).rows.y.nrows();
    assert_eq!(kept, 300 - 44); // 43 negative items and a zero
    assert!(out
        .iter()
        .all(|o| o.complete && o.kept == kept && o.rows == 300));
    let script = r#"
import sys, zarr, numpy as np
g = zarr.open_group(sys.argv[1], mode="r")
x, y, v = g["x"][:], g["y"][:], g["y_valid"][:]
assert x.shape == (300, 3) and y.shape == (300, 1) and x.dtype == np.float16 and y.dtype == np.uint8
print(int(v.sum()), f"{x.astype(np.float64).sum():.1f}", int(y.astype(np.int64).sum()))
"#;
    let Some(read) = python(script, &store) else {
        return;
    };
    let batch = keep_positive::batch(&items);
    let expected = format!(
        "{} {:.1} {}",
        batch.rows.y.nrows(),
        batch
            .rows
            .x
            .iter()
            .map(|v| f64::from(v.to_f32()))
            .sum::<f64>(),
        batch.rows.y.iter().map(|&v| i64::from(v)).sum::<i64>()
    );
    assert_eq!(read, expected);
}
