//! Parquet files (feature `parquet`): one column per field, each row of a field one value of a
//! fixed-size list (nested, outer axis first, for a row of several axes), so that pyarrow,
//! polars, DuckDB and Hugging Face `datasets` give back arrays of shape `(n, *row_shape)`.
//! [`ParquetFile`] is one file (the output of `write_parquet`), [`ParquetParts`] the part files
//! of `write_parquet_shards` (the `shards` module commits and resumes them).
//!
//! The pages are encoded in `pages` (data pages of whole rows, the values PLAIN, the levels of
//! the fixed-size lists encoded once per page size and reused); parquet-rs derives the Parquet
//! schema from the Arrow one, serializes the page headers and writes the footer, with the Arrow
//! schema in its metadata (so that a `FixedSizeList<float32, 3>` reads back as such, not as a
//! list of any length). The files carry no statistics and no page index.
//!
//! Memory: one row group per chunk is written as the chunk comes, a page (about 1 MiB) at a
//! time; with `row_group_rows`, each column's encoded pages are held until the row group ends
//! (its columns follow each other in the file). So an output needs the chunk buffer and one
//! page, or one encoded row group (about `row_group_rows` rows' bytes, less compressed).
//!
//! Atomic as the other files: rows go to a temporary file beside the destination, renamed into
//! place when complete. On failure the rows written so far are kept in `<path>.partial`, a valid
//! Parquet file: closed as usual when the writer still works (an item failed), or, when a write
//! failed (disk full), cut back to its last whole row group and closed with a footer that lists
//! the row groups it holds.

use std::fs::File;
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_schema::{DataType, Field as ArrowField, Schema, SchemaRef};
use parquet::arrow::{add_encoded_arrow_schema_to_metadata, ArrowSchemaConverter};
use parquet::errors::ParquetError;
use parquet::file::metadata::{
    ColumnChunkMetaData, FileMetaData, ParquetMetaData, ParquetMetaDataWriter, RowGroupMetaData,
};
use parquet::file::properties::WriterProperties;
use parquet::file::writer::TrackedWrite;
use parquet::schema::types::SchemaDescPtr;
use serde_json::json;

use super::atomic::{partial_path, AtomicFile};
use super::bytes::by_element_type;
use super::error::{Partial, SinkError, SinkFailure};
use super::output::{Compression, FileOutput, Names, Output};
use super::resume::Job;
use super::shards::{Parts, ShardFormat, ShardJob, Shards};
use super::stream::{keep_staged, with_rows};
use crate::element::{Element, ElementType};
use crate::layout::{Col, Column, Field, Layout};
use pages::{ColumnEncoder, Pages};

mod pages;

/// Where a Parquet file's data starts: after its magic, `PAR1`.
const MAGIC: &[u8; 4] = b"PAR1";

/// An element type that Parquet stores so that pyarrow, polars and Hugging Face `datasets`
/// read it: every [`Element`] except `bf16`, which Arrow has no type for. `f16` is Parquet's
/// `Float16` (Arrow's `HalfFloat`).
///
/// ```
/// use preallocate::{f16, ParquetElement};
///
/// assert_eq!(<f32 as ParquetElement>::ARROW_TYPE, "Float32");
/// assert_eq!(<f16 as ParquetElement>::ARROW_TYPE, "Float16");
/// assert_eq!(<u8 as ParquetElement>::ARROW_TYPE, "UInt8");
/// ```
///
/// ```compile_fail,E0277
/// use preallocate::{bf16, ParquetElement};
///
/// let _ = <bf16 as ParquetElement>::ARROW_TYPE; // Arrow has no bfloat16
/// ```
#[diagnostic::on_unimplemented(
    message = "Parquet cannot store `{Self}` so that pyarrow, polars and `datasets` read it (Arrow has no bfloat16)",
    label = "no Parquet type for `{Self}`",
    note = "write bf16 rows with `write_safetensors` (safetensors stores BF16), or choose `dtype = f16` or `dtype = f32`"
)]
pub trait ParquetElement: Element + bytemuck::Pod {
    /// The Arrow type's name (`"Float32"`, `"UInt8"`, ...), as Arrow prints it.
    const ARROW_TYPE: &'static str;
}

/// The Arrow type of an element type, or `None` for `bf16`, which Arrow has no type for.
fn arrow_type(dtype: ElementType) -> Option<DataType> {
    Some(match dtype {
        ElementType::F16 => DataType::Float16,
        ElementType::F32 => DataType::Float32,
        ElementType::F64 => DataType::Float64,
        ElementType::I8 => DataType::Int8,
        ElementType::I16 => DataType::Int16,
        ElementType::I32 => DataType::Int32,
        ElementType::I64 => DataType::Int64,
        ElementType::U8 => DataType::UInt8,
        ElementType::U16 => DataType::UInt16,
        ElementType::U32 => DataType::UInt32,
        ElementType::U64 => DataType::UInt64,
        ElementType::Bf16 => return None,
    })
}

/// The name of an element type's Arrow type, as Arrow prints it.
pub(crate) const fn arrow_type_name(dtype: ElementType) -> Option<&'static str> {
    Some(match dtype {
        ElementType::F16 => "Float16",
        ElementType::F32 => "Float32",
        ElementType::F64 => "Float64",
        ElementType::I8 => "Int8",
        ElementType::I16 => "Int16",
        ElementType::I32 => "Int32",
        ElementType::I64 => "Int64",
        ElementType::U8 => "UInt8",
        ElementType::U16 => "UInt16",
        ElementType::U32 => "UInt32",
        ElementType::U64 => "UInt64",
        ElementType::Bf16 => return None,
    })
}

by_element_type!(
    ParquetElement,
    ARROW_TYPE,
    arrow_type_name,
    [half::f16, f32, f64, i8, i16, i32, i64, u8, u16, u32, u64]
);

/// Outputs whose every element type is a [`ParquetElement`]: one column ([`Col`]) or several
/// (nested pairs).
#[doc(hidden)]
pub trait ParquetFields: Layout {}

impl<T: ParquetElement, D: ndarray::RemoveAxis + 'static> ParquetFields for Col<T, D> {}
impl<A: ParquetFields, B: ParquetFields> ParquetFields for (A, B) {}

/// How a Parquet output is written: its compression, and the rows of a row group.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct ParquetOptions {
    /// The pages' compression.
    pub(crate) compression: Compression,
    /// Rows per row group; `None`: one row group per chunk.
    pub(crate) row_group_rows: Option<usize>,
}

/// One Parquet file of every field's column, written under a temporary name and renamed into
/// place when complete.
pub(crate) struct ParquetFile {
    dest: PathBuf,
    schema: SchemaRef,
    /// The writer's properties, for the footer (its `created_by` and version).
    props: WriterProperties,
    /// The report's row shape: the field's for one output, none for several.
    row_shape: Vec<usize>,
    /// The columns' encoders and the row groups written.
    groups: RowGroups,
    /// The file, until it is finished or kept.
    open: Option<AtomicFile>,
    /// Rows handed to the writer.
    rows: usize,
    /// Where the rows were kept, once closed by a failure.
    kept: Option<PathBuf>,
}

impl ParquetFile {
    /// Starts the file `path` of the columns `fields`, named by `names` (the one column's
    /// name for one output), whose directory must exist.
    pub(crate) fn create(
        path: &Path,
        names: Names<'_>,
        fields: &[Field],
        options: ParquetOptions,
    ) -> Result<Self, SinkFailure> {
        let names = column_names(path, names).map_err(failure)?;
        Self::open(path, &names, fields, options)
    }

    /// [`ParquetFile::create`] with the columns' names.
    fn open(
        path: &Path,
        names: &[&str],
        fields: &[Field],
        options: ParquetOptions,
    ) -> Result<Self, SinkFailure> {
        let fail = failure;
        let schema = schema(path, names, fields).map_err(fail)?;
        let groups = RowGroups::new(&schema, fields, options)
            .map_err(|err| fail(parquet_error(path, "compress", err)))?;
        let mut file = AtomicFile::create(path).map_err(fail)?;
        if let Err(err) = file.file().write_all(MAGIC) {
            let err = SinkError::io("write to", file.temp(), err);
            file.discard();
            return Err(fail(err));
        }
        Ok(ParquetFile {
            dest: path.to_path_buf(),
            schema,
            props: WriterProperties::builder().build(),
            row_shape: match fields {
                [one] => one.row_shape.to_vec(),
                _ => Vec::new(),
            },
            groups,
            open: Some(file),
            rows: 0,
            kept: None,
        })
    }

    /// Encodes a chunk's columns into the file: one row group, or the rows of the row groups
    /// of `row_group_rows` that it ends or starts.
    fn encode(&mut self, columns: &[Column<'_>]) -> Result<(), SinkError> {
        let Some(file) = self.open.as_mut() else {
            return Err(SinkError::Closed {
                path: self.dest.clone(),
            });
        };
        for (field, column) in self.groups.fields.iter().zip(columns) {
            if column.row_len != field.row_len() || column.dtype != field.dtype {
                return Err(SinkError::WidthMismatch {
                    path: self.dest.clone(),
                    row_shape: field.row_shape.to_vec(),
                    expected: field.row_len(),
                    found: column.row_len,
                });
            }
        }
        self.groups
            .write(file.file(), columns)
            .map_err(|err| parquet_error(file.temp(), "write rows to", err))?;
        self.rows += columns.first().map_or(0, |column| column.rows);
        Ok(())
    }

    /// Ends `file` with the footer of its whole row groups, after ending the row group being
    /// built unless the file is `broken` (a write failed). Returns the rows the file holds, and
    /// the error of a row group that could not be ended.
    fn close(
        &mut self,
        file: &mut AtomicFile,
        broken: bool,
    ) -> Result<(usize, Option<SinkError>), SinkError> {
        let failed = if broken {
            None
        } else {
            self.groups
                .flush(file.file())
                .err()
                .map(|err| parquet_error(file.temp(), "write a row group to", err))
        };
        let rows = salvage(&self.groups.written, file, &self.schema, &self.props)?;
        Ok((rows, failed))
    }

    /// Keeps the closed `file`, holding `rows`, in `<dest>.partial`.
    fn keep_file(&mut self, file: AtomicFile, rows: usize, error: Option<SinkError>) -> Partial {
        let synced = file.sync();
        let partial = partial_path(&self.dest);
        let (path, error) = match file.rename_to(&partial) {
            Ok(()) => (partial, error.or(synced.err())),
            Err((err, temp)) => (temp, Some(error.unwrap_or(err))),
        };
        self.rows = rows;
        self.kept = Some(path.clone());
        Partial {
            rows,
            path: Some(path),
            error,
        }
    }

    /// Closes the file after a failure (`broken`: of a write) or an abandon, keeping the rows
    /// it holds in `<dest>.partial`.
    fn keep(&mut self, broken: bool) -> Partial {
        let Some(mut file) = self.open.take() else {
            return Partial {
                rows: self.rows,
                path: self.kept.clone(),
                error: None,
            };
        };
        match self.close(&mut file, broken) {
            Ok((rows, error)) => self.keep_file(file, rows, error),
            Err(err) => {
                // Not even the whole row groups could be kept: no file that promises rows.
                file.discard();
                self.rows = 0;
                Partial {
                    rows: 0,
                    path: None,
                    error: Some(err),
                }
            }
        }
    }

    /// The failure of a write: the file is closed, keeping its whole row groups.
    fn fail(&mut self, source: SinkError) -> SinkFailure {
        // A chunk refused before any of it was encoded leaves the writer as it was.
        let broken = !matches!(source, SinkError::WidthMismatch { .. });
        let kept = self.keep(broken);
        SinkFailure {
            written: kept.rows,
            partial: kept.path,
            source,
        }
    }

    /// Moves the closed, valid `file` into place.
    fn publish(
        &mut self,
        mut file: AtomicFile,
        skipped: Vec<usize>,
    ) -> Result<FileOutput, SinkFailure> {
        let size = file.sync().and_then(|()| {
            file.file()
                .metadata()
                .map_err(|err| SinkError::io("read the size of", file.temp(), err))
        });
        let bytes = match size {
            Ok(meta) => meta.len(),
            Err(source) => {
                let kept = self.keep_file(file, self.rows, None);
                return Err(SinkFailure {
                    written: kept.rows,
                    partial: kept.path,
                    source,
                });
            }
        };
        match file.rename_to(&self.dest) {
            Ok(()) => {
                // A `.partial` of an earlier failed run is superseded by the complete file.
                let _ = std::fs::remove_file(partial_path(&self.dest));
                Ok(FileOutput {
                    path: self.dest.clone(),
                    rows: self.rows,
                    shape: with_rows(self.rows, &self.row_shape),
                    bytes,
                    data_offset: MAGIC.len() as u64,
                    skipped,
                })
            }
            Err((source, temp)) => Err(SinkFailure {
                written: self.rows,
                partial: Some(keep_staged(&temp, &self.dest)),
                source,
            }),
        }
    }
}

impl Output for ParquetFile {
    type Report = FileOutput;

    fn write(&mut self, columns: &[Column<'_>]) -> Result<(), SinkFailure> {
        self.encode(columns).map_err(|source| self.fail(source))
    }

    fn finish(mut self, skipped: Vec<usize>) -> Result<Vec<FileOutput>, SinkFailure> {
        let Some(mut file) = self.open.take() else {
            return Err(SinkFailure {
                written: self.rows,
                partial: self.kept.clone(),
                source: SinkError::Closed {
                    path: self.dest.clone(),
                },
            });
        };
        match self.close(&mut file, false) {
            Ok((_, None)) => self.publish(file, skipped).map(|report| vec![report]),
            Ok((rows, Some(source))) => {
                let kept = self.keep_file(file, rows, None);
                Err(SinkFailure {
                    written: kept.rows,
                    partial: kept.path,
                    source,
                })
            }
            Err(source) => {
                file.discard();
                Err(SinkFailure {
                    written: 0,
                    partial: None,
                    source,
                })
            }
        }
    }

    fn abandon(mut self) -> Partial {
        self.keep(false)
    }
}

impl Drop for ParquetFile {
    /// A file dropped unfinished (a panic unwinding through the caller) keeps its rows, as
    /// after a failure.
    fn drop(&mut self) {
        if self.open.is_some() {
            let _ = self.keep(false);
        }
    }
}

/// The columns of a file, encoded into row groups: one per chunk, written as the chunk comes;
/// or of `row_group_rows`, each column's pages held until the row group ends, since a row
/// group's columns follow each other in the file.
struct RowGroups {
    descr: SchemaDescPtr,
    fields: Vec<Field>,
    encoders: Vec<ColumnEncoder>,
    /// Rows per row group; `None`: one row group per chunk.
    limit: Option<usize>,
    /// Each column's pages of the row group being built, and its rows.
    pending: Vec<(TrackedWrite<Vec<u8>>, Pages)>,
    pending_rows: usize,
    /// The row groups whole in the file.
    written: Vec<RowGroupMetaData>,
    /// Where the next row group starts.
    end: u64,
}

impl RowGroups {
    fn new(
        schema: &Schema,
        fields: &[Field],
        options: ParquetOptions,
    ) -> Result<Self, ParquetError> {
        let descr = Arc::new(ArrowSchemaConverter::new().convert(schema)?);
        let encoders = descr
            .columns()
            .iter()
            .zip(fields)
            .map(|(column, field)| ColumnEncoder::new(column.clone(), field, options.compression))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(RowGroups {
            descr,
            fields: fields.to_vec(),
            pending: fields
                .iter()
                .map(|_| (TrackedWrite::new(Vec::new()), Pages::default()))
                .collect(),
            encoders,
            limit: options.row_group_rows.map(|rows| rows.max(1)),
            pending_rows: 0,
            written: Vec::new(),
            end: MAGIC.len() as u64,
        })
    }

    /// Encodes a chunk's `columns` (checked against the fields) into `file`.
    fn write(&mut self, file: &File, columns: &[Column<'_>]) -> Result<(), ParquetError> {
        let rows = columns.first().map_or(0, |column| column.rows);
        let Some(limit) = self.limit else {
            return if rows == 0 {
                Ok(())
            } else {
                self.write_group(file, columns, rows)
            };
        };
        let mut start = 0;
        while start < rows {
            let end = rows.min(start + limit - self.pending_rows);
            for ((encoder, (sink, pages)), column) in
                self.encoders.iter_mut().zip(&mut self.pending).zip(columns)
            {
                let row_bytes = column.row_len * column.dtype.size();
                let bytes = &column.bytes[start * row_bytes..end * row_bytes];
                encoder.encode(bytes, end - start, sink, pages)?;
            }
            self.pending_rows += end - start;
            start = end;
            if self.pending_rows == limit {
                self.flush(file)?;
            }
        }
        Ok(())
    }

    /// Writes `columns`, of `rows` rows, as one row group straight into `file`.
    fn write_group(
        &mut self,
        file: &File,
        columns: &[Column<'_>],
        rows: usize,
    ) -> Result<(), ParquetError> {
        let mut sink = TrackedWrite::new(file);
        let mut pages = Vec::with_capacity(columns.len());
        for (encoder, column) in self.encoders.iter_mut().zip(columns) {
            let mut column_pages = Pages::default();
            encoder.encode(&column.bytes, rows, &mut sink, &mut column_pages)?;
            pages.push(column_pages);
        }
        let len = sink.bytes_written() as u64;
        sink.into_inner()?;
        let chunks = self
            .encoders
            .iter()
            .zip(&pages)
            .map(|(encoder, pages)| encoder.metadata(pages, self.end))
            .collect::<Result<Vec<_>, _>>()?;
        let bytes = pages.iter().map(Pages::uncompressed).sum();
        self.ended(rows, chunks, bytes, len)
    }

    /// Writes the row group being built, if it has rows, into `file`.
    fn flush(&mut self, file: &File) -> Result<(), ParquetError> {
        if self.pending_rows == 0 {
            return Ok(());
        }
        let mut offset = self.end;
        let mut chunks = Vec::with_capacity(self.pending.len());
        let mut bytes = 0;
        for (encoder, (sink, pages)) in self.encoders.iter().zip(&mut self.pending) {
            let mut buffered =
                std::mem::replace(sink, TrackedWrite::new(Vec::new())).into_inner()?;
            (&*file).write_all(&buffered)?;
            chunks.push(encoder.metadata(pages, offset)?);
            bytes += pages.uncompressed();
            offset += buffered.len() as u64;
            // The buffer's memory, kept for the next row group.
            buffered.clear();
            *sink = TrackedWrite::new(buffered);
            *pages = Pages::default();
        }
        let rows = std::mem::take(&mut self.pending_rows);
        self.ended(rows, chunks, bytes, offset - self.end)
    }

    /// Records the row group of `rows` rows whose column chunks `chunks` (of `bytes` bytes
    /// uncompressed) take the `len` bytes after the last one.
    fn ended(
        &mut self,
        rows: usize,
        chunks: Vec<ColumnChunkMetaData>,
        bytes: i64,
        len: u64,
    ) -> Result<(), ParquetError> {
        let mut group = RowGroupMetaData::builder(self.descr.clone())
            .set_num_rows(rows as i64)
            .set_total_byte_size(bytes)
            .set_column_metadata(chunks)
            .set_file_offset(self.end as i64);
        if let Ok(ordinal) = i16::try_from(self.written.len()) {
            group = group.set_ordinal(ordinal);
        }
        self.written.push(group.build()?);
        self.end += len;
        Ok(())
    }
}

/// The part files of Parquet shards: each one Parquet file of every field's column.
pub(crate) struct ParquetParts {
    names: Vec<String>,
    fields: Vec<Field>,
    options: ParquetOptions,
}

impl Parts for ParquetParts {
    type Part = ParquetFile;

    fn width(&self) -> usize {
        self.fields.len()
    }

    fn create(&self, path: &Path) -> Result<ParquetFile, SinkFailure> {
        let names: Vec<&str> = self.names.iter().map(String::as_str).collect();
        ParquetFile::open(path, &names, &self.fields, self.options)
    }

    fn write(part: &mut ParquetFile, columns: &[Column<'_>]) -> Result<(), SinkFailure> {
        part.write(columns)
    }

    fn finish(part: ParquetFile) -> Result<usize, SinkFailure> {
        let rows = part.rows;
        Output::finish(part, Vec::new()).map(|_| rows)
    }

    fn abandon(part: ParquetFile) -> usize {
        Output::abandon(part).rows
    }
}

/// Parquet shards (`part-00000.parquet`, …, then `manifest.json`) in `dir`: each part holds
/// every field's column for the items of one shard, `shard_items` items per shard, so that
/// the directory in name order is one dataset.
pub(crate) fn shards(
    dir: &Path,
    names: Names<'_>,
    fields: &[Field],
    shard_items: usize,
    options: ParquetOptions,
    job: &Job,
) -> Result<Shards<ParquetParts>, SinkFailure> {
    let fail = failure;
    let names = column_names(dir, names).map_err(fail)?;
    // The schema and the compression are checked here, before anything is written.
    let schema = schema(dir, &names, fields).map_err(fail)?;
    RowGroups::new(&schema, fields, options)
        .map_err(|err| fail(parquet_error(dir, "compress", err)))?;
    let columns: Vec<_> = names
        .iter()
        .zip(fields)
        .map(|(name, field)| {
            json!({
                "name": name,
                "dtype": arrow_type_name(field.dtype),
                "rust_dtype": field.dtype.name(),
                "row_shape": field.row_shape,
            })
        })
        .collect();
    let own = [
        ("columns", json!(columns)),
        ("compression", json!(options.compression.name())),
        ("row_group_rows", json!(options.row_group_rows)),
        ("shard_rows", json!(shard_items)),
    ];
    let fingerprint = job.fingerprint_of(own.clone());
    let format = ShardFormat {
        ext: "parquet",
        format: "parquet-shards",
        describe: own[..3].to_vec(),
    };
    let job = ShardJob::open(dir, format, shard_items, fingerprint).map_err(fail)?;
    let parts = ParquetParts {
        names: names.iter().map(|name| (*name).to_owned()).collect(),
        fields: fields.to_vec(),
        options,
    };
    Ok(Shards::new(vec![(job, parts)]))
}

/// The columns' names: the one output's (refused when empty), or the fields'.
fn column_names<'a>(path: &Path, names: Names<'a>) -> Result<Vec<&'a str>, SinkError> {
    let names = match names {
        Names::One(name) => vec![name],
        Names::Fields(names) => names.to_vec(),
    };
    if let Some(empty) = names.iter().find(|name| name.is_empty()) {
        return Err(SinkError::InvalidColumnName {
            path: path.to_path_buf(),
            name: (*empty).to_owned(),
            reason: "a column needs a name",
        });
    }
    Ok(names)
}

/// The Arrow schema of the columns: each a fixed-size list per axis of its row (outer axis
/// first) of its element type, nothing nullable.
fn schema(path: &Path, names: &[&str], fields: &[Field]) -> Result<SchemaRef, SinkError> {
    let columns = names
        .iter()
        .zip(fields)
        .map(|(name, field)| {
            let mut data_type = arrow_type(field.dtype).ok_or_else(|| SinkError::Unsupported {
                path: path.to_path_buf(),
                format: "Parquet",
                dtype: field.dtype.name(),
            })?;
            for &len in field.row_shape.iter().rev() {
                let len = i32::try_from(len).ok().filter(|&len| len > 0).ok_or_else(|| {
                    SinkError::TooLarge {
                        path: path.to_path_buf(),
                        what: "a Parquet fixed-size list holds 1 to 2^31 - 1 values: a row axis is outside that",
                    }
                })?;
                let item = Arc::new(ArrowField::new("item", data_type, false));
                data_type = DataType::FixedSizeList(item, len);
            }
            if !pages::row_fits_a_page(field) {
                return Err(SinkError::TooLarge {
                    path: path.to_path_buf(),
                    what: "a Parquet page holds whole rows in fewer than 2^31 bytes: a row is 1 GiB or more",
                });
            }
            Ok(ArrowField::new(*name, data_type, false))
        })
        .collect::<Result<Vec<_>, SinkError>>()?;
    Ok(Arc::new(Schema::new(columns)))
}

/// Makes `file` a valid Parquet file of the row groups `groups` (those the writer ended) that
/// are whole in it: cuts it after the last of them and writes their footer. Returns their rows.
///
/// After a failed write, the file holds a prefix of what the writer wrote: every byte before
/// the failure, nothing after it. The row groups that end within that prefix are whole.
fn salvage(
    groups: &[RowGroupMetaData],
    file: &mut AtomicFile,
    schema: &Schema,
    props: &WriterProperties,
) -> Result<usize, SinkError> {
    let temp = file.temp().to_path_buf();
    let io = |op| {
        let temp = &temp;
        move |err| SinkError::io(op, temp, err)
    };
    let out = file.file();
    let len = out.metadata().map_err(io("read the size of"))?.len();
    let group_end = |group: &RowGroupMetaData| {
        group
            .columns()
            .iter()
            .map(|column| {
                let (start, len) = column.byte_range();
                start + len
            })
            .max()
            .unwrap_or(MAGIC.len() as u64)
    };
    let kept: Vec<RowGroupMetaData> = groups
        .iter()
        .cloned()
        .take_while(|group| group_end(group) <= len)
        .collect();
    let end = kept.last().map_or(0, group_end);
    out.set_len(end).map_err(io("cut"))?;
    out.seek(SeekFrom::Start(end)).map_err(io("cut"))?;
    if end == 0 {
        out.write_all(MAGIC).map_err(io("write to"))?;
    }
    let rows: i64 = kept.iter().map(RowGroupMetaData::num_rows).sum();
    let mut props = props.clone();
    add_encoded_arrow_schema_to_metadata(schema, &mut props);
    let descr = ArrowSchemaConverter::new()
        .convert(schema)
        .map_err(|err| parquet_error(&temp, "describe the columns of", err))?;
    let metadata = FileMetaData::new(
        props.writer_version().as_num(),
        rows,
        Some(props.created_by().to_owned()),
        props.key_value_metadata().cloned(),
        Arc::new(descr),
        None,
    );
    let metadata = ParquetMetaData::new(metadata, kept);
    ParquetMetaDataWriter::new(&mut *out, &metadata)
        .finish()
        .map_err(|err| parquet_error(&temp, "write the footer of", err))?;
    out.flush().map_err(io("write to"))?;
    usize::try_from(rows).map_err(|_| SinkError::TooLarge {
        path: temp.clone(),
        what: "more rows than this machine can count",
    })
}

/// A `parquet` error as a [`SinkError`]: an I/O error (disk full, ...) as [`SinkError::Io`],
/// anything else as [`SinkError::Parquet`].
fn parquet_error(path: &Path, op: &'static str, err: impl Into<ParquetError>) -> SinkError {
    match err.into() {
        ParquetError::External(inner) => match inner.downcast::<std::io::Error>() {
            Ok(io) => SinkError::io(op, path, *io),
            Err(inner) => SinkError::Parquet {
                path: path.to_path_buf(),
                op,
                message: inner.to_string(),
            },
        },
        err => SinkError::Parquet {
            path: path.to_path_buf(),
            op,
            message: err.to_string(),
        },
    }
}

/// A failure before anything was written.
fn failure(source: SinkError) -> SinkFailure {
    SinkFailure {
        written: 0,
        partial: None,
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::cast::AsArray;
    use arrow_array::types::{Float32Type, UInt16Type};
    use arrow_array::Array;
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    use std::borrow::Cow;

    const F32X3: Field = Field {
        dtype: ElementType::F32,
        row_shape: &[3],
    };

    fn column(values: &[f32], row_len: usize) -> Column<'_> {
        Column {
            dtype: ElementType::F32,
            rows: values.len() / row_len,
            row_len,
            bytes: Cow::Borrowed(bytemuck::cast_slice(values)),
        }
    }

    /// The rows of the file's first column, flattened, and its row groups' sizes.
    fn read_f32(path: &Path) -> (Vec<f32>, Vec<i64>) {
        let builder = ParquetRecordBatchReaderBuilder::try_new(File::open(path).unwrap()).unwrap();
        let groups = builder
            .metadata()
            .row_groups()
            .iter()
            .map(RowGroupMetaData::num_rows)
            .collect();
        let mut values = Vec::new();
        for batch in builder.build().unwrap() {
            let batch = batch.unwrap();
            let mut array = batch.column(0).clone();
            while let DataType::FixedSizeList(..) = array.data_type() {
                array = array.as_fixed_size_list().values().clone();
            }
            values.extend(array.as_primitive::<Float32Type>().values().iter());
        }
        (values, groups)
    }

    fn rows(n: usize) -> Vec<f32> {
        (0..n * 3).map(|v| v as f32 * 0.5).collect()
    }

    #[test]
    fn each_chunk_is_a_row_group_of_fixed_size_lists() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.parquet");
        let mut file =
            ParquetFile::create(&path, Names::One("x"), &[F32X3], ParquetOptions::default())
                .unwrap();
        let values = rows(7);
        file.write(&[column(&values[..12], 3)]).unwrap();
        file.write(&[column(&values[12..], 3)]).unwrap();
        let report = file.finish(vec![9]).unwrap().remove(0);
        assert_eq!((report.rows, report.shape.clone()), (7, vec![7, 3]));
        assert_eq!(report.skipped, vec![9]);
        assert_eq!(report.bytes, std::fs::metadata(&path).unwrap().len());
        let (read, groups) = read_f32(&path);
        assert_eq!(read, values);
        assert_eq!(groups, vec![4, 3]);
        let schema = ParquetRecordBatchReaderBuilder::try_new(File::open(&path).unwrap())
            .unwrap()
            .schema()
            .clone();
        assert_eq!(
            schema.field(0).data_type().to_string(),
            "FixedSizeList(3 x non-null Float32)"
        );
    }

    #[test]
    fn row_group_rows_set_the_row_groups_across_chunks() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.parquet");
        let options = ParquetOptions {
            compression: Compression::Zstd(3),
            row_group_rows: Some(5),
        };
        let mut file = ParquetFile::create(&path, Names::One("x"), &[F32X3], options).unwrap();
        let values = rows(12);
        for piece in values.chunks(9) {
            file.write(&[column(piece, 3)]).unwrap();
        }
        file.finish(Vec::new()).unwrap();
        let (read, groups) = read_f32(&path);
        assert_eq!(read, values);
        assert_eq!(groups, vec![5, 5, 2]);
    }

    /// Row groups across chunks hold each column's pages until they end: the columns' chunks
    /// follow each other, each of several pages where a row group holds more than a page.
    #[test]
    fn several_columns_of_several_pages_make_row_groups_across_chunks() {
        const WIDE: Field = Field {
            dtype: ElementType::U16,
            row_shape: &[2, 70_000],
        };
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.parquet");
        let options = ParquetOptions {
            compression: Compression::Snappy,
            row_group_rows: Some(4),
        };
        let mut file =
            ParquetFile::create(&path, Names::Fields(&["x", "w"]), &[F32X3, WIDE], options)
                .unwrap();
        let values = rows(10);
        let wide: Vec<u16> = (0..10 * 140_000).map(|v| (v % 65_521) as u16).collect();
        for (x, w) in values.chunks(9).zip(wide.chunks(3 * 140_000)) {
            let w = Column {
                dtype: ElementType::U16,
                rows: w.len() / 140_000,
                row_len: 140_000,
                bytes: Cow::Borrowed(bytemuck::cast_slice(w)),
            };
            file.write(&[column(x, 3), w]).unwrap();
        }
        let report = file.finish(Vec::new()).unwrap().remove(0);
        assert_eq!((report.rows, report.shape.clone()), (10, vec![10]));
        let (read, groups) = read_f32(&path);
        assert_eq!(read, values);
        assert_eq!(groups, vec![4, 4, 2]);
        let reader = ParquetRecordBatchReaderBuilder::try_new(File::open(&path).unwrap()).unwrap();
        assert_eq!(
            reader.schema().field(1).data_type().to_string(),
            "FixedSizeList(2 x non-null FixedSizeList(70000 x non-null UInt16))"
        );
        let mut read: Vec<u16> = Vec::new();
        for batch in reader.build().unwrap() {
            let inner = batch
                .unwrap()
                .column(1)
                .as_fixed_size_list()
                .values()
                .clone();
            let values = inner.as_fixed_size_list().values().clone();
            read.extend(values.as_primitive::<UInt16Type>().values().iter());
        }
        assert_eq!(read, wide);
    }

    #[test]
    fn an_abandoned_file_keeps_its_rows_in_a_valid_partial() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.parquet");
        let mut file =
            ParquetFile::create(&path, Names::One("x"), &[F32X3], ParquetOptions::default())
                .unwrap();
        let values = rows(5);
        file.write(&[column(&values, 3)]).unwrap();
        let kept = file.abandon();
        assert_eq!(kept.rows, 5);
        assert_eq!(kept.path, Some(dir.path().join("x.parquet.partial")));
        assert!(!path.exists());
        assert_eq!(read_f32(&kept.path.unwrap()).0, values);
    }

    /// A write that failed midway leaves the file a prefix of what the writer wrote: the
    /// partial keeps the row groups that are whole in it, with a footer of its own.
    #[test]
    fn a_broken_file_is_cut_back_to_its_whole_row_groups() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.parquet");
        let mut file =
            ParquetFile::create(&path, Names::One("x"), &[F32X3], ParquetOptions::default())
                .unwrap();
        let values = rows(9);
        for piece in values.chunks(9) {
            file.write(&[column(piece, 3)]).unwrap();
        }
        // The last row group loses its last bytes, as after a failed write.
        let temp = file.open.as_mut().unwrap();
        let len = temp.file().metadata().unwrap().len();
        temp.file().set_len(len - 3).unwrap();
        let failure = file.fail(SinkError::io(
            "write rows to",
            Path::new("x"),
            std::io::Error::from(std::io::ErrorKind::StorageFull),
        ));
        assert_eq!(failure.written, 6);
        let kept = failure.partial.unwrap();
        assert_eq!(kept, dir.path().join("x.parquet.partial"));
        let (read, groups) = read_f32(&kept);
        assert_eq!(read, values[..18]);
        assert_eq!(groups, vec![3, 3]);
    }

    #[test]
    fn a_broken_file_without_a_whole_row_group_is_an_empty_valid_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.parquet");
        let mut file =
            ParquetFile::create(&path, Names::One("x"), &[F32X3], ParquetOptions::default())
                .unwrap();
        let failure = file.fail(SinkError::Closed { path: path.clone() });
        assert_eq!(failure.written, 0);
        let (read, groups) = read_f32(&failure.partial.unwrap());
        assert!(read.is_empty() && groups.is_empty());
    }

    #[test]
    fn bad_columns_are_refused_before_anything_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.parquet");
        let failure =
            ParquetFile::create(&path, Names::One(""), &[F32X3], ParquetOptions::default())
                .err()
                .unwrap();
        assert_eq!(
            failure.to_string(),
            format!(
                "invalid Parquet column name \"\" for `{}`: a column needs a name (0 rows written, none kept)",
                path.display()
            )
        );
        let bf16 = Field {
            dtype: ElementType::Bf16,
            row_shape: &[2],
        };
        let failure =
            ParquetFile::create(&path, Names::One("x"), &[bf16], ParquetOptions::default())
                .err()
                .unwrap();
        assert!(matches!(
            failure.source,
            SinkError::Unsupported { dtype: "bf16", .. }
        ));
        let huge = Field {
            dtype: ElementType::F32,
            row_shape: &[1 << 28],
        };
        let failure =
            ParquetFile::create(&path, Names::One("x"), &[huge], ParquetOptions::default())
                .err()
                .unwrap();
        assert!(
            matches!(failure.source, SinkError::TooLarge { what, .. } if what.contains("a row is 1 GiB or more")),
            "{failure}"
        );
        let level = ParquetOptions {
            compression: Compression::Zstd(99),
            row_group_rows: None,
        };
        let failure = ParquetFile::create(&path, Names::One("x"), &[F32X3], level)
            .err()
            .unwrap();
        assert!(
            matches!(failure.source, SinkError::Parquet { op: "compress", .. }),
            "{failure}"
        );
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn a_chunk_of_the_wrong_width_keeps_the_rows_before_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.parquet");
        let mut file =
            ParquetFile::create(&path, Names::One("x"), &[F32X3], ParquetOptions::default())
                .unwrap();
        let values = rows(2);
        file.write(&[column(&values, 3)]).unwrap();
        let failure = file.write(&[column(&values, 2)]).unwrap_err();
        assert!(matches!(
            failure.source,
            SinkError::WidthMismatch {
                expected: 3,
                found: 2,
                ..
            }
        ));
        assert_eq!(failure.written, 2);
        assert_eq!(read_f32(&failure.partial.unwrap()).0, values);
    }
}
