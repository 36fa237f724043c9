//! `write_parquet` against `write_npy` on the same rows, and against pyarrow's `pq.write_table`
//! of the same table already in memory: time as ratios in one run, and each process's peak
//! memory.
//!
//! Run with `cargo bench --features parquet --bench parquet` (`--scale 0.1`, `--reps 3`, or
//! `PREALLOCATE_BENCH_SCALE`, `PREALLOCATE_BENCH_REPS`). At scale 1: 2 M rows of 32 `f32`
//! (256 MB), chunks of 8 192 rows (1 MiB, one row group each), in a fresh directory under the
//! system temp dir.
//!
//! Every run is a child process (this binary with `--child`), so that its peak RSS (`VmHWM`,
//! reset before the run, less the RSS before it) is its own. Each run starts after a `sync`
//! (untimed), so that it does not pay for writing back what the run before it left in the page
//! cache (pyarrow's `write_table` does not flush). What each variant writes:
//!
//! | variant | output |
//! |---|---|
//! | `npy` | one `.npy` |
//! | `parquet` | one Parquet file, uncompressed |
//! | `parquet-zstd` | one Parquet file, zstd level 3 |
//! | `parquet-snappy` | one Parquet file, Snappy |
//! | `pyarrow` | the same table, built in memory with numpy first, written by `pq.write_table` (uncompressed, no dictionary, row groups of 8 192 rows); its time is `write_table`'s alone |
//! | `pyarrow-zstd` | the same, zstd level 3 |
//!
//! The `pyarrow` variants run where `python3` imports numpy and pyarrow, and are left out
//! (with a message) elsewhere.

#[path = "common/config.rs"]
mod config;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use preallocate::{preallocate, Compression};

const FULL_ROWS: usize = 2_000_000;
const DIM: usize = 32;
const CHUNK_ROWS: usize = 8_192;

/// A row of 32 features from an index: a few multiplications, as a cheap featurizer.
#[preallocate(dim = 32, dtype = f32)]
fn features(i: u64) -> [f32; DIM] {
    let x = i as f32;
    let mut row = [0.0; DIM];
    for (k, v) in row.iter_mut().enumerate() {
        *v = x * (k as f32 + 1.0).recip() + (i % 97) as f32;
    }
    row
}

const VARIANTS: [&str; 6] = [
    "npy",
    "parquet",
    "parquet-zstd",
    "parquet-snappy",
    "pyarrow",
    "pyarrow-zstd",
];

/// The same table in memory (numpy, the same arithmetic in `float32`), then `pq.write_table`
/// timed alone; prints the seconds and the peak RSS above the start, in KiB.
const PYARROW: &str = r#"
import resource, sys, time
import numpy as np, pyarrow as pa, pyarrow.parquet as pq
rows, out, codec = int(sys.argv[1]), sys.argv[2], sys.argv[3]
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
i = np.arange(rows, dtype=np.uint64)
r = (np.arange(1, 33, dtype=np.float32)) ** np.float32(-1)
x = i.astype(np.float32)[:, None] * r[None, :] + (i % 97).astype(np.float32)[:, None]
col = pa.FixedSizeListArray.from_arrays(pa.array(x.reshape(-1)), 32)
table = pa.table({"x": col})
start = time.perf_counter()
pq.write_table(table, out, compression=codec, compression_level=3 if codec == "zstd" else None,
               use_dictionary=False, row_group_size=8192)
secs = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(f"RESULT {peak - base} {secs}")
"#;

fn status_kib(field: &str) -> u64 {
    let status = fs::read_to_string("/proc/self/status").expect("/proc/self/status (Linux only)");
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/self/status"))
}

/// One measured run: `variant` (`zarr-2-partitions` runs one partition, `part`) of `rows`.
fn child(variant: &str, rows: usize, out: &Path) {
    let _ = fs::write("/proc/self/clear_refs", "5");
    let base = status_kib("VmRSS");
    let items = 0..rows as u64;
    let pipeline = features::pipeline().chunk_rows(CHUNK_ROWS);
    match variant {
        "npy" => {
            pipeline.write_npy(items, out).unwrap();
        }
        "parquet" => {
            pipeline.write_parquet(items, out, "x").unwrap();
        }
        "parquet-zstd" => {
            pipeline
                .compression(Compression::Zstd(3))
                .write_parquet(items, out, "x")
                .unwrap();
        }
        "parquet-snappy" => {
            pipeline
                .compression(Compression::Snappy)
                .write_parquet(items, out, "x")
                .unwrap();
        }
        other => panic!("unknown variant {other}"),
    }
    let peak = status_kib("VmHWM");
    println!("RESULT {}", peak.saturating_sub(base));
}

fn python() -> Option<String> {
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".to_owned());
    let ok = Command::new(&python)
        .args(["-c", "import numpy, pyarrow"])
        .output()
        .is_ok_and(|out| out.status.success());
    ok.then_some(python)
}

/// One run: its seconds and its peak RSS above its start, in KiB.
fn measure(variant: &str, rows: usize, dir: &Path, python: Option<&str>) -> Option<(f64, u64)> {
    let out: PathBuf = dir.join(format!("{variant}.out"));
    let _ = fs::remove_file(&out);
    config::settle_disk();
    let start = Instant::now();
    let mut command = match variant {
        "pyarrow" | "pyarrow-zstd" => {
            let mut command = Command::new(python?);
            let codec = if variant == "pyarrow" { "none" } else { "zstd" };
            command
                .args(["-c", PYARROW, &rows.to_string()])
                .arg(&out)
                .arg(codec);
            command
        }
        _ => {
            let mut command = Command::new(std::env::current_exe().unwrap());
            command
                .args(["--child", variant, &rows.to_string()])
                .arg(&out);
            command
        }
    };
    let output = command.stdout(Stdio::piped()).output().unwrap();
    let mut secs = start.elapsed().as_secs_f64();
    assert!(
        output.status.success(),
        "{variant} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8_lossy(&output.stdout);
    let line = text.lines().find(|l| l.starts_with("RESULT ")).unwrap();
    let mut fields = line.split_whitespace().skip(1);
    let peak = fields.next().unwrap().parse().unwrap();
    if let Some(own) = fields.next() {
        secs = own.parse().unwrap();
    }
    let _ = fs::remove_file(&out);
    Some((secs, peak))
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let [_, flag, variant, rows, out] = args.as_slice() {
        if flag == "--child" {
            child(variant, rows.parse().unwrap(), Path::new(out));
            return;
        }
    }
    let config = config::Config::from_env(&[]);
    let rows = config.rows(FULL_ROWS);
    let dir = tempfile::tempdir().unwrap();
    let python = python();
    if python.is_none() {
        eprintln!("SKIPPED the pyarrow variants: `python3 -c \"import numpy, pyarrow\"` failed (pip install numpy pyarrow)");
    }
    let mut samples: Vec<Vec<f64>> = vec![Vec::new(); VARIANTS.len()];
    let mut peaks: Vec<u64> = vec![0; VARIANTS.len()];
    for rep in 0..=config.reps {
        for k in 0..VARIANTS.len() {
            let i = (rep + k) % VARIANTS.len();
            let Some((secs, peak)) = measure(VARIANTS[i], rows, dir.path(), python.as_deref())
            else {
                continue;
            };
            if rep > 0 {
                samples[i].push(secs);
                peaks[i] = peaks[i].max(peak);
            }
        }
    }
    let mib = (rows * DIM * 4) as f64 / f64::from(1 << 20);
    println!(
        "{rows} rows of {DIM} f32 ({mib:.0} MiB), chunks of {CHUNK_ROWS} rows (1 MiB); median of {} runs each, in child processes",
        config.reps
    );
    println!("| variant | seconds | MB/s | time / npy | time / parquet | peak RSS (MiB) |");
    println!("|---|---|---|---|---|---|");
    let secs: Vec<Option<f64>> = samples
        .into_iter()
        .map(|s| (!s.is_empty()).then(|| median(s)))
        .collect();
    let (npy, parquet) = (secs[0].unwrap(), secs[1].unwrap());
    for (i, variant) in VARIANTS.iter().enumerate() {
        let Some(s) = secs[i] else { continue };
        println!(
            "| {variant} | {s:.3} | {:.0} | {:.2} | {:.2} | {:.1} |",
            mib / s,
            s / npy,
            s / parquet,
            peaks[i] as f64 / 1024.0
        );
    }
    println!();
    println!(
        "write_parquet / write_npy: {:.2} (uncompressed), {:.2} (zstd), {:.2} (Snappy)",
        parquet / npy,
        secs[2].unwrap() / npy,
        secs[3].unwrap() / npy
    );
    if let (Some(pa), Some(pa_zstd)) = (secs[4], secs[5]) {
        println!(
            "write_parquet / pq.write_table from memory: {:.2} (uncompressed), {:.2} (zstd)",
            parquet / pa,
            secs[2].unwrap() / pa_zstd
        );
    }
}
