//! How a layout's arrays cross to numpy: each output's array handed over as it is, a caller's
//! arrays borrowed writable ([`PyLayout`]), and the rows of a 2-D numpy array lent as items
//! ([`ArrayItems`]).

use std::fmt::Display;
use std::marker::PhantomData;
use std::vec::IntoIter;

use ndarray::{Array, ArrayViewMut, IxDyn, RemoveAxis};
use numpy::{
    Element as NumpyElement, PyArray, PyArray2, PyArrayDyn, PyArrayMethods, PyReadwriteArray,
    PyUntypedArrayMethods,
};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use rayon::slice::ParallelSlice;

use super::filled;
use crate::drivers::{self, Fatal, Outputs, WriteRows};
use crate::element::Element;
use crate::layout::{Col, ColShape, Layout};
use crate::parallel::{self, Split};

/// One output's buffer as the caller passed it: its name (`None` for a row function's only
/// output) and the Python object.
pub type Given<'py> = (Option<&'static str>, Bound<'py, PyAny>);

/// A layout whose arrays numpy can hold: one output ([`Col`]) of a numpy dtype, or several
/// (nested pairs). Not a stable API.
pub trait PyLayout: Layout {
    /// A caller's buffers, borrowed writable from numpy.
    type Borrowed<'py>;

    /// Each output's array as a numpy array that owns its buffer (no copy), appended to `out`.
    fn to_numpy(py: Python<'_>, arrays: Self::Array, out: &mut Vec<Py<PyAny>>);

    /// Borrows each output's buffer, taken in order from `given`: a `TypeError` for an object
    /// that is not a numpy array of the output's dtype, a `ValueError` for rows of another
    /// shape or an array that cannot be written.
    ///
    /// # Errors
    /// As said.
    fn borrow<'py>(
        shape: Self::Shape,
        given: &mut IntoIter<Given<'py>>,
    ) -> PyResult<Self::Borrowed<'py>>;

    /// The borrowed buffers, as the engine writes them.
    ///
    /// # Errors
    /// A buffer whose number of axes is not the output's.
    fn views<'a>(borrowed: &'a mut Self::Borrowed<'_>) -> PyResult<Self::Mut<'a>>;
}

impl<T, D> PyLayout for Col<T, D>
where
    T: Element + NumpyElement,
    D: RemoveAxis + 'static,
{
    type Borrowed<'py> = PyReadwriteArray<'py, T, IxDyn>;

    fn to_numpy(py: Python<'_>, arrays: Array<T, D>, out: &mut Vec<Py<PyAny>>) {
        out.push(PyArray::from_owned_array(py, arrays).into_any().unbind());
    }

    fn borrow<'py>(
        shape: ColShape<T>,
        given: &mut IntoIter<Given<'py>>,
    ) -> PyResult<PyReadwriteArray<'py, T, IxDyn>> {
        let Some((name, out)) = given.next() else {
            return Err(PyValueError::new_err("fill got fewer arrays than outputs"));
        };
        let expected = || {
            format!(
                "{}a writable numpy array of dtype {} whose rows have shape {:?}",
                name.map(|name| format!("for `{name}` "))
                    .unwrap_or_default(),
                T::ELEMENT_TYPE.numpy_name(),
                shape.shape
            )
        };
        let Ok(array) = out.cast::<PyArrayDyn<T>>() else {
            let found = out
                .getattr("dtype")
                .and_then(|d| d.str().map(|s| s.to_string()))
                .unwrap_or_else(|_| out.get_type().to_string());
            return Err(PyTypeError::new_err(format!(
                "fill needs {}, not one of {found}",
                expected()
            )));
        };
        if array.ndim() != shape.shape.len() + 1 || array.shape()[1..] != *shape.shape {
            return Err(PyValueError::new_err(format!(
                "fill needs {}, not an array of shape {:?}",
                expected(),
                array.shape()
            )));
        }
        array
            .try_readwrite()
            .map_err(|err| PyValueError::new_err(format!("fill needs {}: {err}", expected())))
    }

    fn views<'a>(
        borrowed: &'a mut PyReadwriteArray<'_, T, IxDyn>,
    ) -> PyResult<ArrayViewMut<'a, T, D>> {
        borrowed
            .as_array_mut()
            .into_dimensionality::<D>()
            .map_err(|err| PyValueError::new_err(format!("fill: {err}")))
    }
}

impl<A: PyLayout, B: PyLayout> PyLayout for (A, B) {
    type Borrowed<'py> = (A::Borrowed<'py>, B::Borrowed<'py>);

    fn to_numpy(py: Python<'_>, arrays: (A::Array, B::Array), out: &mut Vec<Py<PyAny>>) {
        A::to_numpy(py, arrays.0, out);
        B::to_numpy(py, arrays.1, out);
    }

    fn borrow<'py>(
        shape: (A::Shape, B::Shape),
        given: &mut IntoIter<Given<'py>>,
    ) -> PyResult<Self::Borrowed<'py>> {
        Ok((A::borrow(shape.0, given)?, B::borrow(shape.1, given)?))
    }

    fn views<'a>(borrowed: &'a mut Self::Borrowed<'_>) -> PyResult<Self::Mut<'a>> {
        Ok((A::views(&mut borrowed.0)?, B::views(&mut borrowed.1)?))
    }
}

/// Whether a row function takes the rows of a 2-D numpy array as its items, without a copy:
/// [`NoArrays`], or [`SliceRows`] for a row function on `&[U]`.
pub trait ArrayItems<W: Outputs>: Send + Sync + 'static {
    /// The number of items of `items` when it is such an array.
    fn rows(items: &Bound<'_, PyAny>) -> Option<usize>;

    /// The rows of the items of the array `items` into `out`, computed with the GIL released;
    /// the rows written.
    ///
    /// # Errors
    /// A failing row ([`RowError`](super::RowError)), or a buffer that `out` cannot be.
    fn fill(
        row: &W,
        items: &Bound<'_, PyAny>,
        out: <W::Layout as Layout>::Mut<'_>,
        parallel: bool,
    ) -> PyResult<usize>;
}

/// Items come only one by one, converted from Python objects.
#[derive(Debug)]
pub struct NoArrays;

impl<W: Outputs> ArrayItems<W> for NoArrays {
    fn rows(_: &Bound<'_, PyAny>) -> Option<usize> {
        None
    }

    fn fill(
        _: &W,
        _: &Bound<'_, PyAny>,
        _: <W::Layout as Layout>::Mut<'_>,
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

impl<W, U> ArrayItems<W> for SliceRows<U>
where
    U: NumpyElement + Sync + 'static,
    W: for<'a> WriteRows<&'a [U]> + Clone + Send + Sync + 'static,
    for<'a> Fatal<W, &'a [U]>: Send,
    for<'a> <W as WriteRows<&'a [U]>>::Error: Display,
{
    fn rows(items: &Bound<'_, PyAny>) -> Option<usize> {
        let array = items.cast::<PyArray2<U>>().ok()?;
        (array.is_c_contiguous() && array.shape()[1] > 0).then(|| array.shape()[0])
    }

    fn fill(
        row: &W,
        items: &Bound<'_, PyAny>,
        out: <W::Layout as Layout>::Mut<'_>,
        parallel: bool,
    ) -> PyResult<usize> {
        let py = items.py();
        let capacity = W::Layout::rows(&out);
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
        filled::<W, &[U]>(py, done, 0, capacity)
    }
}
