//! The contract between `#[preallocate]` and the drivers: [`RowSpec`] and [`RowFn`].

use crate::element::Element;
use crate::policy::Policy;

/// What one row looks like: its element type, its length and its shape.
///
/// `#[preallocate]` implements this (and [`RowFn`]) on a hidden type for each annotated function;
/// implement it by hand only to drive the runtime without the macro.
///
/// ```
/// use preallocate::RowSpec;
///
/// struct Rgb;
/// impl RowSpec for Rgb {
///     type Dtype = u8;
///     type Dim = ndarray::Ix2;
///     type Policy = preallocate::policy::Plain;
///     const DIM: usize = 3;
///     const SHAPE: &'static [usize] = &[3];
///     const OVERWRITES_ROW: bool = true;
/// }
/// assert_eq!(Rgb::DIM, 3);
/// ```
pub trait RowSpec {
    /// The storage element type of the output (`dtype`).
    type Dtype: Element;
    /// The dimension of a batch of rows: `Ix1` for scalar rows, `Ix2` for rows with one axis
    /// (`dim = N`), `Ix3` for rows of shape `(H, W)`, and so on; always one more axis than
    /// [`RowSpec::SHAPE`] has.
    type Dim: ndarray::RemoveAxis + 'static;
    /// What happens to items that fail or give no row, and what the entry points return
    /// (see [`policy`](crate::policy)).
    type Policy: Policy;
    /// The number of elements in one row: the product of [`RowSpec::SHAPE`].
    const DIM: usize;
    /// The shape of one row: `[]` for a scalar row (`DIM` is 1), `[DIM]` for `dim = DIM`,
    /// `[28, 28]` for `shape = (28, 28)`.
    const SHAPE: &'static [usize];
    /// Whether [`RowFn::write_row`] overwrites every element of the row it is given.
    ///
    /// By-value rows do; an in-place row function may set only some elements (a one-hot
    /// encoder), so when this is `false` the drivers zero a reused slot before handing it over.
    const OVERWRITES_ROW: bool;
}

/// Writes the row of one item into its slot in the output.
///
/// The drivers ([`batch`](crate::batch), [`fill`](crate::fill), [`Pipeline`](crate::Pipeline))
/// own the loop and the buffer; a `RowFn` only turns one item into one row. The slot
/// is always exactly [`RowSpec::DIM`] elements long, in row-major order of
/// [`RowSpec::SHAPE`], and zeroed unless [`RowSpec::OVERWRITES_ROW`] is `true`.
///
/// `write_row` returns `Ok(true)` for a row to keep, `Ok(false)` for an item filtered out, and
/// `Err` for an item that failed; the row function's [`RowSpec::Policy`] says what it may fail
/// with and what a failure does. A slot that is not kept is zeroed and reused by the driver.
///
/// ```
/// use std::convert::Infallible;
/// use preallocate::{RowFn, RowSpec};
///
/// struct OneHot;
/// impl RowSpec for OneHot {
///     type Dtype = u8;
///     type Dim = ndarray::Ix2;
///     type Policy = preallocate::policy::Plain;
///     const DIM: usize = 4;
///     const SHAPE: &'static [usize] = &[4];
///     const OVERWRITES_ROW: bool = false;
/// }
/// impl RowFn<usize> for OneHot {
///     type Error = Infallible;
///     fn write_row(&mut self, class: usize, row: &mut [u8]) -> Result<bool, Infallible> {
///         if let Some(slot) = row.get_mut(class) {
///             *slot = 1;
///         }
///         Ok(true)
///     }
/// }
///
/// let x = preallocate::batch(&mut OneHot, [2, 0, 3]);
/// assert_eq!(x, ndarray::array![[0, 0, 1, 0], [1, 0, 0, 0], [0, 0, 0, 1]]);
/// ```
#[diagnostic::on_unimplemented(
    message = "this row function does not take items of type `{Item}`",
    label = "items of type `{Item}`",
    note = "pass items of the type the row function's item parameter names; a function on `&T` also takes `T`, `&&T`, `String`/`&String` for `&str` and `Vec<U>`/`&Vec<U>`/`[U; N]` for `&[U]`, but not when `T` itself holds a reference (`&[&str]`): map the items first (`.iter().map(|x| ..)`)"
)]
pub trait RowFn<Item>: RowSpec {
    /// The row function's own error type; `Infallible` when it cannot fail.
    type Error;
    /// Writes the row for `item` into `row` (`row.len() == Self::DIM`); `Ok(false)` drops the
    /// item.
    ///
    /// # Errors
    /// The item's failure (`Infallible` under [`Plain`](crate::policy::Plain) and
    /// [`Filtered`](crate::policy::Filtered), else [`RowError`](crate::RowError)), which the
    /// driver reports with the item's index or skips, by policy.
    fn write_row(
        &mut self,
        item: Item,
        row: &mut [Self::Dtype],
    ) -> Result<bool, <Self::Policy as Policy>::Failure<Self::Error>>;
}

impl<R: RowSpec + ?Sized> RowSpec for &mut R {
    type Dtype = R::Dtype;
    type Dim = R::Dim;
    type Policy = R::Policy;
    const DIM: usize = R::DIM;
    const SHAPE: &'static [usize] = R::SHAPE;
    const OVERWRITES_ROW: bool = R::OVERWRITES_ROW;
}

impl<Item, R: RowFn<Item> + ?Sized> RowFn<Item> for &mut R {
    type Error = R::Error;
    #[inline]
    fn write_row(
        &mut self,
        item: Item,
        row: &mut [Self::Dtype],
    ) -> Result<bool, <R::Policy as Policy>::Failure<R::Error>> {
        (**self).write_row(item, row)
    }
}

/// The shape of a row as a type, for row writers built from closures ([`FnRow`]): [`Axes0`]
/// for a scalar row, [`Axes1`] for `dim = N`, [`Axes2`] for `shape = (H, W)`, and so on.
pub trait RowShape {
    /// The dimension of a batch of such rows.
    type Dim: ndarray::RemoveAxis + 'static;
    /// The number of elements in one row.
    const DIM: usize;
    /// The shape of one row.
    const SHAPE: &'static [usize];
}

macro_rules! axes {
    ($($(#[$doc:meta])* $name:ident<$($axis:ident),+> => $dim:ty;)*) => {$(
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, Default)]
        pub struct $name<$(const $axis: usize),+>;

        impl<$(const $axis: usize),+> RowShape for $name<$($axis),+> {
            type Dim = $dim;
            const DIM: usize = 1 $(* $axis)+;
            const SHAPE: &'static [usize] = &[$($axis),+];
        }
    )*};
}

/// Scalar rows (one element, no axis); batches are 1-D, of shape `(n,)`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Axes0;

impl RowShape for Axes0 {
    type Dim = ndarray::Ix1;
    const DIM: usize = 1;
    const SHAPE: &'static [usize] = &[];
}

axes! {
    /// Rows with one axis of `A` elements; batches are 2-D.
    Axes1<A> => ndarray::Ix2;
    /// Rows of shape `(A, B)`; batches are 3-D.
    Axes2<A, B> => ndarray::Ix3;
    /// Rows of shape `(A, B, C)`; batches are 4-D.
    Axes3<A, B, C> => ndarray::Ix4;
    /// Rows of shape `(A, B, C, D)`; batches are 5-D.
    Axes4<A, B, C, D> => ndarray::Ix5;
}

/// Ties a [`FnRow`] to its element, shape, error and policy types without owning any.
type Marker<T, S, E, P> = core::marker::PhantomData<fn() -> (T, S, E, P)>;

/// A row writer made of a closure `(item, row) -> Result<kept, failure>`, with the element type
/// `T`, the row shape `S`, the row function's error type `E`, its policy `P`, and whether it
/// overwrites every element of the row (`OVERWRITES`).
///
/// `#[preallocate]` on a method builds one of these around `self`, since an `impl` block cannot
/// hold the type a free function gets.
///
/// ```
/// use std::convert::Infallible;
/// use preallocate::__private::{Axes1, FnRow};
/// use preallocate::policy::Plain;
///
/// let offset = 10;
/// let mut row_fn = FnRow::<_, i32, Axes1<2>, Infallible, Plain, true>::new(|x: i32, row: &mut [i32]| {
///     row.copy_from_slice(&[x, x + offset]);
///     Ok::<bool, Infallible>(true)
/// });
/// let x = preallocate::batch(&mut row_fn, [1, 2]);
/// assert_eq!(x, ndarray::array![[1, 11], [2, 12]]);
/// ```
pub struct FnRow<F, T, S, E, P, const OVERWRITES: bool> {
    write: F,
    marker: Marker<T, S, E, P>,
}

/// A copy for each thread of a parallel run: a method's closure captures `&self`, which copies.
impl<F: Clone, T, S, E, P, const OVERWRITES: bool> Clone for FnRow<F, T, S, E, P, OVERWRITES> {
    fn clone(&self) -> Self {
        FnRow {
            write: self.write.clone(),
            marker: core::marker::PhantomData,
        }
    }
}

impl<F, T, S, E, P, const OVERWRITES: bool> FnRow<F, T, S, E, P, OVERWRITES> {
    /// Wraps the closure that writes one row.
    pub fn new(write: F) -> Self {
        FnRow {
            write,
            marker: core::marker::PhantomData,
        }
    }
}

impl<F, T: Element, S: RowShape, E, P: Policy, const OVERWRITES: bool> RowSpec
    for FnRow<F, T, S, E, P, OVERWRITES>
{
    type Dtype = T;
    type Dim = S::Dim;
    type Policy = P;
    const DIM: usize = S::DIM;
    const SHAPE: &'static [usize] = S::SHAPE;
    const OVERWRITES_ROW: bool = OVERWRITES;
}

impl<Item, F, T, S, E, P, const OVERWRITES: bool> RowFn<Item> for FnRow<F, T, S, E, P, OVERWRITES>
where
    F: FnMut(Item, &mut [T]) -> Result<bool, P::Failure<E>>,
    T: Element,
    S: RowShape,
    P: Policy,
{
    type Error = E;
    #[inline]
    fn write_row(&mut self, item: Item, row: &mut [T]) -> Result<bool, P::Failure<E>> {
        (self.write)(item, row)
    }
}
