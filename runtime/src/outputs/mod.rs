//! The outputs: one [`Output`] trait, implemented once per format for any number of fields
//! (one output is a layout with one field), and its unit-by-unit extension [`UnitOutput`] for
//! the formats that commit shard by shard and resume.
//!
//! An output takes each chunk of finished rows as one [`Column`] per field — the field's rows,
//! row-major, as bytes with their element type — and never buffers rows itself (a Zarr unit
//! excepted: one chunk or shard), so the memory an output needs is the caller's chunk plus a
//! constant, whatever the number of rows. It knows no loop and no builder: the pipeline drives
//! it.
//!
//! | output | format | files | element types |
//! |---|---|---|---|
//! | `NpyFiles` (`npy`) | `.npy` | the file, or `{field}.npy` in a directory | [`NpyElement`]: all but `bf16` |
//! | `SafetensorsFile` (`safetensors`, `tensors`) | safetensors | one file, a tensor per field | [`SafetensorsElement`]: all |
//! | `Shards` (`shards`, with `resume`; part files `npy::NpyParts`) | `.npy` shards | `part-00000.npy`, … and `manifest.json`, per field | [`NpyElement`] |
//! | `ParquetFile` (`parquet`; feature `parquet`) | Parquet | one file, a column per field; as shards, `part-00000.parquet`, … and `manifest.json` | [`ParquetElement`]: all but `bf16` |
//! | `ZarrArrays` (`zarr`, with `zarr/store.rs` and `zarr/records.rs`; feature `zarr`) | Zarr v3 | an array per field in one group | [`ZarrElement`]: all but `bf16` |
//!
//! The one file writer behind `.npy` and single-tensor safetensors streams (`stream`) also
//! serves the typed writers a caller may drive by hand ([`NpyWriter`], [`SafetensorsWriter`]).
//! The trait and the reports are in `output`; what the unit-by-unit formats share (a job's
//! fingerprint, a unit's record, a worker's tally) in `resume`; temporary files renamed into
//! place in `atomic`, with `orphans` for those a killed writer left; element bytes in `bytes`.
//! No module here imports the engine, the pipeline or the error module above them
//! (`runtime/tests/layers.rs` checks it).
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
mod bytes;
mod error;
mod npy;
mod orphans;
mod output;
#[cfg(feature = "parquet")]
mod parquet;
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

pub use self::error::{IoError, JobMismatch, Partial, SinkError, SinkFailure};
pub(crate) use self::npy::{shards as npy_shards, NpyFiles};
pub use self::npy::{NpyElement, NpyLayout, NpyWriter};
#[cfg(any(feature = "zarr", feature = "parquet"))]
pub use self::output::Compression;
pub use self::output::FileOutput;
pub(crate) use self::output::{Names, Output, UnitOutput};
#[cfg(feature = "parquet")]
pub(crate) use self::parquet::{shards as parquet_shards, ParquetFile, ParquetOptions};
#[cfg(feature = "parquet")]
pub use self::parquet::{ParquetElement, ParquetFields};
#[cfg(feature = "progress")]
pub use self::progress::Progress;
pub(crate) use self::progress::Ticker;
pub(crate) use self::resume::{Job, ShardRecord};
pub(crate) use self::safetensors::SafetensorsFile;
pub use self::safetensors::{SafetensorsElement, SafetensorsWriter};
pub use self::shards::{Shard, ShardsOutput, SHARD_MANIFEST};
pub use self::stream::FileWriter;
#[cfg(feature = "zarr")]
pub(crate) use self::zarr::{ZarrArrays, ZarrLayout};
#[cfg(feature = "zarr")]
pub use self::zarr::{ZarrElement, ZarrFields, ZarrOutput};

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
        send::<SafetensorsWriter<bf16>>();
        sync::<NpyWriter<f32>>();
        sync::<SinkFailure>();
        sync::<Partial>();
        send::<FileOutput>();
        send::<ShardsOutput>();
    }
}
