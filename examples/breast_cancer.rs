//! Real data that no one here wrote: the breast-cancer CSV that scikit-learn ships inside its
//! package (`sklearn/datasets/data/breast_cancer.csv`: 569 tumours, 30 measurements each, and a
//! label), turned into the arrays a model trains on — `x`, 569 × 30 `f32`, and `y`, 569 × 1
//! `u8` — with one row function per output, the rows computed on every core.
//!
//! ```text
//! cargo run --release --example breast_cancer                # finds the CSV through python3
//! cargo run --release --example breast_cancer -- path/to/breast_cancer.csv [out_dir]
//! ```
//!
//! With `out_dir`, it also writes `x.npy` and `y.npy` there. `tests/sklearn_data.rs` checks the
//! arrays against scikit-learn's own loader, `sklearn.datasets.load_breast_cancer()`.

use std::error::Error;
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Command;

use preallocate::ndarray::{Array2, Axis};
use preallocate::preallocate;
use preallocate::rayon::iter::{IntoParallelRefIterator, ParallelIterator};

/// Measurements per tumour.
pub const FEATURES: usize = 30;

/// A line of the CSV that is not 30 numbers and a label.
#[derive(Debug)]
pub struct BadLine(String);

impl fmt::Display for BadLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Error for BadLine {}

/// The measurements of one line: parsed as `f64`, as numpy parses them, and stored as `f32`
/// (the nearest `f32`, as numpy's `astype(np.float32)` rounds).
#[preallocate(dim = FEATURES, dtype = f32, cast = "as")]
pub fn features(line: &str) -> Result<[f64; FEATURES], BadLine> {
    let mut row = [0.0; FEATURES];
    let mut fields = line.split(',');
    for (slot, field) in row.iter_mut().zip(fields.by_ref()) {
        *slot = field
            .trim()
            .parse()
            .map_err(|_| BadLine(format!("`{field}` is not a number")))?;
    }
    match (fields.next(), fields.next()) {
        (Some(_label), None) => Ok(row),
        _ => Err(BadLine(format!("expected {FEATURES} numbers and a label"))),
    }
}

/// The label of one line: 0 (malignant) or 1 (benign).
#[preallocate(dim = 1, dtype = u8)]
pub fn label(line: &str) -> Result<[u8; 1], BadLine> {
    let field = line.rsplit(',').next().unwrap_or_default().trim();
    match field {
        "0" => Ok([0]),
        "1" => Ok([1]),
        other => Err(BadLine(format!("label `{other}` is not 0 or 1"))),
    }
}

/// Where scikit-learn keeps the CSV, asked of `python3`.
///
/// # Errors
/// When `python3` or scikit-learn is missing.
pub fn find_csv() -> Result<PathBuf, Box<dyn Error>> {
    let script = "import os, sklearn; print(os.path.join(os.path.dirname(sklearn.__file__), \
                  'datasets', 'data', 'breast_cancer.csv'))";
    let out = Command::new("python3").args(["-c", script]).output()?;
    if !out.status.success() {
        return Err(format!(
            "scikit-learn not found (`pip install scikit-learn`, or pass the CSV's path): {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )
        .into());
    }
    Ok(PathBuf::from(String::from_utf8(out.stdout)?.trim()))
}

/// `x` and `y` of the CSV at `path`, whose first line is `569,30,malignant,benign`.
///
/// # Errors
/// An unreadable file, a header that does not match the rows, or a bad line (with its index).
pub fn load(path: &Path) -> Result<(Array2<f32>, Array2<u8>), Box<dyn Error>> {
    let text = std::fs::read_to_string(path)?;
    let mut lines = text.lines();
    let header = lines.next().ok_or("the CSV is empty")?;
    let rows: Vec<&str> = lines.filter(|line| !line.trim().is_empty()).collect();
    let declared: Vec<&str> = header.split(',').collect();
    if declared.first() != Some(&rows.len().to_string().as_str())
        || declared.get(1) != Some(&FEATURES.to_string().as_str())
    {
        return Err(format!(
            "header `{header}` does not describe {} rows of {FEATURES}",
            rows.len()
        )
        .into());
    }
    let x = features::par_batch(rows.par_iter().copied())?;
    let y = label::par_batch(rows.par_iter().copied())?;
    Ok((x, y))
}

fn main() -> Result<(), Box<dyn Error>> {
    let mut args = std::env::args().skip(1);
    let path = match args.next() {
        Some(path) => PathBuf::from(path),
        None => find_csv()?,
    };
    let (x, y) = load(&path)?;
    println!("{}", path.display());
    println!("x: {:?} f32, y: {:?} u8", x.shape(), y.shape());
    let benign = y.iter().filter(|&&label| label == 1).count();
    println!("{benign} benign, {} malignant", y.len() - benign);
    let means = x.mean_axis(Axis(0)).ok_or("no rows")?;
    println!(
        "mean radius {:.3}, mean texture {:.3}, mean perimeter {:.3}",
        means[0], means[1], means[2]
    );
    if let Some(out) = args.next() {
        let lines: Vec<String> = std::fs::read_to_string(&path)?
            .lines()
            .skip(1)
            .map(str::to_owned)
            .collect();
        let out = PathBuf::from(out);
        features::pipeline().write_npy(lines.iter().map(String::as_str), out.join("x.npy"))?;
        label::pipeline().write_npy(lines.iter().map(String::as_str), out.join("y.npy"))?;
        println!(
            "wrote {} and {}",
            out.join("x.npy").display(),
            out.join("y.npy").display()
        );
    }
    Ok(())
}
