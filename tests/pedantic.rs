//! The generated code passes `clippy::pedantic`: this crate denies it, and CI runs clippy on
//! every target, so a lint fired by an expansion fails the build.
#![deny(clippy::pedantic, missing_docs)]

use ndarray::array;
use preallocate::{preallocate, Rows};

/// A record with a pedantic-clean row function.
pub struct Reading {
    /// Celsius.
    pub celsius: f32,
    /// Station id.
    pub station: u8,
}

/// By value, with a lossless conversion.
#[preallocate(dim = 2, dtype = f64)]
#[must_use]
pub fn reading(r: &Reading) -> [f32; 2] {
    [r.celsius, f32::from(r.station)]
}

/// In place.
#[preallocate(dim = 3, dtype = u8)]
pub fn station_one_hot(r: &Reading, row: &mut [u8; 3]) {
    if let Some(slot) = row.get_mut(usize::from(r.station)) {
        *slot = 1;
    }
}

/// Generic, with a cast.
#[preallocate(dim = 1, dtype = i16, cast = "as")]
pub fn first<T: AsRef<[f32]> + ?Sized>(xs: &T) -> [f32; 1] {
    [xs.as_ref().first().copied().unwrap_or_default()]
}

/// A scalar row: a 1-D output.
#[preallocate(dtype = f64)]
#[must_use]
pub fn celsius(r: &Reading) -> f32 {
    r.celsius
}

/// A scalar row, in place.
#[preallocate(dtype = u8)]
pub fn station(r: &Reading, row: &mut u8) {
    *row = r.station;
}

/// Features and a scalar label.
#[derive(Rows)]
pub struct Labeled {
    /// Features.
    pub x: [f32; 1],
    /// The label.
    pub y: u8,
}

/// Both outputs of a reading.
#[preallocate(rows = Labeled)]
#[must_use]
pub fn labeled(r: &Reading) -> Labeled {
    Labeled {
        x: [r.celsius],
        y: r.station,
    }
}

#[test]
fn pedantic_clean_scalar_rows_work() {
    let readings = [Reading {
        celsius: 21.5,
        station: 2,
    }];
    assert_eq!(celsius::batch(&readings), array![21.5]);
    assert_eq!(station::batch(&readings), array![2]);
    assert_eq!(labeled::batch(&readings).y, array![2]);
}

#[test]
fn pedantic_clean_expansions_work() {
    let readings = [
        Reading {
            celsius: 21.5,
            station: 2,
        },
        Reading {
            celsius: -3.0,
            station: 0,
        },
    ];
    assert_eq!(reading::batch(&readings), array![[21.5, 2.0], [-3.0, 0.0]]);
    assert_eq!(
        station_one_hot::batch(&readings),
        array![[0, 0, 1], [1, 0, 0]]
    );
    let rows: [&[f32]; 2] = [&[7.9, 1.0], &[]];
    assert_eq!(first::batch(rows), array![[7], [0]]);
}

/// A station table, with methods on `&self` (parallel siblings) and `&mut self` (none).
#[derive(Default)]
pub struct Stations {
    /// Readings seen per station.
    pub seen: Vec<u32>,
}

impl Stations {
    /// Reads `self`.
    #[preallocate(dim = 1, dtype = u32)]
    #[must_use]
    pub fn seen_at(&self, r: &Reading) -> [u32; 1] {
        [self
            .seen
            .get(usize::from(r.station))
            .copied()
            .unwrap_or_default()]
    }

    /// Changes `self` row by row.
    #[preallocate(dim = 1, dtype = u32)]
    pub fn count(&mut self, r: &Reading) -> [u32; 1] {
        let station = usize::from(r.station);
        if self.seen.len() <= station {
            self.seen.resize(station + 1, 0);
        }
        self.seen[station] += 1;
        [self.seen[station]]
    }
}

#[test]
fn pedantic_clean_methods_work() {
    let readings = [Reading {
        celsius: 1.0,
        station: 1,
    }];
    let mut stations = Stations::default();
    assert_eq!(stations.count_batch(&readings), array![[1]]);
    assert_eq!(stations.seen_at_batch(&readings), array![[1]]);
    #[cfg(feature = "parallel")]
    assert_eq!(stations.seen_at_par_batch(&readings), array![[1]]);
}
