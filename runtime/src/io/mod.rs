//! Out-of-core output: writers that take chunks of finished rows and stream them to disk with
//! bounded memory.
//!
//! A writer consumes chunks — `n × dim` [`ArrayView2`]s of rows, usually one reused chunk buffer
//! — and never buffers rows itself, so the memory an output needs is the caller's chunk plus a
//! constant, whatever the number of rows. Three outputs, one shape ([`ChunkSink`]):
//!
//! | writer | output | element types |
//! |---|---|---|
//! | [`NpyWriter`] | one `.npy` file | [`NpyElement`]: all but `bf16` |
//! | [`NpyShardWriter`] | `part-00000.npy`, … and `manifest.json` | [`NpyElement`] |
//! | [`SafetensorsWriter`] | one safetensors file, one tensor | [`SafetensorsElement`]: all |
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
mod progress;
mod safetensors;
mod shards;
mod stream;

use std::path::PathBuf;

use ndarray::ArrayView2;

pub use self::dtype::{NpyElement, SafetensorsElement};
pub use self::error::{IoError, Partial, SinkError, SinkFailure};
pub use self::npy::NpyWriter;
#[cfg(feature = "progress")]
pub use self::progress::Progress;
pub use self::safetensors::SafetensorsWriter;
pub use self::shards::{NpyShardWriter, Shard, ShardsOutput, SHARD_MANIFEST};

/// The shape the three writers share, for a driver written once for all of them.
///
/// The driver creates a writer, passes it every chunk of rows, then calls `finish`; when its own
/// source or row function fails, it calls `abandon` and reports the rows kept. An `Err` from
/// `write_chunk` has already closed the writer and kept its rows.
///
/// ```
/// use preallocate_runtime::{ChunkSink, NpyWriter, SinkFailure};
/// use ndarray::Array2;
///
/// /// Streams `chunks` chunks of `rows` rows through any sink, from one reused buffer.
/// fn drive<S: ChunkSink<f32>>(mut sink: S, chunks: usize, rows: usize) -> Result<S::Output, SinkFailure> {
///     let mut buffer = Array2::<f32>::zeros((rows, 3)); // allocated once, reused
///     for chunk in 0..chunks {
///         buffer.fill(chunk as f32);
///         sink.write_chunk(buffer.view())?;
///     }
///     sink.finish()
/// }
///
/// let dir = tempfile::tempdir()?;
/// let out = drive(NpyWriter::create(dir.path().join("x.npy"), &[3])?, 4, 10)?;
/// assert_eq!(out.rows, 40);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait ChunkSink<T> {
    /// What a finished output reports.
    type Output;

    /// Appends the rows of `rows` (`n × elements per row`).
    ///
    /// # Errors
    /// Any error closes the sink; the failure says how many rows were written and where they
    /// are kept.
    fn write_chunk(&mut self, rows: ArrayView2<'_, T>) -> Result<(), SinkFailure>;

    /// The number of rows written so far.
    fn rows_written(&self) -> usize;

    /// Completes the output and moves it into place.
    ///
    /// # Errors
    /// When completing fails; the rows are then kept as on any failure.
    fn finish(self) -> Result<Self::Output, SinkFailure>
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
