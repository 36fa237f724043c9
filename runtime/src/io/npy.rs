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

use std::marker::PhantomData;
use std::path::Path;

use ndarray::ArrayView2;

use super::dtype::NpyElement;
use super::progress::Ticker;
use super::stream::{Header, RowStream, Staged};
use super::{ChunkSink, FileOutput, Partial, SinkError, SinkFailure};

/// The `.npy` magic string.
const MAGIC: &[u8; 6] = b"\x93NUMPY";
/// numpy's `ARRAY_ALIGN`: the data starts on a multiple of this many bytes.
pub(crate) const ARRAY_ALIGN: usize = 64;
/// numpy's `GROWTH_AXIS_MAX_DIGITS`: the digits reserved for the count of the growing axis.
const GROWTH_AXIS_MAX_DIGITS: usize = 21;
/// numpy's `NPY_MAXDIMS` (numpy 2; numpy 1 reads at most 32 axes).
const MAX_AXES: usize = 64;

/// Streams rows into one `.npy` file, for any number of rows, known in advance or not.
///
/// The file is written under a temporary name in the destination's directory (`.x.npy.<pid>-<n>.tmp`)
/// and renamed to its final name by [`finish`](Self::finish), after the header has been rewritten
/// with the true row count and the data flushed to the device. Memory stays at one chunk (the
/// caller's) plus a constant: nothing is buffered here.
///
/// If anything fails — a write (disk full, read-only file system), the caller's source (call
/// [`abandon`](Self::abandon)), or a panic that unwinds through the caller while the writer is
/// alive (the writer's `Drop`) — the rows written so far are kept in `<path>.partial`, a valid
/// `.npy` holding exactly those rows, and `<path>` itself is left as it was: an earlier file there
/// survives a failed run. A rerun that fails replaces an older `.partial`.
///
/// ```
/// use preallocate_runtime::NpyWriter;
/// use ndarray::array;
///
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("x.npy");
/// let mut npy = NpyWriter::<f32>::create(&path, &[3])?;
/// npy.write_chunk(array![[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]].view())?;
/// npy.write_chunk(array![[7.0, 8.0, 9.0]].view())?;
/// let out = npy.finish()?;
/// assert_eq!((out.rows, out.shape), (3, vec![3, 3]));
///
/// let bytes = std::fs::read(&path)?;
/// assert!(bytes.starts_with(b"\x93NUMPY\x01\x00"));
/// assert_eq!(out.data_offset % 64, 0);
/// assert_eq!(bytes.len() as u64, out.data_offset + 9 * 4);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct NpyWriter<T: NpyElement> {
    stream: RowStream<NpyHeader>,
    element: PhantomData<fn(T)>,
}

impl<T: NpyElement> NpyWriter<T> {
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
    /// use preallocate_runtime::{NpyWriter, SinkError};
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
        if row_shape.len() >= MAX_AXES {
            return Err(SinkFailure {
                written: 0,
                partial: None,
                source: SinkError::TooLarge {
                    path: path.to_path_buf(),
                    what: "numpy arrays have at most 64 axes",
                },
            });
        }
        let header = NpyHeader {
            descr: T::DESCR,
            row_shape: row_shape.to_vec(),
        };
        let stream = RowStream::create(path, header, row_shape, size_of::<T>(), ticker)?;
        Ok(NpyWriter {
            stream,
            element: PhantomData,
        })
    }

    /// Reports progress on stderr while rows stream (feature `progress`).
    ///
    /// ```
    /// use preallocate_runtime::{NpyWriter, Progress};
    ///
    /// let dir = tempfile::tempdir()?;
    /// let npy = NpyWriter::<f32>::create(dir.path().join("x.npy"), &[2])?
    ///     .with_progress(Progress::hidden(Some(10)));
    /// # drop(npy);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[cfg(feature = "progress")]
    #[must_use]
    pub fn with_progress(mut self, progress: super::Progress) -> Self {
        self.stream.set_ticker(Ticker::new(progress));
        self
    }

    /// Appends the rows of `rows`, an `n × prod(row_shape)` array (row-major is written without a
    /// copy; any other layout is copied once).
    ///
    /// # Errors
    /// A write that fails ([`SinkError::Io`]: disk full, ...), a chunk of the wrong width
    /// ([`SinkError::WidthMismatch`]) or a file grown past the largest size
    /// ([`SinkError::TooLarge`]). Any error closes the writer: the rows written before this chunk
    /// are kept in `<path>.partial`, and the failure says how many and where.
    ///
    /// ```
    /// use preallocate_runtime::{NpyWriter, SinkError};
    ///
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("x.npy");
    /// let mut npy = NpyWriter::<i32>::create(&path, &[2])?;
    /// npy.write_chunk(ndarray::array![[1, 2]].view())?;
    /// let failure = npy.write_chunk(ndarray::array![[1, 2, 3]].view()).unwrap_err();
    /// assert!(matches!(failure.source, SinkError::WidthMismatch { expected: 2, found: 3, .. }));
    /// assert_eq!(failure.written, 1);
    /// assert_eq!(failure.partial, Some(dir.path().join("x.npy.partial")));
    /// assert!(!path.exists());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn write_chunk(&mut self, rows: ArrayView2<'_, T>) -> Result<(), SinkFailure> {
        self.stream.write(rows)
    }

    /// The number of rows written so far.
    ///
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// let mut npy = preallocate_runtime::NpyWriter::<u8>::create(dir.path().join("x.npy"), &[1])?;
    /// npy.write_chunk(ndarray::array![[1], [2]].view())?;
    /// assert_eq!(npy.rows_written(), 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn rows_written(&self) -> usize {
        self.stream.rows()
    }

    /// The final path of the file.
    ///
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// let npy = preallocate_runtime::NpyWriter::<u8>::create(dir.path().join("x.npy"), &[1])?;
    /// assert!(npy.path().ends_with("x.npy"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn path(&self) -> &Path {
        self.stream.dest()
    }

    /// Rewrites the header with the row count, flushes the file to the device, and renames it
    /// into place, replacing any file at `path`.
    ///
    /// # Errors
    /// If any step fails, `path` is left as it was and the rows are kept in `<path>.partial`.
    ///
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// let npy = preallocate_runtime::NpyWriter::<f64>::create(dir.path().join("x.npy"), &[4])?;
    /// let out = npy.finish()?; // zero rows: shape (0, 4)
    /// assert_eq!(out.shape, vec![0, 4]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn finish(self) -> Result<FileOutput, SinkFailure> {
        self.stream.finish_file()
    }

    /// Stops writing and keeps the rows written so far in `<path>.partial` (a valid `.npy`);
    /// `path` is left as it was. Call it when the source or the row function fails, to report
    /// where the rows are. Dropping the writer does the same, without the report.
    ///
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("x.npy");
    /// let mut npy = preallocate_runtime::NpyWriter::<u16>::create(&path, &[2])?;
    /// npy.write_chunk(ndarray::array![[1, 2], [3, 4]].view())?;
    /// let kept = npy.abandon();
    /// assert_eq!(kept.rows, 2);
    /// assert_eq!(kept.path, Some(dir.path().join("x.npy.partial")));
    /// assert!(!path.exists());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use = "the report says where the rows written are kept"]
    pub fn abandon(mut self) -> Partial {
        self.stream.abandon()
    }

    /// For the shard writer: finishes the file without renaming it into place.
    pub(crate) fn stage(mut self) -> Result<Staged, SinkFailure> {
        self.stream.stage()
    }
}

impl<T: NpyElement> ChunkSink<T> for NpyWriter<T> {
    type Output = FileOutput;

    fn write_chunk(&mut self, rows: ArrayView2<'_, T>) -> Result<(), SinkFailure> {
        NpyWriter::write_chunk(self, rows)
    }

    fn rows_written(&self) -> usize {
        NpyWriter::rows_written(self)
    }

    fn finish(self) -> Result<FileOutput, SinkFailure> {
        NpyWriter::finish(self)
    }

    fn abandon(self) -> Partial {
        NpyWriter::abandon(self)
    }
}

/// The header of a `.npy` file of C-order rows.
#[derive(Debug)]
pub(crate) struct NpyHeader {
    descr: &'static str,
    row_shape: Vec<usize>,
}

impl Header for NpyHeader {
    fn encode(&self, rows: usize) -> Vec<u8> {
        npy_header(self.descr, &with_rows(rows, &self.row_shape))
    }
}

pub(crate) fn with_rows(rows: usize, row_shape: &[usize]) -> Vec<usize> {
    let mut shape = Vec::with_capacity(row_shape.len() + 1);
    shape.push(rows);
    shape.extend_from_slice(row_shape);
    shape
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
