use preallocate::ndarray::{Array2, Array3};
use preallocate::preallocate;

#[preallocate(dim = 2, dtype = f32)]
fn square(x: &f32) -> [f32; 2] {
    [*x, *x * *x]
}

/// Generic, by value, over a range's items.
#[preallocate(dim = 1, dtype = f64)]
fn half<T: Into<f64>>(x: T) -> [f64; 1] {
    [x.into() / 2.0]
}

#[preallocate(shape = (2, 2), dtype = u32)]
fn grid(x: u32, row: &mut [[u32; 2]; 2]) -> Result<(), String> {
    if x == u32::MAX {
        return Err("too large".to_owned());
    }
    *row = [[x, x + 1], [x + 2, x + 3]];
    Ok(())
}

struct Scaler {
    scale: f32,
}

impl Scaler {
    #[preallocate(dim = 1, dtype = f32)]
    fn scale(&self, x: &f32) -> Option<[f32; 1]> {
        (*x >= 0.0).then(|| [*x * self.scale])
    }
}

fn main() {
    let xs: Vec<f32> = (0..5000).map(|i| i as f32 - 10.0).collect();
    let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
    pool.install(|| {
        let rows: Array2<f32> = square::par_batch(&xs);
        assert_eq!(rows, square::batch(&xs));
        let mut out = Array2::<f32>::zeros((xs.len(), square::DIM));
        assert_eq!(square::par_fill(&xs[..], out.view_mut()), Ok(xs.len()));
        assert_eq!(out, rows);

        let halves = half::par_batch(0..10_000u32);
        assert_eq!(halves[[9_999, 0]], 4_999.5);

        let grids: Result<Array3<u32>, _> = grid::par_batch(0..3000u32);
        assert_eq!(grids.unwrap()[[2999, 1, 1]], 3002);

        let scaler = Scaler { scale: 2.0 };
        let kept = scaler.scale_par_batch(&xs);
        assert_eq!(kept, scaler.scale_batch(&xs));
        let mut out = Array2::<f32>::zeros((xs.len(), 1));
        let written = scaler.scale_par_fill(&xs, out.view_mut()).unwrap();
        assert_eq!(written.rows, xs.len() - 10);
    });
}
