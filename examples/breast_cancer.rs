//! Real data that no one here wrote: the breast-cancer CSV that scikit-learn ships inside its
//! package (`sklearn/datasets/data/breast_cancer.csv`: 569 tumours, 30 measurements each, and a
//! label), turned into the arrays a model trains on — `x`, 569 × 30 `f32`, and `y`, 569 × 1
//! `u8` — in one pass over the lines, one row function with two outputs, the rows computed on
//! every core.
//!
//! ```text
//! cargo run --release --example breast_cancer                # finds the CSV through python3
//! cargo run --release --example breast_cancer -- path/to/breast_cancer.csv [out_dir]
//! ```
//!
//! With `out_dir`, it also writes `x.npy` and `y.npy` there, in one more pass. `tests/sklearn_data.rs` checks the
//! arrays against scikit-learn's own loader, `sklearn.datasets.load_breast_cancer()`.

use std::error::Error;
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Command;

use preallocate::ndarray::Axis;
use preallocate::rayon::iter::{IntoParallelRefIterator, ParallelIterator};
use preallocate::{preallocate, Rows};

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

/// One line's outputs: its measurements `x` and its label `y`.
#[derive(Rows)]
pub struct Tumour {
    /// The measurements, parsed as `f64` as numpy parses them and stored as `f32` (the nearest
    /// `f32`, as numpy's `astype(np.float32)` rounds).
    #[rows(dtype = f32, cast = "as")]
    pub x: [f64; FEATURES],
    /// The label: 0 (malignant) or 1 (benign).
    pub y: [u8; 1],
}

/// The outputs of one line of the CSV.
#[preallocate(rows = Tumour)]
pub fn tumour(line: &str) -> Result<Tumour, BadLine> {
    let mut x = [0.0; FEATURES];
    let mut fields = line.split(',');
    for (slot, field) in x.iter_mut().zip(fields.by_ref()) {
        *slot = field
            .trim()
            .parse()
            .map_err(|_| BadLine(format!("`{field}` is not a number")))?;
    }
    let y = match (fields.next().map(str::trim), fields.next()) {
        (Some("0"), None) => 0,
        (Some("1"), None) => 1,
        (Some(other), None) => return Err(BadLine(format!("label `{other}` is not 0 or 1"))),
        _ => return Err(BadLine(format!("expected {FEATURES} numbers and a label"))),
    };
    Ok(Tumour { x, y: [y] })
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
pub fn load(path: &Path) -> Result<TumourArrays, Box<dyn Error>> {
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
    Ok(tumour::par_batch(rows.par_iter().copied())?)
}

fn main() -> Result<(), Box<dyn Error>> {
    let mut args = std::env::args().skip(1);
    let path = match args.next() {
        Some(path) => PathBuf::from(path),
        None => find_csv()?,
    };
    let TumourArrays { x, y } = load(&path)?;
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
        let files = tumour::pipeline().write_npy(lines.iter().map(String::as_str), out)?;
        for file in files {
            println!("wrote {}", file.path.display());
        }
    }
    Ok(())
}
