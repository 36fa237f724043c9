//! Row functions written with `preallocate`, as the Python module `preallocate_example`: each
//! `#[preallocate]` function is registered with one line in the `#[pymodule]`.

use preallocate::preallocate;
use pyo3::prelude::*;

/// Features of a point given as a tuple `(x, y, z)`: the point, and its distance to the origin.
#[preallocate(dim = 4, dtype = f32)]
fn featurize(p: (f32, f32, f32)) -> [f32; 4] {
    let (x, y, z) = p;
    [x, y, z, (x * x + y * y + z * z).sqrt()]
}

/// The same features from a row of numbers `[x, y, z]`: a 2-D numpy array's rows are lent to it
/// as they are. A row of another length fails.
#[preallocate(dim = 4, dtype = f32)]
fn featurize_row(p: &[f32]) -> Result<[f32; 4], String> {
    let &[x, y, z] = p else {
        return Err(format!("{} values, need 3", p.len()));
    };
    Ok([x, y, z, (x * x + y * y + z * z).sqrt()])
}

/// Where a row's values are: proof that a numpy array's rows reach the row function uncopied.
#[preallocate(dtype = u64)]
fn address(values: &[u64]) -> u64 {
    values.as_ptr() as u64
}

/// The length in bytes and the number of words of a line.
#[preallocate(dim = 2, dtype = u32)]
fn counts(line: &str) -> [u32; 2] {
    [line.len() as u32, line.split_whitespace().count() as u32]
}

/// Two numbers from a line `"a, b"`; a line that does not parse fails with its text.
#[preallocate(dim = 2, dtype = f64)]
fn parse_pair(line: &str) -> Result<[f64; 2], String> {
    let (a, b) = line
        .split_once(',')
        .ok_or_else(|| format!("no comma in {line:?}"))?;
    let number = |s: &str| {
        s.trim()
            .parse::<f64>()
            .map_err(|err| format!("{s:?}: {err}"))
    };
    Ok([number(a)?, number(b)?])
}

/// Labels: the even numbers, as a 1-D output; odd ones are dropped.
#[preallocate(dtype = i64)]
fn even(n: i64) -> Option<i64> {
    (n % 2 == 0).then_some(n)
}

/// A 4 x 4 thumbnail of 16 bytes of pixels; other lengths fail.
#[preallocate(shape = (4, 4), dtype = u8)]
fn thumbnail(pixels: &[u8], row: &mut [[u8; 4]; 4]) -> Result<(), String> {
    if pixels.len() != 16 {
        return Err(format!("{} bytes, need 16", pixels.len()));
    }
    for (out, chunk) in row.iter_mut().zip(pixels.chunks_exact(4)) {
        out.copy_from_slice(chunk);
    }
    Ok(())
}

/// A value and its half, in half precision.
#[preallocate(dim = 2, dtype = f16, cast = "as")]
fn half_precision(x: f64) -> [f64; 2] {
    [x, x / 2.0]
}

/// A value and its double, as bfloat16.
#[preallocate(dim = 2, dtype = bf16, cast = "as")]
fn brain_float(x: f64) -> [f64; 2] {
    [x, x * 2.0]
}

/// Panics on 3 (to show that a panic raises in Python instead of aborting).
#[preallocate(dtype = i64)]
fn fragile(n: i64) -> i64 {
    assert!(n != 3, "fragile got 3");
    n
}

/// Busy for about `micros` microseconds, then the count of loop turns modulo 7: a row that
/// takes time, for the tests of the GIL and of Ctrl-C.
#[preallocate(dtype = u64)]
fn slow(micros: u64) -> u64 {
    let start = std::time::Instant::now();
    let mut turns = 0u64;
    while start.elapsed().as_micros() < u128::from(micros) {
        turns += 1;
    }
    std::hint::black_box(turns) % 7
}

/// A wide row (4 KiB), written in place: only its first element is set, for the test of peak
/// memory.
#[preallocate(dim = 1024, dtype = f32)]
fn wide(n: u32, row: &mut [f32; 1024]) {
    row[0] = n as f32;
}

/// A summary of a list of numbers: its mean and spread (as `float32`), and its length.
#[derive(preallocate::Rows)]
struct Summary {
    #[rows(dtype = f32, cast = "as")]
    moments: [f64; 2],
    count: u32,
}

/// The mean and standard deviation of a list of numbers, and their count: two outputs per item,
/// so Python gets a dict `{"moments": (n, 2) float32, "count": (n,) uint32}`. A 2-D numpy array's
/// rows are lent as they are. An empty list fails.
#[preallocate(rows = Summary)]
fn summarize(values: &[f64]) -> Result<Summary, String> {
    if values.is_empty() {
        return Err("no values".into());
    }
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let variance = values.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n;
    Ok(Summary {
        moments: [mean, variance.sqrt()],
        count: values.len() as u32,
    })
}

/// A line's first 8 word ids and their mask, as two outputs.
#[derive(preallocate::Rows)]
struct Encoded {
    ids: [u32; 8],
    mask: [u8; 8],
}

/// A tokenizer fitted on a corpus: the ids of a line's first 8 words (0 for an unknown word or
/// past the end), and their mask. Its row functions reach Python as `tok.encode` and `tok.mask`.
#[pyclass(frozen)]
#[derive(Clone)]
struct Tokenizer {
    vocabulary: std::collections::HashMap<String, u32>,
}

impl Tokenizer {
    /// The ids of the first 8 words of `line`.
    #[preallocate(dim = 8, dtype = u32)]
    fn encode(&self, line: &str) -> [u32; 8] {
        let mut ids = [0; 8];
        for (id, word) in ids.iter_mut().zip(line.split_whitespace()) {
            *id = self.vocabulary.get(word).copied().unwrap_or(0);
        }
        ids
    }

    /// 1 for each of the first 8 words of `line`.
    #[preallocate(dim = 8, dtype = u8)]
    fn mask(&self, line: &str) -> [u8; 8] {
        let mut mask = [0; 8];
        for (slot, _) in mask.iter_mut().zip(line.split_whitespace()) {
            *slot = 1;
        }
        mask
    }

    /// The ids and the mask of the first 8 words of `line`, in one pass.
    #[preallocate(rows = Encoded)]
    fn tokenize(&self, line: &str) -> Encoded {
        Encoded {
            ids: self.encode(line),
            mask: self.mask(line),
        }
    }
}

#[pymethods]
impl Tokenizer {
    /// Fits the vocabulary: ids from 1, in order of first appearance.
    #[new]
    fn fit(corpus: Vec<String>) -> Self {
        let mut vocabulary = std::collections::HashMap::new();
        for word in corpus.iter().flat_map(|line| line.split_whitespace()) {
            let next = vocabulary.len() as u32 + 1;
            vocabulary.entry(word.to_owned()).or_insert(next);
        }
        Tokenizer { vocabulary }
    }

    /// The ids of the first 8 words of each line: `tok.encode.batch(lines)`.
    #[getter(encode)]
    fn encode_rows(&self) -> preallocate::python::RowFunction {
        self.encode_python()
    }

    /// The mask of the first 8 words of each line: `tok.mask.batch(lines)`.
    #[getter(mask)]
    fn mask_rows(&self) -> preallocate::python::RowFunction {
        self.mask_python()
    }

    /// The ids and the mask of each line, as a dict of two arrays:
    /// `tok.tokenize.batch(lines)["ids"]`.
    #[getter(tokenize)]
    fn tokenize_rows(&self) -> preallocate::python::RowFunction {
        self.tokenize_python()
    }

    /// The size of the vocabulary.
    fn __len__(&self) -> usize {
        self.vocabulary.len()
    }
}

/// The module: one line per row function.
#[pymodule]
fn preallocate_example(module: &Bound<'_, PyModule>) -> PyResult<()> {
    featurize::register(module)?;
    featurize_row::register(module)?;
    summarize::register(module)?;
    address::register(module)?;
    counts::register(module)?;
    parse_pair::register(module)?;
    even::register(module)?;
    thumbnail::register(module)?;
    half_precision::register(module)?;
    brain_float::register(module)?;
    fragile::register(module)?;
    slow::register(module)?;
    wide::register(module)?;
    module.add_class::<Tokenizer>()?;
    Ok(())
}
