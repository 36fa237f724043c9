use super::*;
use crate::element::Element;
use crate::error::Error;
use crate::layout::Grow;
use core::convert::Infallible;

use ndarray::{s, Array2, ShapeBuilder};
use proptest::prelude::*;

/// The naive reference: a list of rows, built the slow way.
fn reference<R, I>(row_fn: &mut R, items: I) -> Vec<Vec<R::Dtype>>
where
    R: RowFn<I::Item>,
    I: IntoIterator,
{
    items
        .into_iter()
        .map(|item| {
            let mut row = vec![R::Dtype::ZERO; R::DIM];
            let _ = row_fn.write_row(item, &mut row);
            row
        })
        .collect()
}

fn rows_of<T: Element>(array: &Array2<T>) -> Vec<Vec<T>> {
    array.rows().into_iter().map(|r| r.to_vec()).collect()
}

/// By-value rows of width `DIM`: element `j` of item `i` is a value derived from both.
struct Pattern<T, const DIM: usize>(core::marker::PhantomData<T>);

impl<T: Element, const DIM: usize> RowSpec for Pattern<T, DIM> {
    type Dtype = T;
    type Dim = ndarray::Ix2;
    type Policy = crate::policy::Plain;
    const DIM: usize = DIM;
    const SHAPE: &'static [usize] = &[DIM];
    const OVERWRITES_ROW: bool = true;
}

impl<T, const DIM: usize> RowFn<u32> for Pattern<T, DIM>
where
    T: Element,
    u32: crate::CastAs<T>,
{
    type Error = Infallible;
    fn write_row(&mut self, item: u32, row: &mut [T]) -> Result<bool, Infallible> {
        for (j, slot) in row.iter_mut().enumerate() {
            *slot = crate::CastAs::cast_as((item.wrapping_mul(31) + j as u32 * 7) % 120);
        }
        Ok(true)
    }
}

fn pattern<T, const DIM: usize>() -> Pattern<T, DIM> {
    Pattern(core::marker::PhantomData)
}

/// An in-place row function that sets one element and relies on receiving a zeroed row.
struct OneHot<const DIM: usize>;

impl<const DIM: usize> RowSpec for OneHot<DIM> {
    type Dtype = u8;
    type Dim = ndarray::Ix2;
    type Policy = crate::policy::Plain;
    const DIM: usize = DIM;
    const SHAPE: &'static [usize] = &[DIM];
    const OVERWRITES_ROW: bool = false;
}

impl<const DIM: usize> RowFn<usize> for OneHot<DIM> {
    type Error = Infallible;
    fn write_row(&mut self, class: usize, row: &mut [u8]) -> Result<bool, Infallible> {
        assert!(
            row.iter().all(|&x| x == 0),
            "row handed over dirty: {row:?}"
        );
        row[class % DIM] = 1;
        Ok(true)
    }
}

/// Yields `0..len` but reports whatever `size_hint` it is told to.
#[derive(Clone, Debug)]
struct Lying {
    next: u32,
    len: u32,
    claimed: (usize, Option<usize>),
}

impl Iterator for Lying {
    type Item = u32;
    fn next(&mut self) -> Option<u32> {
        (self.next < self.len).then(|| {
            self.next += 1;
            self.next - 1
        })
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        self.claimed
    }
}

fn lying(len: u32, claimed: (usize, Option<usize>)) -> Lying {
    Lying {
        next: 0,
        len,
        claimed,
    }
}

fn hint_strategy() -> impl Strategy<Value = (usize, Option<usize>)> {
    prop_oneof![
        (0usize..600).prop_map(|n| (n, Some(n))),
        (0usize..600).prop_map(|n| (n, None)),
        (0usize..600, 0usize..600).prop_map(|(a, b)| (a.min(b), Some(a.max(b)))),
        Just((usize::MAX, Some(usize::MAX))),
        Just((usize::MAX / 2, None)),
        Just((1 << 40, Some(1 << 40))),
    ]
}

macro_rules! batch_matches_reference {
    ($($name:ident: $ty:ty, $dim:literal;)*) => {$(
        proptest! {
            #[test]
            fn $name(len in 0u32..500, claimed in hint_strategy()) {
                let mut row_fn = pattern::<$ty, $dim>();
                let got = batch(&mut row_fn, lying(len, claimed));
                prop_assert_eq!(got.shape(), &[len as usize, $dim]);
                prop_assert!(got.is_standard_layout());
                prop_assert_eq!(rows_of(&got), reference(&mut row_fn, 0..len));
            }
        }
    )*};
}

batch_matches_reference! {
    batch_f32_dim3: f32, 3;
    batch_u8_dim784: u8, 784;
    batch_f16_dim5: half::f16, 5;
    batch_bf16_dim2: half::bf16, 2;
    batch_f64_dim1: f64, 1;
    batch_i8_dim7: i8, 7;
    batch_i16_dim4: i16, 4;
    batch_i32_dim9: i32, 9;
    batch_i64_dim2: i64, 2;
    batch_u16_dim3: u16, 3;
    batch_u32_dim16: u32, 16;
    batch_u64_dim1: u64, 1;
}

proptest! {
    #[test]
    fn fill_matches_reference_in_every_layout(
        len in 0u32..200,
        extra_rows in 0usize..5,
        layout in 0u8..4,
    ) {
        let mut row_fn = pattern::<f32, 3>();
        let rows = len as usize + extra_rows;
        let mut backing = match layout {
            0 => Array2::<f32>::from_elem((rows, 3), -1.0),
            1 => Array2::<f32>::from_elem((rows, 3).f(), -1.0),
            // a view of every other row, and a view of three of five columns
            2 => Array2::<f32>::from_elem((rows * 2, 3), -1.0),
            _ => Array2::<f32>::from_elem((rows, 5), -1.0),
        };
        let mut view = match layout {
            2 => backing.slice_mut(s![..;2, ..]),
            3 => backing.slice_mut(s![.., 1..4]),
            _ => backing.view_mut(),
        };
        let written = fill(&mut row_fn, lying(len, (0, None)), view.view_mut());
        prop_assert_eq!(written, Ok(len as usize));
        let expected = reference(&mut row_fn, 0..len);
        for (i, row) in view.rows().into_iter().enumerate() {
            if i < len as usize {
                prop_assert_eq!(row.to_vec(), expected[i].clone());
            } else {
                prop_assert!(row.iter().all(|&x| x == -1.0), "row {} beyond the count was touched", i);
            }
        }
    }

    #[test]
    fn fill_reports_a_full_buffer(rows in 0usize..50, surplus in 1u32..20) {
        let mut row_fn = pattern::<i32, 2>();
        let mut out = Array2::<i32>::zeros((rows, 2));
        let len = rows as u32 + surplus;
        let got = fill(&mut row_fn, 0..len, out.view_mut());
        prop_assert_eq!(got, Err(Error::BufferFull { written: rows, index: rows }));
        prop_assert_eq!(rows_of(&out), reference(&mut row_fn, 0..rows as u32));
    }

    #[test]
    fn reused_buffers_give_in_place_rows_a_zeroed_slot(
        classes in proptest::collection::vec(0usize..10, 0..100),
        column_major in any::<bool>(),
    ) {
        let shape = (classes.len(), 10);
        let mut out = if column_major {
            Array2::<u8>::from_elem(shape.f(), 9)
        } else {
            Array2::<u8>::from_elem(shape, 9)
        };
        prop_assert_eq!(fill(&mut OneHot::<10>, classes.iter().copied(), out.view_mut()), Ok(classes.len()));
        // a second pass over the same buffer must not see the first pass's ones
        let shifted: Vec<usize> = classes.iter().map(|c| c + 1).collect();
        prop_assert_eq!(fill(&mut OneHot::<10>, shifted.iter().copied(), out.view_mut()), Ok(classes.len()));
        for (row, class) in out.rows().into_iter().zip(&shifted) {
            let mut expected = [0u8; 10];
            expected[class % 10] = 1;
            prop_assert_eq!(row.to_vec(), expected.to_vec());
        }
    }
}

#[test]
fn width_mismatch_writes_nothing() {
    let mut out = Array2::<f32>::from_elem((4, 2), 5.0);
    let got = fill(&mut pattern::<f32, 3>(), 0..4, out.view_mut());
    assert_eq!(
        got,
        Err(Error::WidthMismatch {
            expected: 3,
            found: 2
        })
    );
    assert!(out.iter().all(|&x| x == 5.0));
    assert_eq!(
        got.unwrap_err().to_string(),
        "output buffer has 2 columns, but each row has 3 elements (`dim = 3`); nothing was written"
    );
}

#[test]
fn full_buffer_takes_exactly_one_item_too_many() {
    let mut source = 0..10u32;
    let mut out = Array2::<u32>::zeros((4, 16));
    let got = fill(&mut pattern::<u32, 16>(), &mut source, out.view_mut());
    assert_eq!(
        got,
        Err(Error::BufferFull {
            written: 4,
            index: 4
        })
    );
    assert_eq!(
        source.next(),
        Some(5),
        "item 4 is taken to detect the overflow, no more"
    );
}

#[test]
fn exact_buffer_is_not_an_error() {
    let mut out = Array2::<u64>::zeros((3, 1));
    assert_eq!(fill(&mut pattern::<u64, 1>(), 0..3, out.view_mut()), Ok(3));
    let mut empty = Array2::<u64>::zeros((0, 1));
    assert_eq!(
        fill(&mut pattern::<u64, 1>(), 0..0, empty.view_mut()),
        Ok(0)
    );
    assert_eq!(
        fill(&mut pattern::<u64, 1>(), 0..1, empty.view_mut()),
        Err(Error::BufferFull {
            written: 0,
            index: 0
        })
    );
}

/// Yields `0..len`, then `None` once, then numbers forever: only the first `None` ends it.
struct Unfused {
    next: u32,
    len: u32,
    claimed: usize,
}

impl Iterator for Unfused {
    type Item = u32;
    fn next(&mut self) -> Option<u32> {
        self.next += 1;
        (self.next - 1 != self.len).then_some(self.next - 1)
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.claimed, Some(self.claimed))
    }
}

#[test]
fn batch_stops_at_the_first_none_of_an_unfused_iterator() {
    for claimed in [0, 2, 3, 4, 100] {
        let source = Unfused {
            next: 0,
            len: 3,
            claimed,
        };
        let got = batch(&mut pattern::<i16, 2>(), source);
        assert_eq!(
            rows_of(&got),
            reference(&mut pattern::<i16, 2>(), 0..3),
            "claimed {claimed}"
        );
    }
}

#[test]
fn batch_with_exact_hint_allocates_exactly_the_output() {
    let got = batch(&mut pattern::<f32, 3>(), 0..1000u32);
    assert_eq!(got.shape(), &[1000, 3]);
    let vec = got.into_raw_vec_and_offset().0;
    assert_eq!(vec.capacity(), 3000);
}

#[test]
fn batch_of_unknown_length_is_shrunk_to_fit() {
    let got = batch(
        &mut pattern::<u8, 784>(),
        (0..1000u32).filter(|i| i % 3 == 0),
    );
    assert_eq!(got.shape(), &[334, 784]);
    let vec = got.into_raw_vec_and_offset().0;
    assert_eq!(vec.capacity(), 334 * 784);
}

#[test]
fn batch_of_in_place_rows_sees_zeroed_rows_while_growing() {
    let classes = (0..5000usize).filter(|c| c % 7 != 0);
    let got = batch(&mut OneHot::<4>, classes.clone());
    for (row, class) in got.rows().into_iter().zip(classes) {
        assert_eq!(row.sum(), 1);
        assert_eq!(row[class % 4], 1);
    }
}

struct Empty;
impl RowSpec for Empty {
    type Dtype = f32;
    type Dim = ndarray::Ix2;
    type Policy = crate::policy::Plain;
    const DIM: usize = 0;
    const SHAPE: &'static [usize] = &[0];
    const OVERWRITES_ROW: bool = true;
}
impl RowFn<u32> for Empty {
    type Error = Infallible;
    fn write_row(&mut self, _: u32, row: &mut [f32]) -> Result<bool, Infallible> {
        assert!(row.is_empty());
        Ok(true)
    }
}

#[test]
fn zero_width_rows_are_counted_not_panicked_on() {
    assert_eq!(batch(&mut Empty, 0..7).shape(), &[7, 0]);
    let mut out = Array2::<f32>::zeros((3, 0));
    assert_eq!(fill(&mut Empty, 0..2, out.view_mut()), Ok(2));
    assert_eq!(
        fill(&mut Empty, 0..5, out.view_mut()),
        Err(Error::BufferFull {
            written: 3,
            index: 3
        })
    );
}

#[test]
fn a_panicking_row_function_unwinds_without_corrupting_anything() {
    struct PanicsAt(u32);
    impl RowSpec for PanicsAt {
        type Dtype = f32;
        type Dim = ndarray::Ix2;
        type Policy = crate::policy::Plain;
        const DIM: usize = 2;
        const SHAPE: &'static [usize] = &[2];
        const OVERWRITES_ROW: bool = true;
    }
    impl RowFn<u32> for PanicsAt {
        type Error = Infallible;
        fn write_row(&mut self, item: u32, row: &mut [f32]) -> Result<bool, Infallible> {
            assert_ne!(item, self.0, "bad item");
            row.fill(item as f32);
            Ok(true)
        }
    }
    let caught = std::panic::catch_unwind(|| batch(&mut PanicsAt(5), 0..10));
    assert!(caught.is_err());
    let mut out = Array2::<f32>::zeros((10, 2));
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        fill(&mut PanicsAt(3), 0..10, out.view_mut())
    }));
    assert!(caught.is_err());
    assert_eq!(out.row(2).to_vec(), vec![2.0, 2.0]);
    assert_eq!(out.row(3).to_vec(), vec![0.0, 0.0]);
}

#[test]
fn an_exact_length_is_never_followed_by_a_reallocation() {
    // The buffer grows only when an item proves there is one more row: after the last slot of
    // an exact allocation, the input's end is found without growing.
    let mut target = Grow::<f32>::new((1000, Some(1000)), 3);
    let (ptr, capacity) = (target.data.as_ptr(), target.data.capacity());
    let skipped = match run(&mut pattern::<f32, 3>(), 0..1000u32, &mut target) {
        Ok(skipped) => skipped,
        Err(_) => unreachable!("a plain row function cannot stop"),
    };
    assert!(skipped.is_empty());
    assert_eq!(
        (target.data.as_ptr(), target.data.capacity()),
        (ptr, capacity)
    );
    assert_eq!(capacity, 3000);

    // One item more than promised: it grows then, and keeps every row.
    let mut target = Grow::<f32>::new((1000, Some(1000)), 3);
    assert!(run(&mut pattern::<f32, 3>(), 0..1001u32, &mut target).is_ok());
    let rows = target.into_array::<ndarray::Ix2>(&[3]);
    assert_eq!(
        rows_of(&rows),
        reference(&mut pattern::<f32, 3>(), 0..1001u32)
    );
}

#[test]
fn strided_buffers_larger_than_a_block_get_every_row() {
    // Column-major rows go through a block of rows copied in at once: many blocks, a last
    // partial one, and the overflow check after the buffer is full.
    for rows in [1usize, 1365, 1366, 5000] {
        let mut row_fn = pattern::<f32, 3>();
        let mut out = Array2::<f32>::from_elem((rows, 3).f(), -1.0);
        let got = fill(&mut row_fn, 0..rows as u32 + 2, out.view_mut());
        assert_eq!(
            got,
            Err(Error::BufferFull {
                written: rows,
                index: rows
            })
        );
        assert_eq!(rows_of(&out), reference(&mut row_fn, 0..rows as u32));

        let mut out = Array2::<f32>::from_elem((rows + 7, 3).f(), -1.0);
        assert_eq!(fill(&mut row_fn, 0..rows as u32, out.view_mut()), Ok(rows));
        assert_eq!(
            rows_of(&out.slice(s![..rows, ..]).to_owned()),
            reference(&mut row_fn, 0..rows as u32)
        );
        assert!(out.slice(s![rows.., ..]).iter().all(|&x| x == -1.0));
    }
}
