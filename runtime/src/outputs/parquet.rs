//! Parquet files (feature `parquet`): one column per field, each row of a field one value of a
//! fixed-size list (nested, outer axis first, for a row of several axes), so that pyarrow,
//! polars, DuckDB and Hugging Face `datasets` give back arrays of shape `(n, *row_shape)`.
//! [`ParquetFile`] is one file (the output of `write_parquet`), [`ParquetParts`] the part files
//! of `write_parquet_shards` (the `shards` module commits and resumes them).
//!
//! Encoding is arrow-rs's `ArrowWriter`: it writes the Arrow schema into the file's metadata
//! (so that a `FixedSizeList<float32, 3>` reads back as such, not as a list of any length),
//! encodes the levels of nested lists, and `f16` as Parquet's `Float16`. What it does not do is
//! keep a valid file when a write fails midway; that part ([`salvage`]) is written here.
//!
//! Memory: each chunk is copied into Arrow arrays a piece at a time (at most [`PIECE_BYTES`]),
//! encoded, and held encoded until its row group ends: one row group per chunk (flushed after
//! each chunk), or every `row_group_rows` rows. So an output needs the chunk buffer, one piece,
//! and one encoded row group (about a chunk's bytes uncompressed, less with zstd).
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

use arrow_array::types::{
    Float16Type, Float32Type, Float64Type, Int16Type, Int32Type, Int64Type, Int8Type, UInt16Type,
    UInt32Type, UInt64Type, UInt8Type,
};
use arrow_array::{ArrayRef, FixedSizeListArray, PrimitiveArray, RecordBatch};
use arrow_buffer::{Buffer, ScalarBuffer};
use arrow_schema::{DataType, Field as ArrowField, Schema, SchemaRef};
use parquet::arrow::{add_encoded_arrow_schema_to_metadata, ArrowSchemaConverter, ArrowWriter};
use parquet::basic::{Compression as Codec, ZstdLevel};
use parquet::errors::ParquetError;
use parquet::file::metadata::{
    FileMetaData, ParquetMetaData, ParquetMetaDataWriter, RowGroupMetaData,
};
use parquet::file::properties::WriterProperties;
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

/// The most bytes of a chunk copied into Arrow arrays at once. Small: the writer builds
/// level vectors of twice as many bytes per piece, and at 32 KiB the allocator reuses them
/// instead of mapping fresh pages each time (2 M rows of 32 `f32` on a tmpfs: 0.67 s and
/// 5.7 MiB peak, against 0.71 to 0.79 s and 11 MiB with pieces of 256 KiB).
pub(crate) const PIECE_BYTES: usize = 32 * 1024;

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
    fields: Vec<Field>,
    /// The writer's properties, for a footer written after a failed write.
    props: WriterProperties,
    /// The report's row shape: the field's for one output, none for several.
    row_shape: Vec<usize>,
    /// End a row group after each chunk.
    per_chunk: bool,
    /// The writer and its file, until the file is finished or kept.
    open: Option<(ArrowWriter<File>, AtomicFile)>,
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
        let props = properties(path, options).map_err(fail)?;
        let mut file = AtomicFile::create(path).map_err(fail)?;
        let writer = file
            .file()
            .try_clone()
            .map_err(|err| SinkError::io("open", file.temp(), err))
            .and_then(|clone| {
                ArrowWriter::try_new(clone, schema.clone(), Some(props.clone()))
                    .map_err(|err| parquet_error(file.temp(), "start", err))
            });
        let writer = match writer {
            Ok(writer) => writer,
            Err(err) => {
                file.discard();
                return Err(fail(err));
            }
        };
        Ok(ParquetFile {
            dest: path.to_path_buf(),
            schema,
            fields: fields.to_vec(),
            props,
            row_shape: match fields {
                [one] => one.row_shape.to_vec(),
                _ => Vec::new(),
            },
            per_chunk: options.row_group_rows.is_none(),
            open: Some((writer, file)),
            rows: 0,
            kept: None,
        })
    }

    /// Encodes a chunk's columns, a piece at a time, and ends the row group when each chunk
    /// has its own.
    fn encode(&mut self, columns: &[Column<'_>]) -> Result<(), SinkError> {
        let Some((writer, file)) = self.open.as_mut() else {
            return Err(SinkError::Closed {
                path: self.dest.clone(),
            });
        };
        for (field, column) in self.fields.iter().zip(columns) {
            if column.row_len != field.row_len() || column.dtype != field.dtype {
                return Err(SinkError::WidthMismatch {
                    path: self.dest.clone(),
                    row_shape: field.row_shape.to_vec(),
                    expected: field.row_len(),
                    found: column.row_len,
                });
            }
        }
        let rows = columns.first().map_or(0, |column| column.rows);
        let row_bytes: usize = columns
            .iter()
            .map(|column| column.row_len * column.dtype.size())
            .sum();
        let piece = (PIECE_BYTES / row_bytes.max(1)).max(1);
        let mut start = 0;
        while start < rows {
            let end = rows.min(start + piece);
            let arrays = self
                .schema
                .fields()
                .iter()
                .zip(&self.fields)
                .zip(columns)
                .map(|((arrow, field), column)| {
                    column_array(arrow.data_type(), field.dtype, column, start, end)
                })
                .collect::<Result<Vec<_>, _>>()
                .and_then(|arrays| {
                    RecordBatch::try_new(self.schema.clone(), arrays).map_err(Into::into)
                })
                .map_err(|err| parquet_error(file.temp(), "encode rows for", err))?;
            writer
                .write(&arrays)
                .map_err(|err| parquet_error(file.temp(), "write rows to", err))?;
            self.rows += end - start;
            start = end;
        }
        if self.per_chunk {
            writer
                .flush()
                .map_err(|err| parquet_error(file.temp(), "write a row group to", err))?;
        }
        // The row groups ended so far are whole in the file, not in the writer's buffer: a
        // failed write later keeps them.
        writer
            .sync()
            .map_err(|err| SinkError::io("write rows to", file.temp(), err))
    }

    /// Closes `writer` into `file`: as usual, or, when it is `broken` (a write failed) or
    /// closing fails, by cutting the file back to its whole row groups and writing their
    /// footer here. Returns the rows the file holds, and the error of a failed close.
    fn close(
        &self,
        writer: ArrowWriter<File>,
        file: &mut AtomicFile,
        broken: bool,
    ) -> Result<(usize, Option<SinkError>), SinkError> {
        let groups = writer.flushed_row_groups().to_vec();
        let failed = if broken {
            drop(writer);
            None
        } else {
            match writer.close() {
                Ok(_) => return Ok((self.rows, None)),
                Err(err) => Some(parquet_error(file.temp(), "close", err)),
            }
        };
        let rows = salvage(groups, file, &self.schema, &self.props)?;
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
        let Some((writer, file)) = self.open.take() else {
            return Partial {
                rows: self.rows,
                path: self.kept.clone(),
                error: None,
            };
        };
        let mut file = file;
        match self.close(writer, &mut file, broken) {
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
        let Some((writer, mut file)) = self.open.take() else {
            return Err(SinkFailure {
                written: self.rows,
                partial: self.kept.clone(),
                source: SinkError::Closed {
                    path: self.dest.clone(),
                },
            });
        };
        match self.close(writer, &mut file, false) {
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
    // The schema is checked here, before anything is written.
    schema(dir, &names, fields).map_err(fail)?;
    properties(dir, options).map_err(fail)?;
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
            Ok(ArrowField::new(*name, data_type, false))
        })
        .collect::<Result<Vec<_>, SinkError>>()?;
    Ok(Arc::new(Schema::new(columns)))
}

/// The writer's properties: the compression; no dictionary (rows of numbers rarely repeat,
/// and building one costs time); row groups of `row_group_rows`, or ended by each chunk.
fn properties(path: &Path, options: ParquetOptions) -> Result<WriterProperties, SinkError> {
    let codec = match options.compression {
        Compression::None => Codec::UNCOMPRESSED,
        Compression::Zstd(level) => Codec::ZSTD(
            ZstdLevel::try_new(level).map_err(|err| parquet_error(path, "compress", err))?,
        ),
        Compression::Snappy => Codec::SNAPPY,
    };
    Ok(WriterProperties::builder()
        .set_compression(codec)
        .set_dictionary_enabled(false)
        .set_max_row_group_row_count(options.row_group_rows.map(|rows| rows.max(1)))
        .set_max_row_group_bytes(None)
        .build())
}

/// Field `dtype`'s rows `start..end` of `column` as an Arrow array of type `data_type`.
fn column_array(
    data_type: &DataType,
    dtype: ElementType,
    column: &Column<'_>,
    start: usize,
    end: usize,
) -> Result<ArrayRef, ParquetError> {
    let size = dtype.size();
    let bytes = &column.bytes[start * column.row_len * size..end * column.row_len * size];
    // A copy of the piece: Arrow's buffers are owned (and aligned), the chunk buffer is not
    // theirs.
    let values = Buffer::from_slice_ref(bytes);
    let len = (end - start) * column.row_len;
    let values: ArrayRef = match dtype {
        ElementType::F16 => primitive::<Float16Type>(values, len),
        ElementType::F32 => primitive::<Float32Type>(values, len),
        ElementType::F64 => primitive::<Float64Type>(values, len),
        ElementType::I8 => primitive::<Int8Type>(values, len),
        ElementType::I16 => primitive::<Int16Type>(values, len),
        ElementType::I32 => primitive::<Int32Type>(values, len),
        ElementType::I64 => primitive::<Int64Type>(values, len),
        ElementType::U8 => primitive::<UInt8Type>(values, len),
        ElementType::U16 => primitive::<UInt16Type>(values, len),
        ElementType::U32 => primitive::<UInt32Type>(values, len),
        ElementType::U64 => primitive::<UInt64Type>(values, len),
        ElementType::Bf16 => {
            return Err(ParquetError::NYI("bf16 has no Arrow type".into()));
        }
    };
    nest(data_type, values)
}

fn primitive<T: arrow_array::ArrowPrimitiveType>(values: Buffer, len: usize) -> ArrayRef {
    Arc::new(PrimitiveArray::<T>::new(
        ScalarBuffer::new(values, 0, len),
        None,
    ))
}

/// `values` grouped into the fixed-size lists of `data_type`, innermost first.
fn nest(data_type: &DataType, values: ArrayRef) -> Result<ArrayRef, ParquetError> {
    match data_type {
        DataType::FixedSizeList(item, size) => {
            let inner = nest(item.data_type(), values)?;
            Ok(Arc::new(FixedSizeListArray::try_new(
                item.clone(),
                *size,
                inner,
                None,
            )?))
        }
        _ => Ok(values),
    }
}

/// Makes `file` a valid Parquet file of the row groups `groups` (those the writer ended) that
/// are whole in it: cuts it after the last of them and writes their footer. Returns their rows.
///
/// After a failed write, the file holds a prefix of what the writer wrote: every byte before
/// the failure, nothing after it. The row groups that end within that prefix are whole.
fn salvage(
    groups: Vec<RowGroupMetaData>,
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
        .into_iter()
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
        let (_, temp) = file.open.as_mut().unwrap();
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
