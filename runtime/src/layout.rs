//! How a row function's output is stored: one array ([`Col`]) or several, as nested pairs
//! (`(Col<f16, Ix2>, Col<u8, Ix2>)`).
//!
//! The engine's loop, its targets and the parallel splits are written once over a [`Layout`]:
//! a pair's slot is the pair of its outputs' slots, taken and kept together, so that every
//! output of one item is kept or dropped together and all outputs always hold the same rows.

use core::convert::Infallible;
use core::iter::Zip;
use core::marker::PhantomData;
use std::borrow::Cow;

use ndarray::{Array, ArrayView2, ArrayViewMut, Axis, Dimension, RemoveAxis, Slice};

use crate::element::{Element, ElementType};
use crate::policy::FillStop;
use crate::row::RowSpec;

/// One output: rows of element type `T`, batched into arrays of dimension `D`.
pub struct Col<T, D>(PhantomData<fn() -> (T, D)>);

/// The row shape of one output, with its lane copy (for buffers that are not row-major).
pub struct ColShape<T> {
    /// The shape of one row.
    pub shape: &'static [usize],
    /// Elements in one row: the product of `shape`.
    pub dim: usize,
    /// Copies element `p` of each row of a block of rows into a lane (a strided buffer's fill).
    pub copy_lane: fn(&[T], usize, &mut [T]),
}

impl<T> Clone for ColShape<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for ColShape<T> {}

/// The storage of one output or of several (nested pairs); implemented by [`Col`] and pairs.
///
/// Not a stable API: `#[derive(Rows)]` names these types in the code it generates.
pub trait Layout: Sized + 'static {
    /// One row's slot: `&mut [T]`, or a pair of slots.
    type Row<'r>;
    /// The row shapes.
    type Shape: Copy + Send + Sync;
    /// The arrays of a batch.
    type Array;
    /// A caller's buffers.
    type Mut<'a>: Send;
    /// A chunk of rows as a consumer sees it: `rows × DIM` views.
    type View<'a>;
    /// Reused chunk buffers (whole rows).
    type Buf: Send;

    /// A new array, allocated once when the length is known.
    #[doc(hidden)]
    type Grow: Target<Self, Stop = Infallible>;
    /// A caller's buffers.
    #[doc(hidden)]
    type Fill<'a>: Target<Self, Stop = Full>;
    /// The free rows of a chunk buffer.
    #[doc(hidden)]
    type BufSlots<'s>: Iterator<Item = Self::Row<'s>>;

    /// Zeroes a slot.
    fn zero(row: &mut Self::Row<'_>);
    /// The slot again, for a shorter borrow.
    fn reborrow<'b>(row: &'b mut Self::Row<'_>) -> Self::Row<'b>;

    /// The growing target for an input with this `size_hint`.
    #[doc(hidden)]
    fn grow(shape: Self::Shape, size_hint: (usize, Option<usize>)) -> Self::Grow;
    /// The arrays holding the grown rows.
    #[doc(hidden)]
    fn grown(grow: Self::Grow, shape: Self::Shape) -> Self::Array;
    /// The rows of a caller's buffers, or why they do not fit the row shapes.
    #[doc(hidden)]
    fn check(shape: Self::Shape, out: &Self::Mut<'_>) -> Result<usize, FillStop<Infallible>>;
    /// The target writing into a caller's buffers.
    #[doc(hidden)]
    fn fill<'a>(shape: Self::Shape, out: Self::Mut<'a>) -> Self::Fill<'a>;
    /// Rows written so far into a caller's buffers.
    #[doc(hidden)]
    fn written(fill: &Self::Fill<'_>) -> usize;

    /// Rows of a caller's buffers.
    #[doc(hidden)]
    fn rows(out: &Self::Mut<'_>) -> usize;
    /// The buffers split at row `mid`.
    #[doc(hidden)]
    fn split_at(out: Self::Mut<'_>, mid: usize) -> (Self::Mut<'_>, Self::Mut<'_>);
    /// Rows `start..end` of the buffers.
    #[doc(hidden)]
    fn slice<'b>(out: &'b mut Self::Mut<'_>, start: usize, end: usize) -> Self::Mut<'b>;
    /// Moves rows `from..from + count` to `to..`, `to <= from`.
    #[doc(hidden)]
    fn move_rows(out: &mut Self::Mut<'_>, from: usize, to: usize, count: usize);
    /// Zeroes the rows from `from` on.
    #[doc(hidden)]
    fn zero_from(out: &mut Self::Mut<'_>, from: usize);
    /// The fewest rows whose bytes are a whole number of 64-byte lines, in every output.
    #[doc(hidden)]
    fn period(shape: Self::Shape) -> usize;
    /// Bytes in one row of every output.
    #[doc(hidden)]
    fn row_bytes(shape: Self::Shape) -> usize;

    /// Chunk buffers of `rows` rows, zeroed.
    #[doc(hidden)]
    fn buf(shape: Self::Shape, rows: usize) -> Self::Buf;
    /// Buffers of `rows` rows, zeroed, or `None` when they cannot be allocated.
    #[doc(hidden)]
    fn try_buf(shape: Self::Shape, rows: usize) -> Option<Self::Buf>;
    /// The arrays of the first `rows` rows of buffers.
    #[doc(hidden)]
    fn buf_into_array(buf: Self::Buf, shape: Self::Shape, rows: usize) -> Self::Array;
    /// Rows in a chunk.
    #[doc(hidden)]
    fn view_rows(chunk: &Self::View<'_>) -> usize;
    /// Empty buffers with room for `rows` rows (as far as memory allows).
    #[doc(hidden)]
    fn with_capacity(shape: Self::Shape, rows: usize) -> Self::Buf;
    /// Appends a chunk's rows to buffers.
    #[doc(hidden)]
    fn append(buf: &mut Self::Buf, chunk: Self::View<'_>);
    /// Rows in buffers built by [`Layout::append`].
    #[doc(hidden)]
    fn buf_rows(buf: &Self::Buf, shape: Self::Shape) -> usize;
    /// Slots for rows `from..to` of chunk buffers.
    #[doc(hidden)]
    fn buf_slots(
        buf: &mut Self::Buf,
        shape: Self::Shape,
        from: usize,
        to: usize,
    ) -> Self::BufSlots<'_>;
    /// The first `rows` rows of chunk buffers, as the buffers the engine writes.
    #[doc(hidden)]
    fn buf_mut(buf: &mut Self::Buf, shape: Self::Shape, rows: usize) -> Self::Mut<'_>;
    /// The first `rows` rows of chunk buffers, as a consumer sees them.
    #[doc(hidden)]
    fn buf_view(buf: &Self::Buf, shape: Self::Shape, rows: usize) -> Self::View<'_>;

    /// Each output's element type and row shape, in order, appended to `out`.
    #[doc(hidden)]
    fn fields(shape: Self::Shape, out: &mut Vec<Field>);
    /// Each output's rows of a chunk, in order, appended to `out`: what a file output takes.
    #[doc(hidden)]
    fn columns<'a>(chunk: &Self::View<'a>, out: &mut Vec<Column<'a>>);
}

/// What an output knows of one of its fields before any row arrives.
#[doc(hidden)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    /// The element type.
    pub dtype: ElementType,
    /// The shape of one row.
    pub row_shape: &'static [usize],
}

impl Field {
    /// Elements in one row.
    #[must_use]
    pub fn row_len(&self) -> usize {
        self.row_shape.iter().product()
    }
}

/// One field's rows of a chunk, as an output takes them: row-major, each element in the
/// machine's byte order.
#[doc(hidden)]
#[derive(Debug, Clone)]
pub struct Column<'a> {
    /// The element type.
    pub dtype: ElementType,
    /// Rows in the chunk.
    pub rows: usize,
    /// Elements in one row.
    pub row_len: usize,
    /// The rows' bytes: borrowed from the chunk buffer, copied only from a view that is not
    /// row-major.
    pub bytes: Cow<'a, [u8]>,
}

/// The block through which rows reach a strided caller's buffer: small enough to stay in cache
/// between its fill and its copy.
const BLOCK_BYTES: usize = 16 * 1024;

/// Smallest growth step, in bytes, when the input's length is not known up front: small enough
/// not to matter for a short input, large enough that a long one does not reallocate often.
const MIN_GROWTH_BYTES: usize = 64 * 1024;

const CACHE_LINE: usize = 64;

fn gcd(mut a: usize, mut b: usize) -> usize {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

impl<T: Element, D: RemoveAxis + 'static> Layout for Col<T, D> {
    type Row<'r> = &'r mut [T];
    type Shape = ColShape<T>;
    type Array = Array<T, D>;
    type Mut<'a> = ArrayViewMut<'a, T, D>;
    type View<'a> = ArrayView2<'a, T>;
    type Buf = Vec<T>;
    type Grow = Grow<T>;
    type Fill<'a> = Fill<'a, T, D>;
    type BufSlots<'s> = Slots<'s, T>;

    #[inline(always)]
    fn zero(row: &mut Self::Row<'_>) {
        row.fill(T::ZERO);
    }

    #[inline(always)]
    fn reborrow<'b>(row: &'b mut Self::Row<'_>) -> Self::Row<'b> {
        row
    }

    fn grow(shape: ColShape<T>, size_hint: (usize, Option<usize>)) -> Grow<T> {
        Grow::new(size_hint, shape.dim)
    }

    fn grown(grow: Grow<T>, shape: ColShape<T>) -> Array<T, D> {
        grow.into_array(shape.shape)
    }

    fn check(shape: ColShape<T>, out: &Self::Mut<'_>) -> Result<usize, FillStop<Infallible>> {
        let found = out.shape().get(1..).unwrap_or_default();
        if found != shape.shape {
            return Err(FillStop::Rejected {
                expected: shape.shape,
                found: found.to_vec(),
            });
        }
        Ok(out.len_of(Axis(0)))
    }

    fn fill<'a>(shape: ColShape<T>, out: Self::Mut<'a>) -> Self::Fill<'a> {
        Fill::new(out, shape.dim, shape.copy_lane)
    }

    fn written(fill: &Self::Fill<'_>) -> usize {
        fill.written()
    }

    fn rows(out: &Self::Mut<'_>) -> usize {
        out.len_of(Axis(0))
    }

    fn split_at(out: Self::Mut<'_>, mid: usize) -> (Self::Mut<'_>, Self::Mut<'_>) {
        out.split_at(Axis(0), mid)
    }

    fn slice<'b>(out: &'b mut Self::Mut<'_>, start: usize, end: usize) -> Self::Mut<'b> {
        out.slice_axis_mut(Axis(0), Slice::from(start..end))
    }

    fn move_rows(out: &mut Self::Mut<'_>, from: usize, to: usize, count: usize) {
        if from == to || count == 0 {
            return;
        }
        let dim: usize = out.shape().iter().skip(1).product();
        if let Some(data) = out.as_slice_mut() {
            data.copy_within(from * dim..(from + count) * dim, to * dim);
            return;
        }
        // Any other layout, row by row: each row moves down, so a row is read before a later
        // one overwrites it.
        for row in 0..count {
            let (mut low, high) = out.view_mut().split_at(Axis(0), from + row);
            low.index_axis_mut(Axis(0), to + row)
                .assign(&high.index_axis(Axis(0), 0));
        }
    }

    fn zero_from(out: &mut Self::Mut<'_>, from: usize) {
        out.slice_axis_mut(Axis(0), Slice::from(from..))
            .fill(T::ZERO);
    }

    fn period(shape: ColShape<T>) -> usize {
        let row_bytes = (shape.dim * size_of::<T>()).max(1);
        CACHE_LINE / gcd(CACHE_LINE, row_bytes)
    }

    fn row_bytes(shape: ColShape<T>) -> usize {
        shape.dim * size_of::<T>()
    }

    fn buf(shape: ColShape<T>, rows: usize) -> Vec<T> {
        let len = rows.saturating_mul(shape.dim);
        bytemuck::allocation::try_zeroed_vec::<T>(len).unwrap_or_else(|()| vec![T::ZERO; len])
    }

    fn try_buf(shape: ColShape<T>, rows: usize) -> Option<Vec<T>> {
        let len = rows.checked_mul(shape.dim)?;
        bytemuck::allocation::try_zeroed_vec::<T>(len).ok()
    }

    fn buf_into_array(mut buf: Vec<T>, shape: ColShape<T>, rows: usize) -> Array<T, D> {
        buf.truncate(rows * shape.dim);
        buf.shrink_to_fit();
        Array::from_shape_vec(batch_shape::<D>(shape.shape, rows), buf)
            .expect("the buffer holds exactly `rows` rows of the row shape")
    }

    fn view_rows(chunk: &ArrayView2<'_, T>) -> usize {
        chunk.nrows()
    }

    fn fields(shape: ColShape<T>, out: &mut Vec<Field>) {
        out.push(Field {
            dtype: T::ELEMENT_TYPE,
            row_shape: shape.shape,
        });
    }

    fn columns<'a>(chunk: &ArrayView2<'a, T>, out: &mut Vec<Column<'a>>) {
        let bytes = match chunk.to_slice() {
            Some(values) => Cow::Borrowed(bytemuck::cast_slice(values)),
            None => Cow::Owned(
                chunk
                    .iter()
                    .flat_map(|v| bytemuck::bytes_of(v).iter().copied())
                    .collect(),
            ),
        };
        out.push(Column {
            dtype: T::ELEMENT_TYPE,
            rows: chunk.nrows(),
            row_len: chunk.ncols(),
            bytes,
        });
    }

    fn with_capacity(shape: ColShape<T>, rows: usize) -> Vec<T> {
        let mut buf = Vec::new();
        let _ = buf.try_reserve_exact(rows.saturating_mul(shape.dim));
        buf
    }

    fn append(buf: &mut Vec<T>, chunk: ArrayView2<'_, T>) {
        match chunk.as_slice() {
            Some(rows) => buf.extend_from_slice(rows),
            None => buf.extend(chunk.iter().copied()),
        }
    }

    fn buf_rows(buf: &Vec<T>, shape: ColShape<T>) -> usize {
        buf.len() / shape.dim.max(1)
    }

    fn buf_slots(
        buf: &mut Vec<T>,
        shape: ColShape<T>,
        from: usize,
        to: usize,
    ) -> Self::BufSlots<'_> {
        Slots::new(
            &mut buf[from * shape.dim..to * shape.dim],
            to - from,
            shape.dim,
        )
    }

    fn buf_mut(buf: &mut Vec<T>, shape: ColShape<T>, rows: usize) -> Self::Mut<'_> {
        let dims = batch_shape::<D>(shape.shape, rows);
        ArrayViewMut::from_shape(dims, &mut buf[..rows * shape.dim])
            .expect("a chunk buffer holds `rows` rows of the row shape")
    }

    fn buf_view(buf: &Vec<T>, shape: ColShape<T>, rows: usize) -> Self::View<'_> {
        ArrayView2::from_shape((rows, shape.dim), &buf[..rows * shape.dim])
            .expect("a chunk buffer holds `rows` rows of DIM elements")
    }
}

/// Two targets (or two outputs' targets) taken together: the slots of both, kept together.
pub struct Both<A, B>(pub(crate) A, pub(crate) B);

impl<LA: Layout, LB: Layout, A: Target<LA>, B: Target<LB, Stop = A::Stop>> Target<(LA, LB)>
    for Both<A, B>
{
    type Stop = A::Stop;
    const ZEROED: bool = A::ZEROED && B::ZEROED;
    type Slots<'s>
        = Zip<A::Slots<'s>, B::Slots<'s>>
    where
        Self: 's;

    #[inline]
    fn free(&mut self) -> Result<Self::Slots<'_>, A::Stop> {
        Ok(self.0.free()?.zip(self.1.free()?))
    }

    #[inline]
    fn keep(&mut self, rows: usize, last: usize) -> Result<(), A::Stop> {
        let first = self.0.keep(rows, last);
        let second = self.1.keep(rows, last);
        first.and(second)
    }

    fn flush(&mut self) -> Result<(), A::Stop> {
        let first = self.0.flush();
        let second = self.1.flush();
        first.and(second)
    }
}

impl<A: Layout, B: Layout> Layout for (A, B) {
    type Row<'r> = (A::Row<'r>, B::Row<'r>);
    type Shape = (A::Shape, B::Shape);
    type Array = (A::Array, B::Array);
    type Mut<'a> = (A::Mut<'a>, B::Mut<'a>);
    type View<'a> = (A::View<'a>, B::View<'a>);
    type Buf = (A::Buf, B::Buf);
    type Grow = Both<A::Grow, B::Grow>;
    type Fill<'a> = Both<A::Fill<'a>, B::Fill<'a>>;
    type BufSlots<'s> = Zip<A::BufSlots<'s>, B::BufSlots<'s>>;

    #[inline(always)]
    fn zero(row: &mut Self::Row<'_>) {
        A::zero(&mut row.0);
        B::zero(&mut row.1);
    }

    #[inline(always)]
    fn reborrow<'b>(row: &'b mut Self::Row<'_>) -> Self::Row<'b> {
        (A::reborrow(&mut row.0), B::reborrow(&mut row.1))
    }

    fn grow(shape: Self::Shape, size_hint: (usize, Option<usize>)) -> Self::Grow {
        Both(A::grow(shape.0, size_hint), B::grow(shape.1, size_hint))
    }

    fn grown(grow: Self::Grow, shape: Self::Shape) -> Self::Array {
        (A::grown(grow.0, shape.0), B::grown(grow.1, shape.1))
    }

    fn check(shape: Self::Shape, out: &Self::Mut<'_>) -> Result<usize, FillStop<Infallible>> {
        let first = A::check(shape.0, &out.0)?;
        let second = B::check(shape.1, &out.1)?;
        if first != second {
            return Err(FillStop::Unequal {
                rows: vec![first, second],
            });
        }
        Ok(first)
    }

    fn fill<'a>(shape: Self::Shape, out: Self::Mut<'a>) -> Self::Fill<'a> {
        Both(A::fill(shape.0, out.0), B::fill(shape.1, out.1))
    }

    fn written(fill: &Self::Fill<'_>) -> usize {
        A::written(&fill.0)
    }

    fn rows(out: &Self::Mut<'_>) -> usize {
        A::rows(&out.0)
    }

    fn split_at(out: Self::Mut<'_>, mid: usize) -> (Self::Mut<'_>, Self::Mut<'_>) {
        let (a_low, a_high) = A::split_at(out.0, mid);
        let (b_low, b_high) = B::split_at(out.1, mid);
        ((a_low, b_low), (a_high, b_high))
    }

    fn slice<'b>(out: &'b mut Self::Mut<'_>, start: usize, end: usize) -> Self::Mut<'b> {
        (
            A::slice(&mut out.0, start, end),
            B::slice(&mut out.1, start, end),
        )
    }

    fn move_rows(out: &mut Self::Mut<'_>, from: usize, to: usize, count: usize) {
        A::move_rows(&mut out.0, from, to, count);
        B::move_rows(&mut out.1, from, to, count);
    }

    fn zero_from(out: &mut Self::Mut<'_>, from: usize) {
        A::zero_from(&mut out.0, from);
        B::zero_from(&mut out.1, from);
    }

    fn period(shape: Self::Shape) -> usize {
        let (a, b) = (A::period(shape.0), B::period(shape.1));
        a / gcd(a, b) * b
    }

    fn row_bytes(shape: Self::Shape) -> usize {
        A::row_bytes(shape.0) + B::row_bytes(shape.1)
    }

    fn buf(shape: Self::Shape, rows: usize) -> Self::Buf {
        (A::buf(shape.0, rows), B::buf(shape.1, rows))
    }

    fn try_buf(shape: Self::Shape, rows: usize) -> Option<Self::Buf> {
        Some((A::try_buf(shape.0, rows)?, B::try_buf(shape.1, rows)?))
    }

    fn buf_into_array(buf: Self::Buf, shape: Self::Shape, rows: usize) -> Self::Array {
        (
            A::buf_into_array(buf.0, shape.0, rows),
            B::buf_into_array(buf.1, shape.1, rows),
        )
    }

    fn view_rows(chunk: &Self::View<'_>) -> usize {
        A::view_rows(&chunk.0)
    }

    fn fields(shape: Self::Shape, out: &mut Vec<Field>) {
        A::fields(shape.0, out);
        B::fields(shape.1, out);
    }

    fn columns<'a>(chunk: &Self::View<'a>, out: &mut Vec<Column<'a>>) {
        A::columns(&chunk.0, out);
        B::columns(&chunk.1, out);
    }

    fn with_capacity(shape: Self::Shape, rows: usize) -> Self::Buf {
        (
            A::with_capacity(shape.0, rows),
            B::with_capacity(shape.1, rows),
        )
    }

    fn append(buf: &mut Self::Buf, chunk: Self::View<'_>) {
        A::append(&mut buf.0, chunk.0);
        B::append(&mut buf.1, chunk.1);
    }

    fn buf_rows(buf: &Self::Buf, shape: Self::Shape) -> usize {
        A::buf_rows(&buf.0, shape.0)
    }

    fn buf_slots(
        buf: &mut Self::Buf,
        shape: Self::Shape,
        from: usize,
        to: usize,
    ) -> Self::BufSlots<'_> {
        A::buf_slots(&mut buf.0, shape.0, from, to).zip(B::buf_slots(&mut buf.1, shape.1, from, to))
    }

    fn buf_mut(buf: &mut Self::Buf, shape: Self::Shape, rows: usize) -> Self::Mut<'_> {
        (
            A::buf_mut(&mut buf.0, shape.0, rows),
            B::buf_mut(&mut buf.1, shape.1, rows),
        )
    }

    fn buf_view(buf: &Self::Buf, shape: Self::Shape, rows: usize) -> Self::View<'_> {
        (
            A::buf_view(&buf.0, shape.0, rows),
            B::buf_view(&buf.1, shape.1, rows),
        )
    }
}

/// Free slots for the next rows: `rows` slots of `dim` elements each, at the start of `data`.
pub struct Slots<'a, T> {
    rows: core::slice::ChunksExactMut<'a, T>,
    /// Rows left when they have no elements (`dim == 0`).
    empty: usize,
}

impl<'a, T> Slots<'a, T> {
    /// `rows` slots of `dim` elements at the start of `data` (which holds at least that many).
    pub(crate) fn new(data: &'a mut [T], rows: usize, dim: usize) -> Self {
        if dim == 0 {
            return Slots {
                rows: [].chunks_exact_mut(1),
                empty: rows,
            };
        }
        let len = (rows * dim).min(data.len());
        Slots {
            rows: data[..len].chunks_exact_mut(dim),
            empty: 0,
        }
    }
}

impl<'a, T> Iterator for Slots<'a, T> {
    type Item = &'a mut [T];

    #[inline(always)]
    fn next(&mut self) -> Option<&'a mut [T]> {
        if self.empty > 0 {
            self.empty -= 1;
            return Some(&mut []);
        }
        self.rows.next()
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let rows = self.rows.len() + self.empty;
        (rows, Some(rows))
    }
}

/// Where the loop writes rows of layout `L`.
pub trait Target<L: Layout> {
    /// Why the target takes no more rows.
    type Stop;
    /// Whether the slots it hands out are zero already (so an in-place row needs no zeroing).
    const ZEROED: bool;
    /// Free slots.
    type Slots<'s>: Iterator<Item = L::Row<'s>>
    where
        Self: 's;
    /// At least one free slot, right after the last kept row.
    fn free(&mut self) -> Result<Self::Slots<'_>, Self::Stop>;
    /// The first `rows` slots of the last `free` hold kept rows; `last` is the input index of
    /// the last item taken. On `Err`, every row kept before is where it belongs.
    fn keep(&mut self, rows: usize, last: usize) -> Result<(), Self::Stop>;
    /// Puts every kept row where it belongs (the end of a run, or before reporting a failure).
    fn flush(&mut self) -> Result<(), Self::Stop>;
}

/// A new buffer of rows: allocated once, zeroed by the allocator, when the input's `size_hint`
/// is exact (the kernel hands out zero pages lazily, so this costs no pass over memory);
/// otherwise grown in steps (`Vec` doubles its capacity, so growth is amortized) and shrunk to
/// fit at the end. A `size_hint` that lies gives the same rows as an honest one: extra
/// allocated rows are dropped, extra items grow the buffer, and a claimed length too large to
/// allocate falls back to growth.
///
/// Invariant: every slot at or after `rows` is zero.
pub struct Grow<T> {
    pub(crate) data: Vec<T>,
    rows: usize,
    dim: usize,
    /// The slot handed out when `data` is full: the buffer grows only once an item proves
    /// there is one more row, so that an exact length is never followed by a reallocation.
    spare: Vec<T>,
    spare_out: bool,
}

impl<T: Element> Grow<T> {
    pub(crate) fn new(size_hint: (usize, Option<usize>), dim: usize) -> Self {
        let (lower, upper) = size_hint;
        let guess_rows = growth_rows::<T>(dim);
        let rows = if upper == Some(lower) {
            lower
        } else {
            lower.max(guess_rows)
        };
        // A hint too large to allocate (a lying iterator, or a bound like `usize::MAX`) is not
        // trusted: start from the guess and let growth find the real length.
        let data = rows
            .checked_mul(dim)
            .and_then(|len| bytemuck::allocation::try_zeroed_vec(len).ok())
            .unwrap_or_else(|| vec![T::ZERO; guess_rows * dim]);
        Grow {
            data,
            rows: 0,
            dim,
            spare: Vec::new(),
            spare_out: false,
        }
    }

    /// The array of shape `[rows, shape...]` holding the kept rows, in standard layout.
    pub(crate) fn into_array<D: Dimension>(mut self, shape: &[usize]) -> Array<T, D> {
        self.data.truncate(self.rows * self.dim);
        self.data.shrink_to_fit();
        Array::from_shape_vec(batch_shape::<D>(shape, self.rows), self.data).expect(
            "RowSpec invariants: DIM is the product of SHAPE and Dim has SHAPE.len() + 1 axes, \
             and the buffer holds exactly rows * DIM elements",
        )
    }
}

/// The shape `[rows, shape...]` of a batch of rows of `shape`.
pub(crate) fn batch_shape<D: Dimension>(shape: &[usize], rows: usize) -> D {
    let mut dims = D::zeros(shape.len() + 1);
    dims[0] = rows;
    for (axis, &len) in shape.iter().enumerate() {
        dims[axis + 1] = len;
    }
    dims
}

/// Rows per growth step.
fn growth_rows<T>(dim: usize) -> usize {
    (MIN_GROWTH_BYTES / (dim * size_of::<T>()).max(1)).max(1)
}

impl<T: Element, D: RemoveAxis + 'static> Target<Col<T, D>> for Grow<T> {
    type Stop = Infallible;
    const ZEROED: bool = true;
    type Slots<'s> = Slots<'s, T>;

    fn free(&mut self) -> Result<Slots<'_, T>, Infallible> {
        let dim = self.dim;
        if dim == 0 {
            return Ok(Slots::new(&mut [], usize::MAX - self.rows, 0));
        }
        let used = self.rows * dim;
        self.spare_out = used == self.data.len();
        if self.spare_out {
            self.spare.resize(dim, T::ZERO);
            return Ok(Slots::new(&mut self.spare, 1, dim));
        }
        let rows = (self.data.len() - used) / dim;
        Ok(Slots::new(&mut self.data[used..], rows, dim))
    }

    fn keep(&mut self, rows: usize, _: usize) -> Result<(), Infallible> {
        if self.spare_out && rows > 0 {
            // More items than the buffer holds (a lying or unknown length): grow by a step
            // (`Vec` doubles its capacity, so growth is amortized) and move the row in.
            let used = self.data.len();
            let dim = self.dim;
            self.data
                .resize(used + growth_rows::<T>(dim) * dim, T::ZERO);
            self.data[used..used + dim].copy_from_slice(&self.spare);
            self.spare.fill(T::ZERO);
        }
        self.rows += rows;
        Ok(())
    }

    fn flush(&mut self) -> Result<(), Infallible> {
        Ok(())
    }
}

/// The buffer `batch` found full: `written` rows, and item `index` gave one more.
pub struct Full {
    pub(crate) written: usize,
    pub(crate) index: usize,
}

/// A caller's buffer of `capacity` rows. Row-major buffers are written in place; any other
/// layout (a column-major array, a strided view) gets its rows through a small row-major block,
/// copied into the buffer a block at a time. When the buffer is full, items go on being run
/// (into a scratch row) until one gives a row, so that trailing items that are dropped do not
/// count as overflow.
pub struct Fill<'a, T, D> {
    out: ArrayViewMut<'a, T, D>,
    capacity: usize,
    /// Rows in the caller's buffer.
    written: usize,
    /// Rows in the block, not yet copied (strided buffers only).
    pending: usize,
    /// Allocated at the first use: row-major buffers need none.
    block: Vec<T>,
    block_rows: usize,
    dim: usize,
    /// The row past the end, for the item that shows whether the buffer overflows.
    scratch: Vec<T>,
    /// Where the slots of the last `free` were.
    last_free: Region,
    /// Copies element `p` of each block row into a contiguous lane
    /// ([`copy_lane`] for the row function's `DIM`, a constant there).
    copy_lane: fn(&[T], usize, &mut [T]),
}

/// Element `position` of each `DIM`-element row of `block` into `lane`: with `DIM` known at
/// compile time, the rows are fixed-size chunks and the copy needs no bounds check per element.
pub(crate) fn copy_lane<R: RowSpec + ?Sized>(
    block: &[R::Dtype],
    position: usize,
    lane: &mut [R::Dtype],
) {
    copy_lane_of(block, position, lane, R::DIM);
}

/// Copies element `position` of each `DIM`-element row of `block` into `lane`, for rows of a
/// length named by a constant (one output of several).
pub fn copy_lane_n<T: Copy, const DIM: usize>(block: &[T], position: usize, lane: &mut [T]) {
    copy_lane_of(block, position, lane, DIM);
}

#[inline(always)]
fn copy_lane_of<T: Copy>(block: &[T], position: usize, lane: &mut [T], dim: usize) {
    if dim == 0 || position >= dim {
        return;
    }
    for (dest, row) in lane.iter_mut().zip(block.chunks_exact(dim)) {
        *dest = row[position];
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Region {
    InPlace,
    Block,
    Scratch,
}

impl<'a, T: Element, D: Dimension> Fill<'a, T, D> {
    pub(crate) fn new(
        out: ArrayViewMut<'a, T, D>,
        dim: usize,
        copy_lane: fn(&[T], usize, &mut [T]),
    ) -> Self {
        let capacity = out.shape().first().copied().unwrap_or(0);
        let block_rows = (BLOCK_BYTES / (dim * size_of::<T>()).max(1)).clamp(1, capacity.max(1));
        Fill {
            out,
            capacity,
            written: 0,
            pending: 0,
            block: Vec::new(),
            block_rows,
            dim,
            scratch: Vec::new(),
            last_free: Region::InPlace,
            copy_lane,
        }
    }

    /// Rows written into the caller's buffer (after a flush, all of them).
    pub(crate) fn written(&self) -> usize {
        self.written + self.pending
    }
}

impl<T: Element, D: RemoveAxis + 'static> Target<Col<T, D>> for Fill<'_, T, D> {
    type Stop = Full;
    const ZEROED: bool = false;
    type Slots<'s>
        = Slots<'s, T>
    where
        Self: 's;

    fn free(&mut self) -> Result<Slots<'_, T>, Full> {
        let dim = self.dim;
        if self.pending == self.block_rows {
            self.flush()?;
        }
        let room = self.capacity - self.written - self.pending;
        if room == 0 {
            self.last_free = Region::Scratch;
            self.scratch.clear();
            self.scratch.resize(dim, T::ZERO);
            return Ok(Slots::new(&mut self.scratch, 1, dim));
        }
        if self.pending == 0 {
            if let Some(data) = self.out.as_slice_mut() {
                self.last_free = Region::InPlace;
                return Ok(Slots::new(&mut data[self.written * dim..], room, dim));
            }
        }
        self.last_free = Region::Block;
        if self.block.is_empty() {
            self.block = vec![T::ZERO; self.block_rows * dim];
        }
        let rows = (self.block_rows - self.pending).min(room);
        Ok(Slots::new(
            &mut self.block[self.pending * dim..(self.pending + rows) * dim],
            rows,
            dim,
        ))
    }

    fn keep(&mut self, rows: usize, last: usize) -> Result<(), Full> {
        match self.last_free {
            Region::InPlace => self.written += rows,
            Region::Block => self.pending += rows,
            Region::Scratch if rows == 0 => {}
            Region::Scratch => {
                self.flush()?;
                return Err(Full {
                    written: self.written,
                    index: last,
                });
            }
        }
        Ok(())
    }

    /// Copies the block's rows into the caller's buffer.
    fn flush(&mut self) -> Result<(), Full> {
        if self.pending > 0 {
            let (start, end) = (self.written, self.written + self.pending);
            let mut dest = self.out.slice_axis_mut(Axis(0), Slice::from(start..end));
            let dim = self.dim;
            // Lane by lane along the row axis: in a column-major buffer each lane is contiguous,
            // and the block is small enough to stay in cache while it is read across. Lanes come
            // in row-major order of the row's axes, which is the order of a row's elements.
            let block = &self.block[..self.pending * dim];
            for (position, mut lane) in dest.lanes_mut(Axis(0)).into_iter().enumerate() {
                match lane.as_slice_mut() {
                    Some(lane) => (self.copy_lane)(block, position, lane),
                    None => {
                        let rows = block[position..].iter().step_by(dim.max(1));
                        lane.iter_mut().zip(rows).for_each(|(d, s)| *d = *s);
                    }
                }
            }
            self.written = end;
            self.pending = 0;
        }
        Ok(())
    }
}
