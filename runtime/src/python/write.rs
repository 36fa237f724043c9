//! The pipeline's writers from Python: `f.write_npy(items, path, ...)` and the others run the
//! row function through a [`Pipeline`], with the GIL released, over the items of any Python
//! iterable converted a chunk at a time with it held.
//!
//! An item that does not convert (or an iterable that raises, or Ctrl-C) must stop the run as
//! a failed item does, so that nothing incomplete lands under the final name: the items reach
//! the pipeline as `Result<O, PyErr>`, and [`Converting`] runs the row function on the ones
//! that converted and fails on the others, whatever the row function's own policy.

use std::fmt::{self, Display};
use std::marker::PhantomData;
use std::path::PathBuf;

use pyo3::conversion::FromPyObjectOwned;
use pyo3::exceptions::{PyOSError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyIterator, PyList};

use super::{convert, RowError, ITEMS_PER_CHUNK};
use crate::drivers::{Fatal, Outputs, WriteRows};
use crate::error::{Error, OutputCause};
use crate::failure::{ItemError, RowError as ItemFailure};
use crate::layout::Layout;
use crate::outputs::{FileOutput, ShardsOutput, SinkError};
use crate::pipeline::exec::Exec;
use crate::pipeline::scale::Window;
use crate::pipeline::Pipeline;
use crate::policy::{Fallible, FallibleFiltered, Policy};

/// Where a writer puts the rows, as the Python call named it.
pub(super) enum Target {
    Npy(PathBuf),
    NpyShards(PathBuf),
    /// The file, and the tensor's name (one output; several outputs name theirs by field).
    Safetensors(PathBuf, String),
    /// The group, and the array's name (one output).
    #[cfg(feature = "zarr")]
    Zarr(PathBuf, String),
    /// The file, and the column's name (one output).
    #[cfg(feature = "parquet")]
    Parquet(PathBuf, String),
    /// The directory, and the column's name (one output).
    #[cfg(feature = "parquet")]
    ParquetShards(PathBuf, String),
}

/// A writer's keyword options: those of [`Pipeline`] of the same names.
#[derive(Default)]
pub(super) struct Options {
    pub(super) chunk_rows: Option<usize>,
    pub(super) memory_budget: Option<usize>,
    pub(super) threads: Option<usize>,
    pub(super) shard_rows: Option<usize>,
    pub(super) job_key: Option<String>,
    pub(super) partition: Option<(usize, usize)>,
    /// `None`, `"none"`, `"snappy"`, `"zstd"` (level 3) or `("zstd", level)`.
    pub(super) compression: Option<Py<PyAny>>,
    pub(super) row_group_rows: Option<usize>,
}

/// What the writers report: one report per field, or one for a file of all fields.
enum Reports {
    Files(Vec<FileOutput>),
    Shards(Vec<ShardsOutput>),
    #[cfg(feature = "zarr")]
    Zarr(Vec<crate::outputs::ZarrOutput>),
}

/// A Python item converted to `O`, or the exception that stopped the items: the item's
/// `TypeError`, the iterable's own, or a pending signal's.
type Converted<O> = Result<O, PyErr>;

/// Why a run from Python stopped at an item: it did not convert, or the row function failed.
#[derive(Debug)]
pub(super) enum PyFailure<E> {
    /// The item (or the iterable, or Ctrl-C) raised this.
    Item(PyErr),
    /// The row function's failure.
    Row(ItemFailure<E>),
}

impl<E: Display> Display for PyFailure<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PyFailure::Item(err) => err.fmt(f),
            PyFailure::Row(err) => err.fmt(f),
        }
    }
}

/// The row function `W` over converted Python items, under the policy `S` (one that stops at
/// a failure: `Fallible`, or `FallibleFiltered` where `W` drops items): an item that did not
/// convert stops the run; the row function's own failures and dropped items go as its policy
/// says.
pub(super) struct Converting<W, S>(W, PhantomData<fn() -> S>);

impl<W: Clone, S> Clone for Converting<W, S> {
    fn clone(&self) -> Self {
        Converting(self.0.clone(), PhantomData)
    }
}

impl<W: Outputs, S: Policy> Outputs for Converting<W, S> {
    type Layout = W::Layout;
    type Policy = S;
    const OVERWRITES_ROW: bool = W::OVERWRITES_ROW;
    type Arrays = W::Arrays;
    type Views<'a> = W::Views<'a>;
    type Chunk<'a> = W::Chunk<'a>;
    type Each<T> = W::Each<T>;
    const NAMES: Option<&'static [&'static str]> = W::NAMES;

    fn shape() -> <W::Layout as Layout>::Shape {
        W::shape()
    }

    fn each<T>(reports: Vec<T>) -> W::Each<T> {
        W::each(reports)
    }

    fn arrays(arrays: <W::Layout as Layout>::Array) -> W::Arrays {
        W::arrays(arrays)
    }

    fn views(views: W::Views<'_>) -> <W::Layout as Layout>::Mut<'_> {
        W::views(views)
    }

    fn chunk(chunk: <W::Layout as Layout>::View<'_>) -> W::Chunk<'_> {
        W::chunk(chunk)
    }
}

impl<O, W, S> WriteRows<Converted<O>> for Converting<W, S>
where
    W: WriteRows<O>,
    S: Policy<Failure<PyFailure<W::Error>> = ItemFailure<PyFailure<W::Error>>>,
{
    type Error = PyFailure<W::Error>;

    #[inline]
    fn write_rows(
        &mut self,
        item: Converted<O>,
        row: <W::Layout as Layout>::Row<'_>,
    ) -> Result<bool, ItemFailure<PyFailure<W::Error>>> {
        let item = item.map_err(|err| ItemFailure::Row(PyFailure::Item(err)))?;
        match self.0.write_rows(item, row) {
            Ok(kept) => Ok(kept),
            Err(failure) => match <W::Policy as Policy>::on_failure(failure) {
                // Dropped, as the row function's policy says (`on_error = "skip"`).
                Ok(()) => Ok(false),
                Err(fatal) => Err(ItemFailure::Row(PyFailure::Row(fatal.into()))),
            },
        }
    }
}

/// The items of a Python iterable, converted [`ITEMS_PER_CHUNK`] at a time with the GIL
/// taken for the chunk: what a pipeline reads while the GIL is released.
struct PyItems<O> {
    /// `None` once the iterable is exhausted or has failed.
    iter: Option<Py<PyIterator>>,
    ready: std::vec::IntoIter<Converted<O>>,
    /// The index of the next item to convert.
    index: usize,
    /// The items not yet yielded, when the iterable has a length.
    left: Option<usize>,
}

impl<O> PyItems<O> {
    fn new(items: &Bound<'_, PyAny>) -> PyResult<Self> {
        Ok(PyItems {
            left: items.len().ok(),
            iter: Some(items.try_iter()?.unbind()),
            ready: Vec::new().into_iter(),
            index: 0,
        })
    }
}

impl<O> Iterator for PyItems<O>
where
    O: for<'py> FromPyObjectOwned<'py>,
{
    type Item = Converted<O>;

    fn next(&mut self) -> Option<Converted<O>> {
        if self.ready.len() == 0 {
            let iter = self.iter.take()?;
            let index = self.index;
            let chunk = Python::attach(|py| {
                let (chunk, more) = take(py, iter.bind(py).clone(), index);
                // Dropped with the GIL held once it is done with.
                self.iter = more.then_some(iter);
                chunk
            });
            self.index += chunk.len();
            self.ready = chunk.into_iter();
        }
        let item = self.ready.next()?;
        self.left = self.left.map(|left| left.saturating_sub(1));
        Some(item)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        match self.left {
            Some(left) => (left, Some(left)),
            None => (self.ready.len(), None),
        }
    }
}

/// Up to [`ITEMS_PER_CHUNK`] items of `iter` converted (the first of them item `index`), and
/// whether more may follow: the chunk ends at the end of the items, or with the exception of
/// the item that did not convert, of the iterable, or of a pending signal.
fn take<O>(
    py: Python<'_>,
    mut iter: Bound<'_, PyIterator>,
    index: usize,
) -> (Vec<Converted<O>>, bool)
where
    O: for<'py> FromPyObjectOwned<'py>,
{
    let mut chunk = Vec::with_capacity(ITEMS_PER_CHUNK);
    if let Err(err) = py.check_signals() {
        chunk.push(Err(err));
        return (chunk, false);
    }
    while chunk.len() < ITEMS_PER_CHUNK {
        let converted = match iter.next() {
            None => return (chunk, false),
            Some(item) => item.and_then(|item| convert::<O>(&item, index + chunk.len())),
        };
        let failed = converted.is_err();
        chunk.push(converted);
        if failed {
            return (chunk, false);
        }
    }
    (chunk, true)
}

/// Runs `row` over `items` into `target` with the GIL released, and gives Python the reports:
/// a dict per report, a dict of them by output name for a writer with a report per field.
pub(super) fn write<W, O>(
    py: Python<'_>,
    row: &W,
    items: &Bound<'_, PyAny>,
    target: Target,
    options: &Options,
) -> PyResult<Py<PyAny>>
where
    W: WriteRows<O> + Clone + Send + Sync + 'static,
    <W as WriteRows<O>>::Error: Display + Send,
    Fatal<W, O>: Send,
    O: for<'py> FromPyObjectOwned<'py> + Send + 'static,
{
    if options.chunk_rows == Some(0) {
        return Err(PyValueError::new_err("chunk_rows must be at least 1"));
    }
    let items = PyItems::<O>::new(items)?;
    // The run's policy stops at an item that does not convert, and drops items where the row
    // function's does (a Zarr output then marks the rows that hold data, as from Rust).
    let done = if <W::Policy as Policy>::DROPS {
        run_on::<W, O, FallibleFiltered>(py, row, items, target, options)?
    } else {
        run_on::<W, O, Fallible>(py, row, items, target, options)?
    };
    match done {
        Ok(reports) => reports_to_python(py, W::NAMES, reports),
        Err(error) => Err(error_to_python(py, error)),
    }
}

/// What a run gives back: its reports, or why it stopped.
type Done<E> = Result<Reports, Error<PyFailure<E>>>;

/// The run under the policy `S`, with the GIL released.
fn run_on<W, O, S>(
    py: Python<'_>,
    row: &W,
    items: PyItems<O>,
    target: Target,
    options: &Options,
) -> PyResult<Done<<W as WriteRows<O>>::Error>>
where
    W: WriteRows<O> + Clone + Send + Sync + 'static,
    <W as WriteRows<O>>::Error: Display + Send,
    O: for<'py> FromPyObjectOwned<'py> + Send + 'static,
    S: Policy<
        Failure<PyFailure<<W as WriteRows<O>>::Error>> = ItemFailure<
            PyFailure<<W as WriteRows<O>>::Error>,
        >,
        Fatal<PyFailure<<W as WriteRows<O>>::Error>> = ItemFailure<
            PyFailure<<W as WriteRows<O>>::Error>,
        >,
    >,
{
    let converting = Converting::<W, S>(row.clone(), PhantomData);
    let pipeline = configure(py, Pipeline::new(converting), options)?;
    Ok(match options.threads {
        Some(threads) if threads > 1 => {
            let pipeline = pipeline.threads(threads);
            py.detach(move || run(pipeline, items, target))
        }
        _ => py.detach(move || run(pipeline, items, target)),
    })
}

/// The pipeline with the options given.
fn configure<C: Outputs>(
    py: Python<'_>,
    mut pipeline: Pipeline<C>,
    options: &Options,
) -> PyResult<Pipeline<C>> {
    if let Some(bytes) = options.memory_budget {
        pipeline = pipeline.memory_budget(bytes);
    }
    if let Some(rows) = options.chunk_rows {
        pipeline = pipeline.chunk_rows(rows);
    }
    if let Some(items) = options.shard_rows {
        pipeline = pipeline.shard_rows(items);
    }
    if let Some(key) = &options.job_key {
        pipeline = pipeline.job_key(key.clone());
    }
    if let Some((index, count)) = options.partition {
        pipeline = pipeline.partition(index, count);
    }
    #[cfg(any(feature = "zarr", feature = "parquet"))]
    if let Some(compression) = &options.compression {
        pipeline = pipeline.compression(compression_of(compression.bind(py))?);
    }
    #[cfg(not(any(feature = "zarr", feature = "parquet")))]
    if options.compression.is_some() {
        let _ = py;
        return Err(not_built("compression", "zarr` or `parquet"));
    }
    #[cfg(feature = "parquet")]
    if let Some(rows) = options.row_group_rows {
        pipeline = pipeline.row_group_rows(rows);
    }
    #[cfg(not(feature = "parquet"))]
    if options.row_group_rows.is_some() {
        return Err(not_built("row_group_rows", "parquet"));
    }
    Ok(pipeline)
}

/// `None`/`"none"`, `"snappy"`, `"zstd"` (level 3) or `("zstd", level)`.
#[cfg(any(feature = "zarr", feature = "parquet"))]
fn compression_of(given: &Bound<'_, PyAny>) -> PyResult<crate::outputs::Compression> {
    use crate::outputs::Compression;
    if given.is_none() {
        return Ok(Compression::None);
    }
    if let Ok(name) = given.extract::<String>() {
        match name.as_str() {
            "none" => return Ok(Compression::None),
            "zstd" => return Ok(Compression::Zstd(3)),
            "snappy" => return Ok(Compression::Snappy),
            _ => {}
        }
    }
    if let Ok((name, level)) = given.extract::<(String, i32)>() {
        if name == "zstd" && (1..=22).contains(&level) {
            return Ok(Compression::Zstd(level));
        }
    }
    Err(PyValueError::new_err(format!(
        "compression is None, \"none\", \"snappy\" (Parquet only), \"zstd\" or (\"zstd\", level) with a level from 1 to 22, not {}",
        given.repr().map_or_else(|_| "?".to_owned(), |r| r.to_string())
    )))
}

/// The one call that writes, whatever the pipeline's execution.
fn run<C, X, O>(
    pipeline: Pipeline<C, X>,
    items: PyItems<O>,
    target: Target,
) -> Result<Reports, Error<<C as WriteRows<Converted<O>>>::Error>>
where
    C: WriteRows<Converted<O>>,
    O: for<'py> FromPyObjectOwned<'py>,
    X: Exec<C, PyItems<O>> + for<'a> Exec<C, Window<'a, PyItems<O>>>,
{
    match target {
        Target::Npy(path) => pipeline.npy(items, &path).map(Reports::Files),
        Target::NpyShards(dir) => pipeline.npy_shards(items, &dir).map(Reports::Shards),
        Target::Safetensors(path, name) => pipeline
            .safetensors(items, &path, &name)
            .map(|report| Reports::Files(vec![report])),
        #[cfg(feature = "zarr")]
        Target::Zarr(store, name) => pipeline.zarr(items, &store, &name).map(Reports::Zarr),
        #[cfg(feature = "parquet")]
        Target::Parquet(path, column) => pipeline
            .parquet(items, &path, &column)
            .map(|report| Reports::Files(vec![report])),
        #[cfg(feature = "parquet")]
        Target::ParquetShards(dir, column) => pipeline
            .parquet_shards(items, &dir, &column)
            .map(|report| Reports::Shards(vec![report])),
    }
}

/// The error of a writer or option that needs a feature this module was built without.
#[cfg(not(all(feature = "zarr", feature = "parquet")))]
pub(super) fn not_built(what: &str, feature: &str) -> PyErr {
    pyo3::exceptions::PyNotImplementedError::new_err(format!(
        "{what} needs preallocate's `{feature}` feature, which this module was built without"
    ))
}

/// The reports as Python dicts: one dict, or a dict of them by output name when each field
/// has its own report.
fn reports_to_python(
    py: Python<'_>,
    names: Option<&'static [&'static str]>,
    reports: Reports,
) -> PyResult<Py<PyAny>> {
    let each: Vec<Bound<'_, PyDict>> = match reports {
        Reports::Files(files) => files
            .iter()
            .map(|r| file_report(py, r))
            .collect::<PyResult<_>>()?,
        Reports::Shards(shards) => shards
            .iter()
            .map(|r| shards_report(py, r))
            .collect::<PyResult<_>>()?,
        #[cfg(feature = "zarr")]
        Reports::Zarr(arrays) => arrays
            .iter()
            .map(|r| zarr_report(py, r))
            .collect::<PyResult<_>>()?,
    };
    match (names, each.len()) {
        (Some(names), n) if n == names.len() && n > 1 => {
            let dict = PyDict::new(py);
            for (name, report) in names.iter().zip(each) {
                dict.set_item(name, report)?;
            }
            Ok(dict.into_any().unbind())
        }
        _ => each
            .into_iter()
            .next()
            .map(|report| report.into_any().unbind())
            .ok_or_else(|| PyValueError::new_err("the writer reported nothing")),
    }
}

fn file_report<'py>(py: Python<'py>, report: &FileOutput) -> PyResult<Bound<'py, PyDict>> {
    let dict = PyDict::new(py);
    dict.set_item("path", &report.path)?;
    dict.set_item("rows", report.rows)?;
    dict.set_item("shape", pyo3::types::PyTuple::new(py, &report.shape)?)?;
    dict.set_item("bytes", report.bytes)?;
    dict.set_item("skipped", PyList::new(py, &report.skipped)?)?;
    Ok(dict)
}

fn shards_report<'py>(py: Python<'py>, report: &ShardsOutput) -> PyResult<Bound<'py, PyDict>> {
    let dict = PyDict::new(py);
    dict.set_item("dir", &report.dir)?;
    dict.set_item("manifest", &report.manifest)?;
    dict.set_item("rows", report.rows)?;
    let shards: Vec<&std::path::Path> = report.shards.iter().map(|s| s.path.as_path()).collect();
    dict.set_item("shards", PyList::new(py, shards)?)?;
    dict.set_item("skipped", PyList::new(py, &report.skipped)?)?;
    dict.set_item("complete", report.complete)?;
    dict.set_item("resumed", report.resumed)?;
    Ok(dict)
}

#[cfg(feature = "zarr")]
fn zarr_report<'py>(
    py: Python<'py>,
    report: &crate::outputs::ZarrOutput,
) -> PyResult<Bound<'py, PyDict>> {
    let dict = PyDict::new(py);
    dict.set_item("store", &report.store)?;
    dict.set_item("name", &report.name)?;
    dict.set_item("shape", pyo3::types::PyTuple::new(py, &report.shape)?)?;
    dict.set_item("rows", report.rows)?;
    dict.set_item("kept", report.kept)?;
    dict.set_item("skipped", PyList::new(py, &report.skipped)?)?;
    dict.set_item("valid", &report.valid)?;
    dict.set_item("resumed", report.resumed)?;
    dict.set_item("complete", report.complete)?;
    Ok(dict)
}

/// A writer's error as Python's: the item's own exception (a `TypeError` for an item that does
/// not convert, the iterable's, `KeyboardInterrupt`), or a [`RowError`] with `.index` for a
/// failing row, each with a note that says where the rows before it are kept; an `OSError`
/// for the file system, a `TypeError` for a dtype the format cannot store, a `ValueError` for
/// the rest (a bad option, another job's directory).
fn error_to_python<E: Display>(py: Python<'_>, error: Error<PyFailure<E>>) -> PyErr {
    let message = error.to_string();
    let kept: Vec<PathBuf> = error
        .partial_paths()
        .into_iter()
        .map(PathBuf::from)
        .collect();
    let (written, cause) = match error {
        Error::Output { written, cause, .. } => (written, cause),
        _ => return PyValueError::new_err(message),
    };
    match cause {
        OutputCause::Item(ItemError {
            index,
            error: ItemFailure::Row(PyFailure::Item(err)),
        }) => {
            let note = match kept.first() {
                Some(path) => format!(
                    "at item {index} (counting from 0): the {written} rows before it are kept in {}",
                    path.display()
                ),
                None => format!("at item {index} (counting from 0)"),
            };
            // Notes are Python 3.11's; without them the exception is as raised.
            let _ = err.value(py).call_method1("add_note", (note,));
            err
        }
        OutputCause::Item(ItemError { index, .. }) => {
            let err = RowError::new_err(message);
            if let Err(failed) = err.value(py).setattr("index", index) {
                return failed;
            }
            err
        }
        OutputCause::Sink(sink) => match sink {
            SinkError::Unsupported { .. } => PyTypeError::new_err(message),
            SinkError::Io { .. }
            | SinkError::Rename { .. }
            | SinkError::MissingDirectory { .. }
            | SinkError::IsADirectory { .. }
            | SinkError::NotADirectory { .. } => PyOSError::new_err(message),
            _ => PyValueError::new_err(message),
        },
    }
}
