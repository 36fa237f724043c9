//! The one trait every output implements ([`Output`]), its unit-by-unit extension
//! ([`UnitOutput`]), how outputs are named ([`Names`]), and the report of one file
//! ([`FileOutput`]).

use std::path::PathBuf;

use super::error::{Partial, SinkError, SinkFailure};
use super::resume::{ShardRecord, Units};
use crate::layout::Column;

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

    /// Stops as [`Output::abandon`] does, and says where each file that keeps rows is: one
    /// [`Partial`] per file, in the order of the fields (one for an output of one file or one
    /// folder, which is the default).
    fn abandon_each(self) -> Vec<Partial>
    where
        Self: Sized,
    {
        vec![self.abandon()]
    }
}

/// An [`Output`] that commits unit by unit (shards, Zarr): a unit holds the items
/// `u·n .. (u+1)·n` and is committed whole in every field, or not at all, so that a killed
/// run is resumed exactly once. The pipeline's unit driver opens each unit with `start`,
/// passes it its rows through [`Output::write`], and commits it with its record; an item that
/// fails abandons the open unit.
///
/// Used as a plain [`Output`], `finish` completes the job over the units committed and
/// `abandon` drops the open unit.
pub(crate) trait UnitOutput: Output {
    /// Whether the whole job was found complete when opened.
    fn is_complete(&self) -> bool;
    /// The record of unit `unit`, if it is committed in every field.
    fn committed(&self, unit: usize) -> Option<&ShardRecord>;
    /// How many units are known to be committed in every field.
    fn committed_count(&self) -> usize;
    /// Opens unit `unit` (dropping a unit still open).
    fn start(&mut self, unit: usize) -> Result<(), SinkFailure>;
    /// Commits the open unit as unit `unit`, as `record` describes it, in every field.
    fn commit(&mut self, unit: usize, record: ShardRecord) -> Result<(), SinkFailure>;
    /// Drops the open unit after a failed item; returns the rows it kept (as a partial
    /// output), if any.
    fn abandon_unit(&mut self) -> usize;
    /// After this worker's units, out of `units` in the job: completes the job if every unit
    /// is committed, and says whether it is complete.
    fn complete(&mut self, units: usize) -> Result<bool, SinkError>;
    /// This run's units: those it committed and those an earlier run had.
    fn units(&self) -> &Units;
    /// The same, to count the units an earlier run committed.
    fn units_mut(&mut self) -> &mut Units;
    /// Where the output is, for errors.
    fn location(&self) -> PathBuf;
    /// Each field's report of this run's units; the last one takes the list of dropped items
    /// from the tally.
    fn reports(&mut self) -> Vec<Self::Report>;
}

/// [`Output::finish`] of a unit-by-unit output driven as a plain one: the job is the units
/// committed, completed if they are all of it.
pub(crate) fn finish_units<U: UnitOutput>(mut output: U) -> Result<Vec<U::Report>, SinkFailure> {
    let units = output.committed_count();
    output.complete(units).map_err(|source| SinkFailure {
        written: output.units().rows,
        partial: Some(output.location()),
        source,
    })?;
    Ok(output.reports())
}

/// [`Output::abandon`] of a unit-by-unit output: the open unit is dropped (what it kept, if
/// anything, is in a partial file), the units committed stay.
pub(crate) fn abandon_units<U: UnitOutput>(mut output: U) -> Partial {
    let kept = output.abandon_unit();
    Partial {
        rows: output.units().rows + kept,
        path: Some(output.location()),
        error: None,
    }
}

/// The record of a unit committed in every field (each field's record, in order): the first
/// field's, or `None` when a field has not committed it.
pub(crate) fn committed_in_all<'r>(
    mut records: impl Iterator<Item = Option<&'r ShardRecord>>,
) -> Option<&'r ShardRecord> {
    let first = records.next()??;
    records.all(|record| record.is_some()).then_some(first)
}

/// What a finished file wrote: a `.npy` or safetensors file of the pipeline, or of a writer driven
/// by hand ([`NpyWriter`](crate::NpyWriter), [`SafetensorsWriter`](crate::SafetensorsWriter)).
///
/// ```
/// # let dir = tempfile::tempdir()?;
/// let mut npy = preallocate::NpyWriter::<u8>::create(dir.path().join("x.npy"), &[28, 28])?;
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

/// How an output's data is compressed: Zarr chunks (feature `zarr`) and Parquet pages (feature
/// `parquet`), set with [`Pipeline::compression`](crate::Pipeline::compression).
///
/// ```
/// use preallocate::Compression;
///
/// assert_eq!(Compression::default(), Compression::None);
/// let zstd = Compression::Zstd(3); // zstd level 3: what zarr-python picks by default
/// # let _ = zstd;
/// ```
#[cfg(any(feature = "zarr", feature = "parquet"))]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Compression {
    /// Raw little-endian bytes: the fastest to write and read.
    #[default]
    None,
    /// zstd at this level (1 to 22; 3 is the usual default), without a checksum.
    Zstd(i32),
    /// Snappy: Parquet's usual default (pyarrow's, Spark's), faster than zstd and lighter.
    /// Parquet only: a Zarr output refuses it
    /// ([`SinkError::UnsupportedCompression`](crate::SinkError::UnsupportedCompression)),
    /// as Zarr v3 has no Snappy codec.
    Snappy,
}

#[cfg(any(feature = "zarr", feature = "parquet"))]
impl Compression {
    /// Its name in a job's fingerprint: `none`, `zstd-3`, `snappy`.
    pub(crate) fn name(self) -> String {
        match self {
            Compression::None => "none".into(),
            Compression::Zstd(level) => format!("zstd-{level}"),
            Compression::Snappy => "snappy".into(),
        }
    }
}
