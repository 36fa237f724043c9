//! The one file writer behind `.npy` and safetensors ([`FileWriter`]): a header of fixed length,
//! then rows appended chunk by chunk, then the header rewritten with the final row count. The
//! formats differ only in their [`Header`].
//!
//! Both formats put the array's shape in a header before the data, but a stream learns its row
//! count only at the end. Both allow padding in the header (spaces), so the header is written
//! with room for the largest count and rewritten in place, at the same length, when the stream
//! ends (or fails, or is dropped while a panic unwinds): the file is then valid with exactly the
//! rows that reached it.

use std::fs;
use std::io::{Seek, SeekFrom, Write};
use std::marker::PhantomData;
use std::path::{Path, PathBuf};

use ndarray::ArrayView2;

use super::atomic::{parent_dir, partial_path, rename_error, sync_dir, AtomicFile};
use super::bytes::le_column;
use super::error::{Partial, SinkError, SinkFailure};
use super::output::FileOutput;
use super::progress::Ticker;
use crate::element::Element;
use crate::layout::Column;

/// Streams rows into one file — `.npy` ([`NpyWriter`](crate::NpyWriter)) or safetensors
/// ([`SafetensorsWriter`](crate::SafetensorsWriter)) — for any number of rows, known in advance
/// or not.
///
/// The file is written under a temporary name in the destination's directory
/// (`.x.npy.<pid>-<n>.tmp`) and renamed to its final name by [`finish`](Self::finish), after the
/// header has been rewritten with the true row count and the data flushed to the device. Memory
/// stays at one chunk (the caller's) plus a constant: nothing is buffered here.
///
/// If anything fails — a write (disk full, read-only file system), the caller's source (call
/// [`abandon`](Self::abandon)), or a panic that unwinds through the caller while the writer is
/// alive (the writer's `Drop`) — the rows written so far are kept in `<path>.partial`, a valid
/// file of the same format holding exactly those rows, and `<path>` itself is left as it was: an
/// earlier file there survives a failed run. A rerun that fails replaces an older `.partial`.
///
/// ```
/// use preallocate::NpyWriter;
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
pub struct FileWriter<T, H: Header> {
    stream: RowStream<H>,
    element: PhantomData<fn(T)>,
}

impl<T: Element + bytemuck::Pod, H: Header> FileWriter<T, H> {
    /// Creates the temporary file for `dest` and writes the header for zero rows.
    pub(crate) fn start(
        dest: &Path,
        header: H,
        row_shape: &[usize],
        ticker: Ticker,
    ) -> Result<Self, SinkFailure> {
        let stream = RowStream::create(dest, header, row_shape, size_of::<T>(), ticker)?;
        Ok(FileWriter {
            stream,
            element: PhantomData,
        })
    }

    /// Reports progress on stderr while rows stream (feature `progress`).
    ///
    /// ```
    /// use preallocate::{NpyWriter, Progress};
    ///
    /// let dir = tempfile::tempdir()?;
    /// let npy = NpyWriter::<f32>::create(dir.path().join("x.npy"), &[2])?
    ///     .with_progress(Progress::hidden(Some(10)));
    /// # drop(npy);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[cfg(feature = "progress")]
    #[must_use]
    pub fn with_progress(mut self, progress: super::progress::Progress) -> Self {
        self.stream.ticker = Ticker::new(progress);
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
    /// use preallocate::{NpyWriter, SinkError};
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
    /// let mut out = preallocate::SafetensorsWriter::<u8>::create(
    ///     dir.path().join("x.safetensors"), "x", &[1])?;
    /// out.write_chunk(ndarray::array![[1], [2]].view())?;
    /// assert_eq!(out.rows_written(), 2);
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
    /// let npy = preallocate::NpyWriter::<u8>::create(dir.path().join("x.npy"), &[1])?;
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
    /// let npy = preallocate::NpyWriter::<f64>::create(dir.path().join("x.npy"), &[4])?;
    /// let out = npy.finish()?; // zero rows: shape (0, 4)
    /// assert_eq!(out.shape, vec![0, 4]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn finish(self) -> Result<FileOutput, SinkFailure> {
        self.stream.finish_file(Vec::new())
    }

    /// Stops writing and keeps the rows written so far in `<path>.partial` (a valid file of the
    /// same format); `path` is left as it was. Call it when the source or the row function
    /// fails, to report where the rows are. Dropping the writer does the same, without the
    /// report.
    ///
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("x.npy");
    /// let mut npy = preallocate::NpyWriter::<u16>::create(&path, &[2])?;
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
}

/// A file format's header for a given row count; its length must not depend on the count.
#[doc(hidden)]
pub trait Header {
    /// The complete header (everything before the first data byte) for `rows` rows.
    fn encode(&self, rows: usize) -> Vec<u8>;
}

/// A finished file, flushed, not yet renamed into place.
#[derive(Debug)]
pub(crate) struct Staged {
    pub(crate) temp: PathBuf,
    pub(crate) dest: PathBuf,
    pub(crate) rows: usize,
    pub(crate) bytes: u64,
}

/// Rows streamed into a temporary file behind a fixed-length header.
#[derive(Debug)]
pub(crate) struct RowStream<H: Header> {
    /// `None` once the stream is finished or closed by an error.
    file: Option<AtomicFile>,
    dest: PathBuf,
    header: H,
    header_len: u64,
    row_shape: Vec<usize>,
    /// Elements per row: the product of `row_shape`.
    row_len: usize,
    /// Bytes per row.
    row_bytes: u64,
    /// Bytes per element.
    element_size: usize,
    rows: usize,
    /// Where the rows went when the stream was closed by an error.
    kept: Option<PathBuf>,
    /// Byte-swapped copy of a chunk on big-endian targets; never used on little-endian ones.
    scratch: Vec<u8>,
    pub(crate) ticker: Ticker,
}

impl<H: Header> RowStream<H> {
    /// Creates the temporary file for `dest` and writes the header for zero rows.
    pub(crate) fn create(
        dest: &Path,
        header: H,
        row_shape: &[usize],
        element_size: usize,
        ticker: Ticker,
    ) -> Result<Self, SinkFailure> {
        let fail = |source| SinkFailure {
            written: 0,
            partial: None,
            source,
        };
        let (row_len, row_bytes) = row_sizes(dest, row_shape, element_size).map_err(fail)?;
        let mut file = AtomicFile::create(dest).map_err(fail)?;
        let bytes = header.encode(0);
        if let Err(err) = file.file().write_all(&bytes) {
            let err = SinkError::io("write the header of", file.temp(), err);
            file.discard();
            return Err(fail(err));
        }
        Ok(RowStream {
            file: Some(file),
            dest: dest.to_path_buf(),
            header,
            header_len: bytes.len() as u64,
            row_shape: row_shape.to_vec(),
            row_len,
            row_bytes,
            element_size,
            rows: 0,
            kept: None,
            scratch: Vec::new(),
            ticker,
        })
    }

    pub(crate) fn rows(&self) -> usize {
        self.rows
    }

    pub(crate) fn dest(&self) -> &Path {
        &self.dest
    }

    pub(crate) fn header_len(&self) -> u64 {
        self.header_len
    }

    pub(crate) fn row_shape(&self) -> &[usize] {
        &self.row_shape
    }

    /// Appends the rows of `chunk` (`n × row_len`, any layout).
    ///
    /// Any error closes the stream: the rows written before this chunk are kept in
    /// `<dest>.partial` (none of this chunk's), and the failure says so.
    pub(crate) fn write<T: bytemuck::Pod>(
        &mut self,
        chunk: ArrayView2<'_, T>,
    ) -> Result<(), SinkFailure> {
        // why `as_standard_layout`: a chunk buffer is row-major already (no copy); any other
        // view is copied once into row-major order, which is the file's order.
        let chunk = chunk.as_standard_layout();
        let values = chunk
            .as_slice()
            .expect("a standard-layout array is one contiguous slice");
        self.write_rows(chunk.nrows(), chunk.ncols(), bytemuck::cast_slice(values))
    }

    /// Appends one column's rows.
    pub(crate) fn write_column(&mut self, column: &Column<'_>) -> Result<(), SinkFailure> {
        self.write_rows(column.rows, column.row_len, &column.bytes)
    }

    /// Appends `n` rows of `width` elements, `bytes` in the machine's byte order.
    fn write_rows(&mut self, n: usize, width: usize, bytes: &[u8]) -> Result<(), SinkFailure> {
        if self.file.is_none() {
            return Err(self.closed());
        }
        if width != self.row_len {
            let err = SinkError::WidthMismatch {
                path: self.dest.clone(),
                row_shape: self.row_shape.clone(),
                expected: self.row_len,
                found: width,
            };
            return Err(self.fail(err));
        }
        if n == 0 {
            return Ok(());
        }
        let total = self.rows.checked_add(n).filter(|&rows| {
            (rows as u64)
                .checked_mul(self.row_bytes)
                .and_then(|data| data.checked_add(self.header_len))
                .is_some_and(|len| len <= i64::MAX as u64)
        });
        let Some(total) = total else {
            let err = SinkError::TooLarge {
                path: self.dest.clone(),
                what: "the data would exceed the largest file size",
            };
            return Err(self.fail(err));
        };
        let bytes = le_column(bytes, self.element_size, &mut self.scratch);
        let file = self.file.as_mut().expect("checked open above");
        if let Err(err) = file.file().write_all(bytes) {
            let err = SinkError::io("write rows to", file.temp(), err);
            return Err(self.fail(err));
        }
        self.rows = total;
        self.ticker.advance(n);
        Ok(())
    }

    pub(crate) fn finish(mut self) -> Result<Staged, SinkFailure> {
        let staged = self.stage()?;
        match fs::rename(&staged.temp, &staged.dest) {
            Ok(()) => {
                // A `.partial` left by an earlier failed run is superseded by the complete
                // file (the shard writer does the same for its `.partial` shards).
                let _ = fs::remove_file(partial_path(&staged.dest));
                sync_dir(parent_dir(&staged.dest));
                self.ticker.finish();
                Ok(staged)
            }
            Err(err) => {
                let err = rename_error(&staged.temp, &staged.dest, err);
                let kept = keep_staged(&staged.temp, &staged.dest);
                self.ticker.abandon();
                Err(SinkFailure {
                    written: staged.rows,
                    partial: Some(kept),
                    source: err,
                })
            }
        }
    }

    /// [`RowStream::finish`], reported as the single-file writers report it.
    pub(crate) fn finish_file(self, skipped: Vec<usize>) -> Result<FileOutput, SinkFailure> {
        let data_offset = self.header_len();
        let row_shape = self.row_shape().to_vec();
        let Staged {
            dest, rows, bytes, ..
        } = self.finish()?;
        Ok(FileOutput {
            path: dest,
            rows,
            shape: with_rows(rows, &row_shape),
            bytes,
            data_offset,
            skipped,
        })
    }

    /// Writes the final header and flushes, leaving the file under its temporary name.
    pub(crate) fn stage(&mut self) -> Result<Staged, SinkFailure> {
        let Some(mut file) = self.file.take() else {
            return Err(self.closed());
        };
        if let Err(err) = self.finalize(&mut file).and_then(|()| file.sync()) {
            self.file = Some(file);
            return Err(self.fail(err));
        }
        let bytes = self.len();
        let temp = file.temp().to_path_buf();
        drop(file);
        Ok(Staged {
            temp,
            dest: self.dest.clone(),
            rows: self.rows,
            bytes,
        })
    }

    /// Closes the stream, keeping the rows written so far in `<dest>.partial`.
    pub(crate) fn abandon(&mut self) -> Partial {
        self.ticker.abandon();
        let Some(mut file) = self.file.take() else {
            return Partial {
                rows: self.rows,
                path: self.kept.clone(),
                error: None,
            };
        };
        let rows = self.rows;
        if let Err(err) = self.finalize(&mut file) {
            // The header could not be made to match the data: the file is not a valid one, so
            // it is not kept under a name that promises it is.
            file.discard();
            return Partial {
                rows,
                path: None,
                error: Some(err),
            };
        }
        // A failed flush does not make the file invalid; it is kept, and the error reported.
        let synced = file.sync();
        let partial = partial_path(&self.dest);
        let (path, error) = match file.rename_to(&partial) {
            Ok(()) => (partial, synced.err()),
            Err((err, temp)) => (temp, Some(err)),
        };
        self.kept = Some(path.clone());
        Partial {
            rows,
            path: Some(path),
            error,
        }
    }

    /// The file's length with the rows written so far.
    fn len(&self) -> u64 {
        self.header_len + self.rows as u64 * self.row_bytes
    }

    /// Cuts the file to the rows written (dropping any part of a chunk that failed midway) and
    /// rewrites the header with their count.
    fn finalize(&self, file: &mut AtomicFile) -> Result<(), SinkError> {
        let header = self.header.encode(self.rows);
        if header.len() as u64 != self.header_len {
            // Unreachable by construction (the headers pad to a fixed length); checked so that
            // a bug cannot produce a file whose data is shifted.
            return Err(SinkError::TooLarge {
                path: self.dest.clone(),
                what: "the final header does not fit the space reserved for it",
            });
        }
        let temp = file.temp().to_path_buf();
        let handle = file.file();
        handle
            .set_len(self.len())
            .map_err(|err| SinkError::io("truncate", &temp, err))?;
        handle
            .seek(SeekFrom::Start(0))
            .and_then(|_| handle.write_all(&header))
            .and_then(|()| handle.seek(SeekFrom::End(0)).map(drop))
            .map_err(|err| SinkError::io("rewrite the header of", &temp, err))
    }

    /// Closes the stream after `err`, keeping the rows written so far.
    fn fail(&mut self, err: SinkError) -> SinkFailure {
        let kept = self.abandon();
        SinkFailure {
            written: kept.rows,
            partial: kept.path,
            source: err,
        }
    }

    fn closed(&self) -> SinkFailure {
        SinkFailure {
            written: self.rows,
            partial: self.kept.clone(),
            source: SinkError::Closed {
                path: self.dest.clone(),
            },
        }
    }
}

impl<H: Header> Drop for RowStream<H> {
    /// A stream dropped before `finish` (an early return, or a panic unwinding through the
    /// caller) keeps its rows in `<dest>.partial` and never touches `dest`.
    fn drop(&mut self) {
        if self.file.is_some() {
            let _ = self.abandon();
        }
    }
}

/// `[rows, row_shape...]`.
pub(crate) fn with_rows(rows: usize, row_shape: &[usize]) -> Vec<usize> {
    let mut shape = Vec::with_capacity(row_shape.len() + 1);
    shape.push(rows);
    shape.extend_from_slice(row_shape);
    shape
}

/// Moves a finished file that could not be renamed into place to `<dest>.partial`; returns where
/// it is.
pub(crate) fn keep_staged(temp: &Path, dest: &Path) -> PathBuf {
    let partial = partial_path(dest);
    match fs::rename(temp, &partial) {
        Ok(()) => partial,
        Err(_) => temp.to_path_buf(),
    }
}

/// Elements and bytes of one row of `row_shape`, or an error if they overflow.
fn row_sizes(
    dest: &Path,
    row_shape: &[usize],
    element_size: usize,
) -> Result<(usize, u64), SinkError> {
    let too_large = || SinkError::TooLarge {
        path: dest.to_path_buf(),
        what: "one row has more elements than this machine can address",
    };
    let row_len = row_shape
        .iter()
        .try_fold(1usize, |len, &axis| len.checked_mul(axis))
        .ok_or_else(too_large)?;
    let row_bytes = row_len
        .checked_mul(element_size)
        .and_then(|bytes| u64::try_from(bytes).ok())
        .ok_or_else(too_large)?;
    Ok((row_len, row_bytes))
}
