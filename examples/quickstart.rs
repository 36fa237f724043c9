//! Quickstart: turn weather-station readings from a CSV into model-ready arrays.
//!
//! Run with `cargo run --release --example quickstart [-- path/to/other.csv]`.
//!
//! 1. Parse `examples/data/stations.csv` with plain std, skipping (and reporting) bad lines.
//! 2. Fit per-column mean and standard deviation in a first pass.
//! 3. Turn every record into a row of standardized `f32` features (a `&self` method on the
//!    fitted stats) and a one-hot `u8` row of its station, each straight into one
//!    preallocated `ndarray::Array2`.

use std::error::Error;
use std::mem::size_of;

use preallocate::ndarray::{s, Array2, Axis};
use preallocate::preallocate;

/// The bundled data set; read at compile time so the example runs from any directory.
const CSV: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/examples/data/stations.csv"
));
const HEADER: &str = "station,temp_c,humidity_pct,pressure_hpa,wind_mps,battery_v";
const STATIONS: [&str; N_STATIONS] = ["airport", "downtown", "harbor", "hills"];
const N_STATIONS: usize = 4;
/// Number of numeric columns: all but `station`.
const N_NUMERIC: usize = 5;

/// One parsed reading.
struct Record {
    /// Index into `STATIONS`.
    station: usize,
    /// The five numeric columns, in file order (see `HEADER`).
    values: [f32; N_NUMERIC],
}

/// Column statistics fitted on the whole data set.
struct Stats {
    mean: [f32; N_NUMERIC],
    std: [f32; N_NUMERIC],
}

impl Stats {
    /// Standardized numeric features, using the fitted statistics. As a method, it gets
    /// siblings `self.features_batch(items)` and `self.features_fill(items, out)`, and the
    /// consts `Self::FEATURES_DIM` and `Self::FEATURES_SHAPE`.
    #[preallocate(dim = 5, dtype = f32)]
    fn features(&self, r: &Record) -> [f32; 5] {
        let mut row = [0.0; 5];
        for (i, x) in row.iter_mut().enumerate() {
            *x = (r.values[i] - self.mean[i]) / self.std[i];
        }
        row
    }
}

fn parse_line(line: &str) -> Result<Record, String> {
    let fields: Vec<&str> = line.split(',').map(str::trim).collect();
    if fields.len() != 1 + N_NUMERIC {
        return Err(format!(
            "expected {} fields, found {}",
            1 + N_NUMERIC,
            fields.len()
        ));
    }
    let station = STATIONS
        .iter()
        .position(|s| *s == fields[0])
        .ok_or_else(|| format!("unknown station {:?}", fields[0]))?;
    let mut values = [0.0f32; N_NUMERIC];
    for (value, field) in values.iter_mut().zip(&fields[1..]) {
        *value = field
            .parse()
            .map_err(|e| format!("bad number {field:?}: {e}"))?;
        // `parse` accepts "NaN" and "inf"; they would poison the statistics.
        if !value.is_finite() {
            return Err(format!("non-finite number {field:?}"));
        }
    }
    Ok(Record { station, values })
}

/// Parses every data line; a bad line is reported with its 1-based line number and skipped.
fn parse_csv(text: &str) -> Result<Vec<Record>, Box<dyn Error>> {
    let mut lines = text.lines().enumerate();
    match lines.next() {
        Some((_, header)) if header.trim() == HEADER => {}
        other => return Err(format!("unexpected header: {:?}", other.map(|(_, h)| h)).into()),
    }
    let mut records = Vec::new();
    for (index, line) in lines.filter(|(_, line)| !line.trim().is_empty()) {
        match parse_line(line) {
            Ok(record) => records.push(record),
            Err(err) => eprintln!("line {}: {err}; skipped", index + 1),
        }
    }
    Ok(records)
}

/// First pass: mean and (population) standard deviation of each numeric column, in `f64`.
fn fit(records: &[Record]) -> Stats {
    let n = records.len().max(1) as f64;
    let mut mean = [0.0f64; N_NUMERIC];
    for r in records {
        for (m, v) in mean.iter_mut().zip(r.values) {
            *m += f64::from(v) / n;
        }
    }
    let mut var = [0.0f64; N_NUMERIC];
    for r in records {
        for ((s, m), v) in var.iter_mut().zip(mean).zip(r.values) {
            *s += (f64::from(v) - m).powi(2) / n;
        }
    }
    Stats {
        mean: mean.map(|m| m as f32),
        // A constant column would divide by zero; leave it unscaled instead.
        std: var.map(|v| if v > 0.0 { v.sqrt() as f32 } else { 1.0 }),
    }
}

/// One-hot station, written in place: the row arrives zeroed, so only the hot slot is set.
#[preallocate(dim = 4, dtype = u8)]
fn one_hot(r: &Record, row: &mut [u8; N_STATIONS]) {
    row[r.station] = 1;
}

/// Heap bytes of the same rows stored as `Vec<Vec<T>>` with exact capacities: the outer
/// buffer of `Vec` headers (pointer, capacity, length: 24 bytes each on 64-bit) plus one heap
/// buffer per row. An estimate of that layout: allocator bookkeeping per allocation is extra.
fn nested_vec_bytes<T>(rows: usize, cols: usize) -> usize {
    rows * (size_of::<Vec<T>>() + cols * size_of::<T>())
}

fn report<T: Clone + std::fmt::Debug>(name: &str, out: &Array2<T>) {
    let bytes = out.len() * size_of::<T>();
    let nested = nested_vec_bytes::<T>(out.nrows(), out.ncols());
    let dtype = std::any::type_name::<T>();
    println!("\n{name}: shape {:?}, dtype {dtype}", out.shape(),);
    for (i, row) in out.outer_iter().take(3).enumerate() {
        println!("  row {i}: {:.3?}", row.to_vec());
    }
    println!(
        "  {bytes} heap bytes in 1 allocation; a Vec<Vec<{dtype}>> of these rows: ~{nested} bytes in {} allocations (estimate, {:.1}x)",
        out.nrows() + 1,
        nested as f64 / bytes as f64
    );
}

fn main() -> Result<(), Box<dyn Error>> {
    // Optionally pass your own file with the same header: `... --example quickstart -- my.csv`.
    let (source, text) = match std::env::args().nth(1) {
        Some(path) => {
            let text = std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?;
            (path, text)
        }
        None => ("examples/data/stations.csv".to_owned(), CSV.to_owned()),
    };
    let records = parse_csv(&text)?;
    if records.is_empty() {
        return Err(format!("{source}: no valid records").into());
    }
    println!("input: {} records from {source}", records.len());

    // Pass 1: statistics. Pass 2: features, which need them.
    let stats = fit(&records);
    println!("fitted mean: {:.2?}", stats.mean);
    println!("fitted std:  {:.2?}", stats.std);

    // `batch` sizes the output from the iterator's exact length and allocates it once.
    let x: Array2<f32> = stats.features_batch(&records);
    let stations: Array2<one_hot::Dtype> = one_hot::batch(&records);
    report("features", &x);
    report("one_hot", &stations);

    // Streaming: `fill` writes each chunk into the same buffer, so memory stays at one chunk
    // however long the input. Here every chunk is checked against the `batch` output.
    const CHUNK: usize = 512;
    let mut buf = Array2::<f32>::zeros((CHUNK, Stats::FEATURES_DIM));
    let mut done = 0;
    for chunk in records.chunks(CHUNK) {
        let written = stats.features_fill(chunk, &mut buf)?;
        assert_eq!(written, chunk.len());
        // The last chunk is short: rows past `written` still hold the previous chunk.
        assert_eq!(
            buf.slice(s![..written, ..]),
            x.slice(s![done..done + written, ..])
        );
        done += written;
    }
    println!(
        "\nfill: {done} rows streamed through one {CHUNK}x{} buffer ({} bytes), matching batch",
        Stats::FEATURES_DIM,
        buf.len() * size_of::<f32>()
    );

    // Sanity check: standardized columns have mean ~0 and std ~1.
    let mean = x.mean_axis(Axis(0)).ok_or("no rows")?;
    println!("scaled feature means: {:.3?}", mean.to_vec());
    println!(
        "scaled feature stds:  {:.3?}",
        x.std_axis(Axis(0), 0.0).to_vec()
    );
    Ok(())
}
