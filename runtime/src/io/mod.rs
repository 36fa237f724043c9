//! Out-of-core output: writers that take chunks of finished rows and stream them to disk with
//! bounded memory.
//!
//! A writer consumes chunks — `n × dim` [`ArrayView2`]s of rows, usually one reused chunk buffer
//! — and never buffers rows itself, so the memory an output needs is the caller's chunk plus a
//! constant, whatever the number of rows. One file writer ([`FileWriter`], in `stream`) serves
//! both single-file formats, which differ only in their header; the shard writer drives one
//! `.npy` file writer per shard. The pipeline drives all of them through one trait
//! ([`ChunkSink`]):
//!
//! | writer | output | element types |
//! |---|---|---|
//! | [`NpyWriter`] (`FileWriter` + `.npy` header) | one `.npy` file | [`NpyElement`]: all but `bf16` |
//! | [`NpyShardWriter`] | `part-00000.npy`, … and `manifest.json` | [`NpyElement`] |
//! | [`SafetensorsWriter`] (`FileWriter` + safetensors header) | one safetensors file, one tensor | [`SafetensorsElement`]: all |
//!
//! Modules depend one way: `atomic`, `dtype`, `error`, `progress` ← `stream` ← `npy`,
//! `safetensors` ← `shards`.
//!
//! Each is atomic: rows go to a temporary file in the destination's directory, which is renamed
//! into place only when complete and flushed. A failure (or a writer dropped unfinished, as when a
//! panic unwinds through the caller) keeps the rows written so far in `<path>.partial` — a valid
//! file of the same format holding exactly those rows — and reports how many there are and where
//! ([`SinkFailure`], [`Partial`]); the final path is never touched by a failure.
//!
//! Why the headers are written here rather than by a format crate: both formats put the shape
//! before the data, and a stream knows its row count only at the end. The `.npy` crates
//! (`ndarray-npy`, `npyz`) write arrays they are given whole, or need the shape up front; the
//! `safetensors` serializer needs every tensor in memory. Both formats allow padding in the
//! header, so each writer reserves a header long enough for the largest count and rewrites it in
//! place, at the same length, when the stream ends.

mod atomic;
mod dtype;
mod error;
mod npy;
mod orphans;
mod progress;
mod resume;
#[cfg(feature = "s3")]
mod s3;
mod safetensors;
mod shards;
mod stream;
mod tensors;
#[cfg(feature = "zarr")]
mod zarr;

use std::path::PathBuf;

use crate::layout::Column;

pub use self::dtype::{NpyElement, NpyLayout, SafetensorsElement};
pub use self::error::{IoError, JobMismatch, Partial, SinkError, SinkFailure};
pub use self::npy::NpyWriter;
pub(crate) use self::npy::{create_dir, NpyFiles};
#[cfg(feature = "progress")]
pub use self::progress::Progress;
pub(crate) use self::progress::Ticker;
pub(crate) use self::resume::{Fingerprint, ShardJob, ShardRecord};
pub(crate) use self::safetensors::SafetensorsFile;
pub use self::safetensors::SafetensorsWriter;
pub use self::shards::{NpyShardWriter, Shard, ShardsOutput, SHARD_MANIFEST};
pub use self::stream::FileWriter;
#[cfg(feature = "zarr")]
pub(crate) use self::zarr::{open_store, Storage, ZarrJob, ZarrLayout};
#[cfg(feature = "zarr")]
pub use self::zarr::{Compression, ZarrElement, ZarrOutput};

/// How a pipeline's outputs are named: one output, named by the call (a tensor's or an array's
/// name; a `.npy` file needs none), or one per field of a struct of rows.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Names<'a> {
    /// One output, and the name the call gave it.
    One(&'a str),
    /// The fields' names, in order.
    Fields(&'static [&'static str]),
}

/// An output of a pipeline, for any number of fields: one file, a folder of files, or arrays of
/// a store. Each format implements it once.
///
/// The pipeline creates the output, passes it every chunk's columns (one per field, in order),
/// then calls `finish` with the indices of the items that gave no row; when its own source or
/// row function fails, it calls `abandon` and reports the rows kept. An `Err` from `write` has
/// already closed the output and kept its rows.
pub(crate) trait Output {
    /// What one finished field (or the one file of all fields) reports.
    type Report;

    /// Appends each field's rows of a chunk: `columns[k]` is field `k`'s.
    fn write(&mut self, columns: &[Column<'_>]) -> Result<(), SinkFailure>;

    /// Completes the output and moves it into place; `skipped` goes into its reports, one per
    /// field (or one for a file of all fields).
    fn finish(self, skipped: Vec<usize>) -> Result<Vec<Self::Report>, SinkFailure>;

    /// Stops, keeping the rows written so far as a partial output, and says where (the first
    /// field's, when each field has a file).
    fn abandon(self) -> Partial;
}

/// What a finished single-file writer ([`NpyWriter`], [`SafetensorsWriter`]) wrote.
///
/// ```
/// # let dir = tempfile::tempdir()?;
/// let mut npy = preallocate_runtime::NpyWriter::<u8>::create(dir.path().join("x.npy"), &[28, 28])?;
/// npy.write_chunk(ndarray::Array2::zeros((5, 784)).view())?;
/// let out = npy.finish()?;
/// assert_eq!(out.shape, vec![5, 28, 28]);
/// assert_eq!(out.bytes, out.data_offset + 5 * 784);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileOutput {
    /// The file's (final) path.
    pub path: PathBuf,
    /// Rows written.
    pub rows: usize,
    /// The array's shape: `rows` then the row shape.
    pub shape: Vec<usize>,
    /// The file's size in bytes.
    pub bytes: u64,
    /// Where the data starts: the header's length (a multiple of 64 for `.npy`, of 8 for
    /// safetensors).
    pub data_offset: u64,
    /// Input indices of the items that gave no row (filtered out, or failed under
    /// `on_error = "skip"`), increasing; empty when the writer was driven directly.
    pub skipped: Vec<usize>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use half::{bf16, f16};

    /// A pipeline may hand a writer to another thread (a writer thread behind a channel).
    #[test]
    fn writers_and_their_reports_are_send_and_sync() {
        fn send<T: Send>() {}
        fn sync<T: Sync>() {}
        send::<NpyWriter<f16>>();
        send::<NpyShardWriter<u8>>();
        send::<SafetensorsWriter<bf16>>();
        sync::<NpyWriter<f32>>();
        sync::<SinkFailure>();
        sync::<Partial>();
        send::<FileOutput>();
        send::<ShardsOutput>();
    }
}
