//! Items as they come: a row function on `&str` takes `String`s and `&String`s, one on `&[T]`
//! takes `Vec<T>`s and arrays, one on `&T` takes `T`s and `&&T`s, in every entry point, with
//! no copy of the item.
// Items are passed by reference on purpose (the form most callers use), though the entry
// points also take them by value, which clippy suggests where the borrow is the last use.
#![allow(clippy::needless_borrows_for_generic_args)]

use ndarray::array;
use preallocate::preallocate;

#[preallocate(dim = 2, dtype = u32)]
fn lengths(line: &str) -> [u32; 2] {
    [line.len() as u32, line.split_whitespace().count() as u32]
}

#[preallocate(dim = 2, dtype = f32)]
fn first_two(xs: &[f32]) -> Result<[f32; 2], String> {
    match xs {
        [a, b, ..] => Ok([*a, *b]),
        _ => Err(format!("{} values, need 2", xs.len())),
    }
}

#[derive(Debug, PartialEq)]
struct Point {
    x: f32,
    y: f32,
}

#[preallocate(dtype = f32)]
fn norm(p: &Point) -> f32 {
    p.x.hypot(p.y)
}

/// Where the item's bytes are: proof that the row function sees the caller's item, not a copy.
#[preallocate(dtype = u64)]
fn address(line: &str) -> u64 {
    line.as_ptr() as u64
}

struct Vocab(Vec<&'static str>);

impl Vocab {
    #[preallocate(dim = 1, dtype = u32)]
    fn id(&self, word: &str) -> [u32; 1] {
        [self
            .0
            .iter()
            .position(|w| *w == word)
            .map_or(0, |i| i as u32 + 1)]
    }
}

fn lines() -> Vec<String> {
    vec!["a b c".to_owned(), "hello".to_owned(), String::new()]
}

#[test]
fn strings_for_str() {
    let owned = lines();
    let expected = array![[5u32, 3], [5, 1], [0, 0]];
    assert_eq!(lengths::batch(&owned), expected); // &String
    let strs: Vec<&str> = owned.iter().map(String::as_str).collect();
    assert_eq!(lengths::batch(&strs), expected); // &&str
    assert_eq!(lengths::batch(strs.iter().copied()), expected); // &str
    let boxed: Vec<Box<str>> = owned.iter().map(|s| s.as_str().into()).collect();
    assert_eq!(lengths::batch(&boxed), expected); // &Box<str>
    let mut out = ndarray::Array2::<u32>::zeros((3, 2));
    assert_eq!(lengths::fill(&owned, out.view_mut()).unwrap(), 3);
    assert_eq!(out, expected);
    assert_eq!(lengths::batch(owned.clone()), expected); // String, moved in
}

#[test]
fn the_row_function_sees_the_callers_memory() {
    let owned = lines();
    let seen = address::batch(&owned);
    let at: Vec<u64> = owned.iter().map(|s| s.as_ptr() as u64).collect();
    assert_eq!(seen.to_vec(), at);
    #[cfg(feature = "parallel")]
    assert_eq!(address::par_batch(&owned).to_vec(), at);
}

#[test]
fn vecs_and_arrays_for_slices() {
    let rows = vec![vec![1.0f32, 2.0, 3.0], vec![4.0, 5.0]];
    let expected = array![[1.0f32, 2.0], [4.0, 5.0]];
    assert_eq!(first_two::batch(&rows).unwrap(), expected); // &Vec<f32>
    assert_eq!(first_two::batch(rows.clone()).unwrap(), expected); // Vec<f32>
    let arrays = [[1.0f32, 2.0], [4.0, 5.0]];
    assert_eq!(first_two::batch(&arrays).unwrap(), expected); // &[f32; 2]
    assert_eq!(first_two::batch(arrays).unwrap(), expected); // [f32; 2]
    let short = vec![vec![1.0f32, 2.0], vec![3.0]];
    let err = first_two::batch(&short).unwrap_err();
    assert_eq!(err.index, 1);
    assert!(err.to_string().ends_with(": 1 values, need 2"), "{err}");
}

#[test]
fn owned_and_double_references_for_references() {
    let points = vec![Point { x: 3.0, y: 4.0 }, Point { x: 0.0, y: 1.0 }];
    let expected = array![5.0f32, 1.0];
    assert_eq!(norm::batch(&points), expected); // &Point
    let refs: Vec<&Point> = points.iter().collect();
    assert_eq!(norm::batch(&refs), expected); // &&Point
    assert_eq!(norm::batch(points), expected); // Point, moved in
}

#[cfg(feature = "parallel")]
#[test]
fn parallel_entry_points_take_them_too() {
    let owned: Vec<String> = (0..10_000).map(|i| "x ".repeat(i % 7)).collect();
    assert_eq!(lengths::par_batch(&owned), lengths::batch(&owned));
    let mut out = ndarray::Array2::<u32>::zeros((owned.len(), 2));
    lengths::par_fill(&owned, out.view_mut()).unwrap();
    assert_eq!(out, lengths::batch(&owned));
    let vocab = Vocab(vec!["a", "b"]);
    let words: Vec<String> = ["b", "z", "a"].iter().map(|s| (*s).to_owned()).collect();
    assert_eq!(vocab.id_par_batch(&words), array![[2u32], [0], [1]]);
}

#[test]
fn methods_take_them() {
    let vocab = Vocab(vec!["a", "b"]);
    let words: Vec<String> = ["b", "z", "a"].iter().map(|s| (*s).to_owned()).collect();
    assert_eq!(vocab.id_batch(&words), array![[2u32], [0], [1]]);
    let mut out = ndarray::Array2::<u32>::zeros((3, 1));
    vocab.id_fill(&words, &mut out).unwrap();
    assert_eq!(out, array![[2u32], [0], [1]]);
}

#[test]
fn pipelines_take_them() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let out = lengths::pipeline()
        .chunk_rows(2)
        .write_npy(lines(), dir.path().join("x.npy"))?; // owned Strings, moved in
    assert_eq!(out.shape, vec![3, 2]);
    let mut seen = Vec::new();
    lengths::pipeline()
        .chunk_rows(2)
        .for_each_chunk(&lines(), |chunk| {
            seen.extend(chunk.iter().copied());
            Ok::<(), std::convert::Infallible>(())
        })?;
    assert_eq!(seen, vec![5, 3, 5, 1, 0, 0]);
    let vocab = Vocab(vec!["a", "b"]);
    let words = vec!["b".to_owned(), "a".to_owned()];
    let out = vocab
        .id_pipeline()
        .write_npy(&words, dir.path().join("ids.npy"))?;
    assert_eq!(out.shape, vec![2, 1]);
    Ok(())
}

#[derive(preallocate::Rows)]
struct Counted {
    x: [u32; 2],
    y: u8,
}

#[preallocate(rows = Counted)]
fn counted(line: &str) -> Counted {
    Counted {
        x: [line.len() as u32, line.split_whitespace().count() as u32],
        y: u8::from(line.is_empty()),
    }
}

struct Prefix(&'static str);

impl Prefix {
    #[preallocate(rows = Counted)]
    fn counted(&self, line: &str) -> Counted {
        Counted {
            x: [u32::from(line.starts_with(self.0)), line.len() as u32],
            y: 0,
        }
    }
}

#[test]
fn several_outputs_take_them_too() -> Result<(), Box<dyn std::error::Error>> {
    let owned = lines();
    let out = counted::batch(&owned); // &String
    assert_eq!(out.x, array![[5u32, 3], [5, 1], [0, 0]]);
    assert_eq!(out.y, array![0u8, 0, 1]);
    assert_eq!(counted::batch(owned.clone()).x, out.x); // String
    #[cfg(feature = "parallel")]
    assert_eq!(counted::par_batch(&owned).x, out.x);
    let dir = tempfile::tempdir()?;
    counted::pipeline().write_npy(owned.clone(), dir.path().join("c"))?;
    let prefix = Prefix("he");
    assert_eq!(
        prefix.counted_batch(&owned).x,
        array![[0u32, 5], [1, 5], [0, 0]]
    );
    #[cfg(feature = "parallel")]
    assert_eq!(
        prefix.counted_par_batch(&owned).x,
        prefix.counted_batch(&owned).x
    );
    prefix
        .counted_pipeline()
        .write_npy(&owned, dir.path().join("p"))?;
    Ok(())
}
