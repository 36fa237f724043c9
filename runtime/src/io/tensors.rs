//! One safetensors file holding several tensors with the same number of rows, streamed:
//! [`TensorsFile`], for a row function with several outputs.
//!
//! A safetensors file puts every tensor's data one after another behind one header, so the
//! second tensor's offset depends on the first one's row count, which a stream knows only at
//! its end. Each tensor's rows therefore go to a temporary file of their own (`Spill`) while
//! they stream in, memory staying at one chunk; at the end the header is written and the
//! tensors are copied in behind it, in order, into the file's own temporary name, which is then
//! renamed into place. The copy costs a second write of the data (read back from the page cache
//! for outputs that fit in it). A failure keeps the rows every tensor has in
//! `<path>.partial`, a valid safetensors file assembled the same way.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::marker::PhantomData;
use std::path::{Path, PathBuf};

use ndarray::ArrayView2;

use super::atomic::{partial_path, AtomicFile};
use super::dtype::SafetensorsElement;
use super::error::{Partial, SinkError, SinkFailure};
use super::FileOutput;
use crate::layout::{Col, Layout};

/// One tensor's rows, in a temporary file beside the destination.
pub struct Spill<T> {
    file: AtomicFile,
    name: String,
    dtype: &'static str,
    row_shape: Vec<usize>,
    row_bytes: u64,
    rows: usize,
    element: PhantomData<fn() -> T>,
}

impl<T: SafetensorsElement> Spill<T> {
    /// A spill for the tensor `name` of the file `dest`.
    pub(crate) fn create(dest: &Path, name: &str, row_shape: &[usize]) -> Result<Self, SinkError> {
        if name.is_empty() || name == "__metadata__" {
            return Err(SinkError::InvalidTensorName {
                name: name.to_owned(),
                reason: "it is empty or `__metadata__`",
            });
        }
        let mut spill_name = dest.as_os_str().to_owned();
        spill_name.push(format!(".{name}"));
        let file = AtomicFile::create(Path::new(&spill_name))?;
        let row_bytes = row_shape
            .iter()
            .fold(size_of::<T>() as u64, |bytes, &axis| {
                bytes.saturating_mul(axis as u64)
            });
        Ok(Spill {
            file,
            name: name.to_owned(),
            dtype: T::DTYPE,
            row_shape: row_shape.to_vec(),
            row_bytes,
            rows: 0,
            element: PhantomData,
        })
    }

    /// Appends a chunk's rows.
    pub(crate) fn write(&mut self, chunk: ArrayView2<'_, T>) -> Result<(), SinkError> {
        let temp = self.file.temp().to_path_buf();
        let result = match chunk.as_slice() {
            Some(rows) => self.file.file().write_all(bytemuck::cast_slice(rows)),
            None => {
                let rows: Vec<T> = chunk.iter().copied().collect();
                self.file.file().write_all(bytemuck::cast_slice(&rows))
            }
        };
        result.map_err(|err| SinkError::io("write rows to", &temp, err))?;
        self.rows += chunk.nrows();
        Ok(())
    }
}

/// What the file's assembly needs of each tensor, whatever its element type.
pub trait Part {
    /// Rows written.
    fn rows(&self) -> usize;
    /// The tensor's name, dtype, row shape and bytes per row.
    fn describe(&self) -> (&str, &'static str, &[usize], u64);
    /// Copies the first `rows` rows into `out`.
    ///
    /// # Errors
    /// Reading the spill back.
    fn copy_into(&mut self, rows: usize, out: &mut File) -> io::Result<()>;
    /// Deletes the spill.
    fn discard(self: Box<Self>);
}

impl<T: SafetensorsElement> Part for Spill<T> {
    fn rows(&self) -> usize {
        self.rows
    }

    fn describe(&self) -> (&str, &'static str, &[usize], u64) {
        (&self.name, self.dtype, &self.row_shape, self.row_bytes)
    }

    fn copy_into(&mut self, rows: usize, out: &mut File) -> io::Result<()> {
        let bytes = (rows as u64).saturating_mul(self.row_bytes);
        let file = self.file.file();
        file.flush()?;
        file.seek(SeekFrom::Start(0))?;
        let copied = io::copy(&mut Read::by_ref(file).take(bytes), out)?;
        if copied != bytes {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "a tensor's temporary file is shorter than its rows",
            ));
        }
        Ok(())
    }

    fn discard(self: Box<Self>) {
        self.file.discard();
    }
}

/// The tensors of one file for the layout `L`, as nested pairs of spills.
pub trait Parts<L: Layout> {
    /// Each spill, in order.
    fn parts(self) -> Vec<Box<dyn Part>>;
    /// Appends a chunk of each tensor's rows.
    ///
    /// # Errors
    /// The first tensor that could not take its rows.
    fn write_views(&mut self, chunk: L::View<'_>) -> Result<(), SinkError>;
}

impl<T: SafetensorsElement, D: ndarray::RemoveAxis + 'static> Parts<Col<T, D>> for Spill<T> {
    fn parts(self) -> Vec<Box<dyn Part>> {
        vec![Box::new(self)]
    }

    fn write_views(&mut self, chunk: ArrayView2<'_, T>) -> Result<(), SinkError> {
        self.write(chunk)
    }
}

impl<LA: Layout, LB: Layout, A: Parts<LA>, B: Parts<LB>> Parts<(LA, LB)> for (A, B) {
    fn parts(self) -> Vec<Box<dyn Part>> {
        let mut parts = self.0.parts();
        parts.extend(self.1.parts());
        parts
    }

    fn write_views(&mut self, chunk: (LA::View<'_>, LB::View<'_>)) -> Result<(), SinkError> {
        self.0.write_views(chunk.0)?;
        self.1.write_views(chunk.1)
    }
}

/// The file being written: its destination and its tensors.
pub struct TensorsFile<P> {
    dest: PathBuf,
    /// `None` once a write failed and the rows were kept in the partial file.
    parts: Option<P>,
}

impl<P> TensorsFile<P> {
    /// A file at `dest` whose tensors are `parts`.
    pub(crate) fn new(dest: &Path, parts: P) -> Self {
        TensorsFile {
            dest: dest.to_path_buf(),
            parts: Some(parts),
        }
    }

    /// Appends a chunk of every tensor. On failure the writer is closed: the rows every tensor
    /// has are kept in `<dest>.partial`, and the failure says how many and where.
    pub(crate) fn write_chunk<L: Layout>(&mut self, chunk: L::View<'_>) -> Result<(), SinkFailure>
    where
        P: Parts<L>,
    {
        let Some(parts) = self.parts.as_mut() else {
            return Err(closed(&self.dest));
        };
        let Err(source) = Parts::<L>::write_views(parts, chunk) else {
            return Ok(());
        };
        // The failed chunk may be in some tensors and not others: the partial file keeps the
        // rows every tensor has.
        let kept = self.keep::<L>();
        Err(SinkFailure {
            written: kept.rows,
            partial: kept.path,
            source,
        })
    }

    /// Assembles the file and renames it into place; `skipped` goes into the report.
    pub(crate) fn finish<L: Layout>(self, skipped: Vec<usize>) -> Result<FileOutput, SinkFailure>
    where
        P: Parts<L>,
    {
        let dest = self.dest.clone();
        let Some(parts) = self.parts else {
            return Err(closed(&dest));
        };
        let parts = Parts::<L>::parts(parts);
        let rows = common_rows(&parts);
        match assemble(&dest, parts, rows, &dest) {
            Ok((bytes, data_offset)) => Ok(FileOutput {
                path: dest,
                rows,
                shape: vec![rows],
                bytes,
                data_offset,
                skipped,
            }),
            Err((source, partial)) => Err(SinkFailure {
                written: rows,
                partial,
                source,
            }),
        }
    }

    /// Keeps the rows every tensor has in `<dest>.partial`.
    pub(crate) fn abandon<L: Layout>(mut self) -> Partial
    where
        P: Parts<L>,
    {
        self.keep::<L>()
    }

    /// Closes the writer, keeping the rows every tensor has in `<dest>.partial` (nothing when
    /// it was closed already).
    fn keep<L: Layout>(&mut self) -> Partial
    where
        P: Parts<L>,
    {
        let Some(parts) = self.parts.take() else {
            return Partial {
                rows: 0,
                path: None,
                error: None,
            };
        };
        let parts = Parts::<L>::parts(parts);
        let rows = common_rows(&parts);
        let partial = partial_path(&self.dest);
        match assemble(&self.dest, parts, rows, &partial) {
            Ok(_) => Partial {
                rows,
                path: Some(partial),
                error: None,
            },
            Err((error, path)) => Partial {
                rows,
                path,
                error: Some(error),
            },
        }
    }
}

/// The failure of a writer used after it failed.
fn closed(dest: &Path) -> SinkFailure {
    SinkFailure {
        written: 0,
        partial: None,
        source: SinkError::io(
            "write to",
            dest,
            io::Error::other("the writer was closed by an earlier failure"),
        ),
    }
}

/// The rows every tensor has.
fn common_rows(parts: &[Box<dyn Part>]) -> usize {
    parts.iter().map(|part| part.rows()).min().unwrap_or(0)
}

/// Writes the header and the first `rows` rows of every tensor into a temporary file beside
/// `dest`, then renames it to `to`; deletes the spills either way. Returns the file's size and
/// where its data starts; on failure, the error and where anything was kept.
fn assemble(
    dest: &Path,
    mut parts: Vec<Box<dyn Part>>,
    rows: usize,
    to: &Path,
) -> Result<(u64, u64), (SinkError, Option<PathBuf>)> {
    let result = assemble_parts(dest, &mut parts, rows, to);
    for part in parts {
        part.discard();
    }
    result
}

fn assemble_parts(
    dest: &Path,
    parts: &mut [Box<dyn Part>],
    rows: usize,
    to: &Path,
) -> Result<(u64, u64), (SinkError, Option<PathBuf>)> {
    let header = header(parts, rows);
    let mut file = AtomicFile::create(dest).map_err(|err| (err, None))?;
    let temp = file.temp().to_path_buf();
    let mut copy = || -> io::Result<u64> {
        file.file().write_all(&header)?;
        for part in parts.iter_mut() {
            part.copy_into(rows, file.file())?;
        }
        file.file().flush()?;
        file.file().stream_position()
    };
    let bytes = match copy() {
        Ok(bytes) => bytes,
        Err(err) => {
            file.discard();
            return Err((SinkError::io("write", &temp, err), None));
        }
    };
    if let Err(err) = file.sync() {
        file.discard();
        return Err((err, None));
    }
    file.rename_to(to)
        .map_err(|(err, temp)| (err, Some(temp)))?;
    Ok((bytes, header.len() as u64))
}

/// The header: 8 bytes of length, then the JSON, padded with spaces to a multiple of 8.
fn header(parts: &[Box<dyn Part>], rows: usize) -> Vec<u8> {
    let mut root = serde_json::Map::new();
    let mut offset = 0u64;
    for part in parts {
        let (name, dtype, row_shape, row_bytes) = part.describe();
        let bytes = (rows as u64).saturating_mul(row_bytes);
        let mut shape = vec![serde_json::Value::from(rows)];
        shape.extend(row_shape.iter().map(|&axis| serde_json::Value::from(axis)));
        root.insert(
            name.to_owned(),
            serde_json::json!({
                "dtype": dtype,
                "shape": shape,
                "data_offsets": [offset, offset + bytes],
            }),
        );
        offset += bytes;
    }
    let mut json = serde_json::Value::Object(root).to_string().into_bytes();
    json.resize(json.len().next_multiple_of(8), b' ');
    let mut header = Vec::with_capacity(8 + json.len());
    header.extend_from_slice(&(json.len() as u64).to_le_bytes());
    header.extend_from_slice(&json);
    header
}
