//! Out of core: write a dataset far larger than the memory it is built in.
//!
//! Run with `cargo run --release --example out_of_core`.
//!
//! 1. 5 M readings of a simulated 8-channel sensor (160 MB of `f32`), each computed from its
//!    index, stream to one `.npy` through a 1 MiB chunk buffer: the process's peak memory stays
//!    a few MiB, whatever the row count.
//! 2. The first 100 000 readings go to `.npy` shards of 25 000 rows each, plus a manifest.
//! 3. `for_each_chunk` computes each channel's mean over all 5 M readings, keeping no rows.
//!
//! Everything is written to a fresh directory under the system temp dir and removed at the end.

use std::convert::Infallible;
use std::error::Error;
use std::f32::consts::TAU;
use std::fs;
use std::path::PathBuf;

use preallocate::preallocate;

/// One reading per second for about 58 days.
const ROWS: u64 = 5_000_000;
const SHARDED_ROWS: u64 = 100_000;
const SHARD_ROWS: usize = 25_000;
/// The chunk buffer's size: 1 MiB, about 150 times smaller than the file.
const BUDGET: usize = 1 << 20;
const MIB: f64 = (1 << 20) as f64;
const CHANNELS: [&str; 8] = [
    "temp_c",
    "humidity",
    "press_hpa",
    "accel_x",
    "accel_y",
    "accel_z",
    "battery_v",
    "noise",
];

/// The reading at second `i`: daily and hourly cycles, a slowly draining battery, and noise.
#[preallocate(dim = 8, dtype = f32)]
fn reading(i: u64) -> [f32; 8] {
    // Exact: every index is below 2^24, the largest integer range an f32 holds without gaps.
    let t = i as f32;
    let day = (t / 86_400.0 * TAU).sin();
    let hour = (t / 3_600.0 * TAU).sin();
    let noise = uniform(i);
    [
        20.0 + 6.0 * day + 0.3 * noise,
        55.0 - 20.0 * day + noise,
        1013.0 + 4.0 * hour,
        0.02 * noise,
        0.02 * uniform(i ^ 0xA5A5),
        9.81 + 0.05 * hour,
        4.2 - 0.6 * t / ROWS as f32,
        noise,
    ]
}

/// A deterministic pseudo-random number in [-0.5, 0.5) from `i` (splitmix64's finalizer), so
/// that every run and every chunk size writes the same bytes.
fn uniform(i: u64) -> f32 {
    let mut x = i.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^= x >> 31;
    (x >> 40) as f32 / (1u64 << 24) as f32 - 0.5
}

/// Peak resident memory of the whole process, in bytes: Linux's `VmHWM`; `None` elsewhere.
fn peak_memory() -> Option<u64> {
    let status = fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find_map(|l| l.strip_prefix("VmHWM:"))?;
    let kib: u64 = line.trim().strip_suffix("kB")?.trim().parse().ok()?;
    Some(kib * 1024)
}

/// The output directory, removed when dropped: also when `main` returns early with an error.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn main() -> Result<(), Box<dyn Error>> {
    let name = format!("preallocate-out-of-core-{}", std::process::id());
    let scratch = Scratch(std::env::temp_dir().join(name));
    fs::create_dir_all(&scratch.0)?;

    // 1. One `.npy` of 5 M rows. `0..ROWS` is lazy: neither the items nor the rows are ever
    //    all in memory, only one chunk of rows at a time.
    let pipeline = reading::pipeline().memory_budget(BUDGET);
    let chunk_rows = pipeline.rows_per_chunk();
    let npy = pipeline.write_npy(0..ROWS, scratch.0.join("sensors.npy"))?;
    // Read now: the steps below use no more memory, but the peak should be this step's.
    let peak = peak_memory();
    println!("{}", npy.path.display());
    println!("  rows written  {} × {} f32", npy.rows, reading::DIM);
    println!("  file size     {:.1} MiB", npy.bytes as f64 / MIB);
    let chunk_mib = (chunk_rows * reading::DIM * size_of::<f32>()) as f64 / MIB;
    println!("  chunk         {chunk_rows} rows ({chunk_mib:.2} MiB)");
    if let Some(peak) = peak {
        println!(
            "  peak memory   {:.1} MiB (VmHWM: the whole process)",
            peak as f64 / MIB
        );
        println!("  file / peak   {:.1}×", npy.bytes as f64 / peak as f64);
    } else {
        println!("  peak memory   unavailable: it is read from /proc/self/status (Linux only)");
    }

    // 2. Shards: each holds `chunk_rows` rows, so the shard size is set with `chunk_rows`.
    let shards = reading::pipeline()
        .chunk_rows(SHARD_ROWS)
        .write_npy_shards(0..SHARDED_ROWS, scratch.0.join("shards"))?;
    let (dir, count) = (shards.dir.display(), shards.shards.len());
    println!("\n{dir}: {} rows in {count} shards", shards.rows);
    for shard in &shards.shards {
        let file = shard.path.file_name().unwrap_or_default().to_string_lossy();
        let bytes = fs::metadata(&shard.path)?.len();
        println!("  {file}  {:>6} rows  {bytes:>8} bytes", shard.rows);
    }
    let manifest = fs::read_to_string(&shards.manifest)?;
    println!(
        "  {}:\n{}",
        preallocate::SHARD_MANIFEST,
        manifest.trim_end()
    );

    // 3. Column means, summed in f64 chunk by chunk: f32 sums of millions of values drift.
    let mut sums = [0f64; CHANNELS.len()];
    let seen = reading::pipeline()
        .memory_budget(BUDGET)
        .for_each_chunk(0..ROWS, |chunk| {
            for row in chunk.rows() {
                for (sum, &value) in sums.iter_mut().zip(row) {
                    *sum += f64::from(value);
                }
            }
            Ok::<(), Infallible>(())
        })?;
    println!("\nmeans over {} rows (no rows kept):", seen.rows);
    for (channel, sum) in CHANNELS.iter().zip(sums) {
        println!("  {channel:<10} {:>10.4}", sum / seen.rows as f64);
    }

    let dir = scratch.0.clone();
    drop(scratch);
    println!("\nremoved {} (exists: {})", dir.display(), dir.exists());
    Ok(())
}
