//! Jobs that outlive a process: `.npy` shards committed one by one and resumed by a rerun,
//! and partitions (one worker's share of a job) under any scheduler.

use std::cell::Cell;
use std::iter::Peekable;
use std::path::Path;

use super::exec::Exec;
use super::{sink_error, write_chunk, Pipeline};
use crate::drivers::{Outputs, Stop, WriteRows};
use crate::error::{Error, OutputCause};
use crate::failure::ItemError;
use crate::layout::Layout;
use crate::outputs::{
    npy_shards, Job, Names, NpyLayout, ShardRecord, ShardsOutput, SinkError, SinkFailure, Ticker,
    UnitOutput,
};
#[cfg(feature = "zarr")]
use crate::outputs::{ZarrArrays, ZarrFields, ZarrOutput};
use crate::partition::Partition;
#[cfg(any(feature = "zarr", feature = "parquet"))]
use crate::row::{RowFn, RowSpec};
#[cfg(any(feature = "zarr", feature = "parquet"))]
use crate::{
    drivers::Multi,
    rows::{RowsFn, RowsSpec},
};

/// The options of jobs that outlive a process; part of every [`Pipeline`].
#[derive(Debug, Clone, Default)]
pub(crate) struct Scale {
    /// Items per shard; `None`: the chunk's rows.
    shard_rows: Option<usize>,
    /// The user's part of the job's fingerprint.
    job_key: Option<String>,
    /// `(index, count)` as given, checked when the output starts.
    partition: Option<(usize, usize)>,
    /// How Zarr chunks and Parquet pages are compressed.
    #[cfg(any(feature = "zarr", feature = "parquet"))]
    compression: crate::outputs::Compression,
    /// Rows per Parquet row group; `None`: one per chunk.
    #[cfg(feature = "parquet")]
    row_group_rows: Option<usize>,
}

/// At most `left` items of a shared iterator, counting those it hands out: one shard's items.
///
/// Its `size_hint` is exact when the iterator's is, so that a threaded pipeline sizes its
/// buffers as for the whole input.
#[doc(hidden)]
pub struct Window<'a, I: Iterator> {
    inner: &'a mut Peekable<I>,
    left: usize,
    taken: &'a Cell<usize>,
}

impl<I: Iterator> Iterator for Window<'_, I> {
    type Item = I::Item;

    fn next(&mut self) -> Option<I::Item> {
        if self.left == 0 {
            return None;
        }
        let item = self.inner.next()?;
        self.left -= 1;
        self.taken.set(self.taken.get() + 1);
        Some(item)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let (lower, upper) = self.inner.size_hint();
        (
            lower.min(self.left),
            Some(upper.map_or(self.left, |upper| upper.min(self.left))),
        )
    }
}

impl<R: Outputs, X> Pipeline<R, X> {
    /// Items per `.npy` shard of [`write_npy_shards`](Pipeline::write_npy_shards), independent
    /// of the chunk buffer's rows (at least 1; by default, the chunk's rows). Shard `j` holds
    /// the rows of items `j·n .. (j+1)·n`: all `n` of them, or fewer when the row function drops
    /// items. A chunk never spans two shards, so the chunk buffer holds at most `n` rows.
    ///
    /// ```
    /// # use std::convert::Infallible;
    /// # use preallocate::{policy, RowFn, RowSpec};
    /// # struct Id;
    /// # impl RowSpec for Id {
    /// #     type Dtype = u32;
    /// #     type Dim = ndarray::Ix2;
    /// #     type Policy = policy::Plain;
    /// #     const DIM: usize = 1;
    /// #     const SHAPE: &'static [usize] = &[1];
    /// #     const OVERWRITES_ROW: bool = true;
    /// # }
    /// # impl RowFn<u32> for Id {
    /// #     type Error = Infallible;
    /// #     fn write_row(&mut self, x: u32, row: &mut [u32]) -> Result<bool, Infallible> {
    /// #         row[0] = x;
    /// #         Ok(true)
    /// #     }
    /// # }
    /// use preallocate::Pipeline;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let out = Pipeline::new(Id).chunk_rows(64).shard_rows(1000)
    ///     .write_npy_shards(0..2500, dir.path().join("shards"))?;
    /// assert_eq!(out.shards.iter().map(|s| s.rows).collect::<Vec<_>>(), [1000, 1000, 500]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn shard_rows(mut self, items: usize) -> Self {
        self.scale.shard_rows = Some(items.max(1));
        self
    }

    /// A key of your own in the job's fingerprint: change it when the row function's code
    /// changes in a way its name, dtype and shape do not show, so that a rerun does not resume
    /// (or take as complete) the shards computed by the old code.
    ///
    /// The fingerprint, recorded beside the shards, is: the row function's type name, the
    /// dtype, the row shape, the input's length (when known), the items per shard, and this
    /// key. A rerun with the same fingerprint resumes; a rerun with another one over an
    /// unfinished job is an error ([`SinkError::JobMismatch`](crate::SinkError::JobMismatch)).
    ///
    /// ```
    /// # use std::convert::Infallible;
    /// # use preallocate::{policy, RowFn, RowSpec};
    /// # struct Id;
    /// # impl RowSpec for Id {
    /// #     type Dtype = u32;
    /// #     type Dim = ndarray::Ix2;
    /// #     type Policy = policy::Plain;
    /// #     const DIM: usize = 1;
    /// #     const SHAPE: &'static [usize] = &[1];
    /// #     const OVERWRITES_ROW: bool = true;
    /// # }
    /// # impl RowFn<u32> for Id {
    /// #     type Error = Infallible;
    /// #     fn write_row(&mut self, x: u32, row: &mut [u32]) -> Result<bool, Infallible> {
    /// #         row[0] = x;
    /// #         Ok(true)
    /// #     }
    /// # }
    /// # let id = || Id;
    /// use preallocate::{Error, OutputCause, Pipeline, SinkError};
    ///
    /// let dir = tempfile::tempdir()?;
    /// let shards = dir.path().join("shards");
    /// // Worker 0 of 2 writes its half: the job is unfinished.
    /// let out = Pipeline::new(id()).shard_rows(10).job_key("v1").partition(0, 2).write_npy_shards(0..40, &shards)?;
    /// assert!(!out.complete);
    /// // Worker 1 runs with another key: refused, nothing mixed.
    /// let err = Pipeline::new(id()).shard_rows(10).job_key("v2").partition(1, 2)
    ///     .write_npy_shards(0..40, &shards).unwrap_err();
    /// assert!(matches!(&err, Error::Output { cause: OutputCause::Sink(SinkError::JobMismatch(m)), .. } if m.field == "key"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn job_key(mut self, key: impl Into<String>) -> Self {
        self.scale.job_key = Some(key.into());
        self
    }

    /// Makes this run worker `index` of `count` (from 0) of one job: for an input of known
    /// length, it takes the items of a contiguous range of whole shards
    /// ([`Partition::range`]), skipping the items before it without computing their rows, and
    /// writes only those shards, so no two workers write the same file. Each worker runs the
    /// same program over the same items, in any order, on any machine that sees the output
    /// directory; the last to finish writes the manifest (its report says `complete`).
    /// [`Partition::from_env`] reads `index` and `count` from a scheduler (Slurm, Kubernetes).
    ///
    /// A bad partition (`index >= count`, `count == 0`) or an input of unknown length is an
    /// error of the output ([`SinkError::Partition`](crate::SinkError::Partition)).
    ///
    /// ```
    /// # use std::convert::Infallible;
    /// # use preallocate::{policy, RowFn, RowSpec};
    /// # struct Id;
    /// # impl RowSpec for Id {
    /// #     type Dtype = u32;
    /// #     type Dim = ndarray::Ix2;
    /// #     type Policy = policy::Plain;
    /// #     const DIM: usize = 1;
    /// #     const SHAPE: &'static [usize] = &[1];
    /// #     const OVERWRITES_ROW: bool = true;
    /// # }
    /// # impl RowFn<u32> for Id {
    /// #     type Error = Infallible;
    /// #     fn write_row(&mut self, x: u32, row: &mut [u32]) -> Result<bool, Infallible> {
    /// #         row[0] = x;
    /// #         Ok(true)
    /// #     }
    /// # }
    /// # let id = || Id;
    /// use preallocate::Pipeline;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let shards = dir.path().join("shards");
    /// let first = Pipeline::new(id()).shard_rows(10).partition(0, 2).write_npy_shards(0..45, &shards)?;
    /// assert_eq!((first.rows, first.complete), (20, false)); // shards 0 and 1 of 5
    /// let second = Pipeline::new(id()).shard_rows(10).partition(1, 2).write_npy_shards(0..45, &shards)?;
    /// assert_eq!((second.rows, second.complete), (25, true)); // shards 2 to 4, then the manifest
    /// assert!(shards.join("manifest.json").exists());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn partition(mut self, index: usize, count: usize) -> Self {
        self.scale.partition = Some((index, count));
        self
    }

    /// How [`write_zarr`](Pipeline::write_zarr) compresses its chunks (feature `zarr`) and
    /// `write_parquet` its pages (feature `parquet`): not at all (the default) or with zstd.
    ///
    /// ```
    /// # use std::convert::Infallible;
    /// # use preallocate::{policy, RowFn, RowSpec};
    /// # struct Id;
    /// # impl RowSpec for Id {
    /// #     type Dtype = u32;
    /// #     type Dim = ndarray::Ix2;
    /// #     type Policy = policy::Plain;
    /// #     const DIM: usize = 1;
    /// #     const SHAPE: &'static [usize] = &[1];
    /// #     const OVERWRITES_ROW: bool = true;
    /// # }
    /// # impl RowFn<u32> for Id {
    /// #     type Error = Infallible;
    /// #     fn write_row(&mut self, x: u32, row: &mut [u32]) -> Result<bool, Infallible> {
    /// #         row[0] = x;
    /// #         Ok(true)
    /// #     }
    /// # }
    /// # let id = Id;
    /// use preallocate::{Compression, Pipeline};
    ///
    /// let dir = tempfile::tempdir()?;
    /// # #[cfg(feature = "zarr")] {
    /// let out = Pipeline::new(id).compression(Compression::Zstd(3)).write_zarr(0..100, dir.path(), "x")?;
    /// assert_eq!(out.shape, vec![100, 1]);
    /// # }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[cfg(any(feature = "zarr", feature = "parquet"))]
    #[must_use]
    pub fn compression(mut self, compression: crate::outputs::Compression) -> Self {
        self.scale.compression = compression;
        self
    }

    /// Rows per row group of [`write_parquet`](Pipeline::write_parquet) and
    /// [`write_parquet_shards`](Pipeline::write_parquet_shards) (feature `parquet`; at least
    /// 1). By default each chunk of rows is one row group; larger row groups read faster and
    /// compress better, and cost their encoded bytes in memory while they fill.
    ///
    /// ```
    /// # use std::convert::Infallible;
    /// # use preallocate::{policy, RowFn, RowSpec};
    /// # struct Id;
    /// # impl RowSpec for Id {
    /// #     type Dtype = u32;
    /// #     type Dim = ndarray::Ix2;
    /// #     type Policy = policy::Plain;
    /// #     const DIM: usize = 1;
    /// #     const SHAPE: &'static [usize] = &[1];
    /// #     const OVERWRITES_ROW: bool = true;
    /// # }
    /// # impl RowFn<u32> for Id {
    /// #     type Error = Infallible;
    /// #     fn write_row(&mut self, x: u32, row: &mut [u32]) -> Result<bool, Infallible> {
    /// #         row[0] = x;
    /// #         Ok(true)
    /// #     }
    /// # }
    /// use preallocate::{Compression, Pipeline};
    ///
    /// let dir = tempfile::tempdir()?;
    /// let out = Pipeline::new(Id)
    ///     .chunk_rows(1000)
    ///     .row_group_rows(100_000)
    ///     .compression(Compression::Zstd(3))
    ///     .write_parquet(0..250_000, dir.path().join("ids.parquet"), "id")?;
    /// assert_eq!(out.rows, 250_000); // in three row groups
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[cfg(feature = "parquet")]
    #[must_use]
    pub fn row_group_rows(mut self, rows: usize) -> Self {
        self.scale.row_group_rows = Some(rows.max(1));
        self
    }

    /// The settings of a Parquet output.
    #[cfg(feature = "parquet")]
    pub(crate) fn parquet_options(&self) -> crate::outputs::ParquetOptions {
        crate::outputs::ParquetOptions {
            compression: self.scale.compression,
            row_group_rows: self.scale.row_group_rows,
        }
    }

    /// Items per `.npy` shard: [`shard_rows`](Pipeline::shard_rows), else the chunk's rows.
    pub(crate) fn shard_items(&self) -> usize {
        self.scale
            .shard_rows
            .unwrap_or_else(|| self.rows_per_chunk())
    }

    /// The layout every array of a Zarr job shares (its name and row shape are the array's):
    /// chunks of `chunk_rows`, the shards, the compression, whether several workers write it
    /// and whether rows can be dropped. `path` names the output in errors.
    #[cfg(feature = "zarr")]
    pub(crate) fn zarr_layout(
        &self,
        path: &Path,
        chunk_rows: usize,
        length: Option<usize>,
        drops: bool,
    ) -> Result<crate::outputs::ZarrLayout, SinkError> {
        if let Some(shard_rows) = self.scale.shard_rows {
            if shard_rows % chunk_rows != 0 {
                return Err(SinkError::ShardRowsNotMultiple {
                    path: path.to_path_buf(),
                    chunk_rows,
                    shard_rows,
                });
            }
        }
        Ok(crate::outputs::ZarrLayout {
            name: String::new(),
            row_shape: Vec::new(),
            chunk_rows,
            shard_rows: self.scale.shard_rows,
            compression: self.scale.compression,
            length,
            partitioned: self.scale.partition.is_some_and(|(_, count)| count > 1),
            drops,
        })
    }

    /// What the job computes, for the outputs' fingerprints.
    fn job(&self, length: Option<usize>) -> Job {
        Job {
            row_fn: std::any::type_name::<R>(),
            length,
            key: self.scale.job_key.clone(),
        }
    }

    /// The one driver of outputs written unit by unit (a unit: the items of one shard or
    /// chunk): this worker's units in order, each computed through the engine's loop on its
    /// own items (a [`Window`]) and committed, or skipped when an earlier run committed it.
    pub(crate) fn run_units<I, U>(
        &mut self,
        items: I,
        output: &mut U,
        unit_items: usize,
        partition: Partition,
        length: Option<usize>,
    ) -> Result<(), Error<<R as WriteRows<I::Item>>::Error>>
    where
        I: Iterator,
        R: WriteRows<I::Item>,
        X: for<'a> Exec<R, Window<'a, I>>,
        U: UnitOutput,
    {
        let total = length.map(|n| n.div_ceil(unit_items));
        let range = match total {
            Some(total) => partition.range(total),
            None => 0..usize::MAX,
        };
        let ticker = self.unit_ticker(length.map(|n| {
            let start = range.start.saturating_mul(unit_items).min(n);
            range.end.saturating_mul(unit_items).min(n) - start
        }));
        let mut items = items.peekable();
        // The items before this worker's range: skipped, not computed.
        let before = range.start.saturating_mul(unit_items);
        if before > 0 {
            let _ = items.nth(before - 1);
        }
        let mut unit = range.start;
        while unit < range.end && !output.is_complete() {
            if let Some(record) = output.committed(unit).cloned() {
                ticker.advance(record.items);
                let ended = record.items < unit_items
                    || (record.items > 0 && items.nth(record.items - 1).is_none());
                output.units_mut().add(unit, record, true);
                unit += 1;
                if ended {
                    break;
                }
                continue;
            }
            if total.is_none() && items.peek().is_none() {
                break;
            }
            let ended = self
                .run_unit(&mut items, output, unit, unit_items, &ticker)
                .inspect_err(|_| ticker.abandon())?;
            unit += 1;
            if ended {
                break;
            }
        }
        let units = if output.is_complete() {
            output.committed_count()
        } else {
            total.unwrap_or(unit)
        };
        if let Err(source) = output.complete(units) {
            ticker.abandon();
            return Err(failed(output, failure(source)));
        }
        if output.is_complete() && output.units().units.is_empty() {
            // Complete when opened: this worker's units as recorded.
            for index in range.start..range.end.min(units) {
                if let Some(record) = output.committed(index).cloned() {
                    output.units_mut().add(index, record, true);
                }
            }
        }
        ticker.finish();
        Ok(())
    }

    /// Computes unit `unit` from the next `unit_items` items and commits it; says whether the
    /// input ended in it.
    fn run_unit<I, U>(
        &mut self,
        items: &mut Peekable<I>,
        output: &mut U,
        unit: usize,
        unit_items: usize,
        ticker: &Ticker,
    ) -> Result<bool, Error<<R as WriteRows<I::Item>>::Error>>
    where
        I: Iterator,
        R: WriteRows<I::Item>,
        X: for<'a> Exec<R, Window<'a, I>>,
        U: UnitOutput,
    {
        let first = unit * unit_items;
        let chunk_rows = self.rows_per_chunk().min(unit_items);
        output.start(unit).map_err(|f| failed(output, f))?;
        let taken = Cell::new(0);
        let window = Window {
            inner: items,
            left: unit_items,
            taken: &taken,
        };
        let run = self.exec.run_chunks(
            &mut self.row_fn,
            window,
            chunk_rows,
            |chunk: <R::Layout as Layout>::View<'_>| {
                write_chunk::<R::Layout, _>(&mut *output, &chunk, ticker)
            },
        );
        match run {
            Ok(skipped) => {
                let record = ShardRecord {
                    rows: taken.get() - skipped.len(),
                    items: taken.get(),
                    skipped: skipped.into_iter().map(|i| first + i).collect(),
                };
                let ended = record.items < unit_items;
                output.commit(unit, record).map_err(|f| failed(output, f))?;
                Ok(ended)
            }
            Err(Stop::Target(failure)) => Err(failed(output, failure)),
            Err(Stop::Item(failed)) => {
                let kept = output.abandon_unit();
                Err(Error::Output {
                    written: output.units().rows + kept,
                    partial: Some(output.location()),
                    other_partials: Box::default(),
                    cause: OutputCause::Item(ItemError {
                        index: first + failed.index,
                        error: failed.failure.into(),
                    }),
                })
            }
        }
    }

    pub(crate) fn checked_partition<E>(
        &self,
        dir: &Path,
        length: Option<usize>,
    ) -> Result<Partition, Error<E>> {
        let fail = |error| {
            sink_error(SinkFailure {
                written: 0,
                partial: None,
                source: SinkError::Partition {
                    path: dir.to_path_buf(),
                    error: Box::new(error),
                },
            })
        };
        let Some((index, count)) = self.scale.partition else {
            return Ok(Partition::WHOLE);
        };
        let partition = Partition::new(index, count).map_err(fail)?;
        if !partition.is_whole() && length.is_none() {
            return Err(fail(crate::partition::PartitionError::UnknownLength {
                partition,
            }));
        }
        Ok(partition)
    }

    fn unit_ticker(&self, total: Option<usize>) -> Ticker {
        if !self.progress {
            return Ticker::none();
        }
        #[cfg(feature = "progress")]
        {
            Ticker::new(crate::outputs::Progress::stderr(total.map(|n| n as u64)))
        }
        #[cfg(not(feature = "progress"))]
        {
            let _ = total;
            Ticker::none()
        }
    }
}

impl<R: Outputs, X> Pipeline<R, X> {
    /// Streams the rows into `.npy` shards (`part-00000.npy`, ...) then `manifest.json`: in
    /// `dir` for one output; for several (`rows = ..`), in `dir/{field}/` for each field, in
    /// one pass. Shard `j` (of every field) holds the rows of items `j·n .. (j+1)·n`, `n` being
    /// [`Pipeline::shard_rows`] (by default [`Pipeline::rows_per_chunk`]); `dir` is created if
    /// missing (its parent must exist).
    ///
    /// Each shard is committed as soon as it is complete (in every field): renamed into place,
    /// then recorded beside the shards with the job's fingerprint ([`Pipeline::job_key`]). A
    /// run that is killed or fails keeps its committed shards, and a rerun of the same job
    /// resumes after them, skipping their items without computing their rows; a rerun of a
    /// complete job returns at once. The manifest (each field's) is written last, once every
    /// shard is committed: a directory with a manifest is complete, one without is not. With
    /// [`Pipeline::partition`], several workers write their own shards of one job at once.
    ///
    /// Returns a [`ShardsOutput`] for one output, one per field in the order of the fields for
    /// several.
    ///
    /// # Errors
    /// As [`Pipeline::write_npy`]: the committed shards stay (the error's `partial`), with the
    /// rows of the shard being written in its `part-NNNNN.npy.partial`.
    /// [`SinkError::JobMismatch`](crate::SinkError::JobMismatch) when a directory holds an
    /// unfinished run of another job.
    // The report's type is the layout's: one, or one per field.
    #[allow(clippy::type_complexity)]
    pub fn write_npy_shards<I>(
        self,
        items: I,
        dir: impl AsRef<Path>,
    ) -> Result<R::Each<ShardsOutput>, Error<<R as WriteRows<I::Item>>::Error>>
    where
        I: IntoIterator,
        R: WriteRows<I::Item>,
        R::Layout: NpyLayout,
        X: for<'a> Exec<R, Window<'a, I::IntoIter>>,
    {
        self.npy_shards(items, dir.as_ref()).map(R::each)
    }

    /// The one definition of `write_npy_shards`, with one report per field: the element types
    /// are checked as the shards are opened (`bf16` is an error), for a caller whose types are
    /// known only at run time (Python).
    pub(crate) fn npy_shards<I>(
        mut self,
        items: I,
        dir: &Path,
    ) -> Result<Vec<ShardsOutput>, Error<<R as WriteRows<I::Item>>::Error>>
    where
        I: IntoIterator,
        R: WriteRows<I::Item>,
        X: for<'a> Exec<R, Window<'a, I::IntoIter>>,
    {
        let items = items.into_iter();
        let length = exact_length(&items);
        let shard_items = self.shard_items();
        let partition = self.checked_partition(dir, length)?;
        let names = R::NAMES.map_or(Names::One(""), Names::Fields);
        let mut output = npy_shards(dir, names, &Self::fields(), shard_items, &self.job(length))
            .map_err(sink_error)?;
        self.run_units(items, &mut output, shard_items, partition, length)?;
        Ok(output.reports())
    }

    /// The one definition of `write_parquet_shards`, for one output (its column `column`) and
    /// for several (a column per field); documented on the one-output call.
    #[cfg(feature = "parquet")]
    pub(crate) fn parquet_shards<I>(
        mut self,
        items: I,
        dir: &Path,
        column: &str,
    ) -> Result<ShardsOutput, Error<<R as WriteRows<I::Item>>::Error>>
    where
        I: IntoIterator,
        R: WriteRows<I::Item>,
        X: for<'a> Exec<R, Window<'a, I::IntoIter>>,
    {
        let items = items.into_iter();
        let length = exact_length(&items);
        let shard_items = self.shard_items();
        let partition = self.checked_partition(dir, length)?;
        let mut output = crate::outputs::parquet_shards(
            dir,
            Self::names(column),
            &Self::fields(),
            shard_items,
            self.parquet_options(),
            &self.job(length),
        )
        .map_err(sink_error)?;
        self.run_units(items, &mut output, shard_items, partition, length)?;
        Ok(output
            .reports()
            .into_iter()
            .next()
            .expect("Parquet shards report their one directory"))
    }

    /// The one definition of `write_zarr`, for one output (the array `name`) and for several
    /// (an array per field); documented on the one-output call, as Rust has no two arities
    /// for one method.
    #[cfg(feature = "zarr")]
    pub(crate) fn zarr<I>(
        mut self,
        items: I,
        location: &Path,
        name: &str,
    ) -> Result<Vec<ZarrOutput>, Error<<R as WriteRows<I::Item>>::Error>>
    where
        I: IntoIterator,
        R: WriteRows<I::Item>,
        X: for<'a> Exec<R, Window<'a, I::IntoIter>>,
    {
        use crate::policy::Policy;

        let fail = |source| sink_error(failure(source));
        let items = items.into_iter();
        let length = exact_length(&items);
        let chunk_rows = self.rows_per_chunk();
        let (names, path) = match R::NAMES {
            None => (Names::One(name), location.join(name)),
            Some(names) => (Names::Fields(names), location.to_path_buf()),
        };
        let layout = self
            .zarr_layout(&path, chunk_rows, length, <R::Policy as Policy>::DROPS)
            .map_err(fail)?;
        let partition = self.checked_partition(&path, length)?;
        let unit_items = layout.unit_items();
        let mut output =
            ZarrArrays::open(location, names, &Self::fields(), &layout, &self.job(length))
                .map_err(fail)?;
        self.run_units(items, &mut output, unit_items, partition, length)?;
        Ok(output.reports())
    }
}

#[cfg(feature = "zarr")]
impl<R: RowSpec, X> Pipeline<R, X> {
    /// Writes the rows as array `name` of the Zarr v3 group at `store` (a directory, created
    /// if missing; its parent must exist), feature `zarr`: shape `[items, SHAPE…]`, the row
    /// function's dtype (`f16` as `float16`), chunks of [`rows_per_chunk`](Pipeline::rows_per_chunk)
    /// rows, fill value 0, dimension names `row`, `<name>_1`, …, so that `zarr.open_array`,
    /// `dask.array.from_zarr` and `xarray.open_zarr` read it as it is.
    ///
    /// - Row `i` is item `i`. When the row function can drop items (`Option` rows,
    ///   `on_error = "skip"`), a dropped item's row is zero and the companion array
    ///   `<name>_valid` (`u8`, one per row) marks with `1` the rows that hold data.
    /// - [`shard_rows`](Pipeline::shard_rows) (a multiple of the chunk's rows) puts that many
    ///   rows' chunks in one shard object; [`compression`](Pipeline::compression) picks zstd.
    ///   A unit — a shard, or a chunk without sharding — is held in memory while it is filled.
    /// - An input of unknown length: the array's shape is written when the input ends.
    /// - Publishing: a single process writes the array's metadata last, so the array appears
    ///   only when complete (an earlier array of that name disappears when the run starts).
    ///   With [`partition`](Pipeline::partition), each worker writes its own whole units of
    ///   the one array, which exists from the first worker's start with
    ///   `attributes["preallocate"]["complete"] == false`; the worker that completes the last
    ///   unit sets it to `true`. Check that mark before reading a partitioned array.
    /// - Resume: each unit is recorded once stored; a rerun of the same job (the fingerprint,
    ///   as for [`write_npy_shards`](Pipeline::write_npy_shards), plus the array's name and
    ///   layout) skips the recorded units without computing their rows, and a rerun of a
    ///   complete job returns at once. Over an unfinished run of another job, the run fails
    ///   with [`SinkError::JobMismatch`](crate::SinkError::JobMismatch).
    /// - Several outputs (`rows = ..`): the same call without `name` writes an array per
    ///   field, named by the field, in one pass, with the same chunks, shards, compression,
    ///   partitions and resume; a unit is committed only when it is stored in every array, and
    ///   returns the arrays' reports in the order of the fields.
    ///
    /// `bf16` is refused at compile time: Zarr v3 has no standard bfloat16 that zarr-python
    /// reads; write it with [`write_safetensors`](Pipeline::write_safetensors).
    ///
    /// # Errors
    /// [`Error::Output`] when an item or the store fails: the units stored before it stay, and
    /// a rerun resumes after them. A bad array name, `shard_rows` not a multiple of the
    /// chunk's rows, or a bad partition are errors of the output before anything is written.
    ///
    /// ```
    /// # use std::convert::Infallible;
    /// # use preallocate::{policy, RowFn, RowSpec};
    /// # struct Evens;
    /// # impl RowSpec for Evens {
    /// #     type Dtype = f32;
    /// #     type Dim = ndarray::Ix2;
    /// #     type Policy = policy::Filtered;
    /// #     const DIM: usize = 2;
    /// #     const SHAPE: &'static [usize] = &[2];
    /// #     const OVERWRITES_ROW: bool = true;
    /// # }
    /// # impl RowFn<u32> for Evens {
    /// #     type Error = Infallible;
    /// #     fn write_row(&mut self, x: u32, row: &mut [f32]) -> Result<bool, Infallible> {
    /// #         row.copy_from_slice(&[x as f32, 0.5]);
    /// #         Ok(x % 2 == 0)
    /// #     }
    /// # }
    /// use preallocate::Pipeline;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let out = Pipeline::new(Evens).chunk_rows(4).write_zarr(0..10, dir.path().join("data.zarr"), "x")?;
    /// assert_eq!((out.shape.clone(), out.kept, out.complete), (vec![10, 2], 5, true));
    /// assert_eq!(out.valid.as_deref(), Some("x_valid"));
    /// assert!(dir.path().join("data.zarr/x/zarr.json").is_file());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[cfg(feature = "zarr")]
    pub fn write_zarr<I>(
        self,
        items: I,
        store: impl AsRef<Path>,
        name: &str,
    ) -> Result<ZarrOutput, Error<<R as RowFn<I::Item>>::Error>>
    where
        I: IntoIterator,
        R: RowFn<I::Item>,
        R::Dtype: crate::outputs::ZarrElement,
        X: for<'a> Exec<R, Window<'a, I::IntoIter>>,
    {
        let reports = self.zarr(items, store.as_ref(), name)?;
        Ok(reports
            .into_iter()
            .next()
            .expect("a Zarr output reports once per field"))
    }
}

#[cfg(feature = "zarr")]
impl<M: RowsSpec, X> Pipeline<Multi<M>, X> {
    /// The one-output [`Pipeline::write_zarr`] for several outputs: an array per field of the
    /// group at `store`, named by the field, in one pass, with the same chunks, shards,
    /// compression, partitions and resume; a unit is committed only when it is stored in
    /// every array, and `{field}_valid` stands beside each when items can be dropped. Returns
    /// the arrays' reports, in the order of the fields.
    ///
    /// # Errors
    /// As the one-output call.
    pub fn write_zarr<I>(
        self,
        items: I,
        store: impl AsRef<Path>,
    ) -> Result<Vec<ZarrOutput>, Error<M::Error>>
    where
        I: IntoIterator,
        M: RowsFn<I::Item>,
        <M::Rows as crate::rows::Rows>::Layout: ZarrFields,
        X: for<'a> Exec<Multi<M>, Window<'a, I::IntoIter>>,
    {
        self.zarr(items, store.as_ref(), "")
    }
}

/// The input's length, when its `size_hint` is exact.
pub(crate) fn exact_length<I: Iterator>(items: &I) -> Option<usize> {
    let (lower, upper) = items.size_hint();
    (upper == Some(lower)).then_some(lower)
}

/// The error of a failed unit-by-unit output: the units committed before it stay where they
/// are.
fn failed<E, U: UnitOutput>(output: &U, failure: SinkFailure) -> Error<E> {
    let rows = output.units().rows;
    sink_error(SinkFailure {
        written: rows + failure.written,
        partial: failure
            .partial
            .or_else(|| (rows > 0).then(|| output.location())),
        source: failure.source,
    })
}

/// A failure of an output before any row was written.
pub(crate) fn failure(source: SinkError) -> SinkFailure {
    SinkFailure {
        written: 0,
        partial: None,
        source,
    }
}

#[cfg(feature = "parquet")]
impl<R: RowSpec, X> Pipeline<R, X> {
    /// Streams the rows into a directory of Parquet files (feature `parquet`),
    /// `part-00000.parquet`, … then `manifest.json`, each part a file as
    /// [`write_parquet`](Pipeline::write_parquet) writes it (the column `column`), with the
    /// commits, resume, partitions and manifest of
    /// [`write_npy_shards`](Pipeline::write_npy_shards): part `j` holds the rows of items
    /// `j·n .. (j+1)·n`, `n` being [`shard_rows`](Pipeline::shard_rows) (by default
    /// [`rows_per_chunk`](Pipeline::rows_per_chunk)); each part is committed when complete, a
    /// rerun of the same job resumes after the parts committed, and the manifest is written
    /// last. The parts in name order hold the rows in item order, so the directory is one
    /// dataset for `pyarrow.dataset.dataset(dir)`, `polars.scan_parquet(f"{dir}/*.parquet")`
    /// and `datasets.load_dataset("parquet", data_dir=dir)`.
    ///
    /// A row function with several outputs (`rows = ..`) writes a column per field in each
    /// part: the same call without `column`.
    ///
    /// # Errors
    /// As [`Pipeline::write_npy_shards`]: the committed parts stay, the rows of the part being
    /// written are kept in its `part-NNNNN.parquet.partial`.
    ///
    /// ```
    /// # use std::convert::Infallible;
    /// # use preallocate::{policy, RowFn, RowSpec};
    /// # struct Id;
    /// # impl RowSpec for Id {
    /// #     type Dtype = i64;
    /// #     type Dim = ndarray::Ix2;
    /// #     type Policy = policy::Plain;
    /// #     const DIM: usize = 1;
    /// #     const SHAPE: &'static [usize] = &[1];
    /// #     const OVERWRITES_ROW: bool = true;
    /// # }
    /// # impl RowFn<i64> for Id {
    /// #     type Error = Infallible;
    /// #     fn write_row(&mut self, x: i64, row: &mut [i64]) -> Result<bool, Infallible> {
    /// #         row[0] = x;
    /// #         Ok(true)
    /// #     }
    /// # }
    /// use preallocate::Pipeline;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let out = Pipeline::new(Id).shard_rows(40).write_parquet_shards(0..100, dir.path().join("ds"), "id")?;
    /// assert_eq!((out.rows, out.shards.len(), out.complete), (100, 3, true));
    /// assert!(out.shards[2].path.ends_with("ds/part-00002.parquet"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn write_parquet_shards<I>(
        self,
        items: I,
        dir: impl AsRef<Path>,
        column: &str,
    ) -> Result<ShardsOutput, Error<<R as RowFn<I::Item>>::Error>>
    where
        I: IntoIterator,
        R: RowFn<I::Item>,
        R::Dtype: crate::outputs::ParquetElement,
        X: for<'a> Exec<R, Window<'a, I::IntoIter>>,
    {
        self.parquet_shards(items, dir.as_ref(), column)
    }
}

#[cfg(feature = "parquet")]
impl<M: RowsSpec, X> Pipeline<Multi<M>, X> {
    /// The one-output [`Pipeline::write_parquet_shards`] for several outputs: each part holds
    /// a column per field, named by the field.
    ///
    /// # Errors
    /// As the one-output call.
    pub fn write_parquet_shards<I>(
        self,
        items: I,
        dir: impl AsRef<Path>,
    ) -> Result<ShardsOutput, Error<M::Error>>
    where
        I: IntoIterator,
        M: RowsFn<I::Item>,
        <M::Rows as crate::rows::Rows>::Layout: crate::outputs::ParquetFields,
        X: for<'a> Exec<Multi<M>, Window<'a, I::IntoIter>>,
    {
        self.parquet_shards(items, dir.as_ref(), "")
    }
}
