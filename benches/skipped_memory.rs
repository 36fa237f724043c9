//! Peak memory of a job that drops items, whatever the input's length: every output, at
//! 10 M and at 100 M items with 1 item in 10 dropped.
//!
//! Run with `cargo bench --features zarr --bench skipped_memory` (`--scale 0.1`, or
//! `PREALLOCATE_BENCH_SCALE`). At scale 1: 10 M and 100 M items, each a row of one `f32`
//! (so that what a run keeps per item, not the rows, shows), the default chunk buffer (1 MiB),
//! in a fresh directory under the system temp dir.
//!
//! Every run is a child process (this binary with `--child`), so that its peak RSS (`VmHWM`)
//! is its own. The table gives each output's peak at both lengths and what the longer run
//! cost per extra dropped item: a flat line is 0 bytes. The reports list the dropped items
//! (`skipped`, 8 bytes each), so that is what a run keeps of them at the most.

#[path = "common/config.rs"]
mod config;

use std::fs;
use std::path::Path;
use std::process::Command;

use preallocate::preallocate;

const LENGTHS: [usize; 2] = [10_000_000, 100_000_000];
const VARIANTS: [&str; 4] = ["npy", "npy-shards", "safetensors", "zarr"];

/// One `f32` from an index; 1 item in 10 gives no row.
#[preallocate(dim = 1, dtype = f32)]
fn sparse(i: u64) -> Option<[f32; 1]> {
    (!i.is_multiple_of(10)).then_some([i as f32])
}

fn status_kib(field: &str) -> u64 {
    let status = fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| {
            line.strip_prefix(field)?
                .trim_start_matches(':')
                .split_whitespace()
                .next()?
                .parse()
                .ok()
        })
        .unwrap_or(0)
}

/// Writes `items` items through `variant` into `dir`, then prints the peak RSS in KiB.
fn child(variant: &str, items: u64, dir: &Path) {
    let items = 0..items;
    let skipped = match variant {
        "npy" => sparse::pipeline()
            .write_npy(items, dir.join("x.npy"))
            .unwrap()
            .skipped
            .len(),
        "npy-shards" => sparse::pipeline()
            .write_npy_shards(items, dir.join("x"))
            .unwrap()
            .skipped
            .len(),
        "safetensors" => {
            let out = sparse::pipeline().write_safetensors(items, dir.join("x.safetensors"), "x");
            out.unwrap().skipped.len()
        }
        "zarr" => sparse::pipeline()
            .write_zarr(items, dir.join("x.zarr"), "x")
            .unwrap()
            .skipped
            .len(),
        other => panic!("unknown variant {other}"),
    };
    println!("{} {skipped}", status_kib("VmHWM"));
}

/// Runs one child; its peak RSS in KiB.
fn run(variant: &str, items: usize) -> u64 {
    let dir = tempfile::tempdir_in(std::env::temp_dir()).unwrap();
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "--child",
            variant,
            &items.to_string(),
            &dir.path().display().to_string(),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let mut fields = text.split_whitespace().map(|f| f.parse::<u64>().unwrap());
    let (peak, skipped) = (fields.next().unwrap(), fields.next().unwrap());
    assert_eq!(
        skipped,
        items.div_ceil(10) as u64,
        "every tenth item is dropped"
    );
    peak
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(at) = args.iter().position(|a| a == "--child") {
        let items = args[at + 2].parse().unwrap();
        child(&args[at + 1], items, Path::new(&args[at + 3]));
        return;
    }
    let config = config::Config::from_env(&[]);
    let lengths = LENGTHS.map(|n| config.rows(n));
    println!(
        "peak RSS of a job dropping 1 item in 10, rows of one f32 (scale {}):",
        config.scale
    );
    println!(
        "| output | {} items | {} items | per extra dropped item |",
        lengths[0], lengths[1]
    );
    println!("|---|---|---|---|");
    for variant in VARIANTS {
        let peaks = lengths.map(|n| run(variant, n));
        let dropped = (lengths[1] - lengths[0]) as f64 / 10.0;
        let per_drop = (peaks[1] as f64 - peaks[0] as f64) * 1024.0 / dropped;
        println!(
            "| {variant} | {:.1} MiB | {:.1} MiB | {per_drop:.1} bytes |",
            peaks[0] as f64 / 1024.0,
            peaks[1] as f64 / 1024.0
        );
    }
}
