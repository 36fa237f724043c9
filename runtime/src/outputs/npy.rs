//! Streamed `.npy` files: [`NpyWriter`].
//!
//! The format (numpy's `numpy.lib.format`, versions 1.0 and 2.0): the magic `\x93NUMPY`, two
//! version bytes, the header length (`u16` little-endian in 1.0, `u32` in 2.0), then the header,
//! a Python dict literal `{'descr': '<f4', 'fortran_order': False, 'shape': (n, 3), }` padded
//! with spaces and ended by `\n` so that the data starts on a multiple of 64 bytes; then the data
//! in C order.
//!
//! The header is built exactly as numpy builds it, growth padding included: numpy adds
//! `21 - len(str(n))` spaces after the dict (room for the largest count an axis can have) so that
//! a file can grow along its first axis and have its header rewritten in place. Here that padding
//! is what lets the row count be written at the end: the header's length does not depend on the
//! count, and a finished file is byte for byte what `np.save` writes for the same array.

use std::path::Path;

use super::bytes::by_element_type;
use super::error::Partial;
use super::error::{SinkError, SinkFailure};
use super::output::{FileOutput, Names, Output};
use super::progress::Ticker;
use super::resume::Job;
use super::shards::{Parts, ShardFormat, ShardJob, Shards};
use super::stream::{with_rows, FileWriter, Header, RowStream};
use half::f16;
use serde_json::json;

use crate::element::{Element, ElementType};
use crate::layout::{Col, Column, Field, Layout};

/// The `.npy` magic string.
const MAGIC: &[u8; 6] = b"\x93NUMPY";

/// numpy's array-protocol type string of an element type (byte order: `<` little-endian, `|`
/// not applicable; kind; size in bytes), or `None` for `bf16`, which numpy does not have.
// why `|` for one-byte types: byte order does not apply; numpy itself writes `|i1` and `|u1`.
pub(crate) const fn descr(dtype: ElementType) -> Option<&'static str> {
    Some(match dtype {
        ElementType::F16 => "<f2",
        ElementType::F32 => "<f4",
        ElementType::F64 => "<f8",
        ElementType::I8 => "|i1",
        ElementType::I16 => "<i2",
        ElementType::I32 => "<i4",
        ElementType::I64 => "<i8",
        ElementType::U8 => "|u1",
        ElementType::U16 => "<u2",
        ElementType::U32 => "<u4",
        ElementType::U64 => "<u8",
        ElementType::Bf16 => return None,
    })
}
/// numpy's `ARRAY_ALIGN`: the data starts on a multiple of this many bytes.
pub(crate) const ARRAY_ALIGN: usize = 64;
/// numpy's `GROWTH_AXIS_MAX_DIGITS`: the digits reserved for the count of the growing axis.
const GROWTH_AXIS_MAX_DIGITS: usize = 21;
/// numpy's `NPY_MAXDIMS` (numpy 2; numpy 1 reads at most 32 axes).
const MAX_AXES: usize = 64;

/// Streams rows into one `.npy` file: the [`FileWriter`] with numpy's header.
///
/// Byte for byte what `np.save` writes for the same array; numpy loads it with `np.load`, also
/// with `mmap_mode="r"`. See [`FileWriter`] for the methods, atomicity and what a failure keeps.
pub type NpyWriter<T> = FileWriter<T, NpyHeader>;

impl<T: NpyElement> FileWriter<T, NpyHeader> {
    /// Starts a `.npy` file at `path` whose rows have shape `row_shape`.
    ///
    /// The file's shape is `(n, *row_shape)`: `&[3]` gives `(n, 3)`, `&[28, 28]` gives
    /// `(n, 28, 28)`, and `&[]` a one-dimensional `(n,)`. Chunks are passed flat, as
    /// `n × row_shape.iter().product()` arrays.
    ///
    /// # Errors
    /// A [`SinkFailure`] (with nothing written) when `path`'s directory does not exist
    /// ([`SinkError::MissingDirectory`]), `path` is a directory, the temporary file cannot be
    /// created (read-only file system, ...), or `row_shape` has more than 63 axes.
    ///
    /// ```
    /// use preallocate::{NpyWriter, SinkError};
    ///
    /// let dir = tempfile::tempdir()?;
    /// let missing = dir.path().join("no/such/dir/x.npy");
    /// let failure = NpyWriter::<u8>::create(&missing, &[28, 28]).unwrap_err();
    /// assert_eq!(failure.written, 0);
    /// assert!(matches!(failure.source, SinkError::MissingDirectory { .. }));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn create(path: impl AsRef<Path>, row_shape: &[usize]) -> Result<Self, SinkFailure> {
        Self::create_with(path.as_ref(), row_shape, Ticker::none())
    }

    pub(crate) fn create_with(
        path: &Path,
        row_shape: &[usize],
        ticker: Ticker,
    ) -> Result<Self, SinkFailure> {
        let header =
            npy_stream_header(path, T::DESCR, row_shape).map_err(|source| SinkFailure {
                written: 0,
                partial: None,
                source,
            })?;
        FileWriter::start(path, header, row_shape, ticker)
    }
}

/// The header of a `.npy` file of C-order rows.
/// An element type that a `.npy` file can store: every [`Element`] except `bf16`.
///
/// numpy has no bfloat16 dtype, so a `bf16` array has no `.npy` form that `np.load` reads;
/// write it with [`SafetensorsWriter`](crate::SafetensorsWriter) instead, or pick `f16`/`f32`.
///
/// ```
/// use preallocate::{f16, NpyElement};
///
/// assert_eq!(<f32 as NpyElement>::DESCR, "<f4");
/// assert_eq!(<f16 as NpyElement>::DESCR, "<f2");
/// assert_eq!(<u8 as NpyElement>::DESCR, "|u1");
/// ```
///
/// ```compile_fail,E0277
/// use preallocate::{bf16, NpyWriter};
///
/// let _ = NpyWriter::<bf16>::create("x.npy", &[3]); // `.npy` has no bf16 dtype
/// ```
#[diagnostic::on_unimplemented(
    message = "`.npy` cannot store `{Self}`: numpy has no such dtype (it has no bf16)",
    label = "no `.npy` dtype for `{Self}`",
    note = "write bf16 rows with `write_safetensors` (safetensors stores BF16), or choose `dtype = f16` or `dtype = f32`"
)]
pub trait NpyElement: Element + bytemuck::Pod {
    /// numpy's array-protocol type string: byte order (`<` little-endian, `|` not applicable),
    /// kind and size in bytes.
    const DESCR: &'static str;
}

/// Outputs whose every element type is an [`NpyElement`]: one array ([`Col`]) or several
/// (nested pairs), for the outputs that store numpy's dtypes.
#[doc(hidden)]
pub trait NpyLayout: Layout {}

impl<T: NpyElement, D: ndarray::RemoveAxis + 'static> NpyLayout for Col<T, D> {}
impl<A: NpyLayout, B: NpyLayout> NpyLayout for (A, B) {}

by_element_type!(
    NpyElement,
    DESCR,
    super::npy::descr,
    [f16, f32, f64, i8, i16, i32, i64, u8, u16, u32, u64]
);

/// `.npy` files, one per field: the file at the given path for one output, `{name}.npy` in the
/// given directory (created if missing) for several.
pub(crate) struct NpyFiles {
    files: Vec<RowStream<NpyHeader>>,
}

impl NpyFiles {
    /// Creates the files' temporary names.
    pub(crate) fn create(
        path: &Path,
        names: Names<'_>,
        fields: &[Field],
    ) -> Result<Self, SinkFailure> {
        let Names::Fields(names) = names else {
            let files = fields
                .iter()
                .map(|field| stream(path, field))
                .collect::<Result<_, _>>()?;
            return Ok(NpyFiles { files });
        };
        create_dir(path)?;
        let files = names
            .iter()
            .zip(fields)
            .map(|(name, field)| stream(&path.join(format!("{name}.npy")), field))
            .collect::<Result<_, _>>()?;
        Ok(NpyFiles { files })
    }
}

impl Output for NpyFiles {
    type Report = FileOutput;

    fn write(&mut self, columns: &[Column<'_>]) -> Result<(), SinkFailure> {
        for (file, column) in self.files.iter_mut().zip(columns) {
            file.write_column(column)?;
        }
        Ok(())
    }

    fn finish(self, skipped: Vec<usize>) -> Result<Vec<FileOutput>, SinkFailure> {
        // Each file's report lists the dropped items: the last one takes the list itself.
        let mut skipped = Some(skipped);
        let last = self.files.len().saturating_sub(1);
        self.files
            .into_iter()
            .enumerate()
            .map(|(k, file)| {
                let list = if k == last {
                    skipped.take().unwrap_or_default()
                } else {
                    skipped.clone().unwrap_or_default()
                };
                file.finish_file(list)
            })
            .collect()
    }

    fn abandon(self) -> Partial {
        self.abandon_each().into_iter().next().unwrap_or(Partial {
            rows: 0,
            path: None,
            error: None,
        })
    }

    /// Each field's file keeps the same rows, under its own `.partial` name.
    fn abandon_each(self) -> Vec<Partial> {
        self.files
            .into_iter()
            .map(|mut file| file.abandon())
            .collect()
    }
}

/// The part files of `.npy` shards of one field: each a `.npy` stream.
pub(crate) struct NpyParts {
    field: Field,
}

impl Parts for NpyParts {
    type Part = RowStream<NpyHeader>;

    fn width(&self) -> usize {
        1
    }

    fn create(&self, path: &Path) -> Result<Self::Part, SinkFailure> {
        stream(path, &self.field)
    }

    fn write(part: &mut Self::Part, columns: &[Column<'_>]) -> Result<(), SinkFailure> {
        columns
            .iter()
            .try_for_each(|column| part.write_column(column))
    }

    fn finish(part: Self::Part) -> Result<usize, SinkFailure> {
        part.finish().map(|staged| staged.rows)
    }

    fn abandon(mut part: Self::Part) -> usize {
        part.abandon().rows
    }
}

/// `.npy` shards (`part-00000.npy`, …, then `manifest.json`), a directory of them per field:
/// `dir` itself for one output, `dir/{name}/` for each field of several, `shard_items` items
/// per shard.
pub(crate) fn shards(
    dir: &Path,
    names: Names<'_>,
    fields: &[Field],
    shard_items: usize,
    job: &Job,
) -> Result<Shards<NpyParts>, SinkFailure> {
    let fail = |source| SinkFailure {
        written: 0,
        partial: None,
        source,
    };
    let open = |dir: &Path, field: &Field, output: Option<&str>| {
        let descr = descr(field.dtype).ok_or_else(|| {
            fail(SinkError::Unsupported {
                path: dir.to_path_buf(),
                format: "`.npy`",
                dtype: field.dtype.name(),
            })
        })?;
        let mut own = vec![("shard_rows", json!(shard_items))];
        own.extend(output.map(|name| ("output", json!(name))));
        let fingerprint = job.fingerprint(descr, field.row_shape, own);
        let format = ShardFormat {
            ext: "npy",
            format: "npy-shards",
            describe: vec![
                ("dtype", json!(descr)),
                ("rust_dtype", json!(field.dtype.name())),
                ("row_shape", json!(field.row_shape)),
                ("dim", json!(field.row_len())),
            ],
        };
        let job = ShardJob::open(dir, format, shard_items, fingerprint).map_err(fail)?;
        Ok((
            job,
            NpyParts {
                field: field.clone(),
            },
        ))
    };
    let jobs = match names {
        Names::One(_) => fields
            .iter()
            .map(|field| open(dir, field, None))
            .collect::<Result<_, _>>()?,
        Names::Fields(names) => {
            create_dir(dir)?;
            names
                .iter()
                .zip(fields)
                .map(|(name, field)| open(&dir.join(name), field, Some(name)))
                .collect::<Result<_, _>>()?
        }
    };
    Ok(Shards::new(jobs))
}

/// A `.npy` stream of one field's rows at `path`.
pub(super) fn stream(path: &Path, field: &Field) -> Result<RowStream<NpyHeader>, SinkFailure> {
    let fail = |source| SinkFailure {
        written: 0,
        partial: None,
        source,
    };
    let descr = descr(field.dtype).ok_or_else(|| {
        fail(SinkError::Unsupported {
            path: path.to_path_buf(),
            format: "`.npy`",
            dtype: field.dtype.name(),
        })
    })?;
    let header = npy_stream_header(path, descr, field.row_shape).map_err(fail)?;
    RowStream::create(
        path,
        header,
        field.row_shape,
        field.dtype.size(),
        Ticker::none(),
    )
}

/// Creates the directory of several outputs' files, and its parents.
pub(crate) fn create_dir(dir: &Path) -> Result<(), SinkFailure> {
    std::fs::create_dir_all(dir).map_err(|source| SinkFailure {
        written: 0,
        partial: None,
        source: SinkError::Io {
            op: "create the output directory",
            path: dir.to_path_buf(),
            source: source.into(),
        },
    })
}

/// The header of a `.npy` stream of rows of `row_shape`, or why there is none.
fn npy_stream_header(
    path: &Path,
    descr: &'static str,
    row_shape: &[usize],
) -> Result<NpyHeader, SinkError> {
    if row_shape.len() >= MAX_AXES {
        return Err(SinkError::TooLarge {
            path: path.to_path_buf(),
            what: "numpy arrays have at most 64 axes",
        });
    }
    Ok(NpyHeader {
        descr,
        row_shape: row_shape.to_vec(),
    })
}

#[doc(hidden)]
#[derive(Debug)]
pub struct NpyHeader {
    descr: &'static str,
    row_shape: Vec<usize>,
}

impl Header for NpyHeader {
    fn encode(&self, rows: usize) -> Vec<u8> {
        npy_header(self.descr, &with_rows(rows, &self.row_shape))
    }
}

/// The header numpy writes for a C-order array of `shape` (`numpy.lib.format._write_array_header`
/// with `fortran_order=False`), growth padding included.
pub(crate) fn npy_header(descr: &str, shape: &[usize]) -> Vec<u8> {
    let mut dict = format!(
        "{{'descr': '{descr}', 'fortran_order': False, 'shape': {}, }}",
        python_tuple(shape)
    );
    let first_axis_digits = shape.first().map_or(0, |n| n.to_string().len());
    if !shape.is_empty() {
        dict.extend(std::iter::repeat_n(
            ' ',
            GROWTH_AXIS_MAX_DIGITS - first_axis_digits,
        ));
    }
    wrap_header(dict.as_bytes())
}

/// Prefixes the dict with the magic, version and length, and pads it with spaces and a final
/// `\n` to a multiple of [`ARRAY_ALIGN`] (numpy's `_wrap_header`, oldest version that fits).
pub(crate) fn wrap_header(dict: &[u8]) -> Vec<u8> {
    let with_newline = dict.len() + 1;
    let (version, len_bytes) = {
        let pad = |prefix: usize| ARRAY_ALIGN - (prefix + with_newline) % ARRAY_ALIGN;
        let v1_len = with_newline + pad(MAGIC.len() + 2 + 2);
        if v1_len <= usize::from(u16::MAX) {
            (1u8, (v1_len as u16).to_le_bytes().to_vec())
        } else {
            let v2_len = with_newline + pad(MAGIC.len() + 2 + 4);
            // A dict of 4 GiB would need a shape of millions of axes; `create` allows 64.
            (2u8, (v2_len as u32).to_le_bytes().to_vec())
        }
    };
    let prefix = MAGIC.len() + 2 + len_bytes.len();
    let padding = ARRAY_ALIGN - (prefix + with_newline) % ARRAY_ALIGN;
    let mut header = Vec::with_capacity(prefix + with_newline + padding);
    header.extend_from_slice(MAGIC);
    header.extend_from_slice(&[version, 0]);
    header.extend_from_slice(&len_bytes);
    header.extend_from_slice(dict);
    header.extend(std::iter::repeat_n(b' ', padding));
    header.push(b'\n');
    header
}

/// Python's `repr` of a tuple of ints: `(5, 3)`, `(5,)`, `()`.
fn python_tuple(shape: &[usize]) -> String {
    match shape {
        [] => "()".to_owned(),
        [n] => format!("({n},)"),
        _ => {
            let items: Vec<String> = shape.iter().map(usize::to_string).collect();
            format!("({})", items.join(", "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn npy_descr_sizes_match_the_types() {
        fn size<T: NpyElement>() -> (usize, usize) {
            let digits = &T::DESCR[2..];
            (digits.parse().unwrap(), size_of::<T>())
        }
        for (descr_size, size) in [
            size::<f16>(),
            size::<f32>(),
            size::<f64>(),
            size::<i8>(),
            size::<i16>(),
            size::<i32>(),
            size::<i64>(),
            size::<u8>(),
            size::<u16>(),
            size::<u32>(),
            size::<u64>(),
        ] {
            assert_eq!(descr_size, size);
        }
    }

    fn text(header: &[u8]) -> &str {
        std::str::from_utf8(&header[10..]).unwrap()
    }

    #[test]
    fn the_header_is_numpys_byte_for_byte() {
        // `np.save` of np.zeros((5, 3), np.float32), numpy 2.4: its first 128 bytes.
        let mut expected =
            b"\x93NUMPY\x01\x00v\x00{'descr': '<f4', 'fortran_order': False, 'shape': (5, 3), }"
                .to_vec();
        expected.extend(std::iter::repeat_n(b' ', 128 - 1 - expected.len()));
        expected.push(b'\n');
        assert_eq!(npy_header("<f4", &[5, 3]), expected);
    }

    #[test]
    fn the_header_length_does_not_depend_on_the_row_count() {
        for row_shape in [&[][..], &[1], &[3], &[28, 28], &[2, 3, 4, 5, 6, 7]] {
            let lengths: Vec<usize> = [0, 1, 9, 10, 12345, usize::MAX]
                .iter()
                .map(|&rows| npy_header("<f8", &with_rows(rows, row_shape)).len())
                .collect();
            assert!(
                lengths.windows(2).all(|w| w[0] == w[1]),
                "{row_shape:?}: {lengths:?}"
            );
            assert_eq!(lengths[0] % ARRAY_ALIGN, 0);
        }
    }

    #[test]
    fn shapes_are_python_tuples() {
        let header = npy_header("|u1", &[7, 28, 28]);
        assert!(text(&header)
            .starts_with("{'descr': '|u1', 'fortran_order': False, 'shape': (7, 28, 28), }"));
        let header = npy_header("<i8", &[7]);
        assert!(text(&header).contains("'shape': (7,), }"));
        assert_eq!(python_tuple(&[]), "()");
        assert!(header.ends_with(b" \n"));
        let len = u16::from_le_bytes([header[8], header[9]]) as usize;
        assert_eq!(10 + len, header.len());
    }

    #[test]
    fn the_largest_count_still_leaves_a_space_of_padding() {
        let header = npy_header("<f4", &[usize::MAX, 3]);
        let text = text(&header);
        let dict_end = text.find('}').unwrap();
        assert!(text[dict_end + 1..].starts_with(' '));
        assert_eq!(header.len(), npy_header("<f4", &[0, 3]).len());
    }

    #[test]
    fn a_header_too_long_for_version_1_uses_version_2() {
        let dict = vec![b'x'; 70_000];
        let header = wrap_header(&dict);
        assert_eq!(&header[6..8], &[2, 0]);
        let len = u32::from_le_bytes(header[8..12].try_into().unwrap()) as usize;
        assert_eq!(12 + len, header.len());
        assert_eq!(header.len() % ARRAY_ALIGN, 0);
        assert_eq!(header.last(), Some(&b'\n'));
    }

    #[test]
    fn an_exactly_aligned_dict_gets_a_full_block_of_padding_like_numpy() {
        // numpy pads by ARRAY_ALIGN - (len % ARRAY_ALIGN), which is a full 64 when aligned.
        let dict = vec![b'x'; 64 - 10 - 1];
        assert_eq!(wrap_header(&dict).len(), 128);
    }
}
