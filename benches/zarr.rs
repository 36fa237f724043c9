//! `write_zarr` against `write_npy` on the same rows, against `zarrs` used directly on the same
//! array, and a job split into 2 partitions run as 2 processes against 1 process: time as
//! ratios in one run, and each process's peak memory.
//!
//! Run with `cargo bench --features zarr --bench zarr` (`--scale 0.1`, `--reps 3`, or
//! `PREALLOCATE_BENCH_SCALE`, `PREALLOCATE_BENCH_REPS`). At scale 1: 2 M rows of 32 `f32`
//! (256 MB), chunks of 8 192 rows (1 MiB), in a fresh directory under the system temp dir.
//!
//! Every run is a child process (this binary with `--child`), so that its peak RSS (`VmHWM`,
//! reset before the run) is its own; a partitioned job is its 2 children started together, and
//! its time is until both have finished. Each run starts after a `sync` (untimed), so that it
//! does not pay for writing back what the run before it left in the page cache. What each
//! variant writes:
//!
//! | variant | output |
//! |---|---|
//! | `npy` | one `.npy` |
//! | `zarr` | one Zarr array, uncompressed |
//! | `zarr-zstd` | one Zarr array, zstd level 3 |
//! | `zarr-sharded` | one Zarr array, uncompressed, shards of 8 chunks |
//! | `zarr-2-partitions` | one Zarr array written by 2 processes, one partition each |
//! | `zarrs` | the array of `zarr`, written with `zarrs` itself (its `FilesystemStore`) |
//! | `zarrs-zstd` | the array of `zarr-zstd`, written with `zarrs` itself |
//!
//! The `zarrs` variants are what a hand-written program does with `zarrs`' API: the same rows
//! (the same row function, item by item, into one reused chunk buffer), the same chunks, codec,
//! fill value and dimension names, each chunk stored with `Array::store_chunk`, the metadata
//! stored last.

#[path = "common/config.rs"]
mod config;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
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

const VARIANTS: [&str; 7] = [
    "npy",
    "zarr",
    "zarr-zstd",
    "zarr-sharded",
    "zarr-2-partitions",
    "zarrs",
    "zarrs-zstd",
];

/// The array `x` of the group `out`, as `write_zarr` lays it out, written with `zarrs` alone.
fn zarrs_direct(rows: usize, out: &Path, zstd: bool) {
    use std::sync::Arc;
    use zarrs::array::{codec::ZstdCodec, ArrayBuilder};

    let store = Arc::new(zarrs::filesystem::FilesystemStore::new(out).unwrap());
    zarrs::group::GroupBuilder::new()
        .build(store.clone(), "/")
        .unwrap()
        .store_metadata()
        .unwrap();
    let mut builder = ArrayBuilder::new(
        vec![rows as u64, DIM as u64],
        vec![CHUNK_ROWS as u64, DIM as u64],
        "float32",
        0u8,
    );
    if zstd {
        builder.bytes_to_bytes_codecs(vec![Arc::new(ZstdCodec::new(3, false))]);
    }
    builder.dimension_names(Some(["row", "x_1"]));
    let array = builder.build(store, "/x").unwrap();
    let mut chunk = vec![0.0f32; CHUNK_ROWS * DIM];
    for index in 0..rows.div_ceil(CHUNK_ROWS) {
        let first = index * CHUNK_ROWS;
        let n = CHUNK_ROWS.min(rows - first);
        for (k, row) in chunk.chunks_exact_mut(DIM).take(n).enumerate() {
            row.copy_from_slice(&features((first + k) as u64));
        }
        chunk[n * DIM..].fill(0.0);
        array.store_chunk(&[index as u64, 0], &chunk[..]).unwrap();
    }
    array.store_metadata().unwrap();
}

fn status_kib(field: &str) -> u64 {
    let status = fs::read_to_string("/proc/self/status").expect("/proc/self/status (Linux only)");
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/self/status"))
}

/// One measured run: `variant` (`zarr-2-partitions` runs one partition, `part`) of `rows`.
fn child(variant: &str, rows: usize, out: &Path, part: &str) {
    let _ = fs::write("/proc/self/clear_refs", "5");
    let base = status_kib("VmRSS");
    let items = 0..rows as u64;
    let pipeline = features::pipeline().chunk_rows(CHUNK_ROWS);
    match variant {
        "npy" => {
            pipeline.write_npy(items, out).unwrap();
        }
        "zarr" => {
            pipeline.write_zarr(items, out, "x").unwrap();
        }
        "zarr-zstd" => {
            pipeline
                .compression(Compression::Zstd(3))
                .write_zarr(items, out, "x")
                .unwrap();
        }
        "zarr-sharded" => {
            pipeline
                .shard_rows(8 * CHUNK_ROWS)
                .write_zarr(items, out, "x")
                .unwrap();
        }
        "zarr-2-partitions" => {
            let (k, n) = part.split_once('/').unwrap();
            pipeline
                .partition(k.parse().unwrap(), n.parse().unwrap())
                .write_zarr(items, out, "x")
                .unwrap();
        }
        "zarrs" => zarrs_direct(rows, out, false),
        "zarrs-zstd" => zarrs_direct(rows, out, true),
        other => panic!("unknown variant {other}"),
    }
    let peak = status_kib("VmHWM");
    println!("RESULT {} {}", peak.saturating_sub(base), base);
}

fn spawn(variant: &str, rows: usize, out: &Path, part: &str) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args(["--child", variant, &rows.to_string()])
        .arg(out)
        .arg(part)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Seconds until every child has finished, and each child's peak RSS above its baseline.
fn measure(variant: &str, rows: usize, dir: &Path) -> (f64, Vec<u64>) {
    let out: PathBuf = match variant {
        "npy" => dir.join("x.npy"),
        _ => dir.join(format!("{variant}.zarr")),
    };
    let _ = fs::remove_dir_all(&out);
    let _ = fs::remove_file(&out);
    let parts: &[&str] = if variant == "zarr-2-partitions" {
        &["0/2", "1/2"]
    } else {
        &["0/1"]
    };
    config::settle_disk();
    let start = Instant::now();
    let children: Vec<Child> = parts
        .iter()
        .map(|part| spawn(variant, rows, &out, part))
        .collect();
    let mut peaks = Vec::new();
    for child in children {
        let output = child.wait_with_output().unwrap();
        assert!(output.status.success(), "{variant} failed");
        let text = String::from_utf8_lossy(&output.stdout);
        let line = text.lines().find(|l| l.starts_with("RESULT ")).unwrap();
        peaks.push(line.split_whitespace().nth(1).unwrap().parse().unwrap());
    }
    let secs = start.elapsed().as_secs_f64();
    let _ = fs::remove_dir_all(&out);
    let _ = fs::remove_file(&out);
    (secs, peaks)
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let [_, flag, variant, rows, out, part] = args.as_slice() {
        if flag == "--child" {
            child(variant, rows.parse().unwrap(), Path::new(out), part);
            return;
        }
    }
    let config = config::Config::from_env(&[]);
    let rows = config.rows(FULL_ROWS);
    let dir = tempfile::tempdir().unwrap();
    let mut samples: Vec<Vec<f64>> = vec![Vec::new(); VARIANTS.len()];
    let mut peaks: Vec<u64> = vec![0; VARIANTS.len()];
    // One warm-up, then `reps` rounds, each variant once per round, in a rotating order.
    for rep in 0..=config.reps {
        for k in 0..VARIANTS.len() {
            let i = (rep + k) % VARIANTS.len();
            let (secs, peak) = measure(VARIANTS[i], rows, dir.path());
            if rep > 0 {
                samples[i].push(secs);
                peaks[i] = peaks[i].max(peak.into_iter().max().unwrap());
            }
        }
    }
    let secs: Vec<f64> = samples.into_iter().map(median).collect();
    let mib = (rows * DIM * 4) as f64 / f64::from(1 << 20);
    println!(
        "{rows} rows of {DIM} f32 ({mib:.0} MiB), chunks of {CHUNK_ROWS} rows (1 MiB); median of {} runs each, in child processes",
        config.reps
    );
    println!(
        "| variant | seconds | MB/s | time / npy | time / zarr | peak RSS per process (MiB) |"
    );
    println!("|---|---|---|---|---|---|");
    for (i, variant) in VARIANTS.iter().enumerate() {
        println!(
            "| {variant} | {:.3} | {:.0} | {:.2} | {:.2} | {:.1} |",
            secs[i],
            mib / secs[i],
            secs[i] / secs[0],
            secs[i] / secs[1],
            peaks[i] as f64 / 1024.0
        );
    }
    let at = |name: &str| secs[VARIANTS.iter().position(|v| *v == name).unwrap()];
    println!();
    println!(
        "write_zarr / write_npy: {:.2} (uncompressed), {:.2} (zstd)",
        at("zarr") / at("npy"),
        at("zarr-zstd") / at("npy")
    );
    println!(
        "write_zarr / zarrs used directly: {:.2} (uncompressed), {:.2} (zstd)",
        at("zarr") / at("zarrs"),
        at("zarr-zstd") / at("zarrs-zstd")
    );
}
