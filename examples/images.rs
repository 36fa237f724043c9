//! Images: render 10 000 synthetic 28×28 grayscale "digits" straight into one `Array3<u8>`.
//!
//! Run with `cargo run --release --example images`.
//!
//! 1. Generate shape specs (ring, disk, bars, cross, square) at seeded positions with a small
//!    linear congruential generator, so every run draws the same images.
//! 2. Render them in place with `#[preallocate(shape = (28, 28), dtype = u8)]`: each image is
//!    written into its own slot of the output, which arrives zeroed, so only lit pixels are set.
//! 3. A by-value variant computes a brightened image in `f32` and stores it as `u8` with
//!    `cast = "saturate"`: values above 255 are clamped.
//! 4. Stream the same images through one reused buffer with `render::fill`, 1000 at a time.

use std::error::Error;
use std::mem::size_of;

use preallocate::ndarray::{s, Array3, ArrayView2, Axis};
use preallocate::preallocate;

const N: usize = 10_000;
const SIDE: usize = 28;
const SEED: u64 = 0x5EED_1234;
const CHUNK: usize = 1000;
/// Brightening gain; any pixel brighter than 255 / GAIN saturates at 255.
const GAIN: f32 = 1.6;

/// The kinds of shape, one per class.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Ring,
    Disk,
    HBar,
    VBar,
    Cross,
    Square,
}

const KINDS: [Kind; 6] = [
    Kind::Ring,
    Kind::Disk,
    Kind::HBar,
    Kind::VBar,
    Kind::Cross,
    Kind::Square,
];

/// One image to draw: a shape, its center and size in pixels, its stroke width and gray level.
struct Shape {
    kind: Kind,
    cx: f32,
    cy: f32,
    size: f32,
    stroke: f32,
    ink: u8,
}

/// Knuth's MMIX linear congruential generator: deterministic and dependency-free.
struct Lcg(u64);

impl Lcg {
    fn next_u64(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0
    }

    /// Uniform in `[lo, hi)`, from the 24 high bits.
    fn uniform(&mut self, lo: f32, hi: f32) -> f32 {
        let unit = (self.next_u64() >> 40) as f32 / (1u32 << 24) as f32;
        lo + unit * (hi - lo)
    }

    fn below(&mut self, n: usize) -> usize {
        ((self.next_u64() >> 33) % n as u64) as usize
    }
}

fn generate(n: usize, seed: u64) -> Vec<Shape> {
    let mut rng = Lcg(seed);
    (0..n)
        .map(|_| {
            let kind = KINDS[rng.below(KINDS.len())];
            // Half-extents that keep every shape inside the 28×28 frame.
            let (lo, hi) = match kind {
                Kind::Disk => (4.0, 7.0),
                _ => (5.0, 9.0),
            };
            Shape {
                kind,
                cx: rng.uniform(11.0, 17.0),
                cy: rng.uniform(11.0, 17.0),
                size: rng.uniform(lo, hi),
                stroke: rng.uniform(2.0, 4.0),
                ink: 96 + rng.below(160) as u8,
            }
        })
        .collect()
}

/// Whether the pixel at column `x`, row `y` is inside the shape.
fn lit(spec: &Shape, x: usize, y: usize) -> bool {
    let dx = (x as f32 + 0.5 - spec.cx).abs();
    let dy = (y as f32 + 0.5 - spec.cy).abs();
    let half = spec.stroke / 2.0;
    let hbar = dy <= half && dx <= spec.size;
    let vbar = dx <= half && dy <= spec.size;
    match spec.kind {
        Kind::Ring => (dx.hypot(dy) - spec.size).abs() <= half,
        Kind::Disk => dx.hypot(dy) <= spec.size,
        Kind::HBar => hbar,
        Kind::VBar => vbar,
        Kind::Cross => hbar || vbar,
        Kind::Square => (dx.max(dy) - spec.size).abs() <= half,
    }
}

/// Renders one image in place: the slot arrives zeroed, so only lit pixels are written.
#[preallocate(shape = (28, 28), dtype = u8)]
fn render(spec: &Shape, out: &mut [[u8; 28]; 28]) {
    for (y, row) in out.iter_mut().enumerate() {
        for (x, px) in row.iter_mut().enumerate() {
            if lit(spec, x, y) {
                *px = spec.ink;
            }
        }
    }
}

/// A brightened copy, computed in `f32` and returned by value; `cast = "saturate"` stores it
/// as `u8`, clamping anything above 255 (and below 0) instead of rejecting it.
#[preallocate(shape = (28, 28), dtype = u8, cast = "saturate")]
fn brighten(spec: &Shape) -> [[f32; 28]; 28] {
    let mut image = [[0u8; 28]; 28];
    render(spec, &mut image);
    image.map(|row| row.map(|px| f32::from(px) * GAIN))
}

/// Mean pixel value of the images of each kind.
fn class_means(images: &Array3<u8>, specs: &[Shape]) -> Vec<(Kind, usize, f64)> {
    KINDS
        .iter()
        .map(|&kind| {
            let (mut count, mut sum) = (0usize, 0u64);
            for (image, spec) in images.outer_iter().zip(specs) {
                if spec.kind == kind {
                    count += 1;
                    sum += image.iter().map(|&px| u64::from(px)).sum::<u64>();
                }
            }
            let mean = sum as f64 / (count * SIDE * SIDE).max(1) as f64;
            (kind, count, mean)
        })
        .collect()
}

/// Two images side by side: `#` above 128, `+` for other lit pixels, `.` for background.
fn ascii(left: ArrayView2<u8>, right: ArrayView2<u8>) {
    let glyph = |px: u8| match px {
        129.. => '#',
        1..=128 => '+',
        0 => '.',
    };
    for (a, b) in left.outer_iter().zip(right.outer_iter()) {
        let a: String = a.iter().map(|&px| glyph(px)).collect();
        let b: String = b.iter().map(|&px| glyph(px)).collect();
        println!("  {a}    {b}");
    }
}

fn main() -> Result<(), Box<dyn Error>> {
    let specs = generate(N, SEED);

    // One allocation of N * 28 * 28 bytes; every image is drawn in its own slot.
    let images: Array3<render::Dtype> = render::batch(&specs);
    let bytes = images.len() * size_of::<u8>();
    // A `Vec<Vec<Vec<u8>>>` with exact capacities: one `Vec` header (24 bytes on 64-bit) per
    // image and per pixel row, plus the pixels; allocator bookkeeping is extra.
    let header = size_of::<Vec<u8>>();
    let nested = N * (header + SIDE * (header + SIDE));
    println!(
        "images: shape {:?}, dtype {}, row SHAPE {:?} ({} pixels)",
        images.shape(),
        std::any::type_name::<render::Dtype>(),
        render::SHAPE,
        render::DIM
    );
    println!("  {bytes} bytes in 1 allocation");
    println!(
        "  Vec<Vec<Vec<u8>>> of the same images: ~{nested} bytes in {} allocations (estimate, {:.2}x)",
        1 + N + N * SIDE,
        nested as f64 / bytes as f64
    );

    let bright = brighten::batch(&specs);
    let saturated = bright.iter().filter(|&&px| px == u8::MAX).count();
    let lit_pixels = images.iter().filter(|&&px| px > 0).count();
    println!(
        "\nbrighten (x{GAIN} in f32, cast = \"saturate\"): shape {:?}, {saturated} of {lit_pixels} lit pixels clamped at 255",
        bright.shape()
    );

    println!("\nmean intensity per class (0-255, over all 784 pixels):");
    println!("  class    count  render  brighten");
    let means = class_means(&images, &specs);
    let bright_means = class_means(&bright, &specs);
    for ((kind, count, mean), (_, _, bright_mean)) in means.iter().zip(&bright_means) {
        println!(
            "  {:<7} {count:>6}  {mean:>6.2}  {bright_mean:>8.2}",
            format!("{kind:?}")
        );
    }

    println!(
        "\nimage 0 ({:?}, ink {}) and image 1 ({:?}, ink {}):",
        specs[0].kind, specs[0].ink, specs[1].kind, specs[1].ink
    );
    ascii(images.index_axis(Axis(0), 0), images.index_axis(Axis(0), 1));
    println!("\nthe same two, brightened:");
    ascii(bright.index_axis(Axis(0), 0), bright.index_axis(Axis(0), 1));

    // Streaming: one buffer of CHUNK images, reused. It starts dirty on purpose: `fill` zeroes
    // each slot before `render` draws into it, so no pixel of an earlier image survives.
    let mut buf = Array3::<u8>::from_elem((CHUNK, SIDE, SIDE), 0xAA);
    let mut done = 0;
    for chunk in specs.chunks(CHUNK) {
        let written = render::fill(chunk, &mut buf)?;
        assert_eq!(written, chunk.len());
        assert_eq!(
            buf.slice(s![..written, .., ..]),
            images.slice(s![done..done + written, .., ..])
        );
        done += written;
    }
    println!(
        "\nfill: {done} images in chunks of {CHUNK} through one reused {:?} buffer ({} bytes), equal to batch",
        buf.shape(),
        buf.len()
    );
    Ok(())
}
