//! Time of `fill` into a reused buffer against a hand-written loop into the same buffer, in one
//! process, as a ratio (median of the repetitions after one warm-up, the two interleaved).
//!
//! ```text
//! cargo bench --bench fill
//! PREALLOCATE_BENCH_SCALE=0.01 cargo bench --bench fill   # quick smoke run
//! ```

use std::hint::black_box;
use std::time::{Duration, Instant};

use ndarray::{Array2, ShapeBuilder};
use preallocate::preallocate;

#[preallocate(dim = 3, dtype = f32)]
fn featurize(i: u32) -> [f32; 3] {
    let x = i as f32;
    [x * 0.5, x + 1.0, -x]
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

fn main() {
    let scale: f64 = std::env::var("PREALLOCATE_BENCH_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1.0);
    let n = ((10_000_000.0 * scale) as u32).max(1);
    let reps = 7;
    println!("{n} rows × 3 f32, median of {reps} runs after 1 warm-up\n");
    println!("| buffer | fill (ms) | hand-written (ms) | fill / hand-written |");
    println!("|---|---:|---:|---:|");
    for (label, mut out) in [
        ("row-major", Array2::<f32>::zeros((n as usize, 3))),
        ("column-major", Array2::<f32>::zeros((n as usize, 3).f())),
    ] {
        let mut fills = Vec::new();
        let mut hands = Vec::new();
        for rep in 0..=reps {
            let start = Instant::now();
            let written = featurize::fill(black_box(0..n), &mut out).expect("the buffer fits");
            let fill = start.elapsed();
            assert_eq!(written, n as usize);
            let expected = out.clone();

            let start = Instant::now();
            for (mut row, i) in out.rows_mut().into_iter().zip(black_box(0..n)) {
                for (slot, value) in row.iter_mut().zip(featurize(i)) {
                    *slot = value;
                }
            }
            let hand = start.elapsed();
            assert_eq!(out, expected, "fill and the hand-written loop agree");
            black_box(&out);
            if rep > 0 {
                fills.push(fill);
                hands.push(hand);
            }
        }
        let (fill, hand) = (median(fills), median(hands));
        println!(
            "| {label} | {:.2} | {:.2} | {:.3} |",
            fill.as_secs_f64() * 1e3,
            hand.as_secs_f64() * 1e3,
            fill.as_secs_f64() / hand.as_secs_f64()
        );
    }
}
