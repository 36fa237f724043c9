//! Every core: sequential `name::batch` against `name::par_batch` at 1, 2, 4, ... threads (up to
//! the machine's cores), and the sequential `pipeline().write_npy` against
//! `pipeline().threads(t).write_npy`, in one process, for two row functions:
//!
//! - `tokens`: a CPU-heavy row, about 1 µs of work per item: a line of generated text split on
//!   spaces, each word lowercased and looked up in a vocabulary (`HashMap<String, u32>`) fitted on
//!   the same lines, giving `WINDOW` = 32 `u32` token ids (truncated, or padded with 0; 1 for a
//!   word not in the vocabulary);
//! - `trivial`: 3 `f32` from an index, so that allocation, page faults and writing dominate.
//!
//! A second table, for small inputs, times `trivial` over 1,000 to 4 million items: `batch`
//! against `par_batch`, and `fill` against `par_fill` into a reused buffer, the parallel ones on
//! rayon's global pool (every core) called from the main thread, as a program calls them; each
//! timed run is as many calls back to back as last about 200 ms, and the table gives the time
//! per call and the parallel time ÷ the sequential time (above 1: slower on more cores). Its
//! JSON lines go to a file of their own beside the scaling ones (`parallel-bench-small.jsonl`
//! for `parallel-bench.jsonl`). `--tables scaling` or `--tables small` runs one table only.
//!
//! The threads are those of a rayon pool of `t` threads (`ThreadPoolBuilder::num_threads(t)`),
//! the call made inside its `install`; `batch` and `pipeline().write_npy` run on the main thread.
//! Each parallel output is checked equal to the sequential one before anything is timed (arrays
//! `==`, files byte for byte). Times are the median of the repetitions after one warm-up, the
//! variants of a table interleaved in an order that rotates every repetition; the speed-up is
//! the sequential median divided by the variant's. Peak heap is the highest number of live heap
//! bytes during a run above those live when it started (a counting global allocator, as in
//! `benches/batch.rs`), divided by the output's bytes.
//!
//! The machine may be shared: a run during which other processes used more than 5% of its CPU
//! time in user mode (`/proc/stat` less this process's `/proc/self/stat`) is run again, up to
//! 20 times, after a pause; the tables give how many were, and the share of CPU time other
//! processes still used during the kept runs.
//!
//! The tables are printed as markdown; one JSON object per measured variant is written to
//! `$PREALLOCATE_BENCH_JSON` (default `$CARGO_TARGET_DIR/parallel-bench.jsonl`, or
//! `target/parallel-bench.jsonl`), which `benches/plot_scaling.py` turns into `docs/scaling.svg`
//! and the tables of `docs/parallel.md`. Files are written under a temporary directory in the
//! target directory (not `/tmp`, which may be a tmpfs in RAM) and removed at the end.
//!
//! With `--compare FILE`, the bench instead encodes the lines of `FILE` with `tokens` (the
//! vocabulary fitted on them), times `tokens::batch` and `tokens::par_batch` (every core),
//! prints one JSON object per method on stdout, and, with `--npy PATH`, writes the rows to
//! `PATH` with `pipeline().write_npy`: `benches/compare_numpy.py` runs it on the lines it
//! generates.
//!
//! ```text
//! cargo bench --bench parallel
//! PREALLOCATE_BENCH_SCALE=0.01 cargo bench --bench parallel   # quick smoke run
//! cargo bench --bench parallel -- --scale 0.01 --reps 3
//! cargo bench --bench parallel -- --tables small
//! cargo bench --bench parallel -- --compare lines.txt --npy rust.npy
//! ```

use std::collections::HashMap;
use std::fmt::Write as _;
use std::fs;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

use ndarray::Array2;
use preallocate::preallocate;
use preallocate::rayon::{ThreadPool, ThreadPoolBuilder};

#[path = "common/config.rs"]
mod config;
#[path = "common/heap.rs"]
mod heap;

use config::Config;

/// Runs `f`, drops its result, and returns how long it took (the drop excluded) and the highest
/// number of heap bytes live during it above those live when it started.
fn measure<T>(f: impl FnOnce() -> T) -> (Duration, usize) {
    let (out, elapsed, peak) = heap::measure(f);
    drop(out);
    (elapsed, peak)
}

// ---------------------------------------------------------------------------------------------
// Workload (a): a line of text to 32 token ids, about 1 µs per line
// ---------------------------------------------------------------------------------------------

/// Token ids per row.
const WINDOW: usize = 32;
/// Ids in all, padding and unknown included.
const MAX_VOCAB: usize = 4096;
/// Longer words are unknown (they are lowercased in a buffer of this size on the stack).
const MAX_WORD: usize = 32;
const PAD: u32 = 0;
const UNK: u32 = 1;

/// Word → id, fitted once per process, before any line is encoded: a static, so that the row
/// function is a free function and its generated row type can be shared by the threads.
static VOCAB: OnceLock<HashMap<String, u32>> = OnceLock::new();

/// The vocabulary of `lines`: words (split on ASCII whitespace, ASCII-lowercased) ranked by
/// decreasing count, ties in byte order; the first `MAX_VOCAB - 2` get ids 2, 3, ... (0 is
/// padding, 1 unknown). `benches/compare_numpy.py` fits the same way.
fn fit<S: AsRef<str>>(lines: &[S]) -> HashMap<String, u32> {
    let mut counts: HashMap<String, usize> = HashMap::new();
    for line in lines {
        for word in line.as_ref().split_ascii_whitespace() {
            *counts.entry(word.to_ascii_lowercase()).or_default() += 1;
        }
    }
    let mut ranked: Vec<(String, usize)> = counts.into_iter().collect();
    ranked.sort_unstable_by(|(a, n), (b, m)| m.cmp(n).then_with(|| a.cmp(b)));
    ranked.truncate(MAX_VOCAB - 2);
    ranked
        .into_iter()
        .map(|(word, _)| word)
        .zip(2u32..)
        .collect()
}

/// One line as `WINDOW` token ids: its first `WINDOW` words, each lowercased on the stack and
/// looked up in [`VOCAB`]; no allocation.
#[preallocate(dim = WINDOW, dtype = u32)]
fn tokens<S: AsRef<str>>(line: &S) -> [u32; WINDOW] {
    let vocab = VOCAB
        .get()
        .expect("the vocabulary is fitted before any line is encoded");
    let mut row = [PAD; WINDOW];
    let mut buf = [0u8; MAX_WORD];
    for (slot, word) in row.iter_mut().zip(line.as_ref().split_ascii_whitespace()) {
        if word.len() > MAX_WORD {
            *slot = UNK;
            continue;
        }
        let lower = &mut buf[..word.len()];
        lower.copy_from_slice(word.as_bytes());
        let lower = std::str::from_utf8_mut(lower).expect("a word of a str is UTF-8");
        lower.make_ascii_lowercase();
        *slot = vocab.get(&*lower).copied().unwrap_or(UNK);
    }
    row
}

/// SplitMix64: a small deterministic generator for the text.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// `n` lines of 20 to 44 words drawn from a lexicon of 8192 made-up words (2 to 4 syllables)
/// with a Zipf-like law (rank `r` with probability about `1 / r`), some capitalized; about one
/// word in twelve falls outside the `MAX_VOCAB` most frequent.
fn lines(n: usize) -> Vec<String> {
    const SYLLABLES: [&str; 16] = [
        "ka", "lo", "mi", "ne", "ru", "sa", "ti", "vo", "ze", "pa", "do", "fe", "gu", "hi", "ja",
        "bo",
    ];
    const LEXICON: usize = 8192;
    let lexicon: Vec<String> = (16..LEXICON + 16)
        .map(|mut k| {
            let mut word = String::new();
            while k > 0 {
                word.push_str(SYLLABLES[k % 16]);
                k /= 16;
            }
            word
        })
        .collect();
    let mut rng = SplitMix(0x5EED);
    (0..n)
        .map(|_| {
            let words = 20 + (rng.next() % 25) as usize;
            let mut line = String::with_capacity(words * 8);
            for i in 0..words {
                let rank = ((LEXICON as f64).powf(rng.unit()) as usize - 1).min(LEXICON - 1);
                let word = &lexicon[rank];
                if i > 0 {
                    line.push(' ');
                }
                if i == 0 || rng.next().is_multiple_of(8) {
                    line.push(word.as_bytes()[0].to_ascii_uppercase() as char);
                    line.push_str(&word[1..]);
                } else {
                    line.push_str(word);
                }
            }
            line
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Workload (b): 3 × f32 from an index
// ---------------------------------------------------------------------------------------------

/// Three features of an index: a trivial row.
#[preallocate(dim = 3, dtype = f32)]
fn trivial(i: u32) -> [f32; 3] {
    let x = i as f32;
    [x, x * 0.5, -x]
}

// ---------------------------------------------------------------------------------------------
// Other processes' load
// ---------------------------------------------------------------------------------------------

/// User-mode CPU time, in clock ticks (1/100 s on Linux), of the whole machine and of this
/// process (all its threads), when `/proc` can be read. User time only: the kernel's own work
/// for this process (writeback, `fsync`) runs in kernel threads and is not another process's.
fn user_ticks() -> Option<(u64, u64)> {
    let stat = fs::read_to_string("/proc/stat").ok()?;
    let mut fields = stat.lines().next()?.split_whitespace().skip(1);
    let user: u64 = fields.next()?.parse().ok()?;
    let nice: u64 = fields.next()?.parse().ok()?;
    let own = fs::read_to_string("/proc/self/stat").ok()?;
    let utime: u64 = own
        .rsplit_once(')')?
        .1
        .split_whitespace()
        .nth(11)?
        .parse()
        .ok()?;
    Some((user + nice, utime))
}

/// Runs during which other processes used more than this share of the machine's CPU time are
/// run again (up to [`MAX_RETRIES`] times): this machine may be shared, and a run that competed
/// for the cores measures the other process as much as this one.
const MAX_FOREIGN_LOAD: f64 = 0.05;
const MAX_RETRIES: usize = 20;
/// Runs retried, and runs kept although loaded after `MAX_RETRIES` retries.
static RETRIED: AtomicUsize = AtomicUsize::new(0);
static KEPT_LOADED: AtomicUsize = AtomicUsize::new(0);

/// One run without competition: `run` again (after a pause) while other processes used more
/// than `MAX_FOREIGN_LOAD` of the machine's CPU time during it (two clock ticks are always
/// allowed, for short runs). Returns the time, the peak heap, the other processes' ticks and
/// the ticks the machine had during the run.
fn unloaded(run: &dyn Fn() -> (Duration, usize)) -> (Duration, usize, f64, f64) {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    let mut attempt = 0;
    loop {
        let before = user_ticks();
        let (time, peak) = run();
        let after = user_ticks();
        let available = time.as_secs_f64() * 100.0 * cores;
        let (Some((all0, own0)), Some((all1, own1))) = (before, after) else {
            return (time, peak, 0.0, available);
        };
        let foreign = (all1 - all0).saturating_sub(own1 - own0) as f64;
        if foreign <= 2.0 || foreign <= MAX_FOREIGN_LOAD * available {
            return (time, peak, foreign, available);
        }
        if attempt == MAX_RETRIES {
            KEPT_LOADED.fetch_add(1, Ordering::Relaxed);
            return (time, peak, foreign, available);
        }
        attempt += 1;
        RETRIED.fetch_add(1, Ordering::Relaxed);
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// One measured variant.
struct Row {
    workload: &'static str,
    rows: usize,
    /// `batch` or `pipeline`: which sequential method the speed-up is against.
    family: &'static str,
    method: &'static str,
    /// `None` for the sequential method.
    threads: Option<usize>,
    median: Duration,
    speedup: f64,
    heap_per_output: f64,
    /// The share of the machine's CPU time other processes used (in user mode) during the
    /// kept runs, at the resolution of a clock tick.
    foreign_load: f64,
}

/// A variant: its method, its threads (`None`: sequential), and one timed run.
type Variant<'a> = (
    &'static str,
    Option<usize>,
    Box<dyn Fn() -> (Duration, usize) + 'a>,
);

/// One warm-up and `reps` measured runs of every variant, interleaved in an order that rotates
/// every repetition (so that each variant follows each other one, whose freed memory it may
/// reuse); the first variant is the sequential reference.
fn run(
    workload: &'static str,
    family: &'static str,
    rows: usize,
    output_bytes: usize,
    reps: usize,
    variants: Vec<Variant<'_>>,
) -> Vec<Row> {
    let k = variants.len();
    let mut times = vec![Vec::with_capacity(reps); k];
    let mut peaks = vec![0usize; k];
    // Other processes' clock ticks, and the machine's, over the kept runs.
    let mut foreign = vec![(0f64, 0f64); k];
    for rep in 0..=reps {
        for j in 0..k {
            let i = (j + rep) % k;
            let (time, peak, ticks, available) = unloaded(&*variants[i].2);
            if rep > 0 {
                // Rep 0 is the warm-up.
                times[i].push(time);
                peaks[i] = peaks[i].max(peak);
                foreign[i].0 += ticks;
                foreign[i].1 += available;
            }
        }
    }
    let medians = heap::medians(&mut times);
    let sequential = medians[0].as_secs_f64();
    variants
        .iter()
        .zip(medians.iter().zip(&peaks).zip(&foreign))
        .map(|((method, threads, _), ((median, peak), foreign))| Row {
            workload,
            rows,
            family,
            method,
            threads: *threads,
            median: *median,
            speedup: sequential / median.as_secs_f64(),
            heap_per_output: *peak as f64 / output_bytes as f64,
            foreign_load: foreign.0 / foreign.1.max(1.0),
        })
        .collect()
}

/// 1, 2, 4, ... up to `cores`, and `cores` itself.
fn thread_counts(cores: usize) -> Vec<usize> {
    let mut counts: Vec<usize> = std::iter::successors(Some(1usize), |t| Some(t * 2))
        .take_while(|&t| t < cores)
        .collect();
    counts.push(cores);
    counts
}

fn pools(counts: &[usize]) -> Vec<(usize, ThreadPool)> {
    counts
        .iter()
        .map(|&t| {
            let pool = ThreadPoolBuilder::new()
                .num_threads(t)
                .build()
                .expect("a thread pool");
            (t, pool)
        })
        .collect()
}

fn read(path: &Path) -> Vec<u8> {
    fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// `batch` and `par_batch` at every thread count.
fn batch_variants<'a, T: PartialEq + Send + 'a>(
    pools: &'a [(usize, ThreadPool)],
    batch: &'a (dyn Fn() -> Array2<T> + Sync),
    par_batch: &'a (dyn Fn() -> Array2<T> + Sync),
    workload: &str,
) -> Vec<Variant<'a>> {
    let expected = batch();
    for (t, pool) in pools {
        assert!(
            pool.install(par_batch) == expected,
            "{workload}: par_batch on {t} threads differs from batch"
        );
    }
    drop(expected);
    let mut variants: Vec<Variant<'a>> = vec![("batch", None, Box::new(move || measure(batch)))];
    for (t, pool) in pools {
        variants.push((
            "par_batch",
            Some(*t),
            Box::new(move || measure(|| pool.install(par_batch))),
        ));
    }
    variants
}

/// The sequential `write_npy` and the threaded one at every thread count, each to its own file
/// in `dir`; every file is checked byte-equal to the sequential one first.
fn pipeline_variants<'a>(
    pools: &'a [(usize, ThreadPool)],
    dir: &'a Path,
    write: &'a (dyn Fn(&Path) + Sync),
    write_threaded: &'a (dyn Fn(usize, &Path) + Sync),
    workload: &str,
) -> Vec<Variant<'a>> {
    let sequential = dir.join(format!("{workload}-sequential.npy"));
    write(&sequential);
    let expected = read(&sequential);
    for (t, pool) in pools {
        let path = dir.join(format!("{workload}-threads-{t}.npy"));
        pool.install(|| write_threaded(*t, &path));
        assert!(
            read(&path) == expected,
            "{workload}: threads({t}).write_npy wrote a different file"
        );
    }
    drop(expected);
    let mut variants: Vec<Variant<'a>> = vec![(
        "write_npy",
        None,
        Box::new(move || measure(|| write(&sequential))),
    )];
    for (t, pool) in pools {
        let path = dir.join(format!("{workload}-threads-{t}.npy"));
        variants.push((
            "threads(t).write_npy",
            Some(*t),
            Box::new(move || measure(|| pool.install(|| write_threaded(*t, &path)))),
        ));
    }
    variants
}

// ---------------------------------------------------------------------------------------------
// Small inputs: never slower than one thread
// ---------------------------------------------------------------------------------------------

/// Lengths of the small-input table, for the trivial row (about 1.5 ns a row here): from about
/// a microsecond of work to a few milliseconds, across the range where sharing starts to pay.
const SMALL_LENGTHS: [usize; 8] = [
    1_000, 2_048, 4_096, 16_384, 65_536, 262_144, 1_048_576, 4_194_304,
];

/// How long a timed run of the small-input table lasts at scale 1: as many calls back to back
/// as fill it, so that calls of a few microseconds are timed together, and long enough that
/// other processes' CPU time during it (counted in 10 ms clock ticks) is seen.
const SMALL_RUN: Duration = Duration::from_millis(200);

/// Repeats `call` `calls` times (each result dropped before the next call) and returns the
/// total time and the peak heap above the heap before the first call.
fn measure_calls<T>(calls: usize, call: &dyn Fn() -> T) -> (Duration, usize) {
    measure(|| {
        for _ in 0..calls {
            drop(black_box(call()));
        }
    })
}

/// Calls per timed run: enough for about `SMALL_RUN` × `scale`, at least one.
fn calls_per_run(scale: f64, call: &dyn Fn()) -> usize {
    call();
    let start = std::time::Instant::now();
    call();
    let once = start.elapsed().as_secs_f64().max(1e-9);
    ((SMALL_RUN.as_secs_f64() * scale / once).ceil() as usize).max(1)
}

/// `trivial` over `0..n` for every length of [`SMALL_LENGTHS`]: `batch` against `par_batch`,
/// and `fill` against `par_fill` into a reused buffer of `n` rows, the parallel ones on rayon's
/// global pool (every core) called from the main thread, as a program would call them. Each
/// timed run is many calls back to back; a row's times are per call.
fn small_inputs(config: &Config) -> Vec<(usize, Vec<Row>)> {
    let threads = preallocate::rayon::current_num_threads();
    let mut table = Vec::new();
    for n in SMALL_LENGTHS {
        let items = 0..u32::try_from(n).expect("at most u32::MAX rows");
        let output_bytes = n * trivial::DIM * size_of::<f32>();
        let batch = || trivial::batch(black_box(items.clone()));
        let par_batch = || trivial::par_batch(black_box(items.clone()));
        let expected = batch();
        assert!(
            par_batch() == expected,
            "trivial {n}: par_batch differs from batch"
        );
        let out = std::cell::RefCell::new(Array2::<f32>::zeros((n, trivial::DIM)));
        let fill =
            || trivial::fill(black_box(items.clone()), out.borrow_mut().view_mut()).expect("fill");
        let par_fill = || {
            trivial::par_fill(black_box(items.clone()), out.borrow_mut().view_mut())
                .expect("par_fill")
        };
        assert_eq!(par_fill(), n);
        assert!(
            *out.borrow() == expected,
            "trivial {n}: par_fill differs from fill"
        );
        drop(expected);
        let calls = calls_per_run(config.scale, &|| drop(black_box(batch())));
        let rows = run(
            "trivial",
            "small batch",
            n,
            output_bytes,
            config.reps,
            vec![
                ("batch", None, Box::new(|| measure_calls(calls, &batch))),
                (
                    "par_batch",
                    Some(threads),
                    Box::new(|| measure_calls(calls, &par_batch)),
                ),
            ],
        );
        table.push((calls, rows));
        let calls = calls_per_run(config.scale, &|| {
            black_box(fill());
        });
        let rows = run(
            "trivial",
            "small fill",
            n,
            output_bytes,
            config.reps,
            vec![
                ("fill", None, Box::new(|| measure_calls(calls, &fill))),
                (
                    "par_fill",
                    Some(threads),
                    Box::new(|| measure_calls(calls, &par_fill)),
                ),
            ],
        );
        table.push((calls, rows));
    }
    table
}

// ---------------------------------------------------------------------------------------------
// Driver
// ---------------------------------------------------------------------------------------------

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| PathBuf::from("target"), PathBuf::from)
}

/// A JSON string literal (the strings here are plain ASCII).
fn json_str(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

fn main() {
    let config = Config::from_env(&["--compare", "--npy", "--tables"]);
    let (compare_file, npy) = (
        config.options[0].as_ref().map(PathBuf::from),
        config.options[1].as_ref().map(PathBuf::from),
    );
    if let Some(file) = &compare_file {
        compare(file, npy.as_deref(), config.reps);
        return;
    }
    // `--tables scaling`, `--tables small`, or both (the default).
    let tables = config.options[2].as_deref().unwrap_or("scaling,small");
    let wanted = |name: &str| tables.split(',').any(|t| t.trim() == name);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let target = target_dir();
    fs::create_dir_all(&target).expect("the target directory");
    let json_path = std::env::var_os("PREALLOCATE_BENCH_JSON")
        .map_or_else(|| target.join("parallel-bench.jsonl"), PathBuf::from);
    if wanted("scaling") {
        scaling(&config, cores, &target, &json_path);
    }
    if wanted("small") {
        small(&config, cores, &beside(&json_path, "-small"));
    }
}

/// `path` with `suffix` added to its file name before the extension: `a/b.jsonl` → `a/b-x.jsonl`.
fn beside(path: &Path, suffix: &str) -> PathBuf {
    let stem = path
        .file_stem()
        .map_or_else(String::new, |s| s.to_string_lossy().into_owned());
    let name = match path.extension() {
        Some(ext) => format!("{stem}{suffix}.{}", ext.to_string_lossy()),
        None => format!("{stem}{suffix}"),
    };
    path.with_file_name(name)
}

/// The small-input table: printed, and one JSON object per row written to `json_path` (a file
/// of its own, beside the scaling tables' JSON lines, which `plot_scaling.py` reads).
fn small(config: &Config, cores: usize, json_path: &Path) {
    let table = small_inputs(config);
    let (retried, kept_loaded) = (
        RETRIED.load(Ordering::Relaxed),
        KEPT_LOADED.load(Ordering::Relaxed),
    );
    println!(
        "\nSmall inputs: scale {}, {cores} cores, rayon's global pool of {} threads, median of {} \
         runs after 1 warm-up, each run as many calls back to back as last about {} ms at \
         scale 1; {retried} runs so far run again because other processes used over {:.0}% of \
         the CPU time during them, {kept_loaded} kept so\n",
        config.scale,
        preallocate::rayon::current_num_threads(),
        config.reps,
        SMALL_RUN.as_millis(),
        MAX_FOREIGN_LOAD * 100.0,
    );
    println!("| rows × 3 f32 | method | threads | calls per run | time per call (µs) | time / sequential time | speed vs sequential | other processes' CPU share |");
    println!("|---:|---|---:|---:|---:|---:|---:|---:|");
    let mut json = String::new();
    for (calls, rows) in &table {
        for row in rows {
            let per_call = row.median.as_secs_f64() / *calls as f64;
            println!(
                "| {} | {} | {} | {calls} | {:.1} | {:.3} | {:.3}× | {:.1}% |",
                row.rows,
                row.method,
                row.threads
                    .map_or_else(|| "—".to_owned(), |t| t.to_string()),
                per_call * 1e6,
                1.0 / row.speedup,
                row.speedup,
                row.foreign_load * 100.0,
            );
            let _ = writeln!(
                json,
                "{{\"workload\": {}, \"rows\": {}, \"family\": {}, \"method\": {}, \"threads\": {}, \"cores\": {cores}, \"scale\": {}, \"reps\": {}, \"calls_per_run\": {calls}, \"median_call_s\": {:.12}, \"time_ratio\": {:.4}, \"speedup\": {:.4}, \"peak_heap_per_output\": {:.4}, \"foreign_cpu_share\": {:.4}}}",
                json_str(row.workload),
                row.rows,
                json_str(row.family),
                json_str(row.method),
                row.threads.map_or_else(|| "null".to_owned(), |t| t.to_string()),
                config.scale,
                config.reps,
                per_call,
                1.0 / row.speedup,
                row.speedup,
                row.heap_per_output,
                row.foreign_load,
            );
        }
    }
    fs::write(json_path, json).unwrap_or_else(|e| panic!("write {}: {e}", json_path.display()));
    println!("\nJSON lines: {}", json_path.display());
}

/// The scaling tables: `tokens` and `trivial` at full length, at every thread count.
fn scaling(config: &Config, cores: usize, target: &Path, json_path: &Path) {
    let counts = thread_counts(cores);
    let pools = pools(&counts);
    let n_lines = config.rows(400_000);
    let n_trivial = config.rows(10_000_000);
    let dir = tempfile::Builder::new()
        .prefix("parallel-bench")
        .tempdir_in(target)
        .expect("a temporary directory in the target directory");

    let mut table = Vec::new();
    {
        let lines = lines(n_lines);
        VOCAB
            .set(fit(&lines))
            .expect("the vocabulary is fitted once");
        let output_bytes = n_lines * tokens::DIM * size_of::<u32>();
        let batch = || tokens::batch(black_box(&lines));
        let par_batch = || tokens::par_batch(black_box(&lines));
        table.extend(run(
            "tokens",
            "batch",
            n_lines,
            output_bytes,
            config.reps,
            batch_variants(&pools, &batch, &par_batch, "tokens"),
        ));
        let write = |path: &Path| {
            tokens::pipeline()
                .write_npy(black_box(&lines), path)
                .expect("write_npy");
        };
        let write_threaded = |t: usize, path: &Path| {
            tokens::pipeline()
                .threads(t)
                .write_npy(black_box(&lines), path)
                .expect("threads(t).write_npy");
        };
        table.extend(run(
            "tokens",
            "pipeline",
            n_lines,
            output_bytes,
            config.reps,
            pipeline_variants(&pools, dir.path(), &write, &write_threaded, "tokens"),
        ));
    }
    {
        let n = u32::try_from(n_trivial).expect("at most u32::MAX rows");
        let output_bytes = n_trivial * trivial::DIM * size_of::<f32>();
        let batch = || trivial::batch(black_box(0..n));
        let par_batch = || trivial::par_batch(black_box(0..n));
        table.extend(run(
            "trivial",
            "batch",
            n_trivial,
            output_bytes,
            config.reps,
            batch_variants(&pools, &batch, &par_batch, "trivial"),
        ));
        let write = |path: &Path| {
            trivial::pipeline()
                .write_npy(black_box(0..n), path)
                .expect("write_npy");
        };
        let write_threaded = |t: usize, path: &Path| {
            trivial::pipeline()
                .threads(t)
                .write_npy(black_box(0..n), path)
                .expect("threads(t).write_npy");
        };
        table.extend(run(
            "trivial",
            "pipeline",
            n_trivial,
            output_bytes,
            config.reps,
            pipeline_variants(&pools, dir.path(), &write, &write_threaded, "trivial"),
        ));
    }

    let (retried, kept_loaded) = (
        RETRIED.load(Ordering::Relaxed),
        KEPT_LOADED.load(Ordering::Relaxed),
    );
    println!(
        "scale {}, {cores} cores, median of {} runs after 1 warm-up; {retried} runs run again \
         because other processes used over {:.0}% of the CPU time during them, {kept_loaded} kept \
         so after {MAX_RETRIES} attempts\n",
        config.scale,
        config.reps,
        MAX_FOREIGN_LOAD * 100.0,
    );
    println!("| workload | method | threads | median time (ms) | rows/s | speed-up vs sequential | peak heap / output bytes | other processes' CPU share |");
    println!("|---|---|---:|---:|---:|---:|---:|---:|");
    for row in &table {
        let workload = match row.workload {
            "tokens" => format!("tokens {} × 32 u32", row.rows),
            _ => format!("trivial {} × 3 f32", row.rows),
        };
        println!(
            "| {workload} | {} | {} | {:.2} | {:.3e} | {:.2}× | {:.3} | {:.1}% |",
            row.method,
            row.threads
                .map_or_else(|| "—".to_owned(), |t| t.to_string()),
            row.median.as_secs_f64() * 1e3,
            row.rows as f64 / row.median.as_secs_f64(),
            row.speedup,
            row.heap_per_output,
            row.foreign_load * 100.0,
        );
    }

    let mut json = String::new();
    for row in &table {
        let _ = writeln!(
            json,
            "{{\"workload\": {}, \"rows\": {}, \"family\": {}, \"method\": {}, \"threads\": {}, \"cores\": {cores}, \"scale\": {}, \"reps\": {}, \"median_s\": {:.9}, \"rows_per_s\": {:.1}, \"speedup\": {:.4}, \"peak_heap_per_output\": {:.4}, \"foreign_cpu_share\": {:.4}, \"runs_retried\": {retried}, \"runs_kept_loaded\": {kept_loaded}}}",
            json_str(row.workload),
            row.rows,
            json_str(row.family),
            json_str(row.method),
            row.threads.map_or_else(|| "null".to_owned(), |t| t.to_string()),
            config.scale,
            config.reps,
            row.median.as_secs_f64(),
            row.rows as f64 / row.median.as_secs_f64(),
            row.speedup,
            row.heap_per_output,
            row.foreign_load,
        );
    }
    fs::write(json_path, json).unwrap_or_else(|e| panic!("write {}: {e}", json_path.display()));
    println!("\nJSON lines: {}", json_path.display());
}

/// `--compare FILE [--npy PATH]`: the lines of `FILE` through `tokens`, `batch` and
/// `par_batch` on every core (rayon's global pool), one JSON object per method on stdout.
fn compare(file: &Path, npy: Option<&Path>, reps: usize) {
    let text = String::from_utf8(read(file)).expect("the lines are UTF-8");
    assert!(
        text.is_ascii(),
        "the lines are ASCII (so that lowercasing and splitting agree with Python's)"
    );
    let lines: Vec<&str> = text.lines().collect();
    let n = lines.len();
    VOCAB
        .set(fit(&lines))
        .expect("the vocabulary is fitted once");
    let output_bytes = n * tokens::DIM * size_of::<u32>();
    let threads = preallocate::rayon::current_num_threads();

    let batch = || tokens::batch(black_box(&lines));
    let par_batch = || tokens::par_batch(black_box(&lines));
    assert!(
        batch() == par_batch(),
        "par_batch differs from batch on {}",
        file.display()
    );
    let rows = run(
        "tokens",
        "batch",
        n,
        output_bytes,
        reps,
        vec![
            (
                "batch",
                None,
                Box::new(|| measure(batch)) as Box<dyn Fn() -> _>,
            ),
            ("par_batch", Some(threads), Box::new(|| measure(par_batch))),
        ],
    );
    if let Some(npy) = npy {
        tokens::pipeline()
            .write_npy(&lines, npy)
            .unwrap_or_else(|e| panic!("write_npy to {}: {e}", npy.display()));
    }
    for row in rows {
        println!(
            "{{\"method\": {}, \"threads\": {}, \"rows\": {n}, \"reps\": {reps}, \"median_s\": {:.9}, \"ns_per_row\": {:.2}, \"peak_heap_per_output\": {:.4}}}",
            json_str(row.method),
            row.threads.unwrap_or(1),
            row.median.as_secs_f64(),
            row.median.as_secs_f64() * 1e9 / n as f64,
            row.heap_per_output,
        );
    }
}
