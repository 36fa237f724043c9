//! The contract between `#[preallocate]` and the drivers.

use crate::Element;

/// What one row looks like: its element type and its number of elements.
///
/// `#[preallocate]` implements this (and [`RowFn`]) on a hidden type for each annotated function;
/// implement it by hand only to drive the runtime without the macro.
///
/// ```
/// use preallocate_runtime::RowSpec;
///
/// struct Rgb;
/// impl RowSpec for Rgb {
///     type Dtype = u8;
///     const DIM: usize = 3;
///     const OVERWRITES_ROW: bool = true;
/// }
/// assert_eq!(Rgb::DIM, 3);
/// ```
pub trait RowSpec {
    /// The storage element type of the output (`dtype`).
    type Dtype: Element;
    /// The number of elements in one row (`dim`).
    const DIM: usize;
    /// Whether [`RowFn::write_row`] overwrites every element of the row it is given.
    ///
    /// By-value rows do; an in-place row function may set only some elements (a one-hot
    /// encoder), so when this is `false` the drivers zero a reused slot before handing it over.
    const OVERWRITES_ROW: bool;
}

/// Writes the row of one item into its slot in the output.
///
/// The drivers ([`batch`](crate::batch), [`fill`](crate::fill)) own the loop and the buffer; a
/// `RowFn` only turns one item into one row. The slot is always exactly
/// [`RowSpec::DIM`] elements long and, unless [`RowSpec::OVERWRITES_ROW`] is `true`, zeroed.
///
/// ```
/// use preallocate_runtime::{RowFn, RowSpec};
///
/// struct OneHot;
/// impl RowSpec for OneHot {
///     type Dtype = u8;
///     const DIM: usize = 4;
///     const OVERWRITES_ROW: bool = false;
/// }
/// impl RowFn<usize> for OneHot {
///     fn write_row(&self, class: usize, row: &mut [u8]) {
///         if let Some(slot) = row.get_mut(class) {
///             *slot = 1;
///         }
///     }
/// }
///
/// let x = preallocate_runtime::batch(&OneHot, [2, 0, 3]);
/// assert_eq!(x, ndarray::array![[0, 0, 1, 0], [1, 0, 0, 0], [0, 0, 0, 1]]);
/// ```
pub trait RowFn<Item>: RowSpec {
    /// Writes the row for `item` into `row` (`row.len() == Self::DIM`).
    fn write_row(&self, item: Item, row: &mut [Self::Dtype]);
}

impl<R: RowSpec + ?Sized> RowSpec for &R {
    type Dtype = R::Dtype;
    const DIM: usize = R::DIM;
    const OVERWRITES_ROW: bool = R::OVERWRITES_ROW;
}

impl<Item, R: RowFn<Item> + ?Sized> RowFn<Item> for &R {
    #[inline(always)]
    fn write_row(&self, item: Item, row: &mut [Self::Dtype]) {
        (**self).write_row(item, row);
    }
}
