//! Helpers shared by the output tests: deterministic values of every dtype, their little-endian
//! bytes computed independently of the writers, a minimal `.npy` reader, Python detection and
//! tmpfs mounts.
#![allow(dead_code)]

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use preallocate_runtime::ndarray::Array2;
use preallocate_runtime::{bf16, f16, Element};

/// An element type the tests can make values of, with its bytes computed by hand.
pub trait Sample: Element + bytemuck::Pod {
    /// The `i`-th test value: spread over the type's range, with its extremes (and, for floats,
    /// NaN, infinities, -0.0 and a subnormal) among them.
    fn sample(i: u64) -> Self;
    /// Little-endian bytes, from `to_le_bytes` (not the writers' `bytemuck` path).
    fn to_le(self) -> Vec<u8>;
}

macro_rules! ints {
    ($($t:ty),*) => {$(
        impl Sample for $t {
            fn sample(i: u64) -> Self {
                match i % 13 {
                    3 => <$t>::MAX,
                    7 => <$t>::MIN,
                    11 => 0,
                    _ => i.wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(17) as $t,
                }
            }
            fn to_le(self) -> Vec<u8> {
                self.to_le_bytes().to_vec()
            }
        }
    )*};
}
ints!(i8, i16, i32, i64, u8, u16, u32, u64);

fn float_sample(i: u64) -> f64 {
    match i % 17 {
        2 => f64::NAN,
        5 => f64::INFINITY,
        6 => f64::NEG_INFINITY,
        9 => -0.0,
        _ => (i as f64) * 0.375 - 1000.25,
    }
}

impl Sample for f64 {
    fn sample(i: u64) -> Self {
        match i % 17 {
            12 => f64::MAX,
            13 => f64::MIN_POSITIVE / 4.0, // subnormal
            _ => float_sample(i),
        }
    }
    fn to_le(self) -> Vec<u8> {
        self.to_le_bytes().to_vec()
    }
}

impl Sample for f32 {
    fn sample(i: u64) -> Self {
        match i % 17 {
            12 => f32::MAX,
            13 => f32::MIN_POSITIVE / 4.0,
            _ => float_sample(i) as f32,
        }
    }
    fn to_le(self) -> Vec<u8> {
        self.to_le_bytes().to_vec()
    }
}

impl Sample for f16 {
    fn sample(i: u64) -> Self {
        match i % 17 {
            12 => f16::MAX,
            13 => f16::from_bits(1), // smallest subnormal
            _ => f16::from_f64(float_sample(i)),
        }
    }
    fn to_le(self) -> Vec<u8> {
        self.to_bits().to_le_bytes().to_vec()
    }
}

impl Sample for bf16 {
    fn sample(i: u64) -> Self {
        match i % 17 {
            12 => bf16::MAX,
            13 => bf16::from_bits(1),
            _ => bf16::from_f64(float_sample(i)),
        }
    }
    fn to_le(self) -> Vec<u8> {
        self.to_bits().to_le_bytes().to_vec()
    }
}

/// `rows × width` sample values, starting at value number `first`.
pub fn rows<T: Sample>(first: usize, rows: usize, width: usize) -> Array2<T> {
    Array2::from_shape_fn((rows, width), |(r, c)| {
        T::sample(((first + r) * width + c) as u64)
    })
}

/// The little-endian bytes of `values` in C order.
pub fn le_bytes<T: Sample>(values: &Array2<T>) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le()).collect()
}

/// How a stream of `total` rows is cut into chunks: the pipeline passes full chunk buffers and a
/// short last one when the length is known, and anything (even empty chunks) when it is not.
pub fn chunk_sizes(total: usize, pattern: Pattern) -> Vec<usize> {
    let mut sizes = Vec::new();
    let mut left = total;
    let mut i = 0;
    while left > 0 {
        let size = match pattern {
            Pattern::Whole => left,
            Pattern::Fixed(n) => n.min(left),
            Pattern::Irregular => [0, 1, 5, 0, 17, 2, 64][i % 7].min(left),
        };
        sizes.push(size);
        left -= size;
        i += 1;
    }
    if matches!(pattern, Pattern::Irregular) {
        sizes.push(0);
    }
    sizes
}

#[derive(Debug, Clone, Copy)]
pub enum Pattern {
    /// One chunk with every row.
    Whole,
    /// Chunks of this many rows, the last shorter.
    Fixed(usize),
    /// Uneven chunks, some empty.
    Irregular,
}

/// A `.npy` file parsed without the writer's code.
#[derive(Debug)]
pub struct Npy {
    pub version: (u8, u8),
    pub descr: String,
    pub fortran_order: bool,
    pub shape: Vec<usize>,
    pub data_offset: usize,
    pub data: Vec<u8>,
    pub header_text: String,
}

/// Parses a `.npy` file and checks its framing: magic, header length, alignment, data length.
pub fn read_npy(path: &Path) -> Npy {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(&bytes[..6], b"\x93NUMPY", "{}: magic", path.display());
    let version = (bytes[6], bytes[7]);
    let (len, prefix) = match version {
        (1, 0) => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        (2, 0) => (
            u32::from_le_bytes(bytes[8..12].try_into().unwrap()) as usize,
            12,
        ),
        other => panic!("{}: version {other:?}", path.display()),
    };
    let data_offset = prefix + len;
    assert_eq!(data_offset % 64, 0, "{}: data offset", path.display());
    let header_text = String::from_utf8(bytes[prefix..data_offset].to_vec()).unwrap();
    assert!(header_text.ends_with('\n'), "{header_text:?}");
    let field = |key: &str| -> String {
        let start = header_text
            .find(&format!("'{key}': "))
            .unwrap_or_else(|| panic!("no {key} in {header_text:?}"))
            + key.len()
            + 4;
        let rest = &header_text[start..];
        let end = if rest.starts_with('(') {
            rest.find(')').unwrap() + 1
        } else {
            rest.find(',').unwrap()
        };
        rest[..end].to_owned()
    };
    let descr = field("descr").trim_matches('\'').to_owned();
    let fortran_order = match field("fortran_order").as_str() {
        "False" => false,
        "True" => true,
        other => panic!("fortran_order {other}"),
    };
    let shape_text = field("shape");
    let shape: Vec<usize> = shape_text
        .trim_matches(|c| c == '(' || c == ')')
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().unwrap())
        .collect();
    let data = bytes[data_offset..].to_vec();
    let item: usize = descr[2..].parse().unwrap();
    assert_eq!(
        data.len(),
        shape.iter().product::<usize>() * item,
        "{}: data length for shape {shape:?}",
        path.display()
    );
    Npy {
        version,
        descr,
        fortran_order,
        shape,
        data_offset,
        data,
        header_text,
    }
}

/// Prints a line that `cargo test` does not capture (skips must be visible).
pub fn note(message: &str) {
    let _ = writeln!(std::io::stderr(), "{message}");
}

/// Whether `CI` is set (as CI runners set it: `CI=true`).
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "0" && v != "false")
}

/// `python3` if it imports every module in `modules`. Otherwise: under CI, a failing test with
/// the `pip install` to run; elsewhere, `None` and a printed skip.
pub fn python_with(test: &str, modules: &[&str]) -> Option<String> {
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".to_owned());
    let import = format!("import {}", modules.join(", "));
    let ok = Command::new(&python)
        .args(["-c", &import])
        .output()
        .is_ok_and(|out| out.status.success());
    if ok {
        return Some(python);
    }
    let install = format!("pip install {}", modules.join(" "));
    assert!(
        !in_ci(),
        "{test}: `{python} -c \"{import}\"` failed, and CI is set, so this check may not be skipped: run `{install}`"
    );
    note(&format!(
        "SKIPPED {test}: `{python} -c \"{import}\"` failed; run `{install}` to check the files with Python"
    ));
    None
}

/// Runs a checker script under `tests/py/` on `cases`, failing with its output if it fails.
pub fn run_python_checker(python: &str, script: &str, cases: &Path) {
    let script: PathBuf = [env!("CARGO_MANIFEST_DIR"), "..", "tests", "py", script]
        .iter()
        .collect();
    let out = Command::new(python)
        .arg(&script)
        .arg(cases)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{} failed ({}):\n{stdout}\n{stderr}",
        script.display(),
        out.status
    );
    note(&format!("{}: {}", script.display(), stdout.trim_end()));
}

/// A small tmpfs, for a full disk and a read-only file system; unmounted when dropped.
pub struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    /// Mounts a tmpfs of `size` (`"64k"`) on a fresh directory, or prints why not and returns
    /// `None` (not root, no `mount`, no permission in this container).
    pub fn mount(test: &str, size: &str) -> Option<Tmpfs> {
        let dir = tempfile::tempdir().unwrap();
        let result = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .output();
        match result {
            Ok(out) if out.status.success() => Some(Tmpfs { dir }),
            Ok(out) => {
                note(&format!(
                    "SKIPPED {test}: cannot mount a tmpfs ({}): {}",
                    out.status,
                    String::from_utf8_lossy(&out.stderr).trim()
                ));
                None
            }
            Err(err) => {
                note(&format!("SKIPPED {test}: cannot run `mount`: {err}"));
                None
            }
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Remounts read-only.
    pub fn read_only(&self) {
        let out = Command::new("mount")
            .args(["-o", "remount,ro"])
            .arg(self.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "remount ro: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).output();
    }
}
