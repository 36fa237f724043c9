//! Time and peak heap of three ways of building the same `n × dim` array (or arrays, for a row
//! function with several outputs), in one process:
//!
//! - `batch`: the `#[preallocate]`-generated `name::batch(&items)`;
//! - `hand-written`: `Array2::zeros((n, dim))` (one per output), then every row written in place,
//!   all outputs in one loop;
//! - `naive`: a `Vec<Vec<T>>` of rows (one per output), flattened with `concat` into
//!   `Array2::from_shape_vec`.
//!
//! All three call the same row function. The inputs are generated before anything is measured;
//! each run builds the output, measures it, and drops it before the next run. Times are the
//! median of the repetitions after one warm-up (`batch` and `hand-written` interleaved, `naive`
//! after them: see [`run`]); peak heap is the highest number of live heap bytes during a run
//! above those live when it started, divided by the output's bytes.
//!
//! ```text
//! cargo bench --bench batch
//! PREALLOCATE_BENCH_SCALE=0.01 cargo bench --bench batch   # quick smoke run
//! cargo bench --bench batch -- --scale 0.01 --reps 3
//! ```

use std::hint::black_box;

use std::time::Duration;

use ndarray::Array2;
use preallocate::{preallocate, Rows};

#[path = "common/config.rs"]
mod config;
#[path = "common/heap.rs"]
mod heap;

use config::Config;

use heap::measure;

// ---------------------------------------------------------------------------------------------
// Workload (a): 3 × f32 per point, by value
// ---------------------------------------------------------------------------------------------

struct Point {
    x: f32,
    y: f32,
    z: f32,
}

/// Centers and scales a point: a cheap by-value row.
#[preallocate(dim = 3, dtype = f32)]
fn featurize(p: &Point) -> [f32; 3] {
    [p.x * 0.5 - 1.0, p.y * 0.25 + 2.0, p.z * 2.0 - 0.5]
}

fn points(n: usize) -> Vec<Point> {
    (0..n)
        .map(|i| {
            let i = i as f32;
            Point {
                x: i,
                y: i * 0.5,
                z: -i,
            }
        })
        .collect()
}

fn points_batch(points: &[Point]) -> Array2<f32> {
    featurize::batch(points)
}

fn points_hand(points: &[Point]) -> Array2<f32> {
    let mut out = Array2::<f32>::zeros((points.len(), featurize::DIM));
    let flat = out.as_slice_mut().expect("a new array is contiguous");
    for (row, p) in flat.chunks_exact_mut(featurize::DIM).zip(points) {
        row.copy_from_slice(&featurize(p));
    }
    out
}

fn points_naive(points: &[Point]) -> Array2<f32> {
    let rows: Vec<Vec<f32>> = points.iter().map(|p| featurize(p).to_vec()).collect();
    let n = rows.len();
    Array2::from_shape_vec((n, featurize::DIM), rows.concat()).expect("n rows of DIM")
}

// ---------------------------------------------------------------------------------------------
// Workload (b): 784 × u8 per image, in place
// ---------------------------------------------------------------------------------------------

const PIXELS: usize = 784;

struct Image {
    seed: u32,
}

/// A generated 28 × 28 image: cheap per-pixel arithmetic, written in place.
#[preallocate(dim = 784, dtype = u8)]
fn pixels(img: &Image, row: &mut [u8; PIXELS]) {
    for (i, px) in row.iter_mut().enumerate() {
        *px = (i as u32 * 7 + img.seed) as u8;
    }
}

fn images(n: usize) -> Vec<Image> {
    (0..n)
        .map(|i| Image {
            seed: (i as u32).wrapping_mul(2_654_435_761),
        })
        .collect()
}

fn images_batch(images: &[Image]) -> Array2<u8> {
    pixels::batch(images)
}

fn images_hand(images: &[Image]) -> Array2<u8> {
    let mut out = Array2::<u8>::zeros((images.len(), PIXELS));
    let flat = out.as_slice_mut().expect("a new array is contiguous");
    for (row, img) in flat.chunks_exact_mut(PIXELS).zip(images) {
        pixels(img, row.try_into().expect("chunks of PIXELS"));
    }
    out
}

fn images_naive(images: &[Image]) -> Array2<u8> {
    let rows: Vec<Vec<u8>> = images
        .iter()
        .map(|img| {
            let mut row = vec![0u8; PIXELS];
            pixels(img, row.as_mut_slice().try_into().expect("PIXELS long"));
            row
        })
        .collect();
    let n = rows.len();
    Array2::from_shape_vec((n, PIXELS), rows.concat()).expect("n rows of PIXELS")
}

// ---------------------------------------------------------------------------------------------
// Workload (c): two outputs per item, 3 × f32 features and 1 × u8 label, by value
// ---------------------------------------------------------------------------------------------

/// A point's features and its label.
#[derive(Rows)]
struct Labelled {
    x: [f32; 3],
    y: [u8; 1],
}

/// The features of `featurize` and a label from the point's sign, in one pass.
#[preallocate(rows = Labelled)]
fn labelled(p: &Point) -> Labelled {
    Labelled {
        x: featurize(p),
        y: [u8::from(p.z < -100.0)],
    }
}

fn labelled_batch(points: &[Point]) -> (Array2<f32>, Array2<u8>) {
    let out = labelled::batch(points);
    (out.x, out.y)
}

fn labelled_hand(points: &[Point]) -> (Array2<f32>, Array2<u8>) {
    let mut x = Array2::<f32>::zeros((points.len(), 3));
    let mut y = Array2::<u8>::zeros((points.len(), 1));
    let xs = x.as_slice_mut().expect("a new array is contiguous");
    let ys = y.as_slice_mut().expect("a new array is contiguous");
    for ((x, y), p) in xs.chunks_exact_mut(3).zip(ys.iter_mut()).zip(points) {
        let row = labelled(p);
        x.copy_from_slice(&row.x);
        *y = row.y[0];
    }
    (x, y)
}

fn labelled_naive(points: &[Point]) -> (Array2<f32>, Array2<u8>) {
    let rows: Vec<(Vec<f32>, Vec<u8>)> = points
        .iter()
        .map(|p| {
            let row = labelled(p);
            (row.x.to_vec(), row.y.to_vec())
        })
        .collect();
    let n = rows.len();
    let (xs, ys): (Vec<Vec<f32>>, Vec<Vec<u8>>) = rows.into_iter().unzip();
    (
        Array2::from_shape_vec((n, 3), xs.concat()).expect("n rows of 3"),
        Array2::from_shape_vec((n, 1), ys.concat()).expect("n rows of 1"),
    )
}

// ---------------------------------------------------------------------------------------------
// Driver
// ---------------------------------------------------------------------------------------------

const VARIANTS: [&str; 3] = ["batch", "hand-written", "naive"];

struct Row {
    workload: String,
    variant: &'static str,
    median: Duration,
    ratio: f64,
    heap_per_output: f64,
}

/// Runs one warm-up and `reps` measured runs of each variant, checks that their outputs agree,
/// and returns one table row per variant.
///
/// Whether a large output gets fresh pages from the kernel (one page fault per 4 KiB) or memory
/// the allocator has kept from an earlier run (no faults) changes a run's time several-fold, and
/// which one it gets depends on what ran just before. So `batch` and `hand-written` are
/// interleaved, alternating which goes first, so that each follows the other; `naive` runs
/// afterwards, because its millions of small row allocations leave the heap in a state that
/// would otherwise favour whichever variant happens to follow it.
fn run<O: PartialEq>(
    workload: &str,
    reps: usize,
    output_bytes: usize,
    variants: [&dyn Fn() -> O; 3],
) -> Vec<Row> {
    let [batch, hand, naive] = variants;
    assert!(
        batch() == hand(),
        "{workload}: hand-written differs from batch"
    );

    let mut times = vec![Vec::with_capacity(reps); variants.len()];
    let mut peaks = vec![0usize; variants.len()];
    let mut record = |i: usize, rep: usize| {
        let (out, time, peak) = measure(variants[i]);
        drop(out);
        if rep > 0 {
            // Rep 0 is the warm-up.
            times[i].push(time);
            peaks[i] = peaks[i].max(peak);
        }
    };
    for rep in 0..=reps {
        let pair = if rep % 2 == 0 { [0, 1] } else { [1, 0] };
        for i in pair {
            record(i, rep);
        }
    }
    for rep in 0..=reps {
        record(2, rep);
    }
    assert!(naive() == batch(), "{workload}: naive differs from batch");

    let medians = heap::medians(&mut times);
    let hand_secs = medians[1].as_secs_f64();
    VARIANTS
        .iter()
        .zip(medians.iter().zip(&peaks))
        .map(|(variant, (median, peak))| Row {
            workload: workload.to_owned(),
            variant,
            median: *median,
            ratio: median.as_secs_f64() / hand_secs,
            heap_per_output: *peak as f64 / output_bytes as f64,
        })
        .collect()
}

fn main() {
    let config = Config::from_env(&[]);
    let n_points = config.rows(10_000_000);
    let n_images = config.rows(200_000);

    let mut table = Vec::new();
    {
        let points = points(n_points);
        let output_bytes = n_points * featurize::DIM * size_of::<f32>();
        table.extend(run(
            &format!("points {n_points} × 3 f32"),
            config.reps,
            output_bytes,
            [
                &|| points_batch(black_box(&points)),
                &|| points_hand(black_box(&points)),
                &|| points_naive(black_box(&points)),
            ],
        ));
    }
    {
        let images = images(n_images);
        let output_bytes = n_images * pixels::DIM * size_of::<u8>();
        table.extend(run(
            &format!("images {n_images} × 784 u8"),
            config.reps,
            output_bytes,
            [
                &|| images_batch(black_box(&images)),
                &|| images_hand(black_box(&images)),
                &|| images_naive(black_box(&images)),
            ],
        ));
    }

    {
        let points = points(n_points);
        let output_bytes = n_points * (3 * size_of::<f32>() + 1);
        table.extend(run(
            &format!("labelled points {n_points} × (3 f32 + 1 u8)"),
            config.reps,
            output_bytes,
            [
                &|| labelled_batch(black_box(&points)),
                &|| labelled_hand(black_box(&points)),
                &|| labelled_naive(black_box(&points)),
            ],
        ));
    }

    println!(
        "scale {}, median of {} runs after 1 warm-up\n",
        config.scale, config.reps
    );
    println!("| workload | variant | median time (ms) | time / hand-written | peak heap / output bytes |");
    println!("|---|---|---:|---:|---:|");
    for row in &table {
        println!(
            "| {} | {} | {:.2} | {:.3} | {:.3} |",
            row.workload,
            row.variant,
            row.median.as_secs_f64() * 1e3,
            row.ratio,
            row.heap_per_output,
        );
    }
}
