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
use std::path::{Path, PathBuf};

use super::atomic::{partial_path, AtomicFile};
use super::bytes::le_column;
use super::error::{Partial, SinkError, SinkFailure};
use super::output::FileOutput;
use crate::layout::Column;

/// One tensor's rows, in a temporary file beside the destination.
pub(crate) struct Spill {
    file: AtomicFile,
    name: String,
    dtype: &'static str,
    element_size: usize,
    row_shape: Vec<usize>,
    row_bytes: u64,
    rows: usize,
    scratch: Vec<u8>,
}

impl Spill {
    /// Starts tensor `name` (of `dtype`, elements of `element_size` bytes, rows of
    /// `row_shape`) of the file `dest`: `<dest>.<name>`, under a temporary name.
    pub(crate) fn create(
        dest: &Path,
        name: &str,
        dtype: &'static str,
        element_size: usize,
        row_shape: &[usize],
    ) -> Result<Self, SinkError> {
        if name.is_empty() || name == "__metadata__" {
            return Err(SinkError::InvalidTensorName {
                name: name.to_owned(),
                reason: "it is empty or `__metadata__`",
            });
        }
        let mut spill_name = dest.as_os_str().to_owned();
        spill_name.push(format!(".{name}"));
        let file = AtomicFile::create(Path::new(&spill_name))?;
        let row_bytes = row_shape.iter().fold(element_size as u64, |bytes, &axis| {
            bytes.saturating_mul(axis as u64)
        });
        Ok(Spill {
            file,
            name: name.to_owned(),
            dtype,
            element_size,
            row_shape: row_shape.to_vec(),
            row_bytes,
            rows: 0,
            scratch: Vec::new(),
        })
    }

    /// Appends a column's rows.
    fn write(&mut self, column: &Column<'_>) -> Result<(), SinkError> {
        let bytes = le_column(&column.bytes, self.element_size, &mut self.scratch);
        let temp = self.file.temp().to_path_buf();
        self.file
            .file()
            .write_all(bytes)
            .map_err(|err| SinkError::io("write rows to", &temp, err))?;
        self.rows += column.rows;
        Ok(())
    }

    /// Copies the first `rows` rows into `out`.
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
}

/// The file being written: its destination and its tensors.
pub(crate) struct TensorsFile {
    dest: PathBuf,
    /// `None` once closed (finished, abandoned, or failed).
    spills: Option<Vec<Spill>>,
}

impl TensorsFile {
    /// The file `dest` of these tensors.
    pub(crate) fn new(dest: &Path, spills: Vec<Spill>) -> Self {
        TensorsFile {
            dest: dest.to_path_buf(),
            spills: Some(spills),
        }
    }

    /// Appends each tensor's column of a chunk; an error keeps the rows every tensor has.
    pub(crate) fn write(&mut self, columns: &[Column<'_>]) -> Result<(), SinkFailure> {
        let Some(spills) = self.spills.as_mut() else {
            return Err(closed(&self.dest));
        };
        let result = spills
            .iter_mut()
            .zip(columns)
            .try_for_each(|(spill, column)| spill.write(column));
        let Err(source) = result else {
            return Ok(());
        };
        let kept = self.keep();
        Err(SinkFailure {
            written: kept.rows,
            partial: kept.path,
            source,
        })
    }

    /// Assembles the file and renames it into place.
    pub(crate) fn finish(self, skipped: Vec<usize>) -> Result<FileOutput, SinkFailure> {
        let dest = self.dest;
        let Some(spills) = self.spills else {
            return Err(closed(&dest));
        };
        let rows = common_rows(&spills);
        match assemble(&dest, spills, rows, &dest) {
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

    /// Closes the writer, keeping the rows every tensor has in `<dest>.partial` (nothing when
    /// it was closed already).
    pub(crate) fn keep(&mut self) -> Partial {
        let Some(spills) = self.spills.take() else {
            return Partial {
                rows: 0,
                path: None,
                error: None,
            };
        };
        let rows = common_rows(&spills);
        let partial = partial_path(&self.dest);
        match assemble(&self.dest, spills, rows, &partial) {
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
fn common_rows(spills: &[Spill]) -> usize {
    spills.iter().map(|spill| spill.rows).min().unwrap_or(0)
}

/// Writes the header and the first `rows` rows of every tensor into a temporary file beside
/// `dest`, then renames it to `to`; deletes the spills either way. Returns the file's size and
/// where its data starts; on failure, the error and where anything was kept.
fn assemble(
    dest: &Path,
    mut parts: Vec<Spill>,
    rows: usize,
    to: &Path,
) -> Result<(u64, u64), (SinkError, Option<PathBuf>)> {
    let result = assemble_parts(dest, &mut parts, rows, to);
    for part in parts {
        part.file.discard();
    }
    result
}

fn assemble_parts(
    dest: &Path,
    parts: &mut [Spill],
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
fn header(parts: &[Spill], rows: usize) -> Vec<u8> {
    let mut root = serde_json::Map::new();
    let mut offset = 0u64;
    for part in parts {
        let bytes = (rows as u64).saturating_mul(part.row_bytes);
        let mut shape = vec![serde_json::Value::from(rows)];
        shape.extend(
            part.row_shape
                .iter()
                .map(|&axis| serde_json::Value::from(axis)),
        );
        root.insert(
            part.name.clone(),
            serde_json::json!({
                "dtype": part.dtype,
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
