//! Row functions as Python objects (feature `python`): `register` adds a row function to a
//! `#[pymodule]` as an object whose `batch`, `par_batch` and `fill` take any iterable of items
//! and give numpy arrays.
//!
//! It sits on top of the engine like any other caller. Items are converted in chunks with the
//! GIL held ([`ITEMS_PER_CHUNK`] at a time), then their rows are computed with it released
//! (`par_batch`: on every thread of rayon's current pool), straight into the output's memory;
//! between chunks a pending signal (Ctrl-C) stops the call. `batch` allocates the output once
//! (a generator is first read into a list of its items, so that its length is known) and hands
//! that very buffer to numpy as the array's own memory: no copy after the loop.
//!
//! Errors are Python's: an item that does not convert is a `TypeError` naming its index and the
//! type expected; a failing row is a [`RowError`] (a `ValueError`, with `.index`); a buffer of
//! the wrong dtype or shape for `fill` is a `TypeError` or `ValueError` naming what it needs; a
//! panic in the row function is PyO3's `PanicException`, never an abort.

use std::fmt::Display;
use std::marker::PhantomData;
use std::path::PathBuf;

use pyo3::conversion::FromPyObjectOwned;
use pyo3::exceptions::{PyImportError, PyMemoryError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyIterator, PyList, PyModule, PyTuple};
use rayon::iter::IntoParallelIterator;

use crate::drivers::{self, Fatal, WriteRows};
use crate::element::ElementType;
use crate::failure::RowError as ItemFailure;
use crate::layout::{Field, Layout};
use crate::parallel::{self, Split};
use crate::policy::{Batch, FillStop};

mod arrays;
mod write;

pub use arrays::{ArrayItems, NoArrays, PyLayout, SliceRows};
use write::{Options, Target};

/// Items converted with the GIL held before their rows are computed without it: enough to make
/// the hand-over cheap, few enough that Ctrl-C is seen within a fraction of a second.
pub const ITEMS_PER_CHUNK: usize = 16_384;

pyo3::create_exception!(
    preallocate,
    RowError,
    PyValueError,
    "The row function failed on an item: `.index` is the item's position (counting from 0), the message is the row function's."
);

/// Adds the row function `row` to `module` under `name`: a Python object with `batch(items)`,
/// `par_batch(items)`, `fill(items, out)` and `chunks(items)`, and the properties `shape`
/// (one row's), `dtype` (numpy's name) and `name`. `O` is what each Python item is converted
/// to (`String` for a row function on `&str`, `Vec<f32>` for one on `&[f32]`, `T` for one on
/// `&T` or `T`). A row function with several outputs (`rows = ..`, run as `Multi<Row>`) gives
/// a dict of arrays, one per field, and its `shape` and `dtype` are dicts too. The module also
/// gets the exception class `RowError`.
///
/// `#[preallocate]` generates `f::register(module)`, which calls this with the function's own
/// row type; use that.
///
/// # Errors
/// When the object or the exception class cannot be added to the module.
pub fn register<W, O, A>(module: &Bound<'_, PyModule>, name: &'static str, row: W) -> PyResult<()>
where
    W: WriteRows<O> + Clone + Send + Sync + 'static,
    W::Layout: PyLayout,
    <W as WriteRows<O>>::Error: Display + Send,
    Fatal<W, O>: Send,
    O: for<'py> FromPyObjectOwned<'py> + Send + 'static,
    A: ArrayItems<W>,
{
    let py = module.py();
    if !module.hasattr("RowError")? {
        module.add("RowError", py.get_type::<RowError>())?;
    }
    module.add(name, Py::new(py, function::<W, O, A>(name, row))?)
}

/// The row function `row` as a Python object named `name`, as [`register`] adds it to a module:
/// what a `&self` method's `m_python()` sibling returns, for a `#[pyclass]` to hand out (a
/// getter, `fn encode(&self) -> RowFunction { self.encode_python() }`).
pub fn function<W, O, A>(name: &'static str, row: W) -> RowFunction
where
    W: WriteRows<O> + Clone + Send + Sync + 'static,
    W::Layout: PyLayout,
    <W as WriteRows<O>>::Error: Display + Send,
    Fatal<W, O>: Send,
    O: for<'py> FromPyObjectOwned<'py> + Send + 'static,
    A: ArrayItems<W>,
{
    RowFunction {
        name,
        inner: Box::new(Typed {
            row,
            items: PhantomData::<fn(O, A)>,
        }),
    }
}

/// Says that a row function's Python items are converted to `O` (`String` for a row function
/// on `&str`, `Vec<U>` on `&[U]`, `T` on `&T` or `T`): `#[preallocate]` implements it for the
/// function's row type when the `python` feature is on; `A` says whether it also takes the
/// rows of a 2-D numpy array as items ([`SliceRows`] for a row function on `&[U]`, else
/// [`NoArrays`]).
pub trait PythonItem<O, A> {}

/// A row function that can be added to a Python module, its items converted to `O`: every row
/// function whose items convert from Python objects and whose error type prints.
/// `f::register(module)` requires it, so that it compiles only where it can work.
#[diagnostic::on_unimplemented(
    message = "this row function cannot be registered in a Python module: its items are converted to `{O}`",
    label = "its items or its error type do not cross to Python",
    note = "the items must convert from Python objects (`FromPyObject`: numbers, `str`, `bytes`, tuples, lists, or a type of yours that implements it) and be `Send`; the row function's error type must be `Display + Send`"
)]
pub trait RegisterPython<O, A> {
    /// Adds the row function to `module` as `name`.
    ///
    /// # Errors
    /// When the object cannot be added to the module.
    fn register_python(module: &Bound<'_, PyModule>, name: &'static str) -> PyResult<()>;
}

impl<W, O, A> RegisterPython<O, A> for W
where
    W: WriteRows<O> + Default + Clone + Send + Sync + 'static,
    W::Layout: PyLayout,
    <W as WriteRows<O>>::Error: Display + Send,
    Fatal<W, O>: Send,
    O: for<'py> FromPyObjectOwned<'py> + Send + 'static,
    A: ArrayItems<W>,
{
    fn register_python(module: &Bound<'_, PyModule>, name: &'static str) -> PyResult<()> {
        register::<W, O, A>(module, name, W::default())
    }
}

/// A row function as Python sees it.
#[pyclass(frozen, name = "RowFunction", module = "preallocate")]
pub struct RowFunction {
    name: &'static str,
    inner: Box<dyn Erased>,
}

#[pymethods]
impl RowFunction {
    /// batch(items, /)
    /// --
    ///
    /// The rows of every item, in one numpy array of shape `(len(items), *shape)`, C-contiguous
    /// (for several outputs, a dict of such arrays, one per output). Items the row function
    /// drops give no row. Raises `TypeError` for an item that does not convert, `RowError` (a
    /// `ValueError`, with `.index`) for one the row function fails on.
    fn batch(&self, py: Python<'_>, items: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        self.inner.batch(py, items, false)
    }

    /// par_batch(items, /)
    /// --
    ///
    /// As `batch`, with the rows computed on every thread of rayon's pool: the same array, bit
    /// for bit.
    fn par_batch(&self, py: Python<'_>, items: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        self.inner.batch(py, items, true)
    }

    /// fill(items, out, /)
    /// --
    ///
    /// Writes the row of every item into `out`, a writable numpy array of this function's dtype
    /// whose rows have its shape (any strides), and returns the number of rows written. For
    /// several outputs, `out` is a dict of such arrays, one per output, with as many rows each.
    fn fill(
        &self,
        py: Python<'_>,
        items: &Bound<'_, PyAny>,
        out: &Bound<'_, PyAny>,
    ) -> PyResult<usize> {
        self.inner.fill(py, items, out)
    }

    /// chunks(items, /, *, chunk_rows=4096, parallel=False)
    /// --
    ///
    /// An iterator of arrays: the rows of `chunk_rows` items at a time (fewer in the last, and
    /// where items are dropped), each a new numpy array (a dict of arrays for several
    /// outputs), for a training loop that never holds the whole output:
    /// `for x in f.chunks(items, chunk_rows=4096): ...`. Items are read as the iteration goes;
    /// errors are those of `batch`, raised by the chunk they fall in.
    #[pyo3(signature = (items, /, *, chunk_rows = 4096, parallel = false))]
    fn chunks(
        slf: &Bound<'_, Self>,
        items: &Bound<'_, PyAny>,
        chunk_rows: usize,
        parallel: bool,
    ) -> PyResult<Chunks> {
        if chunk_rows == 0 {
            return Err(PyValueError::new_err("chunk_rows must be at least 1"));
        }
        dtypes_importable(slf.py(), &slf.get().inner.fields())?;
        Ok(Chunks {
            function: slf.clone().unbind(),
            items: items.try_iter()?.unbind(),
            index: 0,
            chunk_rows,
            parallel,
        })
    }

    /// write_npy(items, path, /, *, chunk_rows=None, memory_budget=None, threads=None)
    /// --
    ///
    /// Streams the rows of `items` (any iterable) into the `.npy` file `path` (`str` or
    /// `os.PathLike`) through one chunk buffer, whatever their number: for several outputs,
    /// `{field}.npy` in the directory `path`. The file appears under its name only when
    /// complete. `chunk_rows` (or `memory_budget` in bytes) sizes the buffer; `threads`
    /// computes each chunk on that many threads. Returns a dict `path`, `rows`, `shape`,
    /// `bytes`, `skipped` (a dict of them by field for several outputs). An item that does not
    /// convert raises its `TypeError`, a failing row `RowError`, with a note naming the
    /// `.partial` file that keeps the rows before it.
    #[pyo3(signature = (items, path, /, *, chunk_rows = None, memory_budget = None, threads = None))]
    fn write_npy(
        &self,
        py: Python<'_>,
        items: &Bound<'_, PyAny>,
        path: PathBuf,
        chunk_rows: Option<usize>,
        memory_budget: Option<usize>,
        threads: Option<usize>,
    ) -> PyResult<Py<PyAny>> {
        let options = Options {
            chunk_rows,
            memory_budget,
            threads,
            ..Options::default()
        };
        self.inner.write(py, items, Target::Npy(path), &options)
    }

    /// write_npy_shards(items, dir, /, *, shard_rows=None, job_key=None, partition=None, chunk_rows=None, memory_budget=None, threads=None)
    /// --
    ///
    /// Streams the rows into `.npy` shards `part-00000.npy`, ... then `manifest.json` in `dir`
    /// (for several outputs, in `dir/{field}/`): shard `j` holds the rows of items
    /// `j*shard_rows ..`, each committed when complete, so that a rerun of the same job
    /// (`job_key`) resumes after the committed shards. `partition=(index, count)` writes this
    /// worker's share of a job several workers run at once. Returns a dict `dir`, `manifest`,
    /// `rows`, `shards` (their paths), `skipped`, `complete`, `resumed`.
    #[pyo3(signature = (items, dir, /, *, shard_rows = None, job_key = None, partition = None, chunk_rows = None, memory_budget = None, threads = None))]
    #[allow(clippy::too_many_arguments)] // Python's keyword arguments
    fn write_npy_shards(
        &self,
        py: Python<'_>,
        items: &Bound<'_, PyAny>,
        dir: PathBuf,
        shard_rows: Option<usize>,
        job_key: Option<String>,
        partition: Option<(usize, usize)>,
        chunk_rows: Option<usize>,
        memory_budget: Option<usize>,
        threads: Option<usize>,
    ) -> PyResult<Py<PyAny>> {
        let options = Options {
            chunk_rows,
            memory_budget,
            threads,
            shard_rows,
            job_key,
            partition,
            ..Options::default()
        };
        self.inner
            .write(py, items, Target::NpyShards(dir), &options)
    }

    /// write_safetensors(items, path, /, *, tensor=None, chunk_rows=None, memory_budget=None, threads=None)
    /// --
    ///
    /// Streams the rows into the safetensors file `path`, as the tensor `tensor` (by default
    /// the row function's name; for several outputs, a tensor per field, named by it). The
    /// one format that stores bf16. Returns a dict as `write_npy`'s.
    #[pyo3(signature = (items, path, /, *, tensor = None, chunk_rows = None, memory_budget = None, threads = None))]
    #[allow(clippy::too_many_arguments)] // Python's keyword arguments
    fn write_safetensors(
        &self,
        py: Python<'_>,
        items: &Bound<'_, PyAny>,
        path: PathBuf,
        tensor: Option<String>,
        chunk_rows: Option<usize>,
        memory_budget: Option<usize>,
        threads: Option<usize>,
    ) -> PyResult<Py<PyAny>> {
        let options = Options {
            chunk_rows,
            memory_budget,
            threads,
            ..Options::default()
        };
        let tensor = self.output_name("tensor", tensor)?;
        self.inner
            .write(py, items, Target::Safetensors(path, tensor), &options)
    }

    /// write_zarr(items, store, /, *, name=None, compression=None, shard_rows=None, job_key=None, partition=None, chunk_rows=None, memory_budget=None, threads=None)
    /// --
    ///
    /// Writes the rows as the array `name` (by default the row function's name; for several
    /// outputs, an array per field) of the Zarr v3 group `store`, in chunks of `chunk_rows`
    /// rows, `shard_rows` rows to a shard object, `compression` `None`, `"zstd"` or
    /// `("zstd", level)`; resumable and partitioned as `write_npy_shards`. Needs the module to
    /// be built with preallocate's `zarr` feature. Returns a dict `store`, `name`, `shape`,
    /// `rows`, `kept`, `skipped`, `valid`, `resumed`, `complete`.
    #[pyo3(signature = (items, store, /, *, name = None, compression = None, shard_rows = None, job_key = None, partition = None, chunk_rows = None, memory_budget = None, threads = None))]
    #[allow(clippy::too_many_arguments)] // Python's keyword arguments
    fn write_zarr(
        &self,
        py: Python<'_>,
        items: &Bound<'_, PyAny>,
        store: PathBuf,
        name: Option<String>,
        compression: Option<Py<PyAny>>,
        shard_rows: Option<usize>,
        job_key: Option<String>,
        partition: Option<(usize, usize)>,
        chunk_rows: Option<usize>,
        memory_budget: Option<usize>,
        threads: Option<usize>,
    ) -> PyResult<Py<PyAny>> {
        let options = Options {
            chunk_rows,
            memory_budget,
            threads,
            shard_rows,
            job_key,
            partition,
            compression,
            ..Options::default()
        };
        let name = self.output_name("name", name)?;
        #[cfg(feature = "zarr")]
        return self
            .inner
            .write(py, items, Target::Zarr(store, name), &options);
        #[cfg(not(feature = "zarr"))]
        {
            let _ = (py, items, store, name, options);
            Err(write::not_built("write_zarr", "zarr"))
        }
    }

    /// write_parquet(items, path, /, *, column=None, compression=None, row_group_rows=None, chunk_rows=None, memory_budget=None, threads=None)
    /// --
    ///
    /// Streams the rows into the Parquet file `path`: the column `column` (by default the row
    /// function's name; for several outputs, a column per field), each row a fixed-size list,
    /// a row group per chunk or per `row_group_rows`; `compression` as for `write_zarr`, or
    /// `"snappy"`. Needs
    /// the module to be built with preallocate's `parquet` feature. Returns a dict as
    /// `write_npy`'s.
    #[pyo3(signature = (items, path, /, *, column = None, compression = None, row_group_rows = None, chunk_rows = None, memory_budget = None, threads = None))]
    #[allow(clippy::too_many_arguments)] // Python's keyword arguments
    fn write_parquet(
        &self,
        py: Python<'_>,
        items: &Bound<'_, PyAny>,
        path: PathBuf,
        column: Option<String>,
        compression: Option<Py<PyAny>>,
        row_group_rows: Option<usize>,
        chunk_rows: Option<usize>,
        memory_budget: Option<usize>,
        threads: Option<usize>,
    ) -> PyResult<Py<PyAny>> {
        let options = Options {
            chunk_rows,
            memory_budget,
            threads,
            compression,
            row_group_rows,
            ..Options::default()
        };
        let column = self.output_name("column", column)?;
        #[cfg(feature = "parquet")]
        return self
            .inner
            .write(py, items, Target::Parquet(path, column), &options);
        #[cfg(not(feature = "parquet"))]
        {
            let _ = (py, items, path, column, options);
            Err(write::not_built("write_parquet", "parquet"))
        }
    }

    /// write_parquet_shards(items, dir, /, *, column=None, compression=None, row_group_rows=None, shard_rows=None, job_key=None, partition=None, chunk_rows=None, memory_budget=None, threads=None)
    /// --
    ///
    /// Streams the rows into Parquet parts `part-00000.parquet`, ... then `manifest.json` in
    /// `dir`, committed, resumed and partitioned as `write_npy_shards`'s shards: one dataset
    /// for `pyarrow.dataset`, polars and Hugging Face `datasets`. Returns a dict as
    /// `write_npy_shards`'s.
    #[pyo3(signature = (items, dir, /, *, column = None, compression = None, row_group_rows = None, shard_rows = None, job_key = None, partition = None, chunk_rows = None, memory_budget = None, threads = None))]
    #[allow(clippy::too_many_arguments)] // Python's keyword arguments
    fn write_parquet_shards(
        &self,
        py: Python<'_>,
        items: &Bound<'_, PyAny>,
        dir: PathBuf,
        column: Option<String>,
        compression: Option<Py<PyAny>>,
        row_group_rows: Option<usize>,
        shard_rows: Option<usize>,
        job_key: Option<String>,
        partition: Option<(usize, usize)>,
        chunk_rows: Option<usize>,
        memory_budget: Option<usize>,
        threads: Option<usize>,
    ) -> PyResult<Py<PyAny>> {
        let options = Options {
            chunk_rows,
            memory_budget,
            threads,
            shard_rows,
            job_key,
            partition,
            compression,
            row_group_rows,
        };
        let column = self.output_name("column", column)?;
        #[cfg(feature = "parquet")]
        return self
            .inner
            .write(py, items, Target::ParquetShards(dir, column), &options);
        #[cfg(not(feature = "parquet"))]
        {
            let _ = (py, items, dir, column, options);
            Err(write::not_built("write_parquet_shards", "parquet"))
        }
    }

    /// The shape of one row (`[]` for a scalar row); for several outputs, a dict of them.
    #[getter]
    fn shape(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        self.per_output(py, |field| {
            Ok(PyList::new(py, field.row_shape)?.into_any().unbind())
        })
    }

    /// The numpy dtype of the output, by name (`"float32"`, `"bfloat16"`); for several
    /// outputs, a dict of them.
    #[getter]
    fn dtype(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        self.per_output(py, |field| {
            Ok(field
                .dtype
                .numpy_name()
                .into_pyobject(py)?
                .into_any()
                .unbind())
        })
    }

    /// The names of the outputs, in order, for a row function with several outputs; `None`
    /// for one output.
    #[getter]
    fn outputs<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyTuple>>> {
        self.inner
            .names()
            .map(|names| PyTuple::new(py, names))
            .transpose()
    }

    /// The row function's name.
    #[getter]
    fn name(&self) -> &'static str {
        self.name
    }

    fn __repr__(&self) -> String {
        let fields = self.inner.fields();
        let describe = |field: &Field| {
            format!(
                "rows of shape {:?}, dtype {}",
                field.row_shape,
                field.dtype.numpy_name()
            )
        };
        match self.inner.names() {
            None => format!("<row function {}: {}>", self.name, describe(&fields[0])),
            Some(names) => {
                let each: Vec<String> = names
                    .iter()
                    .zip(&fields)
                    .map(|(name, field)| format!("{name}: {}", describe(field)))
                    .collect();
                format!("<row function {}: {}>", self.name, each.join("; "))
            }
        }
    }
}

impl RowFunction {
    /// The name of the one output in a file (`key`: `tensor`, `name`, `column`): `given`, or
    /// the row function's name; for several outputs, none (they are named by field).
    fn output_name(&self, key: &str, given: Option<String>) -> PyResult<String> {
        match (self.inner.names(), given) {
            (None, given) => Ok(given.unwrap_or_else(|| self.name.to_owned())),
            (Some(_), None) => Ok(String::new()),
            (Some(names), Some(_)) => Err(PyValueError::new_err(format!(
                "{key} is for a row function with one output: these outputs are named by field, {names:?}"
            ))),
        }
    }

    /// `value` of the one output, or a dict of it per output.
    fn per_output(
        &self,
        py: Python<'_>,
        value: impl Fn(&Field) -> PyResult<Py<PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        let fields = self.inner.fields();
        let Some(names) = self.inner.names() else {
            return value(&fields[0]);
        };
        let dict = PyDict::new(py);
        for (name, field) in names.iter().zip(&fields) {
            dict.set_item(name, value(field)?)?;
        }
        Ok(dict.into_any().unbind())
    }
}

/// The iterator of `RowFunction.chunks`: one numpy array (or dict of arrays) per chunk of items.
#[pyclass(name = "Chunks", module = "preallocate")]
pub struct Chunks {
    function: Py<RowFunction>,
    items: Py<PyIterator>,
    /// The index of the next item.
    index: usize,
    chunk_rows: usize,
    parallel: bool,
}

#[pymethods]
impl Chunks {
    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__(&mut self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        let mut items = self.items.bind(py).clone();
        let function = self.function.get();
        match function
            .inner
            .chunk(py, &mut items, self.index, self.chunk_rows, self.parallel)?
        {
            Some((array, taken)) => {
                self.index += taken;
                Ok(Some(array))
            }
            None => Ok(None),
        }
    }
}

/// What [`RowFunction`] calls, whatever the row function's types.
trait Erased: Send + Sync {
    /// Each output's element type and row shape, in order.
    fn fields(&self) -> Vec<Field>;
    /// The outputs' names, for several outputs.
    fn names(&self) -> Option<&'static [&'static str]>;
    fn batch(
        &self,
        py: Python<'_>,
        items: &Bound<'_, PyAny>,
        parallel: bool,
    ) -> PyResult<Py<PyAny>>;
    fn fill(
        &self,
        py: Python<'_>,
        items: &Bound<'_, PyAny>,
        out: &Bound<'_, PyAny>,
    ) -> PyResult<usize>;
    /// Runs the row function through a pipeline into `target`.
    fn write(
        &self,
        py: Python<'_>,
        items: &Bound<'_, PyAny>,
        target: Target,
        options: &Options,
    ) -> PyResult<Py<PyAny>>;
    /// The array of the rows of up to `count` items of `iter` (the first of them item
    /// `index`), and how many items it took; `None` when `iter` is exhausted.
    fn chunk(
        &self,
        py: Python<'_>,
        iter: &mut Bound<'_, PyIterator>,
        index: usize,
        count: usize,
        parallel: bool,
    ) -> PyResult<Option<(Py<PyAny>, usize)>>;
}

/// A row function `W` over items converted to `O`, taking arrays of items as `A` says.
struct Typed<W, O, A> {
    row: W,
    items: PhantomData<fn(O, A)>,
}

impl<W, O, A> Erased for Typed<W, O, A>
where
    W: WriteRows<O> + Clone + Send + Sync + 'static,
    W::Layout: PyLayout,
    <W as WriteRows<O>>::Error: Display + Send,
    Fatal<W, O>: Send,
    O: for<'py> FromPyObjectOwned<'py> + Send + 'static,
    A: ArrayItems<W>,
{
    fn fields(&self) -> Vec<Field> {
        let mut fields = Vec::new();
        W::Layout::fields(W::shape(), &mut fields);
        fields
    }

    fn names(&self) -> Option<&'static [&'static str]> {
        W::NAMES
    }

    fn batch(
        &self,
        py: Python<'_>,
        items: &Bound<'_, PyAny>,
        parallel: bool,
    ) -> PyResult<Py<PyAny>> {
        dtypes_importable(py, &self.fields())?;
        let shape = W::shape();
        if let Some(len) = A::rows(items) {
            let mut buf = self.allocate(len)?;
            let out = W::Layout::buf_mut(&mut buf, shape, len);
            let rows = A::fill(&self.row, items, out, parallel)?;
            return self.to_numpy(py, W::Layout::buf_into_array(buf, shape, rows));
        }
        // The length first, so that the output is allocated once.
        let items = match items.len() {
            Ok(_) => items.clone(),
            Err(_) => PyList::new(py, items.try_iter()?.collect::<PyResult<Vec<_>>>()?)?.into_any(),
        };
        let len = items.len()?;
        let mut buf = self.allocate(len)?;
        let out = W::Layout::buf_mut(&mut buf, shape, len);
        let rows = self.run(py, &items, out, parallel)?;
        self.to_numpy(py, W::Layout::buf_into_array(buf, shape, rows))
    }

    fn fill(
        &self,
        py: Python<'_>,
        items: &Bound<'_, PyAny>,
        out: &Bound<'_, PyAny>,
    ) -> PyResult<usize> {
        dtypes_importable(py, &self.fields())?;
        let given = self.given(out)?;
        let mut borrowed = W::Layout::borrow(W::shape(), &mut given.into_iter())?;
        let view = W::Layout::views(&mut borrowed)?;
        // Every output's array has as many rows, before any is written.
        let capacity = match W::Layout::check(W::shape(), &view) {
            Ok(rows) => rows,
            Err(rejected) => return filled::<W, O>(py, Err(rejected.widen()), 0, 0),
        };
        if let Some(n) = items.len().ok().filter(|&n| n > capacity) {
            return Err(PyValueError::new_err(format!(
                "fill got {n} items for an array of {capacity} rows"
            )));
        }
        if A::rows(items).is_some() {
            return A::fill(&self.row, items, view, false);
        }
        self.run(py, items, view, false)
    }

    fn write(
        &self,
        py: Python<'_>,
        items: &Bound<'_, PyAny>,
        target: Target,
        options: &Options,
    ) -> PyResult<Py<PyAny>> {
        write::write::<W, O>(py, &self.row, items, target, options)
    }

    fn chunk(
        &self,
        py: Python<'_>,
        iter: &mut Bound<'_, PyIterator>,
        index: usize,
        count: usize,
        parallel: bool,
    ) -> PyResult<Option<(Py<PyAny>, usize)>> {
        let chunk = take_chunk::<O>(py, iter, index, count)?;
        if chunk.is_empty() {
            return Ok(None);
        }
        let taken = chunk.len();
        let shape = W::shape();
        let Some(mut buf) = W::Layout::try_buf(shape, taken) else {
            return Err(PyMemoryError::new_err(format!(
                "cannot allocate a chunk of {taken} rows"
            )));
        };
        let out = W::Layout::buf_mut(&mut buf, shape, taken);
        let rows = self.fill_chunk(py, chunk, out, index, parallel, taken)?;
        let arrays = self.to_numpy(py, W::Layout::buf_into_array(buf, shape, rows))?;
        Ok(Some((arrays, taken)))
    }
}

impl<W, O, A> Typed<W, O, A>
where
    W: WriteRows<O> + Clone + Send + Sync + 'static,
    W::Layout: PyLayout,
    <W as WriteRows<O>>::Error: Display + Send,
    Fatal<W, O>: Send,
    O: for<'py> FromPyObjectOwned<'py> + Send + 'static,
    A: ArrayItems<W>,
{
    /// The rows of `items` into `out`, chunk by chunk: each chunk's items converted with the
    /// GIL, their rows computed without it. Returns the rows written.
    fn run(
        &self,
        py: Python<'_>,
        items: &Bound<'_, PyAny>,
        mut out: <W::Layout as Layout>::Mut<'_>,
        parallel: bool,
    ) -> PyResult<usize> {
        let capacity = W::Layout::rows(&out);
        let mut iter = items.try_iter()?;
        let mut index = 0;
        let mut rows = 0;
        loop {
            let chunk = take_chunk::<O>(py, &mut iter, index, ITEMS_PER_CHUNK)?;
            if chunk.is_empty() {
                return Ok(rows);
            }
            let count = chunk.len();
            let free = W::Layout::slice(&mut out, rows, capacity);
            rows += self.fill_chunk(py, chunk, free, index, parallel, capacity)?;
            index += count;
        }
    }

    /// The rows of one chunk of converted items (the first of them item `index`) into `out`,
    /// computed with the GIL released. Returns the rows written.
    fn fill_chunk(
        &self,
        py: Python<'_>,
        chunk: Vec<O>,
        out: <W::Layout as Layout>::Mut<'_>,
        index: usize,
        parallel: bool,
        capacity: usize,
    ) -> PyResult<usize> {
        let row = &self.row;
        let done = py.detach(move || {
            if parallel {
                parallel::fill_on(
                    row,
                    chunk.into_par_iter(),
                    out,
                    rayon::current_num_threads(),
                    Split::Work(parallel::CALLER_BUFFER),
                )
            } else {
                drivers::fill_into(&mut row.clone(), chunk, out)
            }
        });
        filled::<W, O>(py, done, index, capacity)
    }

    /// Zeroed buffers of `len` rows of every output, or a `MemoryError` that says how large.
    fn allocate(&self, len: usize) -> PyResult<<W::Layout as Layout>::Buf> {
        W::Layout::try_buf(W::shape(), len).ok_or_else(|| {
            let sizes: Vec<String> = self
                .fields()
                .iter()
                .map(|field| format!("{:?} of {}", field.row_shape, field.dtype.numpy_name()))
                .collect();
            PyMemoryError::new_err(format!(
                "cannot allocate the output: {len} rows of shape {}",
                sizes.join(" and ")
            ))
        })
    }

    /// The arrays as numpy's (no copy): the one array, or a dict of them by output name.
    fn to_numpy(
        &self,
        py: Python<'_>,
        arrays: <W::Layout as Layout>::Array,
    ) -> PyResult<Py<PyAny>> {
        let mut each = Vec::new();
        W::Layout::to_numpy(py, arrays, &mut each);
        let Some(names) = W::NAMES else {
            return each
                .pop()
                .ok_or_else(|| PyValueError::new_err("a row function with no output"));
        };
        let dict = PyDict::new(py);
        for (name, array) in names.iter().zip(each) {
            dict.set_item(name, array)?;
        }
        Ok(dict.into_any().unbind())
    }

    /// The caller's buffers in the order of the outputs: `out` itself for one output, the
    /// values of the dict `out` by output name for several.
    fn given<'py>(&self, out: &Bound<'py, PyAny>) -> PyResult<Vec<arrays::Given<'py>>> {
        let Some(names) = W::NAMES else {
            return Ok(vec![(None, out.clone())]);
        };
        let expected = || format!("fill needs a dict of arrays with the keys {names:?}");
        let Ok(dict) = out.cast::<PyDict>() else {
            return Err(PyTypeError::new_err(format!(
                "{}, not a {}",
                expected(),
                out.get_type()
            )));
        };
        if dict.len() != names.len() {
            let keys: Vec<String> = dict.keys().iter().map(|key| key.to_string()).collect();
            return Err(PyValueError::new_err(format!(
                "{}, not {keys:?}",
                expected()
            )));
        }
        names
            .iter()
            .map(|&name| match dict.get_item(name)? {
                Some(array) => Ok((Some(name), array)),
                None => Err(PyValueError::new_err(format!(
                    "{}: `{name}` is missing",
                    expected()
                ))),
            })
            .collect()
    }
}

/// The rows a fill wrote, or its failure as a Python exception; `index` is the index of the
/// fill's first item.
fn filled<W: WriteRows<I> + ?Sized, I>(
    py: Python<'_>,
    done: Result<Batch<usize>, FillStop<Fatal<W, I>>>,
    index: usize,
    capacity: usize,
) -> PyResult<usize>
where
    <W as WriteRows<I>>::Error: Display,
{
    match done {
        Ok(batch) => Ok(batch.rows),
        Err(FillStop::Item { failed, .. }) => {
            let error: ItemFailure<<W as WriteRows<I>>::Error> = failed.failure.into();
            Err(row_error(py, index + failed.index, &error))
        }
        Err(FillStop::Full { .. }) => Err(PyValueError::new_err(format!(
            "fill got more items than the array has rows ({capacity})"
        ))),
        Err(FillStop::Rejected { expected, found }) => Err(PyValueError::new_err(format!(
            "fill needs rows of shape {expected:?}, not {found:?}"
        ))),
        Err(FillStop::Unequal { rows }) => Err(PyValueError::new_err(format!(
            "fill needs arrays with as many rows each, not {rows:?}"
        ))),
    }
}

/// Up to `count` items of `iter` converted, the first of them item `index`; after a check for
/// a pending signal (Ctrl-C).
fn take_chunk<O>(
    py: Python<'_>,
    iter: &mut Bound<'_, PyIterator>,
    index: usize,
    count: usize,
) -> PyResult<Vec<O>>
where
    O: for<'py> FromPyObjectOwned<'py>,
{
    py.check_signals()?;
    let mut chunk: Vec<O> = Vec::with_capacity(count);
    for item in iter.by_ref().take(count) {
        let item = item?;
        chunk.push(convert(&item, index + chunk.len())?);
    }
    Ok(chunk)
}

/// The item at `index` as the row function takes it, or a `TypeError` naming both.
fn convert<O>(item: &Bound<'_, PyAny>, index: usize) -> PyResult<O>
where
    O: for<'py> FromPyObjectOwned<'py>,
{
    item.extract::<O>().map_err(|err| {
        let err: PyErr = err.into();
        PyTypeError::new_err(format!(
            "item {index} (counting from 0) is a {}, which does not convert to `{}`: {}",
            item.get_type()
                .name()
                .map_or_else(|_| "?".to_owned(), |n| n.to_string()),
            std::any::type_name::<O>(),
            err.value(item.py())
        ))
    })
}

/// A [`RowError`] with `.index` and the row function's message.
fn row_error<E: Display>(py: Python<'_>, index: usize, error: &ItemFailure<E>) -> PyErr {
    let err = RowError::new_err(format!("item {index} (counting from 0): {error}"));
    if let Err(failed) = err.value(py).setattr("index", index) {
        return failed;
    }
    err
}

/// numpy knows `bfloat16` only once `ml_dtypes` is imported: an `ImportError` that says how to
/// get it, rather than a failure when the array is made.
fn dtypes_importable(py: Python<'_>, fields: &[Field]) -> PyResult<()> {
    if fields.iter().any(|field| field.dtype == ElementType::Bf16) {
        py.import("ml_dtypes").map_err(|err| {
            PyImportError::new_err(format!(
                "a bf16 output is a numpy array of ml_dtypes.bfloat16: `pip install ml_dtypes` ({})",
                err.value(py)
            ))
        })?;
    }
    Ok(())
}
