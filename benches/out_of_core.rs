//! Out-of-core `.npy` export: peak memory and write throughput of `Pipeline::write_npy` against
//! a hand-written `std::fs` exporter, for 1 M, 10 M and 100 M rows of 3 × f32 (12 MB, 120 MB
//! and 1.2 GB files).
//!
//! Variants, all calling the same row function on items generated lazily (`0..n`, never
//! collected):
//!
//! - `write_npy`: `featurize::pipeline().write_npy(0..n, path)`, default memory budget (`DEFAULT_MEMORY_BUDGET`, 1 MiB);
//! - `write_npy chunk_rows(65536)`: the same with a 768 KiB chunk buffer;
//! - `std::fs`: the best a hand-written exporter that knows `n` can do: the final `.npy` header
//!   written up front, then each row's little-endian `f32` bytes through a `BufWriter<File>`
//!   (default 8 KiB buffer), then `sync_all`. Its file is byte for byte the library's (checked
//!   before anything is measured).
//!
//! Every run is a fresh child process (this binary re-executed with `--child VARIANT ROWS DIR`),
//! so that no run inherits another's heap or page-table state. The child resets its peak RSS
//! (`/proc/self/clear_refs`), reads its baseline `VmRSS`, writes the file, and prints the wall
//! time and its `VmHWM`; the table shows peak minus baseline (the largest over the runs) next
//! to the size of the variant's buffer. RSS counts the pages touched: the chunk buffer is
//! allocated zeroed, so a run of fewer rows than a chunk touches only its rows' pages.
//!
//! The time covers everything the library does, its final header rewrite, `fsync` and rename
//! included; the baseline pays its own `sync_all`. Times are the median of 3 runs for 1 M and
//! 10 M rows (variants interleaved, in rotating order) and one run for 100 M. Each file is
//! deleted by the child that wrote it, so at most one (1.2 GB) exists at a time, under
//! `$CARGO_TARGET_DIR/bench-out` (or `target/bench-out`) rather than `/tmp`, which may be a
//! small tmpfs, in RAM.
//!
//! Linux only (it reads `/proc/self/status`).
//!
//! ```text
//! cargo bench --bench out_of_core
//! PREALLOCATE_BENCH_SCALE=0.01 cargo bench --bench out_of_core   # quick smoke run
//! cargo bench --bench out_of_core -- --scale 0.01
//! ```

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use preallocate::preallocate;

/// Three features of an index: a cheap by-value row, so that the writing dominates.
#[preallocate(dim = 3, dtype = f32)]
fn featurize(i: u32) -> [f32; 3] {
    let x = i as f32;
    [x, x * 0.5, -x]
}

const ROW_BYTES: usize = featurize::DIM * size_of::<f32>();
const MIB: f64 = (1 << 20) as f64;

// ---------------------------------------------------------------------------------------------
// Variants (run in the child)
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq)]
enum Variant {
    NpyDefault,
    Npy64k,
    StdFs,
}

impl Variant {
    const ALL: [Variant; 3] = [Variant::NpyDefault, Variant::Npy64k, Variant::StdFs];

    fn arg(self) -> &'static str {
        match self {
            Variant::NpyDefault => "write_npy",
            Variant::Npy64k => "write_npy_65536",
            Variant::StdFs => "std_fs",
        }
    }

    fn from_arg(arg: &str) -> Self {
        Self::ALL
            .into_iter()
            .find(|v| v.arg() == arg)
            .unwrap_or_else(|| panic!("unknown variant {arg:?}"))
    }

    fn label(self) -> &'static str {
        match self {
            Variant::NpyDefault => "write_npy (default budget)",
            Variant::Npy64k => "write_npy chunk_rows(65536)",
            Variant::StdFs => "std::fs BufWriter",
        }
    }

    /// The bytes the variant buffers rows in: the chunk buffer, or the `BufWriter`'s buffer.
    fn buffer_bytes(self) -> usize {
        match self {
            Variant::NpyDefault => featurize::pipeline().rows_per_chunk() * ROW_BYTES,
            Variant::Npy64k => {
                featurize::pipeline().chunk_rows(65_536).rows_per_chunk() * ROW_BYTES
            }
            Variant::StdFs => BufWriter::new(io::sink()).capacity(),
        }
    }

    /// Writes `n` rows to `path` and returns the file's length.
    fn write(self, n: usize, path: &Path) -> u64 {
        let items = 0..u32::try_from(n).expect("at most u32::MAX rows");
        let written = match self {
            Variant::NpyDefault => featurize::pipeline().write_npy(items, path),
            Variant::Npy64k => featurize::pipeline()
                .chunk_rows(65_536)
                .write_npy(items, path),
            Variant::StdFs => {
                return std_fs_npy(n, items, path)
                    .unwrap_or_else(|e| panic!("std::fs write to {}: {e}", path.display()))
            }
        };
        let written = written.unwrap_or_else(|e| panic!("write_npy to {}: {e}", path.display()));
        assert_eq!(written.rows, n);
        written.bytes
    }
}

/// The hand-written exporter: header of the known final shape, rows through a `BufWriter`.
fn std_fs_npy(n: usize, items: std::ops::Range<u32>, path: &Path) -> io::Result<u64> {
    let mut out = BufWriter::new(File::create(path)?);
    let header = npy_header(n);
    out.write_all(&header)?;
    for i in items {
        for value in featurize(i) {
            out.write_all(&value.to_le_bytes())?;
        }
    }
    let file = out.into_inner().map_err(io::IntoInnerError::into_error)?;
    file.sync_all()?;
    Ok((header.len() + n * ROW_BYTES) as u64)
}

/// The header `np.save` writes for an `(n, 3)` `float32` array: the dict, numpy's growth padding
/// (room for a 21-digit count), then spaces and `\n` up to a multiple of 64 bytes.
fn npy_header(n: usize) -> Vec<u8> {
    let mut dict = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': ({n}, 3), }}");
    dict.push_str(&" ".repeat(21 - n.to_string().len()));
    let padding = 64 - (10 + dict.len() + 1) % 64;
    let len = u16::try_from(dict.len() + 1 + padding).expect("a short header");
    let mut header = b"\x93NUMPY\x01\x00".to_vec();
    header.extend_from_slice(&len.to_le_bytes());
    header.extend_from_slice(dict.as_bytes());
    header.extend(std::iter::repeat_n(b' ', padding));
    header.push(b'\n');
    header
}

// ---------------------------------------------------------------------------------------------
// Child: one run, measured
// ---------------------------------------------------------------------------------------------

/// A field of `/proc/self/status` in KiB (`VmRSS`, `VmHWM`).
fn status_kib(field: &str) -> u64 {
    let status = fs::read_to_string("/proc/self/status").expect("/proc/self/status (Linux only)");
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/self/status"))
}

fn child(variant: Variant, n: usize, dir: &Path) {
    let path = dir.join(format!("{}-{n}.npy", variant.arg()));
    // why: VmHWM counts from process start; "5" resets it to the current RSS (Linux ≥ 4.0), so
    // the peak is this run's. Without it the peak is still bounded below by the baseline.
    let _ = fs::write("/proc/self/clear_refs", "5");
    let base = status_kib("VmRSS");
    let start = Instant::now();
    let bytes = variant.write(n, &path);
    let secs = start.elapsed().as_secs_f64();
    let peak = status_kib("VmHWM");
    let on_disk = fs::metadata(&path).expect("the file exists").len();
    assert_eq!(
        on_disk,
        bytes,
        "{}: reported and actual size",
        variant.arg()
    );
    assert_eq!(on_disk, (npy_header(n).len() + n * ROW_BYTES) as u64);
    fs::remove_file(&path).expect("remove the file");
    println!("RESULT {secs} {base} {peak} {bytes}");
}

// ---------------------------------------------------------------------------------------------
// Parent: runs the children, prints the table
// ---------------------------------------------------------------------------------------------

struct Sample {
    secs: f64,
    base_kib: u64,
    peak_kib: u64,
    bytes: u64,
}

fn run_child(variant: Variant, n: usize, dir: &Path) -> Sample {
    let exe = std::env::current_exe().expect("the bench binary's path");
    let out = Command::new(exe)
        .args(["--child", variant.arg(), &n.to_string()])
        .arg(dir)
        .output()
        .expect("run the child");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "child {} {n} failed ({}):\n{stdout}{}",
        variant.arg(),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let fields: Vec<&str> = stdout
        .lines()
        .find_map(|line| line.strip_prefix("RESULT "))
        .expect("a RESULT line")
        .split_whitespace()
        .collect();
    let sample = Sample {
        secs: fields[0].parse().expect("seconds"),
        base_kib: fields[1].parse().expect("baseline KiB"),
        peak_kib: fields[2].parse().expect("peak KiB"),
        bytes: fields[3].parse().expect("bytes"),
    };
    eprintln!(
        "  {n} rows, {:<28} {:>8.3} s, peak - baseline {:>6.2} MiB",
        variant.label(),
        sample.secs,
        sample.peak_kib.saturating_sub(sample.base_kib) as f64 / 1024.0
    );
    sample
}

/// The library's file and the hand-written one must be identical, or the comparison is moot.
fn check_same_bytes(dir: &Path) {
    let n = 1000;
    let a = dir.join("check-write_npy.npy");
    let b = dir.join("check-std_fs.npy");
    Variant::NpyDefault.write(n, &a);
    Variant::StdFs.write(n, &b);
    assert!(
        fs::read(&a).unwrap() == fs::read(&b).unwrap(),
        "write_npy and the hand-written exporter wrote different files"
    );
    fs::remove_file(a).unwrap();
    fs::remove_file(b).unwrap();
}

/// `PREALLOCATE_BENCH_SCALE`, overridden by `--scale X` or `--scale=X`; other arguments (cargo
/// passes `--bench`) are ignored.
fn scale() -> f64 {
    let mut scale = std::env::var("PREALLOCATE_BENCH_SCALE").ok();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if let Some(value) = arg.strip_prefix("--scale=") {
            scale = Some(value.to_owned());
        } else if arg == "--scale" {
            scale = args.next();
        }
    }
    scale.map_or(1.0, |s| {
        s.trim()
            .parse::<f64>()
            .ok()
            .filter(|s| s.is_finite() && *s > 0.0)
            .unwrap_or_else(|| panic!("the scale must be a positive number, not {s:?}"))
    })
}

fn out_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(
        || PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/target")),
        PathBuf::from,
    );
    target
        .join("bench-out")
        .join(format!("out_of_core-{}", std::process::id()))
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let [_, flag, variant, rows, dir] = args.as_slice() {
        if flag == "--child" {
            child(
                Variant::from_arg(variant),
                rows.parse().expect("rows"),
                Path::new(dir),
            );
            return;
        }
    }

    let scale = scale();
    let dir = out_dir();
    fs::create_dir_all(&dir).expect("create the output directory");
    check_same_bytes(&dir);

    let mut table = Vec::new();
    let mut baselines = Vec::new();
    for (full, reps) in [(1_000_000, 3), (10_000_000, 3), (100_000_000, 1)] {
        let n = ((full as f64 * scale).round() as usize).max(1);
        let mut samples: Vec<Vec<Sample>> = Variant::ALL.iter().map(|_| Vec::new()).collect();
        for rep in 0..reps {
            for k in 0..Variant::ALL.len() {
                let i = (rep + k) % Variant::ALL.len();
                samples[i].push(run_child(Variant::ALL[i], n, &dir));
            }
        }
        let secs: Vec<f64> = samples
            .iter()
            .map(|s| median(s.iter().map(|s| s.secs).collect()))
            .collect();
        let std_fs = secs[2];
        for ((variant, runs), secs) in Variant::ALL.iter().zip(&samples).zip(&secs) {
            let peak = runs
                .iter()
                .map(|s| s.peak_kib.saturating_sub(s.base_kib))
                .max()
                .unwrap();
            baselines.extend(runs.iter().map(|s| s.base_kib));
            table.push(format!(
                "| {n} | {} | {secs:.3} | {:.0} | {:.3} | {:.2} | {:.3} |",
                variant.label(),
                runs[0].bytes as f64 / secs / 1e6,
                secs / std_fs,
                peak as f64 / 1024.0,
                variant.buffer_bytes() as f64 / MIB,
            ));
        }
    }
    fs::remove_dir(&dir).expect("the output directory is empty");
    // Best effort: `bench-out` stays if another run is using it.
    let _ = fs::remove_dir(dir.parent().expect("bench-out"));

    println!(
        "\nscale {scale}; time: median of 3 runs (1 run for the largest n), each a fresh process, \
         fsync included; peak RSS: child VmHWM minus its VmRSS before the run (baseline {:.1}-{:.1} \
         MiB), largest over the runs\n",
        *baselines.iter().min().unwrap() as f64 / 1024.0,
        *baselines.iter().max().unwrap() as f64 / 1024.0,
    );
    println!(
        "| rows | variant | time (s) | MB/s | time / std::fs | peak RSS over baseline (MiB) | chunk buffer (MiB) |"
    );
    println!("|---:|---|---:|---:|---:|---:|---:|");
    for row in &table {
        println!("{row}");
    }
}
