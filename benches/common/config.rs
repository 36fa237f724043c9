//! The benchmarks' command line, shared: `PREALLOCATE_BENCH_SCALE` and `PREALLOCATE_BENCH_REPS`,
//! overridden by `--scale X` and `--reps N` (or `--scale=X`), plus a benchmark's own options;
//! other arguments (cargo passes `--bench`) are ignored.
//!
//! Included by a benchmark with `#[path = "common/config.rs"] mod config;`.

// A benchmark without options of its own reads no `options`.
#![allow(dead_code)]

/// The scale, the repetitions, and the values of the benchmark's own options.
pub struct Config {
    /// The fraction of the full workload (1.0: all of it).
    pub scale: f64,
    /// Timed runs after one warm-up.
    pub reps: usize,
    /// The value of each of `options`, in order, if given.
    pub options: Vec<Option<String>>,
}

impl Config {
    /// Reads the environment and the arguments; `options` are the benchmark's own `--key`s.
    pub fn from_env(options: &[&str]) -> Self {
        let mut scale = std::env::var("PREALLOCATE_BENCH_SCALE").ok();
        let mut reps = std::env::var("PREALLOCATE_BENCH_REPS").ok();
        let mut values = vec![None; options.len()];
        let mut args = std::env::args().skip(1);
        while let Some(arg) = args.next() {
            let (key, inline) = match arg.split_once('=') {
                Some((key, value)) => (key.to_owned(), Some(value.to_owned())),
                None => (arg, None),
            };
            let slot = match key.as_str() {
                "--scale" => &mut scale,
                "--reps" => &mut reps,
                other => match options.iter().position(|option| *option == other) {
                    Some(at) => &mut values[at],
                    None => continue,
                },
            };
            *slot = inline.or_else(|| args.next());
        }
        let scale = scale.map_or(1.0, |s| {
            s.trim()
                .parse::<f64>()
                .ok()
                .filter(|s| s.is_finite() && *s > 0.0)
                .unwrap_or_else(|| panic!("the scale must be a positive number, not {s:?}"))
        });
        let reps = reps.map_or(5, |r| {
            r.trim()
                .parse::<usize>()
                .ok()
                .filter(|r| *r > 0)
                .unwrap_or_else(|| panic!("the repetitions must be a positive integer, not {r:?}"))
        });
        Config {
            scale,
            reps,
            options: values,
        }
    }

    /// `full` rows at this scale, at least one.
    pub fn rows(&self, full: usize) -> usize {
        ((full as f64 * self.scale).round() as usize).max(1)
    }
}

/// Writes back what earlier runs left in the page cache (`sync`), untimed, so that a run that
/// writes files does not pay for the one before it: a writer that does not flush (pyarrow's
/// `write_table`) leaves hundreds of MiB that the kernel would write back during the next run.
/// Does nothing where `sync` cannot run.
pub fn settle_disk() {
    let _ = std::process::Command::new("sync").status();
}
