//! The shapes of row functions the attribute accepts, driven through the generated entry points.
// Items are passed by reference on purpose (the form most callers use), though the entry
// points also take them by value, which clippy suggests where the borrow is the last use.
#![allow(clippy::needless_borrows_for_generic_args)]

use std::borrow::Cow;

use ndarray::{array, s, Array2, ShapeBuilder};
use preallocate::{bf16, f16, preallocate, Error};

#[derive(Clone, Debug)]
pub struct Point {
    x: f32,
    y: f32,
    z: f32,
}

fn points(n: usize) -> Vec<Point> {
    (0..n)
        .map(|i| Point {
            x: i as f32,
            y: i as f32 * 0.5,
            z: -(i as f32),
        })
        .collect()
}

/// Docs and attributes on the function are kept.
#[preallocate(dim = 3, dtype = f32)]
#[must_use]
pub fn featurize(p: &Point) -> [f32; 3] {
    [p.x, p.y, p.z]
}

#[test]
fn by_value_batch_matches_the_function() {
    let pts = points(100);
    let x = featurize::batch(&pts);
    assert_eq!(x.shape(), &[100, 3]);
    for (row, p) in x.rows().into_iter().zip(&pts) {
        assert_eq!(row.to_vec(), featurize(p).to_vec());
    }
    assert_eq!(featurize::DIM, 3);
    let _: Option<featurize::Dtype> = Some(1.0f32);
}

#[test]
fn batch_takes_any_into_iterator() {
    let pts = points(10);
    let from_iter = featurize::batch(pts.iter().filter(|p| p.x >= 5.0));
    assert_eq!(from_iter.shape(), &[5, 3]);
    assert_eq!(from_iter.row(0).to_vec(), vec![5.0, 2.5, -5.0]);
    let empty = featurize::batch(&Vec::<Point>::new());
    assert_eq!(empty.shape(), &[0, 3]);
}

/// In place: sets one element; relies on the row being zeroed.
#[preallocate(dim = 5, dtype = u8)]
fn one_hot(class: &usize, row: &mut [u8; 5]) {
    row[*class % 5] = 1;
}

#[test]
fn in_place_rows_are_zeroed_in_reused_buffers() {
    let mut out = Array2::<u8>::from_elem((4, 5), 9);
    assert_eq!(one_hot::fill(&[0, 1, 2, 3], out.view_mut()), Ok(4));
    assert_eq!(one_hot::fill(&[4, 4], out.view_mut()), Ok(2));
    assert_eq!(
        out,
        array![
            [0, 0, 0, 0, 1],
            [0, 0, 0, 0, 1],
            [0, 0, 1, 0, 0],
            [0, 0, 0, 1, 0]
        ]
    );
    let fresh = one_hot::batch(&[3, 1]);
    assert_eq!(fresh, array![[0, 0, 0, 1, 0], [0, 1, 0, 0, 0]]);
}

#[test]
fn fill_into_other_layouts() {
    let pts = points(6);
    let expected = featurize::batch(&pts);

    let mut column_major = Array2::<f32>::zeros((6, 3).f());
    assert_eq!(featurize::fill(&pts, column_major.view_mut()), Ok(6));
    assert_eq!(column_major, expected);

    let mut wide = Array2::<f32>::from_elem((6, 5), 7.0);
    assert_eq!(featurize::fill(&pts, wide.slice_mut(s![.., 1..4])), Ok(6));
    assert_eq!(wide.slice(s![.., 1..4]), expected);
    assert!(wide
        .column(0)
        .iter()
        .chain(wide.column(4))
        .all(|&v| v == 7.0));

    let mut every_other = Array2::<f32>::zeros((12, 3));
    assert_eq!(
        featurize::fill(&pts, every_other.slice_mut(s![..;2, ..])),
        Ok(6)
    );
    assert_eq!(every_other.slice(s![..;2, ..]), expected);
    assert!(every_other.slice(s![1..;2, ..]).iter().all(|&v| v == 0.0));
}

#[test]
fn fill_errors_are_typed_and_counted() {
    let pts = points(5);
    let mut narrow = Array2::<f32>::from_elem((5, 2), 1.0);
    let err = featurize::fill(&pts, narrow.view_mut()).unwrap_err();
    assert_eq!(
        err,
        Error::WidthMismatch {
            expected: 3,
            found: 2
        }
    );
    assert!(narrow.iter().all(|&v| v == 1.0), "nothing is written");

    let mut short = Array2::<f32>::zeros((3, 3));
    let err = featurize::fill(&pts, short.view_mut()).unwrap_err();
    assert_eq!(
        err,
        Error::BufferFull {
            written: 3,
            index: 3
        }
    );
    assert_eq!(err.rows_written(), 3);
    assert_eq!(
        err.to_string(),
        "output buffer is full after 3 rows: item 3 (counting from 0) and any after it were not written"
    );
    assert_eq!(short, featurize::batch(&pts[..3]));

    let mut roomy = Array2::<f32>::from_elem((8, 3), -1.0);
    assert_eq!(featurize::fill(&pts, &mut roomy), Ok(5));
    assert!(roomy.slice(s![5.., ..]).iter().all(|&v| v == -1.0));
}

/// Owned items.
#[preallocate(dim = 2, dtype = i64)]
fn owned(pair: (i64, String)) -> [i64; 2] {
    [pair.0, pair.1.len() as i64]
}

#[test]
fn owned_items_are_moved_in() {
    let items = vec![(1, "a".to_owned()), (-2, "bcd".to_owned())];
    assert_eq!(owned::batch(items), array![[1, 1], [-2, 3]]);
}

/// Generic item with a bound and a where clause.
#[preallocate(dim = 4, dtype = f32)]
fn summary<T>(xs: &T) -> [f32; 4]
where
    T: AsRef<[f32]> + ?Sized,
{
    let xs = xs.as_ref();
    let sum: f32 = xs.iter().sum();
    let max = xs.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let min = xs.iter().copied().fold(f32::INFINITY, f32::min);
    [xs.len() as f32, sum, min, max]
}

#[test]
fn generic_items_are_inferred() {
    let vecs = vec![vec![1.0, 2.0, 3.0], vec![-1.0]];
    assert_eq!(
        summary::batch(&vecs),
        array![[3.0, 6.0, 1.0, 3.0], [1.0, -1.0, -1.0, -1.0]]
    );
    let arrays = [[0.5f32, 1.5], [2.0, 2.0]];
    assert_eq!(summary::batch(&arrays).column(1).to_vec(), vec![2.0, 4.0]);
}

/// A const generic that appears in the item type.
#[preallocate(dim = 1, dtype = u32)]
fn length<const N: usize>(_xs: &[u8; N]) -> [u32; 1] {
    [N as u32]
}

#[test]
fn const_generic_items() {
    assert_eq!(length::batch(&[[1u8, 2, 3], [4, 5, 6]]), array![[3], [3]]);
    assert_eq!(length::batch(&[[0u8; 7]]), array![[7]]);
}

/// Named and elided lifetimes inside the item type.
pub struct Token<'a> {
    text: &'a str,
}

#[preallocate(dim = 2, dtype = u16)]
fn token_stats(t: &Token<'_>) -> [u16; 2] {
    [
        t.text.len() as u16,
        t.text.chars().filter(|c| c.is_uppercase()).count() as u16,
    ]
}

#[preallocate(dim = 1, dtype = u16)]
fn named<'a, 'b: 'a>(t: &'a Token<'b>) -> [u16; 1] {
    [t.text.len() as u16]
}

#[preallocate(dim = 1, dtype = u32)]
fn cow_len(t: Cow<'_, str>) -> [u32; 1] {
    [t.len() as u32]
}

#[test]
fn lifetimes_in_item_types() {
    let text = String::from("Hello Big World");
    let tokens: Vec<Token<'_>> = text.split(' ').map(|text| Token { text }).collect();
    assert_eq!(token_stats::batch(&tokens), array![[5, 1], [3, 1], [5, 1]]);
    assert_eq!(named::batch(&tokens), array![[5], [3], [5]]);
    assert_eq!(
        cow_len::batch(text.split(' ').map(Cow::Borrowed)),
        array![[5], [3], [5]]
    );
}

/// Higher-ranked closures in the item type keep their own lifetimes.
#[preallocate(dim = 1, dtype = f64)]
fn apply(f: &dyn Fn(&f64) -> f64) -> [f64; 1] {
    [f(&2.0)]
}

#[test]
fn higher_ranked_item_types() {
    let times_ten = |x: &f64| x * 10.0;
    let negate = |x: &f64| -x;
    let fs: [&dyn Fn(&f64) -> f64; 2] = [&times_ten, &negate];
    assert_eq!(apply::batch(fs), array![[20.0], [-2.0]]);
}

mod nested {
    use preallocate::preallocate;

    #[preallocate(dim = 2, dtype = i32)]
    pub(crate) fn crate_visible(x: &i32) -> [i32; 2] {
        [*x, x * x]
    }

    #[preallocate(dim = 1, dtype = i32)]
    fn private(x: &i32) -> [i32; 1] {
        [*x + 1]
    }

    pub fn use_private(xs: &[i32]) -> ndarray::Array2<i32> {
        private::batch(xs)
    }
}

#[test]
fn visibility_is_carried() {
    assert_eq!(nested::crate_visible::batch(&[3]), array![[3, 9]]);
    assert_eq!(nested::crate_visible::DIM, 2);
    assert_eq!(nested::use_private(&[1, 2]), array![[2], [3]]);
}

#[test]
fn functions_and_types_declared_inside_a_function_body() {
    struct Local {
        v: u8,
    }

    #[preallocate(dim = 2, dtype = u8)]
    fn local(l: &Local) -> [u8; 2] {
        [l.v, l.v / 2]
    }

    let items = [Local { v: 10 }, Local { v: 3 }];
    assert_eq!(local::batch(&items), array![[10, 5], [3, 1]]);
}

#[cfg(any())]
#[preallocate(dim = 1, dtype = f32)]
fn compiled_out(x: &NoSuchType) -> [f32; 1] {
    x.value()
}

#[test]
fn cfg_removes_every_generated_item() {
    // `compiled_out` names a type that does not exist: it compiles only if its `#[cfg]` also
    // removes the module and the trait impl.
    assert_eq!(featurize::DIM, 3);
}

/// Row lengths written as consts are checked by the compiler against `dim`.
const WIDTH: usize = 3;

#[preallocate(dim = 3, dtype = f64)]
fn const_len(x: &f64) -> [f64; WIDTH] {
    [*x; WIDTH]
}

#[test]
fn const_row_length() {
    assert_eq!(const_len::batch(&[1.5]), array![[1.5, 1.5, 1.5]]);
}

macro_rules! every_dtype {
    ($($name:ident: $ty:ty => $v:expr;)*) => {$(
        mod $name {
            use super::*;

            #[preallocate(dim = 3, dtype = $ty)]
            fn by_value(i: &usize) -> [$ty; 3] {
                let v: $ty = ($v)(*i);
                [v, v, v]
            }

            #[preallocate(dim = 3, dtype = $ty)]
            fn in_place(i: &usize, row: &mut [$ty; 3]) {
                row[*i % 3] = ($v)(*i);
            }

            #[test]
            fn both_forms() {
                let items: Vec<usize> = (0..50).collect();
                let a = by_value::batch(&items);
                let b = in_place::batch(&items);
                assert_eq!(a.shape(), &[50, 3]);
                assert_eq!(b.shape(), &[50, 3]);
                let zero: $ty = Default::default();
                for (i, (ra, rb)) in a.rows().into_iter().zip(b.rows()).enumerate() {
                    let v: $ty = ($v)(i);
                    assert_eq!(ra.to_vec(), vec![v; 3]);
                    for (j, &x) in rb.iter().enumerate() {
                        assert_eq!(x, if j == i % 3 { v } else { zero });
                    }
                }
                let mut out = Array2::<$ty>::from_elem((50, 3), ($v)(7));
                assert_eq!(in_place::fill(&items, out.view_mut()), Ok(50));
                assert_eq!(out, b);
            }
        }
    )*};
}

every_dtype! {
    dtype_f16: f16 => |i: usize| f16::from_f32(i as f32 + 0.5);
    dtype_bf16: bf16 => |i: usize| bf16::from_f32(i as f32 * 2.0);
    dtype_f32: f32 => |i: usize| i as f32 / 3.0;
    dtype_f64: f64 => |i: usize| i as f64 / 7.0;
    dtype_i8: i8 => |i: usize| -(i as i8);
    dtype_i16: i16 => |i: usize| i as i16 * -300;
    dtype_i32: i32 => |i: usize| i as i32 * -70_000;
    dtype_i64: i64 => |i: usize| i as i64 * -5_000_000_000;
    dtype_u8: u8 => |i: usize| i as u8 + 200;
    dtype_u16: u16 => |i: usize| i as u16 * 1000;
    dtype_u32: u32 => |i: usize| i as u32 * 80_000_000;
    dtype_u64: u64 => |i: usize| i as u64 * 9_000_000_000;
}
