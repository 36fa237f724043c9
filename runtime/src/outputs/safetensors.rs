//! Streamed safetensors files holding one tensor: [`SafetensorsWriter`].
//!
//! The format: an 8-byte little-endian header length `N`, then `N` bytes of JSON
//! `{"<name>": {"dtype": "F32", "shape": [n, 3], "data_offsets": [0, bytes]}, "__metadata__": {..}}`
//! which must start with `{` and may end with trailing spaces, then the data, little-endian and
//! C-order. The header reserves the digits of the largest row count and byte length (20 each,
//! `u64::MAX`) and pads to a multiple of 8, as the reference serializer does, so the data is
//! 8-byte aligned; at the end the same `N` bytes are rewritten with the true counts.

use std::collections::BTreeMap;
use std::path::Path;

use super::bytes::by_element_type;
use super::error::Partial;
use super::error::{SinkError, SinkFailure};
use super::output::{FileOutput, Names, Output};
use super::progress::Ticker;
use super::stream::{FileWriter, Header, RowStream};
use super::tensors::{Spill, TensorsFile};
use half::{bf16, f16};

use crate::element::{Element, ElementType};
use crate::layout::{Column, Field};

/// The key safetensors reserves for the string-to-string metadata.
const METADATA_KEY: &str = "__metadata__";

/// The safetensors dtype name of an element type (`"F32"`, `"BF16"`, ...): every one has one.
// why a string, not `safetensors::Dtype`: it keeps that crate's semver out of the runtime's
// dependencies; a test checks every name against the crate's `Dtype`.
pub(crate) const fn dtype_name(dtype: ElementType) -> Option<&'static str> {
    Some(match dtype {
        ElementType::F16 => "F16",
        ElementType::Bf16 => "BF16",
        ElementType::F32 => "F32",
        ElementType::F64 => "F64",
        ElementType::I8 => "I8",
        ElementType::I16 => "I16",
        ElementType::I32 => "I32",
        ElementType::I64 => "I64",
        ElementType::U8 => "U8",
        ElementType::U16 => "U16",
        ElementType::U32 => "U32",
        ElementType::U64 => "U64",
    })
}

/// Streams rows into a safetensors file holding one tensor of shape `(n, *row_shape)`.
///
/// The [`FileWriter`] with a safetensors header; the one output that stores `bf16` (safetensors
/// dtype `BF16`), and every other element type works too. Atomic like every `FileWriter`: on
/// any failure, or when dropped unfinished, the rows written so far are kept in
/// `<path>.partial`, itself a valid safetensors file holding exactly those rows.
///
/// ```
/// use preallocate::{bf16, SafetensorsWriter};
///
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("x.safetensors");
/// let mut out = SafetensorsWriter::<bf16>::create(&path, "features", &[2])?;
/// let one = bf16::from_f32(1.0);
/// out.write_chunk(ndarray::arr2(&[[one, one], [one, one]]).view())?;
/// let written = out.finish()?;
/// assert_eq!(written.shape, vec![2, 2]);
/// assert_eq!(written.data_offset % 8, 0);
///
/// let bytes = std::fs::read(&path)?;
/// let header_len = u64::from_le_bytes(bytes[..8].try_into()?) as usize;
/// let header = std::str::from_utf8(&bytes[8..8 + header_len])?;
/// assert!(header.starts_with('{') && header.ends_with(' '));
/// let json: serde_json::Value = serde_json::from_str(header)?;
/// assert_eq!(
///     json["features"],
///     serde_json::json!({"dtype": "BF16", "shape": [2, 2], "data_offsets": [0, 8]})
/// );
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
// why by hand, not `safetensors::serialize`: the reference serializer takes every tensor whole,
// in memory, and a stream's row count is known only at its end; a fixed-size padded header
// rewritten in place keeps memory at one chunk whatever the length.
pub type SafetensorsWriter<T> = FileWriter<T, SafetensorsHeader>;

impl<T: SafetensorsElement> FileWriter<T, SafetensorsHeader> {
    /// Starts a safetensors file at `path` holding one tensor `tensor_name` whose rows have
    /// shape `row_shape` (chunks are passed flat, `n × row_shape.iter().product()`).
    ///
    /// # Errors
    /// As [`NpyWriter::create`](crate::NpyWriter::create), and
    /// [`SinkError::InvalidTensorName`] for an empty name or `__metadata__`.
    ///
    /// ```
    /// use preallocate::{SafetensorsWriter, SinkError};
    ///
    /// let dir = tempfile::tempdir()?;
    /// let failure = SafetensorsWriter::<f32>::create(dir.path().join("x.safetensors"), "", &[3])
    ///     .unwrap_err();
    /// assert!(matches!(failure.source, SinkError::InvalidTensorName { .. }));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn create(
        path: impl AsRef<Path>,
        tensor_name: &str,
        row_shape: &[usize],
    ) -> Result<Self, SinkFailure> {
        Self::create_with_metadata(path, tensor_name, row_shape, BTreeMap::new())
    }

    /// Like [`create`](Self::create), with string pairs for the header's `__metadata__`
    /// (PyTorch users often set `{"format": "pt"}`).
    ///
    /// # Errors
    /// As [`create`](Self::create).
    ///
    /// ```
    /// use std::collections::BTreeMap;
    /// use preallocate::SafetensorsWriter;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let metadata = BTreeMap::from([("format".to_owned(), "pt".to_owned())]);
    /// let path = dir.path().join("x.safetensors");
    /// SafetensorsWriter::<f32>::create_with_metadata(&path, "x", &[3], metadata)?.finish()?;
    /// let bytes = std::fs::read(&path)?;
    /// let len = u64::from_le_bytes(bytes[..8].try_into()?) as usize;
    /// let header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + len])?;
    /// assert_eq!(header["__metadata__"]["format"], "pt");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn create_with_metadata(
        path: impl AsRef<Path>,
        tensor_name: &str,
        row_shape: &[usize],
        metadata: BTreeMap<String, String>,
    ) -> Result<Self, SinkFailure> {
        let header =
            stream_header(tensor_name, T::ELEMENT_TYPE, row_shape, metadata).map_err(|source| {
                SinkFailure {
                    written: 0,
                    partial: None,
                    source,
                }
            })?;
        FileWriter::start(path.as_ref(), header, row_shape, Ticker::none())
    }
}

/// The header of a safetensors file with one tensor, padded to a fixed length.
/// An element type that a safetensors file can store: every [`Element`], `bf16` included.
///
/// ```
/// use preallocate::{bf16, SafetensorsElement};
///
/// assert_eq!(<bf16 as SafetensorsElement>::DTYPE, "BF16");
/// assert_eq!(<i64 as SafetensorsElement>::DTYPE, "I64");
/// ```
pub trait SafetensorsElement: Element + bytemuck::Pod {
    /// The safetensors dtype name (`"F32"`, `"BF16"`, `"U8"`, ...).
    // why a string, not `safetensors::Dtype`: it keeps that crate's semver out of this API and
    // out of the runtime's dependencies; a test checks every name against the crate's `Dtype`.
    const DTYPE: &'static str;
}

by_element_type!(
    SafetensorsElement,
    DTYPE,
    super::safetensors::dtype_name,
    [f16, bf16, f32, f64, i8, i16, i32, i64, u8, u16, u32, u64]
);

/// One safetensors file of every field: for one output, one tensor named by the call, streamed
/// straight into the file; for several, one tensor per field, named by the field, assembled
/// when the input ends (the `tensors` module).
pub(crate) enum SafetensorsFile {
    /// One tensor.
    One(Box<RowStream<SafetensorsHeader>>),
    /// Several tensors.
    Several(TensorsFile),
}

impl SafetensorsFile {
    /// Creates the file's temporary name (and, for several tensors, their spills).
    pub(crate) fn create(
        path: &Path,
        names: Names<'_>,
        fields: &[Field],
    ) -> Result<Self, SinkFailure> {
        let fail = |source| SinkFailure {
            written: 0,
            partial: None,
            source,
        };
        match names {
            Names::One(name) => {
                let field = fields.first().ok_or_else(|| fail(no_fields(path)))?;
                let header = stream_header(name, field.dtype, field.row_shape, BTreeMap::new())
                    .map_err(fail)?;
                let stream = RowStream::create(
                    path,
                    header,
                    field.row_shape,
                    field.dtype.size(),
                    Ticker::none(),
                )?;
                Ok(SafetensorsFile::One(Box::new(stream)))
            }
            Names::Fields(names) => {
                let spills = names
                    .iter()
                    .zip(fields)
                    .map(|(name, field)| {
                        let dtype = dtype_name(field.dtype).ok_or_else(|| no_fields(path))?;
                        Spill::create(path, name, dtype, field.dtype.size(), field.row_shape)
                    })
                    .collect::<Result<_, _>>()
                    .map_err(fail)?;
                Ok(SafetensorsFile::Several(TensorsFile::new(path, spills)))
            }
        }
    }
}

/// An output without fields, which no layout has.
fn no_fields(path: &Path) -> SinkError {
    SinkError::Unsupported {
        path: path.to_path_buf(),
        format: "safetensors",
        dtype: "an output without fields",
    }
}

impl Output for SafetensorsFile {
    type Report = FileOutput;

    fn write(&mut self, columns: &[Column<'_>]) -> Result<(), SinkFailure> {
        match self {
            SafetensorsFile::One(stream) => columns
                .iter()
                .try_for_each(|column| stream.write_column(column)),
            SafetensorsFile::Several(file) => file.write(columns),
        }
    }

    fn finish(self, skipped: Vec<usize>) -> Result<Vec<FileOutput>, SinkFailure> {
        let file = match self {
            SafetensorsFile::One(stream) => stream.finish_file(skipped)?,
            SafetensorsFile::Several(file) => file.finish(skipped)?,
        };
        Ok(vec![file])
    }

    fn abandon(self) -> Partial {
        match self {
            SafetensorsFile::One(mut stream) => stream.abandon(),
            SafetensorsFile::Several(mut file) => file.keep(),
        }
    }
}

/// The header of a one-tensor stream, or why the tensor's name is refused.
fn stream_header(
    tensor_name: &str,
    dtype: ElementType,
    row_shape: &[usize],
    metadata: BTreeMap<String, String>,
) -> Result<SafetensorsHeader, SinkError> {
    let reason = if tensor_name.is_empty() {
        Some("it is empty")
    } else if tensor_name == METADATA_KEY {
        Some("`__metadata__` is reserved for the header's metadata")
    } else {
        None
    };
    if let Some(reason) = reason {
        return Err(SinkError::InvalidTensorName {
            name: tensor_name.to_owned(),
            reason,
        });
    }
    Ok(SafetensorsHeader::new(
        dtype_name(dtype).unwrap_or(""),
        tensor_name,
        row_shape,
        dtype.size(),
        metadata,
    ))
}

#[doc(hidden)]
#[derive(Debug)]
pub struct SafetensorsHeader {
    dtype: &'static str,
    name: String,
    row_shape: Vec<usize>,
    row_bytes: u64,
    metadata: BTreeMap<String, String>,
    /// Length of the JSON part, padding included: fits the largest counts, a multiple of 8.
    json_len: usize,
}

impl SafetensorsHeader {
    fn new(
        dtype: &'static str,
        name: &str,
        row_shape: &[usize],
        element_size: usize,
        metadata: BTreeMap<String, String>,
    ) -> Self {
        let mut header = SafetensorsHeader {
            dtype,
            name: name.to_owned(),
            row_shape: row_shape.to_vec(),
            // Overflow is rejected by the stream before any row is written.
            row_bytes: row_shape.iter().fold(element_size as u64, |bytes, &axis| {
                bytes.saturating_mul(axis as u64)
            }),
            metadata,
            json_len: 0,
        };
        // The longest JSON: both counts at their 20-digit maximum.
        let longest = header.json(u64::MAX, u64::MAX).len();
        header.json_len = longest.next_multiple_of(8);
        header
    }

    fn json(&self, rows: u64, bytes: u64) -> String {
        let mut shape = vec![serde_json::Value::from(rows)];
        shape.extend(
            self.row_shape
                .iter()
                .map(|&axis| serde_json::Value::from(axis)),
        );
        let mut root = serde_json::Map::new();
        root.insert(
            self.name.clone(),
            serde_json::json!({
                "dtype": self.dtype,
                "shape": shape,
                "data_offsets": [0u64, bytes],
            }),
        );
        if !self.metadata.is_empty() {
            root.insert(
                METADATA_KEY.to_owned(),
                serde_json::Value::Object(
                    self.metadata
                        .iter()
                        .map(|(key, value)| (key.clone(), value.clone().into()))
                        .collect(),
                ),
            );
        }
        serde_json::Value::Object(root).to_string()
    }
}

impl Header for SafetensorsHeader {
    fn encode(&self, rows: usize) -> Vec<u8> {
        let rows = rows as u64;
        let mut json = self
            .json(rows, rows.saturating_mul(self.row_bytes))
            .into_bytes();
        // `json_len` fits the longest JSON, so this only pads (with spaces, which the format
        // allows after the JSON); `RowStream` checks the length all the same.
        json.resize(self.json_len.max(json.len()), b' ');
        let mut header = Vec::with_capacity(8 + json.len());
        header.extend_from_slice(&(json.len() as u64).to_le_bytes());
        header.extend_from_slice(&json);
        header
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn safetensors_names_are_the_reference_crates_dtypes() {
        fn check<T: SafetensorsElement>() {
            let dtype: ::safetensors::Dtype =
                serde_json::from_value(serde_json::Value::from(T::DTYPE))
                    .unwrap_or_else(|err| panic!("{}: {err}", T::DTYPE));
            assert_eq!(dtype.to_string(), T::DTYPE);
            assert_eq!(dtype.bitsize(), 8 * size_of::<T>(), "{}", T::DTYPE);
        }
        check::<f16>();
        check::<bf16>();
        check::<f32>();
        check::<f64>();
        check::<i8>();
        check::<i16>();
        check::<i32>();
        check::<i64>();
        check::<u8>();
        check::<u16>();
        check::<u32>();
        check::<u64>();
    }

    fn header(rows: usize, metadata: BTreeMap<String, String>) -> Vec<u8> {
        SafetensorsHeader::new("F32", "x \"quoted\"", &[28, 28], 4, metadata).encode(rows)
    }

    #[test]
    fn the_header_has_a_fixed_aligned_length() {
        let metadata = BTreeMap::from([("format".to_owned(), "pt".to_owned())]);
        for metadata in [BTreeMap::new(), metadata] {
            let lengths: Vec<usize> = [0, 1, 77, usize::MAX / 4096]
                .iter()
                .map(|&rows| header(rows, metadata.clone()).len())
                .collect();
            assert!(lengths.windows(2).all(|w| w[0] == w[1]), "{lengths:?}");
            assert_eq!(lengths[0] % 8, 0);
        }
    }

    #[test]
    fn the_header_json_names_dtype_shape_and_offsets() {
        let bytes = header(3, BTreeMap::new());
        let len = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
        assert_eq!(len + 8, bytes.len());
        let text = std::str::from_utf8(&bytes[8..]).unwrap();
        assert!(text.starts_with('{'));
        let json: serde_json::Value = serde_json::from_str(text).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"x \"quoted\"": {
                "dtype": "F32", "shape": [3, 28, 28], "data_offsets": [0, 3 * 28 * 28 * 4]
            }})
        );
    }
}
