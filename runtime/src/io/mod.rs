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
#[cfg(feature = "zarr")]
mod zarr_store;

use std::path::PathBuf;

use ndarray::ArrayView2;

pub use self::dtype::{NpyElement, SafetensorsElement};
pub use self::error::{IoError, JobMismatch, Partial, SinkError, SinkFailure};
pub use self::npy::NpyWriter;
#[cfg(feature = "progress")]
pub use self::progress::Progress;
pub(crate) use self::progress::Ticker;
pub(crate) use self::resume::{Fingerprint, ShardJob, ShardRecord};
pub use self::safetensors::SafetensorsWriter;
pub use self::shards::{NpyShardWriter, Shard, ShardsOutput, SHARD_MANIFEST};
pub use self::stream::FileWriter;
pub(crate) use self::tensors::{Parts, Spill, TensorsFile};
#[cfg(feature = "zarr")]
pub(crate) use self::zarr::{open_store, Storage, ZarrJob, ZarrLayout};
#[cfg(feature = "zarr")]
pub use self::zarr::{Compression, ZarrElement, ZarrOutput};

/// The shape the writers share, for the pipeline's one driver.
///
/// The driver creates a writer, passes it every chunk of rows, then calls `finish` with the
/// indices of the items that gave no row; when its own source or row function fails, it calls
/// `abandon` and reports the rows kept. An `Err` from `write_chunk` has already closed the writer
/// and kept its rows.
pub trait ChunkSink<T> {
    /// What a finished output reports.
    type Output;

    /// Appends the rows of `rows` (`n × elements per row`).
    fn write_chunk(&mut self, rows: ArrayView2<'_, T>) -> Result<(), SinkFailure>;

    /// Completes the output and moves it into place; `skipped` goes into its report.
    fn finish(self, skipped: Vec<usize>) -> Result<Self::Output, SinkFailure>
    where
        Self: Sized;

    /// Stops, keeping the rows written so far as a partial output, and says where.
    fn abandon(self) -> Partial
    where
        Self: Sized;
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
