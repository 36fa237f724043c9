//! Fallible, filtering and multi-axis rows through every driver, against a naive reference.

use std::collections::BTreeSet;

use ndarray::{s, Array2, Array3, ShapeBuilder};
use proptest::prelude::*;

use super::*;
use crate::policy::{Fallible, FallibleFiltered, Skipping};
use crate::Error;
use crate::{CastError, RowError};
use core::convert::Infallible;

/// Drops the items in `drop`, fails the items in `fail` (with the item as the error), and
/// writes `[item, item + 1, item + 2]` otherwise. In place (`IN_PLACE`), it scribbles on the
/// slot before deciding, so a dropped or failed row that left a trace would show.
struct Flaky<const IN_PLACE: bool, P> {
    drop: BTreeSet<u32>,
    fail: BTreeSet<u32>,
    cast_fail: BTreeSet<u32>,
    policy: core::marker::PhantomData<P>,
}

impl<const IN_PLACE: bool, P: Policy> RowSpec for Flaky<IN_PLACE, P> {
    type Dtype = i64;
    type Dim = ndarray::Ix2;
    type Policy = P;
    const DIM: usize = 3;
    const SHAPE: &'static [usize] = &[3];
    const OVERWRITES_ROW: bool = !IN_PLACE;
}

impl<const IN_PLACE: bool, P> RowFn<u32> for Flaky<IN_PLACE, P>
where
    P: Policy<Failure<u32> = RowError<u32>>,
{
    type Error = u32;
    fn write_row(&mut self, item: u32, row: &mut [i64]) -> Result<bool, RowError<u32>> {
        if IN_PLACE {
            assert!(
                row.iter().all(|&x| x == 0),
                "slot handed over dirty: {row:?}"
            );
            row[1] = -99;
        }
        if self.cast_fail.contains(&item) {
            row[0] = -7; // a checked cast stores elements until one does not fit
            return Err(RowError::Cast(CastError::new(1, &1e10, "i64")));
        }
        if self.fail.contains(&item) {
            return Err(RowError::Row(item));
        }
        if self.drop.contains(&item) {
            return Ok(false);
        }
        let base = i64::from(item);
        row.copy_from_slice(&[base, base + 1, base + 2]);
        Ok(true)
    }
}

fn flaky<const IN_PLACE: bool, P>(drop: &[u32], fail: &[u32]) -> Flaky<IN_PLACE, P> {
    Flaky {
        drop: drop.iter().copied().collect(),
        fail: fail.iter().copied().collect(),
        cast_fail: BTreeSet::new(),
        policy: core::marker::PhantomData,
    }
}

fn expected_rows(items: impl IntoIterator<Item = u32>) -> Vec<Vec<i64>> {
    items
        .into_iter()
        .map(|i| vec![i64::from(i), i64::from(i) + 1, i64::from(i) + 2])
        .collect()
}

fn rows_of(array: &Array2<i64>) -> Vec<Vec<i64>> {
    array.rows().into_iter().map(|r| r.to_vec()).collect()
}

#[test]
fn filtered_batch_keeps_rows_and_reports_the_dropped() {
    for_both_forms(|in_place| {
        let items = 0..10u32;
        let got = if in_place {
            batch(&mut flaky::<true, Skipping>(&[0, 4, 9], &[]), items.clone())
        } else {
            batch(
                &mut flaky::<false, Skipping>(&[0, 4, 9], &[]),
                items.clone(),
            )
        };
        assert_eq!(rows_of(&got.rows), expected_rows([1, 2, 3, 5, 6, 7, 8]));
        assert_eq!(got.skipped, vec![0, 4, 9]);
        assert_eq!(got.source_index(), vec![1, 2, 3, 5, 6, 7, 8]);
    });
}

fn for_both_forms(check: impl Fn(bool)) {
    check(false);
    check(true);
}

#[test]
fn every_item_dropped_gives_an_empty_batch() {
    let got = batch(&mut flaky::<true, Skipping>(&[0, 1, 2], &[]), 0..3u32);
    assert_eq!(got.rows.shape(), &[0, 3]);
    assert_eq!(got.skipped, vec![0, 1, 2]);
    assert!(got.source_index().is_empty());
}

#[test]
fn try_batch_stops_at_the_first_failure_with_its_index() {
    for fail_at in [0u32, 5, 9] {
        let err = batch(&mut flaky::<true, Fallible>(&[], &[fail_at, 7]), 0..10u32).unwrap_err();
        let first = fail_at.min(7);
        assert_eq!(err.index(), first as usize);
        assert_eq!(err.error, RowError::Row(first));
        assert_eq!(
            err.to_string(),
            format!("item {first} (counting from 0): {first}")
        );
    }
    let ok = batch(&mut flaky::<false, Fallible>(&[], &[]), 0..4u32).unwrap();
    assert_eq!(rows_of(&ok), expected_rows(0..4));
}

#[test]
fn try_batch_filtered_indexes_failures_by_input_position() {
    let err = batch(
        &mut flaky::<false, FallibleFiltered>(&[1, 2], &[3]),
        0..10u32,
    )
    .unwrap_err();
    assert_eq!(err.index, 3);
    let ok = batch(&mut flaky::<false, FallibleFiltered>(&[1, 2], &[]), 0..5u32).unwrap();
    assert_eq!(rows_of(&ok.rows), expected_rows([0, 3, 4]));
    assert_eq!(ok.skipped, vec![1, 2]);
}

#[test]
fn cast_failures_leave_no_trace_when_skipped() {
    let mut skipping = flaky::<false, Skipping>(&[], &[]);
    skipping.cast_fail = [2u32].into_iter().collect();
    let got = batch(&mut skipping, 0..4u32);
    assert_eq!(rows_of(&got.rows), expected_rows([0, 1, 3]));
    assert_eq!(got.skipped, vec![2]);
    let mut failing = flaky::<false, Fallible>(&[], &[]);
    failing.cast_fail = [2u32].into_iter().collect();
    let err = batch(&mut failing, 0..4u32).unwrap_err();
    assert_eq!(err.error, RowError::Cast(CastError::new(1, &1e10, "i64")));
    assert_eq!(
        err.to_string(),
        "item 2 (counting from 0): row element 1 (10000000000) does not fit in i64"
    );
}

#[test]
fn try_fill_reports_rows_written_before_the_failure() {
    let mut out = Array2::<i64>::from_elem((10, 3), 5);
    let err = fill(
        &mut flaky::<true, Fallible>(&[1], &[4]),
        0..10u32,
        out.view_mut(),
    )
    .unwrap_err();
    assert_eq!(err.rows_written(), 3, "items 0, 2, 3 were written");
    assert_eq!(err.item_index(), Some(4));
    match &err {
        Error::Item { written: 3, error } => assert_eq!(error.error, RowError::Row(4)),
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(
        err.to_string(),
        "item 4 (counting from 0): 4 (3 rows written before it)"
    );
    assert_eq!(
        rows_of(&out.slice(s![..3, ..]).to_owned()),
        expected_rows([0, 2, 3])
    );
}

#[test]
fn a_strided_buffer_gets_the_rows_before_a_failure() {
    // The rows before the failure are still in the block when the item fails: they are copied
    // in before the error is returned.
    let mut out = Array2::<i64>::from_elem((3000, 3).f(), 5);
    let err = fill(
        &mut flaky::<false, Fallible>(&[], &[2000]),
        0..3000u32,
        out.view_mut(),
    )
    .unwrap_err();
    assert_eq!(err.rows_written(), 2000);
    assert_eq!(err.item_index(), Some(2000));
    assert_eq!(
        rows_of(&out.slice(s![..2000, ..]).to_owned()),
        expected_rows(0..2000)
    );
    assert!(out.slice(s![2000.., ..]).iter().all(|&x| x == 5));
}

#[test]
fn fill_skipping_and_filtered_write_only_kept_rows() {
    let mut out = Array2::<i64>::zeros((5, 3).f());
    let got = fill(
        &mut flaky::<true, Skipping>(&[0], &[3]),
        0..6u32,
        out.view_mut(),
    )
    .unwrap();
    assert_eq!(
        got,
        Batch {
            rows: 4,
            skipped: vec![0, 3]
        }
    );
    assert_eq!(
        rows_of(&out.slice(s![..4, ..]).to_owned()),
        expected_rows([1, 2, 4, 5])
    );
    assert_eq!(
        out.row(4).to_vec(),
        vec![0, 0, 0],
        "no trace of the dropped rows"
    );
}

#[test]
fn trailing_dropped_items_do_not_overflow_a_full_buffer() {
    let mut out = Array2::<i64>::zeros((2, 3));
    let got = fill(
        &mut flaky::<false, Skipping>(&[2, 3], &[]),
        0..4u32,
        out.view_mut(),
    );
    assert_eq!(
        got,
        Ok(Batch {
            rows: 2,
            skipped: vec![2, 3]
        })
    );
    let full = fill(
        &mut flaky::<false, Skipping>(&[2], &[]),
        0..4u32,
        out.view_mut(),
    );
    // Item 2 was dropped, so the item that did not fit is item 3, not item `written`.
    assert_eq!(
        full,
        Err(Error::BufferFull {
            written: 2,
            index: 3
        })
    );
    assert_eq!(full.unwrap_err().item_index(), Some(3));
}

/// Rows of shape (2, 3): element (r, c) of item i is 100 i + 10 r + c.
struct Grid;

impl RowSpec for Grid {
    type Dtype = u16;
    type Dim = ndarray::Ix3;
    type Policy = crate::policy::Plain;
    const DIM: usize = 6;
    const SHAPE: &'static [usize] = &[2, 3];
    const OVERWRITES_ROW: bool = false;
}

impl RowFn<u16> for Grid {
    type Error = Infallible;
    fn write_row(&mut self, item: u16, row: &mut [u16]) -> Result<bool, Infallible> {
        for (k, slot) in row.iter_mut().enumerate() {
            let (r, c) = (k / 3, k % 3);
            *slot = 100 * item + 10 * r as u16 + c as u16;
        }
        Ok(true)
    }
}

fn grid_expected(n: u16) -> Array3<u16> {
    Array3::from_shape_fn((n as usize, 2, 3), |(i, r, c)| {
        100 * i as u16 + 10 * r as u16 + c as u16
    })
}

#[test]
fn multi_axis_rows_batch_into_rank_three_arrays() {
    let got = batch(&mut Grid, 0..4u16);
    assert_eq!(got, grid_expected(4));
    let unknown_length = batch(&mut Grid, (0..9u16).filter(|i| *i < 4));
    assert_eq!(unknown_length, grid_expected(4));
}

#[test]
fn multi_axis_fill_works_in_any_layout() {
    let expected = grid_expected(3);
    let mut standard = Array3::<u16>::zeros((3, 2, 3));
    assert_eq!(fill(&mut Grid, 0..3u16, standard.view_mut()), Ok(3));
    assert_eq!(standard, expected);

    let mut fortran = Array3::<u16>::zeros((3, 2, 3).f());
    assert_eq!(fill(&mut Grid, 0..3u16, fortran.view_mut()), Ok(3));
    assert_eq!(fortran, expected);

    let mut wide = Array3::<u16>::from_elem((3, 2, 5), 9);
    assert_eq!(
        fill(&mut Grid, 0..3u16, wide.slice_mut(s![.., .., 1..4])),
        Ok(3)
    );
    assert_eq!(wide.slice(s![.., .., 1..4]), expected);
    assert!(wide.slice(s![.., .., 0]).iter().all(|&v| v == 9));
}

#[test]
fn multi_axis_fill_rejects_the_wrong_row_shape() {
    let mut out = Array3::<u16>::from_elem((3, 3, 2), 1);
    let err = fill(&mut Grid, 0..3u16, out.view_mut()).unwrap_err();
    assert_eq!(
        err,
        Error::ShapeMismatch {
            expected: vec![2, 3],
            found: vec![3, 2]
        }
    );
    assert!(out.iter().all(|&v| v == 1));
    assert_eq!(
        err.to_string(),
        "output buffer rows have shape [3, 2], but each row has shape [2, 3] (`shape`); nothing was written"
    );
}

proptest! {
    #[test]
    fn skipping_matches_a_naive_reference(
        len in 0u32..300,
        drop in proptest::collection::btree_set(0u32..300, 0..40),
        fail in proptest::collection::btree_set(0u32..300, 0..40),
        in_place in any::<bool>(),
        hint_exact in any::<bool>(),
    ) {
        let kept: Vec<u32> = (0..len).filter(|i| !drop.contains(i) && !fail.contains(i)).collect();
        let skipped: Vec<usize> = (0..len)
            .filter(|i| drop.contains(i) || fail.contains(i))
            .map(|i| i as usize)
            .collect();
        let items: Box<dyn Iterator<Item = u32>> = if hint_exact {
            Box::new(0..len)
        } else {
            Box::new((0..len).filter(|_| true))
        };
        let row_fn_drop: Vec<u32> = drop.iter().copied().collect();
        let row_fn_fail: Vec<u32> = fail.iter().copied().collect();
        let got = if in_place {
            batch(&mut flaky::<true, Skipping>(&row_fn_drop, &row_fn_fail), items)
        } else {
            batch(&mut flaky::<false, Skipping>(&row_fn_drop, &row_fn_fail), items)
        };
        prop_assert_eq!(rows_of(&got.rows), expected_rows(kept.iter().copied()));
        prop_assert_eq!(&got.skipped, &skipped);
        prop_assert_eq!(got.source_index(), kept.iter().map(|&i| i as usize).collect::<Vec<_>>());

        let mut out = Array2::<i64>::from_elem((len as usize, 3), 42);
        let filled = fill(&mut flaky::<true, Skipping>(&row_fn_drop, &row_fn_fail), 0..len, out.view_mut());
        prop_assert_eq!(filled, Ok(Batch { rows: kept.len(), skipped }));
        prop_assert_eq!(rows_of(&out.slice(s![..kept.len(), ..]).to_owned()), expected_rows(kept));
    }
}
