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

use ndarray::{ArrayViewMut, Axis, IxDyn, Slice};
use numpy::{
    Element as NumpyElement, PyArray, PyArray2, PyArrayDyn, PyArrayMethods, PyUntypedArrayMethods,
};
use pyo3::conversion::FromPyObjectOwned;
use pyo3::exceptions::{PyImportError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyIterator, PyList, PyModule};
use rayon::iter::IntoParallelIterator;
use rayon::slice::ParallelSlice;

use crate::drivers::{self, Fatal, Outputs};
use crate::element::{Element, ElementType};
use crate::failure::RowError as ItemFailure;
use crate::layout::{Col, Layout};
use crate::parallel::{self, Split};
use crate::policy::{Batch, FillStop};
use crate::row::{RowFn, RowSpec};

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
/// `par_batch(items)` and `fill(items, out)`, and the properties `shape` (one row's),
/// `dtype` (numpy's name) and `name`. `O` is what each Python item is converted to (`String`
/// for a row function on `&str`, `Vec<f32>` for one on `&[f32]`, `T` for one on `&T` or `T`).
/// The module also gets the exception class `RowError`.
///
/// `#[preallocate]` generates `f::register(module)`, which calls this with the function's own
/// row type; use that.
///
/// # Errors
/// When the object or the exception class cannot be added to the module.
pub fn register<R, O, A>(module: &Bound<'_, PyModule>, name: &'static str, row: R) -> PyResult<()>
where
    R: RowFn<O> + Clone + Send + Sync + 'static,
    R::Dtype: NumpyElement,
    R::Error: Display + Send,
    Fatal<R, O>: Send,
    O: for<'py> FromPyObjectOwned<'py> + Send + 'static,
    A: ArrayItems<R>,
{
    let py = module.py();
    if !module.hasattr("RowError")? {
        module.add("RowError", py.get_type::<RowError>())?;
    }
    module.add(name, Py::new(py, function::<R, O, A>(name, row))?)
}

/// The row function `row` as a Python object named `name`, as [`register`] adds it to a module:
/// what a `&self` method's `m_python()` sibling returns, for a `#[pyclass]` to hand out (a
/// getter, `fn encode(&self) -> RowFunction { self.encode_python() }`).
pub fn function<R, O, A>(name: &'static str, row: R) -> RowFunction
where
    R: RowFn<O> + Clone + Send + Sync + 'static,
    R::Dtype: NumpyElement,
    R::Error: Display + Send,
    Fatal<R, O>: Send,
    O: for<'py> FromPyObjectOwned<'py> + Send + 'static,
    A: ArrayItems<R>,
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

impl<R, O, A> RegisterPython<O, A> for R
where
    R: RowFn<O> + Default + Clone + Send + Sync + 'static,
    R::Dtype: NumpyElement,
    R::Error: Display + Send,
    Fatal<R, O>: Send,
    O: for<'py> FromPyObjectOwned<'py> + Send + 'static,
    A: ArrayItems<R>,
{
    fn register_python(module: &Bound<'_, PyModule>, name: &'static str) -> PyResult<()> {
        register::<R, O, A>(module, name, R::default())
    }
}

/// Whether a row function takes the rows of a 2-D numpy array as its items, without a copy:
/// [`NoArrays`], or [`SliceRows`] for a row function on `&[U]`.
pub trait ArrayItems<R: RowSpec>: Send + Sync + 'static {
    /// The number of items of `items` when it is such an array.
    fn rows(items: &Bound<'_, PyAny>) -> Option<usize>;

    /// The rows of the items of the array `items` into `out`, computed with the GIL released;
    /// the rows written.
    ///
    /// # Errors
    /// A failing row ([`RowError`]), or a buffer that `out` cannot be.
    fn fill(
        row: &R,
        items: &Bound<'_, PyAny>,
        out: ArrayViewMut<'_, R::Dtype, R::Dim>,
        parallel: bool,
    ) -> PyResult<usize>;
}

/// Items come only one by one, converted from Python objects.
#[derive(Debug)]
pub struct NoArrays;

impl<R: RowSpec> ArrayItems<R> for NoArrays {
    fn rows(_: &Bound<'_, PyAny>) -> Option<usize> {
        None
    }

    fn fill(
        _: &R,
        _: &Bound<'_, PyAny>,
        _: ArrayViewMut<'_, R::Dtype, R::Dim>,
        _: bool,
    ) -> PyResult<usize> {
        Ok(0)
    }
}

/// A C-contiguous 2-D numpy array of `U` is taken as items, each row lent to the row function
/// as a `&[U]`: no conversion, no copy (other arrays are items one by one, each row converted).
///
/// The rows are read with the GIL released: the array must not be written by another Python
/// thread meanwhile.
#[derive(Debug)]
pub struct SliceRows<U>(PhantomData<fn() -> U>);

impl<R, U> ArrayItems<R> for SliceRows<U>
where
    U: NumpyElement + Sync + 'static,
    R: for<'a> RowFn<&'a [U]> + Clone + Send + Sync + 'static,
    for<'a> Fatal<R, &'a [U]>: Send,
    for<'a> <R as RowFn<&'a [U]>>::Error: Display,
{
    fn rows(items: &Bound<'_, PyAny>) -> Option<usize> {
        let array = items.cast::<PyArray2<U>>().ok()?;
        (array.is_c_contiguous() && array.shape()[1] > 0).then(|| array.shape()[0])
    }

    fn fill(
        row: &R,
        items: &Bound<'_, PyAny>,
        out: ArrayViewMut<'_, R::Dtype, R::Dim>,
        parallel: bool,
    ) -> PyResult<usize> {
        let py = items.py();
        let capacity = out.len_of(Axis(0));
        let array = items.cast::<PyArray2<U>>()?;
        let width = array.shape()[1];
        let items = array.try_readonly()?;
        let values = items.as_slice()?;
        let done = py.detach(move || {
            if parallel {
                parallel::fill_on(
                    row,
                    values.par_chunks_exact(width),
                    out,
                    rayon::current_num_threads(),
                    Split::Work(parallel::CALLER_BUFFER),
                )
            } else {
                drivers::fill_into(&mut row.clone(), values.chunks_exact(width), out)
            }
        });
        filled::<R, &[U]>(py, done, 0, capacity)
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
    /// The rows of every item, in one numpy array of shape `(len(items), *shape)`, C-contiguous.
    /// Items the row function drops give no row. Raises `TypeError` for an item that does not
    /// convert, `RowError` (a `ValueError`, with `.index`) for one the row function fails on.
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
    /// whose rows have its shape (any strides), and returns the number of rows written.
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
    /// where items are dropped), each a new numpy array, for a training loop that never holds
    /// the whole output: `for x in f.chunks(items, chunk_rows=4096): ...`. Items are read as
    /// the iteration goes; errors are those of `batch`, raised by the chunk they fall in.
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
        dtype_importable(slf.py(), slf.get().inner.dtype())?;
        Ok(Chunks {
            function: slf.clone().unbind(),
            items: items.try_iter()?.unbind(),
            index: 0,
            chunk_rows,
            parallel,
        })
    }

    /// The shape of one row (`()` for a scalar row).
    #[getter]
    fn shape(&self) -> Vec<usize> {
        self.inner.shape().to_vec()
    }

    /// The numpy dtype of the output, by name (`"float32"`, `"bfloat16"`).
    #[getter]
    fn dtype(&self) -> &'static str {
        self.inner.dtype().numpy_name()
    }

    /// The row function's name.
    #[getter]
    fn name(&self) -> &'static str {
        self.name
    }

    fn __repr__(&self) -> String {
        format!(
            "<row function {}: rows of shape {:?}, dtype {}>",
            self.name,
            self.inner.shape(),
            self.inner.dtype().numpy_name()
        )
    }
}

/// The iterator of `RowFunction.chunks`: one numpy array per chunk of items.
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
    fn shape(&self) -> &'static [usize];
    fn dtype(&self) -> ElementType;
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

/// A row function `R` over items converted to `O`, taking arrays of items as `A` says.
struct Typed<R, O, A> {
    row: R,
    items: PhantomData<fn(O, A)>,
}

impl<R, O, A> Erased for Typed<R, O, A>
where
    R: RowFn<O> + Clone + Send + Sync + 'static,
    R::Dtype: NumpyElement,
    R::Error: Display + Send,
    Fatal<R, O>: Send,
    O: for<'py> FromPyObjectOwned<'py> + Send + 'static,
    A: ArrayItems<R>,
{
    fn shape(&self) -> &'static [usize] {
        R::SHAPE
    }

    fn dtype(&self) -> ElementType {
        R::Dtype::ELEMENT_TYPE
    }

    fn batch(
        &self,
        py: Python<'_>,
        items: &Bound<'_, PyAny>,
        parallel: bool,
    ) -> PyResult<Py<PyAny>> {
        dtype_importable(py, R::Dtype::ELEMENT_TYPE)?;
        let shape = <R as Outputs>::shape();
        if let Some(len) = A::rows(items) {
            let mut buf = allocate::<R>(len)?;
            let out = <Col<R::Dtype, R::Dim> as Layout>::buf_mut(&mut buf, shape, len);
            let rows = A::fill(&self.row, items, out, parallel)?;
            let array = <Col<R::Dtype, R::Dim> as Layout>::buf_into_array(buf, shape, rows);
            return Ok(PyArray::from_owned_array(py, array).into_any().unbind());
        }
        // The length first, so that the output is allocated once.
        let items = match items.len() {
            Ok(_) => items.clone(),
            Err(_) => PyList::new(py, items.try_iter()?.collect::<PyResult<Vec<_>>>()?)?.into_any(),
        };
        let len = items.len()?;
        let mut buf = allocate::<R>(len)?;
        let out = <Col<R::Dtype, R::Dim> as Layout>::buf_mut(&mut buf, shape, len);
        let rows = self.run(py, &items, out, parallel)?;
        let array = <Col<R::Dtype, R::Dim> as Layout>::buf_into_array(buf, shape, rows);
        Ok(PyArray::from_owned_array(py, array).into_any().unbind())
    }

    fn fill(
        &self,
        py: Python<'_>,
        items: &Bound<'_, PyAny>,
        out: &Bound<'_, PyAny>,
    ) -> PyResult<usize> {
        dtype_importable(py, R::Dtype::ELEMENT_TYPE)?;
        let expected = || {
            format!(
                "a writable numpy array of dtype {} whose rows have shape {:?}",
                R::Dtype::ELEMENT_TYPE.numpy_name(),
                R::SHAPE
            )
        };
        let Ok(array) = out.cast::<PyArrayDyn<R::Dtype>>() else {
            let found = out
                .getattr("dtype")
                .and_then(|d| d.str().map(|s| s.to_string()))
                .unwrap_or_else(|_| out.get_type().to_string());
            return Err(PyTypeError::new_err(format!(
                "fill needs {}, not one of {found}",
                expected()
            )));
        };
        if array.ndim() != R::SHAPE.len() + 1 || array.shape()[1..] != *R::SHAPE {
            return Err(PyValueError::new_err(format!(
                "fill needs {}, not an array of shape {:?}",
                expected(),
                array.shape()
            )));
        }
        let mut guard = array
            .try_readwrite()
            .map_err(|err| PyValueError::new_err(format!("fill needs {}: {err}", expected())))?;
        let view: ArrayViewMut<'_, R::Dtype, IxDyn> = guard.as_array_mut();
        let view = view
            .into_dimensionality::<R::Dim>()
            .map_err(|err| PyValueError::new_err(format!("fill needs {}: {err}", expected())))?;
        let capacity = view.len_of(Axis(0));
        let items_len = items.len().ok();
        if let Some(n) = items_len.filter(|&n| n > capacity) {
            return Err(PyValueError::new_err(format!(
                "fill got {n} items for an array of {capacity} rows"
            )));
        }
        if A::rows(items).is_some() {
            return A::fill(&self.row, items, view, false);
        }
        self.run(py, items, view, false)
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
        let shape = <R as Outputs>::shape();
        let Some(mut buf) = <Col<R::Dtype, R::Dim> as Layout>::try_buf(shape, taken) else {
            return Err(pyo3::exceptions::PyMemoryError::new_err(format!(
                "cannot allocate a chunk of {taken} rows"
            )));
        };
        let out = <Col<R::Dtype, R::Dim> as Layout>::buf_mut(&mut buf, shape, taken);
        let rows = self.fill_chunk(py, chunk, out, index, parallel, taken)?;
        let array = <Col<R::Dtype, R::Dim> as Layout>::buf_into_array(buf, shape, rows);
        Ok(Some((
            PyArray::from_owned_array(py, array).into_any().unbind(),
            taken,
        )))
    }
}

impl<R, O, A> Typed<R, O, A>
where
    R: RowFn<O> + Clone + Send + Sync + 'static,
    R::Dtype: NumpyElement,
    R::Error: Display + Send,
    Fatal<R, O>: Send,
    O: for<'py> FromPyObjectOwned<'py> + Send + 'static,
    A: ArrayItems<R>,
{
    /// The rows of `items` into `out`, chunk by chunk: each chunk's items converted with the
    /// GIL, their rows computed without it. Returns the rows written.
    fn run(
        &self,
        py: Python<'_>,
        items: &Bound<'_, PyAny>,
        mut out: ArrayViewMut<'_, R::Dtype, R::Dim>,
        parallel: bool,
    ) -> PyResult<usize> {
        let capacity = out.len_of(Axis(0));
        let mut iter = items.try_iter()?;
        let mut index = 0;
        let mut rows = 0;
        loop {
            let chunk = take_chunk::<O>(py, &mut iter, index, ITEMS_PER_CHUNK)?;
            if chunk.is_empty() {
                return Ok(rows);
            }
            let count = chunk.len();
            let free = out.slice_axis_mut(Axis(0), Slice::from(rows..));
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
        out: ArrayViewMut<'_, R::Dtype, R::Dim>,
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
        filled::<R, O>(py, done, index, capacity)
    }
}

/// The rows a fill wrote, or its failure as a Python exception; `index` is the index of the
/// fill's first item.
fn filled<R: RowFn<I>, I>(
    py: Python<'_>,
    done: Result<Batch<usize>, FillStop<Fatal<R, I>>>,
    index: usize,
    capacity: usize,
) -> PyResult<usize>
where
    R::Error: Display,
{
    match done {
        Ok(batch) => Ok(batch.rows),
        Err(FillStop::Item { failed, .. }) => {
            let error: ItemFailure<R::Error> = failed.failure.into();
            Err(row_error(py, index + failed.index, &error))
        }
        Err(FillStop::Full { .. }) => Err(PyValueError::new_err(format!(
            "fill got more items than the array has rows ({capacity})"
        ))),
        Err(FillStop::Rejected { expected, found }) => Err(PyValueError::new_err(format!(
            "fill needs rows of shape {expected:?}, not {found:?}"
        ))),
        Err(FillStop::Unequal { rows }) => Err(PyValueError::new_err(format!(
            "the outputs have different numbers of rows: {rows:?}"
        ))),
    }
}

/// A zeroed buffer of `len` rows of `R`, or a `MemoryError` that says how large.
fn allocate<R: RowSpec>(len: usize) -> PyResult<Vec<R::Dtype>> {
    let shape = <R as Outputs>::shape();
    <Col<R::Dtype, R::Dim> as Layout>::try_buf(shape, len).ok_or_else(|| {
        pyo3::exceptions::PyMemoryError::new_err(format!(
            "cannot allocate the output: {len} rows of shape {:?} of {}",
            R::SHAPE,
            R::Dtype::ELEMENT_TYPE.numpy_name()
        ))
    })
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
fn dtype_importable(py: Python<'_>, dtype: ElementType) -> PyResult<()> {
    if dtype == ElementType::Bf16 {
        py.import("ml_dtypes").map_err(|err| {
            PyImportError::new_err(format!(
                "a bf16 output is a numpy array of ml_dtypes.bfloat16: `pip install ml_dtypes` ({})",
                err.value(py)
            ))
        })?;
    }
    Ok(())
}
