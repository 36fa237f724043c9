//! The whole DSL through the generated entry points: fallible and filtering rows, skip
//! policies, checked and saturating casts, methods with state, multi-axis rows, const dims and
//! a renamed crate.
// Items are passed by reference on purpose (the form most callers use), though the entry
// points also take them by value, which clippy suggests where the borrow is the last use.
#![allow(clippy::needless_borrows_for_generic_args)]

extern crate preallocate as pa;

use std::collections::HashMap;
use std::fmt;

use ndarray::{array, s, Array2, Array3, Array4, ShapeBuilder};
use preallocate::{preallocate, Batch, CastError, Error, ItemError, RowError};

#[derive(Debug, Clone, PartialEq)]
pub struct BadRecord(String);

impl fmt::Display for BadRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "bad record {:?}", self.0)
    }
}

impl std::error::Error for BadRecord {}

/// Fallible, by value: `"x,y"` → `[x, y]`.
#[preallocate(dim = 2, dtype = f32)]
fn parse(line: &str) -> Result<[f32; 2], BadRecord> {
    let (x, y) = line
        .split_once(',')
        .ok_or_else(|| BadRecord(line.to_owned()))?;
    let number = |s: &str| {
        s.trim()
            .parse::<f32>()
            .map_err(|_| BadRecord(line.to_owned()))
    };
    Ok([number(x)?, number(y)?])
}

#[test]
fn fallible_rows_fail_with_the_item_index() {
    assert_eq!(
        parse::batch(["1,2", "3,4"]),
        Ok(array![[1.0, 2.0], [3.0, 4.0]])
    );
    for (bad_at, lines) in [
        (0, vec!["x", "1,2", "3,4"]),
        (1, vec!["1,2", "nope", "3,4"]),
        (2, vec!["1,2", "3,4", "5;6"]),
    ] {
        let err = parse::batch(lines.iter().copied()).unwrap_err();
        assert_eq!(err.index(), bad_at);
        assert_eq!(
            err.error,
            RowError::Row(BadRecord(lines[bad_at].to_owned()))
        );
        assert_eq!(
            err.to_string(),
            format!(
                "item {bad_at} (counting from 0): bad record {:?}",
                lines[bad_at]
            )
        );
        assert_eq!(
            err.error.to_string(),
            format!("bad record {:?}", lines[bad_at])
        );
        // The user's message is part of this one, so `source()` skips to the user's error's
        // own source (none here) and a chain printer shows the message once.
        assert!(std::error::Error::source(&err).is_none());
    }
}

#[test]
fn fallible_fill_reports_rows_written_before_the_failure() {
    let mut out = Array2::<f32>::from_elem((4, 2), 9.0);
    let err = parse::fill(["1,2", "3,4", "oops", "5,6"], &mut out).unwrap_err();
    assert_eq!(err.rows_written(), 2);
    assert_eq!(err.item_index(), Some(2));
    assert!(matches!(
        &err,
        Error::Item {
            written: 2,
            error: ItemError { index: 2, .. }
        }
    ));
    assert_eq!(out.slice(s![..2, ..]), array![[1.0, 2.0], [3.0, 4.0]]);
    assert_eq!(parse::fill(["7,8"], &mut out), Ok(1));
}

/// The same function under `on_error = "skip"`.
#[preallocate(dim = 2, dtype = f32, on_error = "skip")]
fn parse_lenient(line: &str) -> Result<[f32; 2], BadRecord> {
    parse(line)
}

#[test]
fn skipped_failures_are_listed() {
    let got: Batch<Array2<f32>> = parse_lenient::batch(["1,2", "bad", "3,4", "", "5,6"]);
    assert_eq!(got.rows, array![[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]);
    assert_eq!(got.skipped, vec![1, 3]);
    assert_eq!(got.source_index(), vec![0, 2, 4]);
    let all_bad = parse_lenient::batch(["a", "b"]);
    assert_eq!(all_bad.rows.shape(), &[0, 2]);
    assert_eq!(all_bad.skipped, vec![0, 1]);

    let mut out = Array2::<f32>::zeros((2, 2));
    let filled = parse_lenient::fill(["x", "1,1", "y", "2,2"], &mut out);
    assert_eq!(
        filled,
        Ok(Batch {
            rows: 2,
            skipped: vec![0, 2]
        })
    );
    assert_eq!(out, array![[1.0, 1.0], [2.0, 2.0]]);
}

/// Filtering, by value: only even numbers.
#[preallocate(dim = 1, dtype = u32)]
fn evens(x: &u32) -> Option<[u32; 1]> {
    x.is_multiple_of(2).then_some([*x])
}

/// Filtering, in place: drops negative values, after scribbling on the row.
#[preallocate(dim = 3, dtype = i16)]
fn positive_one_hot(x: &i16, row: &mut [i16; 3]) -> bool {
    row[0] = -1;
    if *x < 0 {
        return false;
    }
    row[0] = 0;
    row[(*x as usize) % 3] = *x;
    true
}

#[test]
fn filtering_rows_are_dropped_without_a_trace() {
    let kept = evens::batch(&[1, 2, 3, 4, 6, 7]);
    assert_eq!(kept.rows, array![[2], [4], [6]]);
    assert_eq!(kept.skipped, vec![0, 2, 5]);

    let kept = positive_one_hot::batch(&[-5, 4, -1, 2, -3]);
    assert_eq!(kept.rows, array![[0, 4, 0], [0, 0, 2]]);
    assert_eq!(kept.skipped, vec![0, 2, 4]);

    let mut out = Array2::<i16>::from_elem((3, 3), 7);
    let filled = positive_one_hot::fill(&[1, -1, 5], out.view_mut());
    assert_eq!(
        filled,
        Ok(Batch {
            rows: 2,
            skipped: vec![1]
        })
    );
    assert_eq!(out.slice(s![..2, ..]), array![[0, 1, 0], [0, 0, 5]]);
}

/// Fallible and filtering: empty lines are dropped, bad ones fail.
#[preallocate(dim = 1, dtype = i64)]
fn maybe_number(line: &str) -> Result<Option<[i64; 1]>, std::num::ParseIntError> {
    if line.is_empty() {
        return Ok(None);
    }
    Ok(Some([line.parse()?]))
}

/// In place, fallible and filtering.
#[preallocate(dim = 2, dtype = u8)]
fn in_place_both(x: &i32, row: &mut [u8; 2]) -> Result<bool, String> {
    row[1] = 99;
    match *x {
        i32::MIN..=-1 => Err(format!("negative: {x}")),
        0 => Ok(false),
        x => {
            row[0] = u8::try_from(x).map_err(|e| e.to_string())?;
            row[1] = 1;
            Ok(true)
        }
    }
}

#[test]
fn fallible_and_filtering_together() {
    let got = maybe_number::batch(["1", "", "3"]).unwrap();
    assert_eq!(got.rows, array![[1], [3]]);
    assert_eq!(got.skipped, vec![1]);
    let err = maybe_number::batch(["1", "", "x"]).unwrap_err();
    assert_eq!(err.index(), 2);

    let got = in_place_both::batch(&[0, 5, 0, 7]).unwrap();
    assert_eq!(got.rows, array![[5, 1], [7, 1]]);
    assert_eq!(got.skipped, vec![0, 2]);
    let err = in_place_both::batch(&[1, -4]).unwrap_err();
    assert_eq!(err.to_string(), "item 1 (counting from 0): negative: -4");
    let err = in_place_both::batch(&[300]).unwrap_err();
    assert_eq!(err.index(), 0);

    let mut out = Array2::<u8>::zeros((4, 2));
    let err = in_place_both::fill(&[0, 1, 2, -1], &mut out).unwrap_err();
    assert_eq!(err.rows_written(), 2);
    assert_eq!(
        out,
        array![[1, 1], [2, 1], [0, 0], [0, 0]],
        "no trace of dropped or failed rows"
    );
}

/// `cast = "checked"`: an infallible function becomes fallible through its cast.
#[preallocate(dim = 2, dtype = u8, cast = "checked")]
fn brightness(x: &f32) -> [f32; 2] {
    [*x, *x * 2.0]
}

#[preallocate(dim = 2, dtype = u8, cast = "checked", on_error = "skip")]
fn brightness_lenient(x: &f32) -> [f32; 2] {
    [*x, *x * 2.0]
}

#[preallocate(dim = 3, dtype = i8, cast = "saturate")]
fn clamp(x: &f64) -> [f64; 3] {
    [*x, -*x, f64::NAN]
}

#[test]
fn checked_and_saturating_casts() {
    assert_eq!(
        brightness::batch(&[1.5, 100.0]),
        Ok(array![[1, 3], [100, 200]])
    );
    let err = brightness::batch(&[1.0, 200.0, f32::NAN]).unwrap_err();
    assert_eq!(err.index(), 1);
    assert_eq!(
        err.error,
        RowError::Cast(CastError::new(1, &400.0f32, "u8"))
    );
    assert_eq!(
        err.to_string(),
        "item 1 (counting from 0): row element 1 (400) does not fit in u8"
    );
    let err = brightness::batch(&[f32::NAN]).unwrap_err();
    assert_eq!(
        err.error,
        RowError::Cast(CastError::new(0, &f32::NAN, "u8"))
    );

    // -0.5 truncates to 0 and fits, but its double, -1, does not.
    let lenient = brightness_lenient::batch(&[1.0, 200.0, f32::INFINITY, -0.5, 3.0, -0.25]);
    assert_eq!(lenient.rows, array![[1, 2], [3, 6], [0, 0]]);
    assert_eq!(lenient.skipped, vec![1, 2, 3]);

    assert_eq!(
        clamp::batch(&[1000.0, 5.9]),
        array![[127, -128, 0], [5, -5, 0]]
    );
}

/// Fitted state: a standard scaler.
pub struct Scaler {
    mean: [f32; 2],
    std: [f32; 2],
}

impl Scaler {
    fn fit(rows: &[[f32; 2]]) -> Self {
        let n = rows.len() as f32;
        let mut mean = [0.0; 2];
        let mut var = [0.0; 2];
        for r in rows {
            for j in 0..2 {
                mean[j] += r[j] / n;
            }
        }
        for r in rows {
            for j in 0..2 {
                var[j] += (r[j] - mean[j]).powi(2) / n;
            }
        }
        Scaler {
            mean,
            std: var.map(f32::sqrt),
        }
    }

    /// Standardizes one row.
    #[preallocate(dim = 2, dtype = f32)]
    pub fn transform(&self, x: &[f32; 2]) -> [f32; 2] {
        [
            (x[0] - self.mean[0]) / self.std[0],
            (x[1] - self.mean[1]) / self.std[1],
        ]
    }

    /// A fallible method, writing in place.
    #[preallocate(dim = 2, dtype = f32)]
    fn transform_finite(&self, x: &[f32; 2], row: &mut [f32; 2]) -> Result<(), String> {
        *row = self.transform(x);
        if row.iter().all(|v| v.is_finite()) {
            Ok(())
        } else {
            Err(format!("not finite: {x:?}"))
        }
    }
}

#[test]
fn methods_carry_fitted_state() {
    let data = [[1.0, 10.0], [3.0, 30.0]];
    let scaler = Scaler::fit(&data);
    assert_eq!(Scaler::TRANSFORM_DIM, 2);
    assert_eq!(Scaler::TRANSFORM_SHAPE, &[2]);
    let x = scaler.transform_batch(&data);
    assert_eq!(x, array![[-1.0, -1.0], [1.0, 1.0]]);
    let mut out = Array2::<f32>::zeros((2, 2).f());
    assert_eq!(scaler.transform_fill(&data, &mut out), Ok(2));
    assert_eq!(out, x);

    let err = scaler
        .transform_finite_batch(&[[1.0, 10.0], [f32::NAN, 0.0]])
        .unwrap_err();
    assert_eq!(err.index(), 1);
}

/// `&mut self`: a vocabulary that grows as it sees tokens (sequential by nature).
#[derive(Default)]
pub struct Vocab {
    ids: HashMap<String, u32>,
}

impl Vocab {
    #[preallocate(dim = 3, dtype = u32)]
    fn encode(&mut self, line: &str) -> Option<[u32; 3]> {
        if line.trim().is_empty() {
            return None;
        }
        let mut row = [0; 3];
        for (slot, word) in row.iter_mut().zip(line.split_whitespace()) {
            let next = self.ids.len() as u32 + 1;
            *slot = *self.ids.entry(word.to_owned()).or_insert(next);
        }
        Some(row)
    }
}

#[test]
fn mutable_methods_update_state_row_by_row() {
    let mut vocab = Vocab::default();
    let got = vocab.encode_batch(["a b", "", "b c a d"]);
    assert_eq!(got.rows, array![[1, 2, 0], [2, 3, 1]]);
    assert_eq!(got.skipped, vec![1]);
    assert_eq!(vocab.ids.len(), 3, "`d` is past the window and never seen");
}

/// A generic method on a generic impl.
pub struct Offset<T> {
    by: T,
}

impl<T: Copy + Into<f64>> Offset<T> {
    #[preallocate(dim = 2, dtype = f64)]
    pub fn shift<X: Copy + Into<f64>>(&self, x: &X) -> [f64; 2] {
        let x: f64 = (*x).into();
        [x, x + self.by.into()]
    }
}

#[test]
fn generic_methods_on_generic_impls() {
    let offset = Offset { by: 10u8 };
    assert_eq!(
        offset.shift_batch(&[1.5f32, 2.0]),
        array![[1.5, 11.5], [2.0, 12.0]]
    );
    assert_eq!(offset.shift_batch(&[7u16]), array![[7.0, 17.0]]);
}

/// Multi-axis rows: an image, by value and in place, and a rank-3 row.
#[preallocate(shape = (2, 3), dtype = u8)]
fn tile(seed: &u8) -> [[u8; 3]; 2] {
    [
        [*seed, seed + 1, seed + 2],
        [seed + 10, seed + 11, seed + 12],
    ]
}

#[preallocate(shape = (2, 3), dtype = u8)]
fn tile_in_place(seed: &u8, out: &mut [[u8; 3]; 2]) {
    out[1][2] = *seed;
}

#[preallocate(shape = (2, 2, 2), dtype = f32)]
fn cube(x: &f32) -> [[[f32; 2]; 2]; 2] {
    [[[*x, 0.0], [0.0, 0.0]], [[0.0, 0.0], [0.0, -*x]]]
}

#[test]
fn multi_axis_rows() {
    let images: Array3<u8> = tile::batch(&[0, 100]);
    assert_eq!(
        images,
        array![
            [[0, 1, 2], [10, 11, 12]],
            [[100, 101, 102], [110, 111, 112]]
        ]
    );
    assert_eq!(tile::SHAPE, &[2, 3]);
    assert_eq!(tile::DIM, 6);

    let sparse = tile_in_place::batch(&[5, 6]);
    assert_eq!(
        sparse,
        array![[[0, 0, 0], [0, 0, 5]], [[0, 0, 0], [0, 0, 6]]]
    );
    let mut reused = Array3::<u8>::from_elem((2, 2, 3).f(), 9);
    assert_eq!(tile_in_place::fill(&[5, 6], &mut reused), Ok(2));
    assert_eq!(reused, sparse);

    let mut wrong = Array3::<u8>::zeros((2, 3, 2));
    assert_eq!(
        tile::fill(&[1], &mut wrong),
        Err(Error::ShapeMismatch {
            expected: vec![2, 3],
            found: vec![3, 2]
        })
    );

    let cubes: Array4<f32> = cube::batch(&[1.0, 2.0]);
    assert_eq!(cubes.shape(), &[2, 2, 2, 2]);
    assert_eq!(cubes[[1, 1, 1, 1]], -2.0);
    assert_eq!(cubes[[1, 0, 0, 0]], 2.0);
}

/// Const dims and shapes, checked by the compiler against the row type.
const FEATURES: usize = 4;
const SIDE: usize = 2;

#[preallocate(dim = FEATURES, dtype = f32)]
fn const_dim(x: &f32) -> [f32; FEATURES] {
    [*x; FEATURES]
}

#[preallocate(shape = (SIDE, 3), dtype = i32)]
fn const_shape(x: &i32, row: &mut [[i32; 3]; SIDE]) {
    row[SIDE - 1][2] = *x;
}

pub struct Windows;

impl Windows {
    #[preallocate(dim = FEATURES, dtype = u16)]
    fn window(&self, x: &u16) -> [u16; 4] {
        [*x, x + 1, x + 2, x + 3]
    }
}

#[test]
fn const_dims_and_shapes() {
    assert_eq!(const_dim::DIM, 4);
    assert_eq!(const_dim::batch(&[0.5]), array![[0.5, 0.5, 0.5, 0.5]]);
    assert_eq!(const_shape::batch(&[7]), array![[[0, 0, 0], [0, 0, 7]]]);
    assert_eq!(Windows::WINDOW_DIM, 4);
    assert_eq!(Windows.window_batch(&[1]), array![[1, 2, 3, 4]]);
}

/// The runtime reached through a renamed dependency.
#[pa::preallocate(dim = 2, dtype = f64, crate = pa)]
fn renamed(x: &f64) -> [f64; 2] {
    [*x, -*x]
}

#[pa::preallocate(dim = 1, dtype = f64, crate = "pa")]
fn renamed_as_string(x: &f64) -> [f64; 1] {
    [*x]
}

#[test]
fn crate_path_is_configurable() {
    assert_eq!(renamed::batch(&[1.0]), array![[1.0, -1.0]]);
    assert_eq!(renamed_as_string::batch(&[2.0]), array![[2.0]]);
}
