//! A Parquet column chunk of fixed-size lists, encoded here: data pages (format v1) of whole
//! rows, the values PLAIN, compressed page by page, without statistics or page indexes.
//!
//! Why not arrow-rs's `ArrowWriter`: it computes the repetition and definition level of every
//! value from the Arrow arrays' structure and encodes each one in turn, which took about half its
//! time on rows of 32 `f32` (`benches/parquet.rs`). For a fixed-size list of non-null values both
//! are the same for every row: the levels of a page are encoded once and reused, and the values
//! are the rows' bytes as they are (widened to 4 bytes for 1- and 2-byte integers, which Parquet
//! stores as `INT32`). parquet-rs still derives the Parquet schema from the Arrow one (the
//! encoder checks that it repeats once per row axis) and serializes the page headers and the
//! metadata.

use std::io::Write;

use bytes::Bytes;
use parquet::basic::{Compression as Codec, Encoding, EncodingMask, ZstdLevel};
use parquet::column::page::{CompressedPage, Page, PageWriter};
use parquet::errors::ParquetError;
use parquet::file::metadata::ColumnChunkMetaData;
use parquet::file::writer::{SerializedPageWriter, TrackedWrite};
use parquet::schema::types::ColumnDescPtr;

use super::super::bytes::le_column;
use super::super::output::Compression;
use crate::element::ElementType;
use crate::layout::Field;

/// The bytes of a page's values, about: a page holds this many bytes of rows, or one row when a
/// row is larger (parquet-rs's default page size).
const PAGE_BYTES: usize = 1024 * 1024;

/// Values per bit-packed run of levels: 64 groups of 8, as parquet-rs and Arrow C++ write them.
const RUN_VALUES: usize = 512;

/// A page's compression.
enum Compressor {
    None,
    Zstd(zstd::bulk::Compressor<'static>),
    Snappy(Box<snap::raw::Encoder>),
}

/// What the pages of one column chunk add up to.
#[derive(Debug, Default)]
pub(super) struct Pages {
    /// Where the first page starts, from the start of the sink the pages went to.
    start: Option<u64>,
    /// Values (levels) in the pages.
    values: i64,
    /// Bytes of the pages, headers included, as written and before compression.
    compressed: i64,
    uncompressed: i64,
}

impl Pages {
    /// Bytes of the pages before compression, headers included.
    pub(super) fn uncompressed(&self) -> i64 {
        self.uncompressed
    }
}

/// Encodes one column's rows as data pages.
pub(super) struct ColumnEncoder {
    descr: ColumnDescPtr,
    dtype: ElementType,
    row_shape: Vec<usize>,
    row_len: usize,
    /// Rows per page.
    page_rows: usize,
    codec: Codec,
    compressor: Compressor,
    /// The encoded levels of pages of that many rows, reused by the next of the same rows: the
    /// first size encoded (a full page, or a whole chunk), and the last other one (the short
    /// page that ends a chunk).
    levels: Vec<(usize, Vec<u8>)>,
    /// Byte-swapped values on a big-endian target.
    scratch: Vec<u8>,
}

impl ColumnEncoder {
    /// The encoder of `field`'s column, described by `descr` (the leaf parquet-rs derived from
    /// the Arrow schema), compressed by `compression`.
    pub(super) fn new(
        descr: ColumnDescPtr,
        field: &Field,
        compression: Compression,
    ) -> Result<Self, ParquetError> {
        let row_len = field.row_len();
        if usize::try_from(descr.max_rep_level()) != Ok(field.row_shape.len()) {
            return Err(ParquetError::General(format!(
                "column {} repeats {} times, its rows have {} axes",
                descr.path(),
                descr.max_rep_level(),
                field.row_shape.len()
            )));
        }
        // At most half a page's limit ([`row_fits_a_page`], checked with the schema).
        let row_bytes = row_len * plain_size(field.dtype);
        let (codec, compressor) = match compression {
            Compression::None => (Codec::UNCOMPRESSED, Compressor::None),
            Compression::Zstd(level) => {
                let level = ZstdLevel::try_new(level)?;
                let compressor = zstd::bulk::Compressor::new(level.compression_level())?;
                (Codec::ZSTD(level), Compressor::Zstd(compressor))
            }
            Compression::Snappy => (
                Codec::SNAPPY,
                Compressor::Snappy(Box::new(snap::raw::Encoder::new())),
            ),
        };
        Ok(ColumnEncoder {
            descr,
            dtype: field.dtype,
            row_shape: field.row_shape.to_vec(),
            row_len,
            page_rows: (PAGE_BYTES / row_bytes.max(1)).max(1),
            codec,
            compressor,
            levels: Vec::new(),
            scratch: Vec::new(),
        })
    }

    /// Writes `rows` rows, the column's element bytes `bytes`, as pages to `sink`, adding them
    /// to `pages`.
    pub(super) fn encode<W: Write + Send>(
        &mut self,
        bytes: &[u8],
        rows: usize,
        sink: &mut TrackedWrite<W>,
        pages: &mut Pages,
    ) -> Result<(), ParquetError> {
        let row_bytes = self.row_len * self.dtype.size();
        let mut start = 0;
        while start < rows {
            let end = rows.min(start + self.page_rows);
            let page = self.page(&bytes[start * row_bytes..end * row_bytes], end - start)?;
            let spec = SerializedPageWriter::new(sink).write_page(page)?;
            pages.start.get_or_insert(spec.offset);
            pages.values += i64::from(spec.num_values);
            pages.compressed += spec.compressed_size as i64;
            pages.uncompressed += spec.uncompressed_size as i64;
            start = end;
        }
        Ok(())
    }

    /// The metadata of the column chunk of `pages`, written from `offset` of the file on
    /// (where the sink they went to started).
    pub(super) fn metadata(
        &self,
        pages: &Pages,
        offset: u64,
    ) -> Result<ColumnChunkMetaData, ParquetError> {
        let encodings = [Encoding::PLAIN, Encoding::RLE];
        let start = offset + pages.start.unwrap_or(0);
        ColumnChunkMetaData::builder(self.descr.clone())
            .set_compression(self.codec)
            .set_encodings_mask(EncodingMask::new_from_encodings(encodings.iter()))
            .set_total_compressed_size(pages.compressed)
            .set_total_uncompressed_size(pages.uncompressed)
            .set_num_values(pages.values)
            .set_data_page_offset(i64::try_from(start).unwrap_or(i64::MAX))
            .build()
    }

    /// One data page of `rows` rows, whose element bytes are `bytes`.
    fn page(&mut self, bytes: &[u8], rows: usize) -> Result<CompressedPage, ParquetError> {
        let values = rows * self.row_len;
        let size = values * plain_size(self.dtype);
        let levels = self.levels(rows);
        let mut buf = Vec::with_capacity(levels.len() + size);
        buf.extend_from_slice(levels);
        let le = le_column(bytes, self.dtype.size(), &mut self.scratch);
        plain(self.dtype, le, &mut buf);
        let uncompressed = buf.len();
        let buf = match &mut self.compressor {
            Compressor::None => buf,
            Compressor::Zstd(zstd) => {
                let mut out = Vec::with_capacity(zstd::zstd_safe::compress_bound(buf.len()));
                zstd.compress_to_buffer(&buf[..], &mut out)?;
                out
            }
            Compressor::Snappy(snappy) => {
                let mut out = vec![0; snap::raw::max_compress_len(buf.len())];
                let len = snappy
                    .compress(&buf, &mut out)
                    .map_err(|err| ParquetError::External(Box::new(err)))?;
                out.truncate(len);
                out
            }
        };
        let page = Page::DataPage {
            buf: Bytes::from(buf),
            num_values: u32::try_from(values)
                .map_err(|_| ParquetError::General("too many values for a page".into()))?,
            encoding: Encoding::PLAIN,
            def_level_encoding: Encoding::RLE,
            rep_level_encoding: Encoding::RLE,
            statistics: None,
        };
        Ok(CompressedPage::new(page, uncompressed))
    }

    /// The encoded repetition and definition levels of a page of `rows` rows, each with its
    /// length before it: none where the column has no such level (a row of one value).
    fn levels(&mut self, rows: usize) -> &[u8] {
        let at = match self.levels.iter().position(|(cached, _)| *cached == rows) {
            Some(at) => at,
            None => {
                let encoded = self.encode_levels(rows);
                // The first size stays (full pages); the other is the last short page's.
                self.levels.truncate(1);
                self.levels.push((rows, encoded));
                self.levels.len() - 1
            }
        };
        &self.levels[at].1
    }

    /// [`levels`](ColumnEncoder::levels), encoded.
    fn encode_levels(&self, rows: usize) -> Vec<u8> {
        let mut out = Vec::new();
        let max_rep = level(self.descr.max_rep_level());
        if max_rep > 0 {
            let row = row_repetition(&self.row_shape);
            let all: Vec<u8> = (0..rows).flat_map(|_| row.iter().copied()).collect();
            with_length(&mut out, |out| bit_packed(&all, width(max_rep), out));
        }
        let max_def = level(self.descr.max_def_level());
        if max_def > 0 {
            with_length(&mut out, |out| {
                run(rows * self.row_len, max_def, width(max_def), out);
            });
        }
        out
    }
}

/// Whether a row of `field` fits a data page with room to spare: a page holds whole rows, and
/// fewer than 2^31 bytes (its size is a signed 32-bit integer in its header).
pub(super) fn row_fits_a_page(field: &Field) -> bool {
    let row_bytes = field
        .row_shape
        .iter()
        .try_fold(plain_size(field.dtype), |bytes, &len| {
            bytes.checked_mul(len)
        });
    row_bytes
        .and_then(|bytes| bytes.checked_mul(2))
        .is_some_and(|bytes| i32::try_from(bytes).is_ok())
}

/// A level of the schema, which derives them from the rows' axes (a few at most).
fn level(level: i16) -> u8 {
    u8::try_from(level).unwrap_or(u8::MAX)
}

/// The bits a level up to `max` takes.
fn width(max: u8) -> u8 {
    (u8::BITS - max.leading_zeros()) as u8
}

/// The repetition level of each value of a row of `shape`: 0 for its first value (a new row),
/// else 1 + the outermost axis at which a new list starts there.
fn row_repetition(shape: &[usize]) -> Vec<u8> {
    let len: usize = shape.iter().product();
    // strides[j]: values per element of axis j.
    let mut strides = vec![1; shape.len()];
    for j in (0..shape.len().saturating_sub(1)).rev() {
        strides[j] = strides[j + 1] * shape[j + 1];
    }
    (0..len)
        .map(|k| match k {
            0 => 0,
            _ => {
                let axis = strides.iter().position(|&stride| k % stride == 0);
                axis.map_or(0, |axis| axis + 1) as u8
            }
        })
        .collect()
}

/// Appends what `encode` writes to `out`, after its length as 4 little-endian bytes.
fn with_length(out: &mut Vec<u8>, encode: impl FnOnce(&mut Vec<u8>)) {
    let at = out.len();
    out.extend_from_slice(&[0; 4]);
    encode(out);
    let len = (out.len() - at - 4) as u32;
    out[at..at + 4].copy_from_slice(&len.to_le_bytes());
}

/// `value` repeated `count` times, as one run of the RLE/bit-packing hybrid of `width` bits.
fn run(count: usize, value: u8, width: u8, out: &mut Vec<u8>) {
    uleb128((count as u64) << 1, out);
    out.extend_from_slice(&u32::from(value).to_le_bytes()[..usize::from(width.div_ceil(8))]);
}

/// `levels` as bit-packed runs of the RLE/bit-packing hybrid, of `width` bits each, the last
/// group padded with zeros.
fn bit_packed(levels: &[u8], width: u8, out: &mut Vec<u8>) {
    for run in levels.chunks(RUN_VALUES) {
        let groups = run.len().div_ceil(8);
        uleb128(((groups as u64) << 1) | 1, out);
        let (mut bits, mut filled) = (0u64, 0);
        for k in 0..groups * 8 {
            bits |= u64::from(run.get(k).copied().unwrap_or(0)) << filled;
            filled += width;
            while filled >= 8 {
                out.push(bits as u8);
                bits >>= 8;
                filled -= 8;
            }
        }
    }
}

/// `value` as an unsigned LEB128 varint.
fn uleb128(mut value: u64, out: &mut Vec<u8>) {
    while value >= 0x80 {
        out.push(value as u8 | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// The bytes Parquet stores an element of `dtype` in: 4 for the 1- and 2-byte integers
/// (`INT32`), else the element's own.
fn plain_size(dtype: ElementType) -> usize {
    dtype.size().max(match dtype {
        ElementType::I8 | ElementType::U8 | ElementType::I16 | ElementType::U16 => 4,
        _ => 0,
    })
}

/// Appends the PLAIN encoding of the little-endian elements `le` of `dtype` to `out`.
fn plain(dtype: ElementType, le: &[u8], out: &mut Vec<u8>) {
    match dtype {
        ElementType::I8 => out.extend(le.iter().flat_map(|&b| i32::from(b as i8).to_le_bytes())),
        ElementType::U8 => out.extend(le.iter().flat_map(|&b| u32::from(b).to_le_bytes())),
        ElementType::I16 => out.extend(
            le.chunks_exact(2)
                .flat_map(|b| i32::from(i16::from_le_bytes([b[0], b[1]])).to_le_bytes()),
        ),
        ElementType::U16 => out.extend(
            le.chunks_exact(2)
                .flat_map(|b| u32::from(u16::from_le_bytes([b[0], b[1]])).to_le_bytes()),
        ),
        _ => out.extend_from_slice(le),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repetition_levels_start_each_row_and_each_inner_list() {
        assert_eq!(row_repetition(&[]), vec![0]);
        assert_eq!(row_repetition(&[3]), vec![0, 1, 1]);
        assert_eq!(row_repetition(&[2, 3]), vec![0, 2, 2, 1, 2, 2]);
        assert_eq!(row_repetition(&[2, 1, 2]), vec![0, 3, 1, 3]);
    }

    #[test]
    fn levels_are_encoded_as_the_hybrid_of_the_parquet_format() {
        assert_eq!((width(1), width(2), width(3), width(4)), (1, 2, 2, 3));
        let mut out = Vec::new();
        bit_packed(&[0, 1, 1, 0, 1, 1, 1, 1, 0, 1], 1, &mut out);
        // 2 groups; bits LSB first: 0b1111_0110, then 0b10 padded.
        assert_eq!(out, vec![0b101, 0b1111_0110, 0b10]);
        let mut out = Vec::new();
        bit_packed(&[0, 2, 1, 2], 2, &mut out);
        assert_eq!(out, vec![0b11, 0b1001_1000, 0]);
        let mut out = Vec::new();
        run(300, 1, 1, &mut out);
        assert_eq!(out, vec![0xD8, 0x04, 1]);
        let mut out = Vec::new();
        bit_packed(&vec![1; RUN_VALUES + 1], 1, &mut out);
        assert_eq!(&out[..2], &[0x81, 0x01]);
        assert_eq!(out.len(), 2 + 64 + 1 + 1);
    }

    #[test]
    fn small_integers_are_widened_to_four_bytes() {
        let mut out = Vec::new();
        plain(ElementType::I8, &[0xFF, 2], &mut out);
        assert_eq!(out, [(-1i32).to_le_bytes(), 2i32.to_le_bytes()].concat());
        out.clear();
        plain(ElementType::U16, &0xFFFFu16.to_le_bytes(), &mut out);
        assert_eq!(out, 0xFFFFu32.to_le_bytes());
        assert_eq!(plain_size(ElementType::U8), 4);
        assert_eq!(plain_size(ElementType::F16), 2);
        assert_eq!(plain_size(ElementType::F64), 8);
    }
}
