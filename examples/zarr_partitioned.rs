//! One job, many workers, one Zarr array: the same binary runs as worker `k` of `n` under any
//! scheduler (Dask, Slurm, Kubernetes, or by hand), and the workers together write one Zarr v3
//! array that zarr-python, Dask and xarray open.
//!
//! Run with `cargo run --release --features zarr --example zarr_partitioned -- OUT.zarr`, once
//! per worker, with the worker named by the environment (see `Partition::from_env`):
//!
//! ```text
//! PREALLOCATE_PARTITION=0/3 zarr_partitioned out.zarr &
//! PREALLOCATE_PARTITION=1/3 zarr_partitioned out.zarr &
//! PREALLOCATE_PARTITION=2/3 zarr_partitioned out.zarr
//! ```
//!
//! The data: readings of a simulated 8-channel sensor, one per second, each computed from its
//! index; a reading whose sensor glitched (about one in fifty) gives no row, so its row of the
//! array is zero and `readings_valid` marks it 0. Each worker computes only its own range of
//! whole shards, skipping the rest of the input without computing it; the last worker to finish
//! marks the array complete. A worker that dies is simply run again: it resumes after the
//! shards it had stored.
//!
//! Options: `--rows N` (default 1 000 000), `--chunk-rows C` (default 8 192), `--shard-rows S`
//! (default 65 536, a multiple of C), `--zstd LEVEL`, `--batch FILE` (instead of writing the
//! array, write what it must hold, from a single-process `batch` of the same readings: the
//! reference the tests compare against), and `ZARR_EXAMPLE_PAUSE_MS` in the environment (a pause per
//! row, so that tests can kill a worker mid-way). It prints one line of JSON: what it wrote.

use std::error::Error;
use std::f32::consts::TAU;

use preallocate::{preallocate, Compression, Partition};

const CHANNELS: usize = 8;

/// The reading at second `i`, or none when the sensor glitched.
#[preallocate(dim = 8, dtype = f32)]
fn reading(i: u64) -> Option<[f32; CHANNELS]> {
    if let Some(ms) = pause_ms() {
        std::thread::sleep(std::time::Duration::from_millis(ms));
    }
    let noise = uniform(i);
    if noise > 0.48 {
        return None;
    }
    // Exact below 2^24 seconds (194 days), the integer range an f32 holds without gaps.
    let t = i as f32;
    let day = (t / 86_400.0 * TAU).sin();
    let hour = (t / 3_600.0 * TAU).sin();
    Some([
        20.0 + 6.0 * day + 0.3 * noise,
        55.0 - 20.0 * day + noise,
        1013.0 + 4.0 * hour,
        0.02 * noise,
        0.02 * uniform(i ^ 0xA5A5),
        9.81 + 0.05 * hour,
        4.2 - 1e-7 * t,
        noise,
    ])
}

fn pause_ms() -> Option<u64> {
    static PAUSE: std::sync::OnceLock<Option<u64>> = std::sync::OnceLock::new();
    *PAUSE.get_or_init(|| {
        std::env::var("ZARR_EXAMPLE_PAUSE_MS")
            .ok()
            .and_then(|ms| ms.parse().ok())
    })
}

/// A deterministic pseudo-random number in [-0.5, 0.5) from `i` (splitmix64's finalizer).
fn uniform(i: u64) -> f32 {
    let mut z = i.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 40) as f32 / (1u64 << 24) as f32 - 0.5
}

struct Args {
    store: String,
    rows: u64,
    chunk_rows: usize,
    shard_rows: usize,
    zstd: Option<i32>,
    batch: Option<String>,
}

fn args() -> Result<Args, Box<dyn Error>> {
    let mut args = Args {
        store: String::new(),
        rows: 1_000_000,
        chunk_rows: 8_192,
        shard_rows: 65_536,
        zstd: None,
        batch: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--rows" => args.rows = value()?.parse()?,
            "--chunk-rows" => args.chunk_rows = value()?.parse()?,
            "--shard-rows" => args.shard_rows = value()?.parse()?,
            "--zstd" => args.zstd = Some(value()?.parse()?),
            "--batch" => args.batch = Some(value()?),
            store if !store.starts_with("--") && args.store.is_empty() => {
                args.store = store.to_string();
            }
            other => return Err(format!("unknown argument {other:?}").into()),
        }
    }
    if args.store.is_empty() && args.batch.is_none() {
        return Err("usage: zarr_partitioned OUT.zarr [--rows N] [--chunk-rows C] [--shard-rows S] [--zstd LEVEL] | --batch FILE".into());
    }
    Ok(args)
}

fn main() -> Result<(), Box<dyn Error>> {
    let args = args()?;
    if let Some(path) = &args.batch {
        // The reference: one process's `batch` of the same readings (one allocation), spread
        // to their items' positions as the array holds them: raw little-endian `f32`s, and
        // `<path>.valid` with one `u8` per row.
        let kept = reading::batch(0..args.rows);
        let rows = usize::try_from(args.rows)?;
        let mut values = vec![0f32; rows * CHANNELS];
        let mut valid = vec![1u8; rows];
        for &i in &kept.skipped {
            valid[i] = 0;
        }
        let positions = (0..rows).filter(|&i| valid[i] == 1);
        for (row, i) in kept.rows.rows().into_iter().zip(positions) {
            for (dst, src) in values[i * CHANNELS..(i + 1) * CHANNELS].iter_mut().zip(row) {
                *dst = *src;
            }
        }
        let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        std::fs::write(path, bytes)?;
        std::fs::write(format!("{path}.valid"), valid)?;
        println!("{{\"batch\": {rows}, \"kept\": {}}}", kept.rows.nrows());
        return Ok(());
    }
    let me = Partition::from_env()?;
    let compression = args.zstd.map_or(Compression::None, Compression::Zstd);
    let out = reading::pipeline()
        .chunk_rows(args.chunk_rows)
        .shard_rows(args.shard_rows)
        .compression(compression)
        .job_key("zarr_partitioned-v1")
        .partition(me.index(), me.count())
        .write_zarr(0..args.rows, &args.store, "readings")?;
    println!(
        "{{\"partition\": \"{me}\", \"units\": {:?}, \"rows\": {}, \"kept\": {}, \"resumed\": {}, \"complete\": {}}}",
        out.units, out.rows, out.kept, out.resumed, out.complete
    );
    Ok(())
}
