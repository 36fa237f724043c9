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

use ndarray::{Array, ArrayView2, ArrayViewMut, Axis, RemoveAxis, Slice};

use crate::drivers::{Fill, Full, Grow, Slots, Target};
use crate::element::{Element, ElementType};
use crate::policy::FillStop;

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
        Array::from_shape_vec(crate::drivers::batch_shape::<D>(shape.shape, rows), buf)
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
                    .flat_map(|v| bytemuck::bytes_of(v).to_vec())
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
        let dims = crate::drivers::batch_shape::<D>(shape.shape, rows);
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
