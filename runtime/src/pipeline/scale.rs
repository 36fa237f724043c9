//! Jobs that outlive a process: `.npy` shards committed one by one and resumed by a rerun,
//! and partitions (one worker's share of a job) under any scheduler.

use std::cell::Cell;
use std::iter::Peekable;
use std::path::{Path, PathBuf};

use ndarray::ArrayView2;
use serde_json::json;

use super::exec::Exec;
use super::{sink_error, Pipeline};
use crate::drivers::{Outputs, Stop, WriteRows};
use crate::error::{Error, ItemError, OutputCause};
use crate::io::{
    Fingerprint, NpyElement, NpyWriter, Shard, ShardJob, ShardRecord, ShardsOutput, SinkError,
    SinkFailure, Ticker,
};
use crate::layout::{Col, Layout};
use crate::partition::Partition;
use crate::row::{RowFn, RowSpec};
use ndarray::RemoveAxis;

/// The options of jobs that outlive a process; part of every [`Pipeline`].
#[derive(Debug, Clone, Default)]
pub(crate) struct Scale {
    /// Items per shard; `None`: the chunk's rows.
    shard_rows: Option<usize>,
    /// The user's part of the job's fingerprint.
    job_key: Option<String>,
    /// `(index, count)` as given, checked when the output starts.
    partition: Option<(usize, usize)>,
    /// How Zarr chunks are compressed.
    #[cfg(feature = "zarr")]
    compression: crate::io::Compression,
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
    /// # use preallocate_runtime::__private::{Axes1, FnRow};
    /// # use preallocate_runtime::{policy, Pipeline};
    /// # use std::convert::Infallible;
    /// let id = FnRow::<_, u32, Axes1<1>, Infallible, policy::Plain, true>::new(
    ///     |x: u32, row: &mut [u32]| { row[0] = x; Ok::<bool, Infallible>(true) },
    /// );
    /// let dir = tempfile::tempdir()?;
    /// let out = Pipeline::new(id).chunk_rows(64).shard_rows(1000)
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
    /// # use preallocate_runtime::__private::{Axes1, FnRow};
    /// # use preallocate_runtime::{policy, Error, OutputCause, Pipeline, SinkError};
    /// # use std::convert::Infallible;
    /// # let id = || FnRow::<_, u32, Axes1<1>, Infallible, policy::Plain, true>::new(
    /// #     |x: u32, row: &mut [u32]| { row[0] = x; Ok::<bool, Infallible>(true) },
    /// # );
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
    /// # use preallocate_runtime::__private::{Axes1, FnRow};
    /// # use preallocate_runtime::{policy, Pipeline};
    /// # use std::convert::Infallible;
    /// # let id = || FnRow::<_, u32, Axes1<1>, Infallible, policy::Plain, true>::new(
    /// #     |x: u32, row: &mut [u32]| { row[0] = x; Ok::<bool, Infallible>(true) },
    /// # );
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

    /// How [`write_zarr`](Pipeline::write_zarr) compresses its chunks (feature `zarr`): not
    /// at all (the default) or with zstd.
    ///
    /// ```
    /// # use preallocate_runtime::__private::{Axes1, FnRow};
    /// # use preallocate_runtime::{policy, Compression, Pipeline};
    /// # use std::convert::Infallible;
    /// # let id = FnRow::<_, u32, Axes1<1>, Infallible, policy::Plain, true>::new(
    /// #     |x: u32, row: &mut [u32]| { row[0] = x; Ok::<bool, Infallible>(true) },
    /// # );
    /// let dir = tempfile::tempdir()?;
    /// let out = Pipeline::new(id).compression(Compression::Zstd(3)).write_zarr(0..100, dir.path(), "x")?;
    /// assert_eq!(out.shape, vec![100, 1]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[cfg(feature = "zarr")]
    #[must_use]
    pub fn compression(mut self, compression: crate::io::Compression) -> Self {
        self.scale.compression = compression;
        self
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
    ) -> Result<crate::io::ZarrLayout, SinkError> {
        if let Some(shard_rows) = self.scale.shard_rows {
            if shard_rows % chunk_rows != 0 {
                return Err(SinkError::ShardRowsNotMultiple {
                    path: path.to_path_buf(),
                    chunk_rows,
                    shard_rows,
                });
            }
        }
        Ok(crate::io::ZarrLayout {
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

    /// The job's fingerprint: the row function, the dtype (`dtype`, as the format names it),
    /// the row shape, the input's length, the user's key, and the format's own `fields`.
    pub(crate) fn fingerprint<const N: usize>(
        &self,
        dtype: &str,
        row_shape: &[usize],
        length: Option<usize>,
        fields: [(&'static str, serde_json::Value); N],
    ) -> Fingerprint {
        Fingerprint::new(
            [
                ("row_fn", json!(std::any::type_name::<R>())),
                ("dtype", json!(dtype)),
                ("row_shape", json!(row_shape)),
                ("items", json!(length)),
                ("key", json!(self.scale.job_key)),
            ]
            .into_iter()
            .chain(fields),
        )
    }

    /// The one driver of outputs written unit by unit (a unit: the items of one shard or
    /// chunk): this worker's units in order, each computed through the engine's loop on its
    /// own items (a [`Window`]) and committed, or skipped when an earlier run committed it.
    pub(crate) fn run_units<I, S>(
        &mut self,
        items: I,
        sink: &mut S,
        unit_items: usize,
        partition: Partition,
        length: Option<usize>,
    ) -> Result<Units, Error<<R as WriteRows<I::Item>>::Error>>
    where
        I: Iterator,
        R: WriteRows<I::Item>,
        X: for<'a> Exec<R, Window<'a, I>>,
        S: UnitSink<R::Layout>,
    {
        let total = length.map(|n| n.div_ceil(unit_items));
        let range = match total {
            Some(total) => partition.range(total),
            None => 0..usize::MAX,
        };
        let chunk_rows = self.rows_per_chunk().min(unit_items);
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
        let mut done = Units::default();
        let mut unit = range.start;
        while unit < range.end && !sink.is_complete() {
            if let Some(record) = sink.committed(unit) {
                let record = record.clone();
                ticker.advance(record.items);
                let ended = record.items < unit_items
                    || (record.items > 0 && items.nth(record.items - 1).is_none());
                done.add(unit, record, true);
                unit += 1;
                if ended {
                    break;
                }
                continue;
            }
            if total.is_none() && items.peek().is_none() {
                break;
            }
            let first = unit * unit_items;
            let mut writer = sink
                .start(unit)
                .map_err(|failure| done.failed(sink, failure))?;
            let taken = Cell::new(0);
            let window = Window {
                inner: &mut items,
                left: unit_items,
                taken: &taken,
            };
            let run = self.exec.run_chunks(
                &mut self.row_fn,
                window,
                chunk_rows,
                |chunk: <R::Layout as Layout>::View<'_>| {
                    let rows = R::Layout::view_rows(&chunk);
                    sink.write(&mut writer, chunk)?;
                    ticker.advance(rows);
                    Ok::<(), SinkFailure>(())
                },
            );
            match run {
                Ok(skipped) => {
                    let record = ShardRecord {
                        rows: taken.get() - skipped.len(),
                        items: taken.get(),
                        skipped: skipped.into_iter().map(|i| first + i).collect(),
                    };
                    sink.commit(unit, writer, &record)
                        .map_err(|failure| done.failed(sink, failure))?;
                    let ended = record.items < unit_items;
                    done.add(unit, record, false);
                    unit += 1;
                    if ended {
                        break;
                    }
                }
                Err(Stop::Target(failure)) => {
                    ticker.abandon();
                    return Err(done.failed(sink, failure));
                }
                Err(Stop::Item(failed)) => {
                    ticker.abandon();
                    let kept = sink.abandon(writer);
                    return Err(Error::Output {
                        written: done.rows + kept,
                        partial: Some(sink.location()),
                        cause: OutputCause::Item(ItemError {
                            index: first + failed.index,
                            error: failed.failure.into(),
                        }),
                    });
                }
            }
        }
        let units = if sink.is_complete() {
            sink.committed_count()
        } else {
            total.unwrap_or(unit)
        };
        done.complete = match sink.finish(units) {
            Ok(complete) => complete,
            Err(source) => {
                ticker.abandon();
                return Err(done.failed(sink, failure(source)));
            }
        };
        if sink.is_complete() && done.units.is_empty() {
            // Complete when opened: this worker's units as recorded.
            for index in range.start..range.end.min(units) {
                if let Some(record) = sink.committed(index) {
                    done.add(index, record.clone(), true);
                }
            }
        }
        ticker.finish();
        Ok(done)
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
            return Err(fail(crate::PartitionError::UnknownLength { partition }));
        }
        Ok(partition)
    }

    fn unit_ticker(&self, total: Option<usize>) -> Ticker {
        if !self.progress {
            return Ticker::none();
        }
        #[cfg(feature = "progress")]
        {
            Ticker::new(crate::io::Progress::stderr(total.map(|n| n as u64)))
        }
        #[cfg(not(feature = "progress"))]
        {
            let _ = total;
            Ticker::none()
        }
    }
}

impl<R: RowSpec, X> Pipeline<R, X> {
    /// [`Pipeline::write_npy_shards`]: shards of items in item order, each committed as soon
    /// as it is complete, resumed by a rerun of the same job.
    pub(super) fn write_shards<I>(
        mut self,
        items: I,
        dir: &Path,
    ) -> Result<ShardsOutput, Error<<R as RowFn<I::Item>>::Error>>
    where
        I: IntoIterator,
        R: RowFn<I::Item>,
        R::Dtype: NpyElement,
        X: for<'a> Exec<R, Window<'a, I::IntoIter>>,
    {
        let items = items.into_iter();
        let length = exact_length(&items);
        let shard_items = self.shard_items();
        let partition = self.checked_partition(dir, length)?;
        let fingerprint = self.fingerprint(
            <R::Dtype as NpyElement>::DESCR,
            R::SHAPE,
            length,
            [("shard_rows", json!(shard_items))],
        );
        let mut job = ShardJob::<R::Dtype>::open(dir, R::SHAPE, shard_items, fingerprint)
            .map_err(|source| sink_error(failure(source)))?;
        let done = self.run_units(items, &mut job, shard_items, partition, length)?;
        Ok(done.shards_output(&job))
    }

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
    /// # use preallocate_runtime::__private::{Axes1, FnRow};
    /// # use preallocate_runtime::{policy, Pipeline};
    /// # use std::convert::Infallible;
    /// let evens = FnRow::<_, f32, Axes1<2>, Infallible, policy::Filtered, true>::new(
    ///     |x: u32, row: &mut [f32]| {
    ///         row.copy_from_slice(&[x as f32, 0.5]);
    ///         Ok::<bool, Infallible>(x % 2 == 0)
    ///     },
    /// );
    /// let dir = tempfile::tempdir()?;
    /// let out = Pipeline::new(evens).chunk_rows(4).write_zarr(0..10, dir.path().join("data.zarr"), "x")?;
    /// assert_eq!((out.shape.clone(), out.kept, out.complete), (vec![10, 2], 5, true));
    /// assert_eq!(out.valid.as_deref(), Some("x_valid"));
    /// assert!(dir.path().join("data.zarr/x/zarr.json").is_file());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[cfg(feature = "zarr")]
    pub fn write_zarr<I>(
        mut self,
        items: I,
        store: impl AsRef<Path>,
        name: &str,
    ) -> Result<crate::io::ZarrOutput, Error<<R as RowFn<I::Item>>::Error>>
    where
        I: IntoIterator,
        R: RowFn<I::Item>,
        R::Dtype: crate::io::ZarrElement,
        X: for<'a> Exec<R, Window<'a, I::IntoIter>>,
    {
        use crate::io::{ZarrElement, ZarrJob, ZarrLayout};
        use crate::policy::Policy;

        let location = store.as_ref().to_path_buf();
        let items = items.into_iter();
        let length = exact_length(&items);
        let chunk_rows = self.rows_per_chunk();
        let fail = |source| sink_error(failure(source));
        let layout = ZarrLayout {
            name: name.to_string(),
            row_shape: R::SHAPE.to_vec(),
            ..self
                .zarr_layout(
                    &location.join(name),
                    chunk_rows,
                    length,
                    <R::Policy as Policy>::DROPS,
                )
                .map_err(fail)?
        };
        let partition = self.checked_partition(&location.join(name), length)?;
        let unit_items = layout.unit_items();
        let fingerprint = self.fingerprint(
            <R::Dtype as ZarrElement>::ZARR_DTYPE,
            R::SHAPE,
            length,
            layout.fingerprint_fields(),
        );
        let storage = crate::io::open_store(&location).map_err(fail)?;
        let mut job =
            ZarrJob::<R::Dtype>::open(storage, location, layout, fingerprint).map_err(fail)?;
        let done = self.run_units(items, &mut job, unit_items, partition, length)?;
        Ok(done.zarr_output(&job))
    }
}

/// What one worker's units hold, as they are computed or found committed.
#[derive(Default)]
pub struct Units {
    /// Rows kept in them.
    pub(crate) rows: usize,
    /// Items they hold.
    pub(crate) items: usize,
    /// Each unit's index and rows kept, in order.
    pub(crate) units: Vec<(usize, usize)>,
    /// Items that gave no row, increasing.
    pub(crate) skipped: Vec<usize>,
    /// Units committed by an earlier run.
    pub(crate) resumed: usize,
    /// Whether the whole job is complete.
    pub(crate) complete: bool,
}

impl Units {
    /// The report of one output's shards, `job`'s, holding these units.
    pub(crate) fn shards_output<T: NpyElement>(&self, job: &ShardJob<T>) -> ShardsOutput {
        ShardsOutput {
            dir: job.dir().to_path_buf(),
            manifest: job.dir().join(crate::SHARD_MANIFEST),
            rows: self.rows,
            shards: self
                .units
                .iter()
                .map(|&(index, rows)| Shard {
                    path: job.shard_path(index),
                    rows,
                })
                .collect(),
            skipped: self.skipped.clone(),
            complete: self.complete,
            resumed: self.resumed,
        }
    }

    /// The report of one output's Zarr array, `job`'s, holding these units.
    #[cfg(feature = "zarr")]
    pub(crate) fn zarr_output<T: crate::io::ZarrElement>(
        &self,
        job: &crate::io::ZarrJob<T>,
    ) -> crate::io::ZarrOutput {
        crate::io::ZarrOutput {
            store: job.location().clone(),
            name: job.name().to_owned(),
            shape: job.shape(),
            rows: self.items,
            kept: self.rows,
            units: self.units.iter().map(|&(unit, _)| unit).collect(),
            skipped: self.skipped.clone(),
            valid: job.valid_name(),
            resumed: self.resumed,
            complete: self.complete,
        }
    }

    fn add(&mut self, index: usize, record: ShardRecord, resumed: bool) {
        self.resumed += usize::from(resumed);
        self.rows += record.rows;
        self.items += record.items;
        self.units.push((index, record.rows));
        self.skipped.extend(record.skipped);
    }

    /// The error of a failed output: the units committed before it stay where they are.
    fn failed<E, L: Layout, S: UnitSink<L>>(&self, sink: &S, failure: SinkFailure) -> Error<E> {
        sink_error(SinkFailure {
            written: self.rows + failure.written,
            partial: failure
                .partial
                .or_else(|| (self.rows > 0).then(|| sink.location())),
            source: failure.source,
        })
    }
}

/// An output written unit by unit, each unit (the items of one shard or chunk) committed
/// whole; driven by [`Pipeline::run_units`].
pub trait UnitSink<L: Layout> {
    /// What receives one unit's rows.
    type Writer;
    /// Whether the whole job was found complete when opened.
    fn is_complete(&self) -> bool;
    /// The record of a committed unit.
    fn committed(&self, unit: usize) -> Option<&ShardRecord>;
    /// How many units are known to be committed.
    fn committed_count(&self) -> usize;
    /// Starts unit `unit`.
    fn start(&mut self, unit: usize) -> Result<Self::Writer, SinkFailure>;
    /// Appends kept rows to the unit.
    fn write(&mut self, writer: &mut Self::Writer, rows: L::View<'_>) -> Result<(), SinkFailure>;
    /// Commits the unit, as `record` describes it.
    fn commit(
        &mut self,
        unit: usize,
        writer: Self::Writer,
        record: &ShardRecord,
    ) -> Result<(), SinkFailure>;
    /// Stops the unit after a failed item; returns the rows it kept (as a partial output).
    fn abandon(&mut self, writer: Self::Writer) -> usize;
    /// After this worker's units, out of `units` in the job: completes the job if every unit
    /// is committed, and says whether it is complete.
    fn finish(&mut self, units: usize) -> Result<bool, SinkError>;
    /// Where the output is, for errors.
    fn location(&self) -> PathBuf;
}

impl<T: NpyElement, D: RemoveAxis + 'static> UnitSink<Col<T, D>> for ShardJob<T> {
    type Writer = NpyWriter<T>;

    fn is_complete(&self) -> bool {
        ShardJob::is_complete(self)
    }

    fn committed(&self, unit: usize) -> Option<&ShardRecord> {
        ShardJob::committed(self, unit)
    }

    fn committed_count(&self) -> usize {
        ShardJob::committed_count(self)
    }

    fn start(&mut self, unit: usize) -> Result<NpyWriter<T>, SinkFailure> {
        ShardJob::start(self, unit)
    }

    fn write(
        &mut self,
        writer: &mut NpyWriter<T>,
        rows: ArrayView2<'_, T>,
    ) -> Result<(), SinkFailure> {
        writer.write_chunk(rows)
    }

    fn commit(
        &mut self,
        unit: usize,
        writer: NpyWriter<T>,
        record: &ShardRecord,
    ) -> Result<(), SinkFailure> {
        ShardJob::commit(self, unit, writer, record.clone()).map(drop)
    }

    fn abandon(&mut self, writer: NpyWriter<T>) -> usize {
        writer.abandon().rows
    }

    fn finish(&mut self, units: usize) -> Result<bool, SinkError> {
        ShardJob::finish(self, units).map(|manifest| manifest.is_some())
    }

    fn location(&self) -> PathBuf {
        self.dir().to_path_buf()
    }
}

#[cfg(feature = "zarr")]
impl<T: crate::io::ZarrElement, D: RemoveAxis + 'static> UnitSink<Col<T, D>>
    for crate::io::ZarrJob<T>
{
    type Writer = ();

    fn is_complete(&self) -> bool {
        crate::io::ZarrJob::is_complete(self)
    }

    fn committed(&self, unit: usize) -> Option<&ShardRecord> {
        crate::io::ZarrJob::committed(self, unit)
    }

    fn committed_count(&self) -> usize {
        crate::io::ZarrJob::committed_count(self)
    }

    fn start(&mut self, _: usize) -> Result<(), SinkFailure> {
        crate::io::ZarrJob::start(self);
        Ok(())
    }

    fn write(&mut self, (): &mut (), rows: ArrayView2<'_, T>) -> Result<(), SinkFailure> {
        crate::io::ZarrJob::write(self, rows)
    }

    fn commit(&mut self, unit: usize, (): (), record: &ShardRecord) -> Result<(), SinkFailure> {
        crate::io::ZarrJob::commit(self, unit, record)
    }

    fn abandon(&mut self, (): ()) -> usize {
        // A unit is stored whole or not at all: its rows are not kept.
        0
    }

    fn finish(&mut self, units: usize) -> Result<bool, SinkError> {
        crate::io::ZarrJob::finish(self, units)
    }

    fn location(&self) -> PathBuf {
        crate::io::ZarrJob::location(self).clone()
    }
}

/// The input's length, when its `size_hint` is exact.
pub(crate) fn exact_length<I: Iterator>(items: &I) -> Option<usize> {
    let (lower, upper) = items.size_hint();
    (upper == Some(lower)).then_some(lower)
}

/// A failure of an output before any row was written.
pub(crate) fn failure(source: SinkError) -> SinkFailure {
    SinkFailure {
        written: 0,
        partial: None,
        source,
    }
}

/// Several outputs' unit sinks, driven together: a unit is committed in every output (first to
/// last), and counts as committed only when it is committed in all of them.
impl<LA: Layout, LB: Layout, A: UnitSink<LA>, B: UnitSink<LB>> UnitSink<(LA, LB)> for (A, B) {
    type Writer = (A::Writer, B::Writer);

    fn is_complete(&self) -> bool {
        self.0.is_complete() && self.1.is_complete()
    }

    fn committed(&self, unit: usize) -> Option<&ShardRecord> {
        self.1.committed(unit)?;
        self.0.committed(unit)
    }

    fn committed_count(&self) -> usize {
        self.0.committed_count().min(self.1.committed_count())
    }

    fn start(&mut self, unit: usize) -> Result<Self::Writer, SinkFailure> {
        let first = self.0.start(unit)?;
        match self.1.start(unit) {
            Ok(second) => Ok((first, second)),
            Err(failure) => {
                let _ = self.0.abandon(first);
                Err(failure)
            }
        }
    }

    fn write(
        &mut self,
        writer: &mut Self::Writer,
        rows: <(LA, LB) as Layout>::View<'_>,
    ) -> Result<(), SinkFailure> {
        self.0.write(&mut writer.0, rows.0)?;
        self.1.write(&mut writer.1, rows.1)
    }

    fn commit(
        &mut self,
        unit: usize,
        writer: Self::Writer,
        record: &ShardRecord,
    ) -> Result<(), SinkFailure> {
        self.0.commit(unit, writer.0, record)?;
        self.1.commit(unit, writer.1, record)
    }

    fn abandon(&mut self, writer: Self::Writer) -> usize {
        let kept = self.0.abandon(writer.0);
        let _ = self.1.abandon(writer.1);
        kept
    }

    fn finish(&mut self, units: usize) -> Result<bool, SinkError> {
        let first = self.0.finish(units)?;
        let second = self.1.finish(units)?;
        Ok(first && second)
    }

    fn location(&self) -> PathBuf {
        self.0.location()
    }
}
