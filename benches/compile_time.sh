#!/usr/bin/env bash
# Compile time of a crate with 50 `#[preallocate]` functions (every form: by value, in place,
# Option, Result, on_error = "skip", casts, multi-axis rows, methods), against a checkout of
# `preallocate` given by path (default: this repository).
#
#   bash benches/compile_time.sh [PATH_TO_PREALLOCATE] [RUNS]
#
# Prints two medians:
# - `clean`: `cargo build` from nothing (dependencies included), as a new user's first build,
#   RUNS times (default 3) in a fresh target directory;
# - `crate`: rebuilding only the 50-function crate once its dependencies are built (what a
#   user waits for after each edit), which is where the macro's expansion cost shows; 5 × RUNS
#   times, since each is short.
# Compare two checkouts by running it on each, one after the other, on a quiet machine.
set -euo pipefail
repo=$(cd "${1:-$(dirname "$0")/..}" && pwd)
runs=${2:-3}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/src"
cat > "$work/Cargo.toml" <<TOML
[package]
name = "fifty"
version = "0.0.0"
edition = "2021"
publish = false

[dependencies]
preallocate = { path = "$repo" }

[workspace]
TOML
{
  echo 'use preallocate::preallocate;'
  echo '#[derive(Debug)] pub struct Bad;'
  echo 'pub struct Scaler { pub k: f32 }'
  echo 'impl Scaler {'
  for i in $(seq 0 4); do
    echo "    #[preallocate(dim = 3, dtype = f32)]"
    echo "    pub fn m$i(&self, x: &f32) -> [f32; 3] { [*x * self.k, $i.0, 1.0] }"
  done
  echo '}'
  for i in $(seq 0 44); do
    case $((i % 9)) in
      0) echo "#[preallocate(dim = 4, dtype = f32)] pub fn f$i(x: &f32) -> [f32; 4] { [*x, $i.0, 0.0, 1.0] }" ;;
      1) echo "#[preallocate(dim = 4, dtype = u8)] pub fn f$i(x: &u8, row: &mut [u8; 4]) { row[(*x % 4) as usize] = $i; }" ;;
      2) echo "#[preallocate(dim = 2, dtype = f64)] pub fn f$i(x: &f64) -> Option<[f64; 2]> { (*x > 0.0).then_some([*x, $i.0]) }" ;;
      3) echo "#[preallocate(dim = 2, dtype = i32)] pub fn f$i(s: &str) -> Result<[i32; 2], Bad> { let v: i32 = s.parse().map_err(|_| Bad)?; Ok([v, $i]) }" ;;
      4) echo "#[preallocate(dim = 2, dtype = i32, on_error = \"skip\")] pub fn f$i(s: &str) -> Result<[i32; 2], Bad> { let v: i32 = s.parse().map_err(|_| Bad)?; Ok([v, $i]) }" ;;
      5) echo "#[preallocate(dim = 3, dtype = f16, cast = \"as\")] pub fn f$i(x: &f32) -> [f32; 3] { [*x, $i.0, -*x] }" ;;
      6) echo "#[preallocate(dim = 3, dtype = u8, cast = \"checked\")] pub fn f$i(x: &f32) -> [f32; 3] { [*x, $i.0, 2.0] }" ;;
      7) echo "#[preallocate(shape = (2, 3), dtype = u16)] pub fn f$i(x: &u16) -> [[u16; 3]; 2] { [[*x, $i, 0], [1, 2, 3]] }" ;;
      8) echo "#[preallocate(dim = 3, dtype = f64)] pub fn f$i<'a>(x: &'a (u8, i16, f32)) -> [f64; 3] { [f64::from(x.0), f64::from(x.1), f64::from(x.2) + $i.0] }" ;;
    esac
  done
} > "$work/src/lib.rs"

median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
seconds() { local start end; start=$(date +%s.%N); "$@" >/dev/null 2>&1; end=$(date +%s.%N); awk -v a="$start" -v b="$end" 'BEGIN { printf "%.2f", b - a }'; }

cd "$work"
cargo fetch --quiet
clean=() crate=()
for _ in $(seq "$runs"); do
  rm -rf target
  clean+=("$(seconds cargo build --offline)")
  for _ in 1 2 3 4 5; do
    cargo clean --offline -p fifty >/dev/null 2>&1
    crate+=("$(seconds cargo build --offline)")
  done
done
printf 'checkout: %s (%s)\n' "$repo" "$(git -C "$repo" log -1 --format=%h 2>/dev/null || echo '?')"
printf 'clean build, 50 annotated functions: %ss (median of %s: %s)\n' \
  "$(printf '%s\n' "${clean[@]}" | median)" "$runs" "${clean[*]}"
printf 'crate only, dependencies built:      %ss (median of %s: %s)\n' \
  "$(printf '%s\n' "${crate[@]}" | median)" "${#crate[@]}" "${crate[*]}"
