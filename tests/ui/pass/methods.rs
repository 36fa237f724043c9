use std::collections::HashMap;

use preallocate::preallocate;

struct Scaler<T> {
    mean: T,
}

impl<T: Copy + Into<f64>> Scaler<T> {
    /// A generic method on a generic impl.
    #[preallocate(dim = 1, dtype = f64)]
    pub fn center<X: Copy + Into<f64>>(&self, x: &X) -> [f64; 1] {
        [(*x).into() - self.mean.into()]
    }
}

#[derive(Default)]
struct Vocab {
    ids: HashMap<String, u32>,
}

impl Vocab {
    #[preallocate(dim = 2, dtype = u32)]
    fn encode(&mut self, words: &(&str, &str), row: &mut [u32; 2]) {
        for (slot, word) in row.iter_mut().zip([words.0, words.1]) {
            let next = self.ids.len() as u32;
            *slot = *self.ids.entry(word.to_owned()).or_insert(next);
        }
    }
}

fn main() {
    let scaler = Scaler { mean: 1.0f32 };
    assert_eq!(scaler.center_batch(&[3u8, 5])[[1, 0]], 4.0);
    assert_eq!(Scaler::<f32>::CENTER_DIM, 1);
    let mut vocab = Vocab::default();
    let ids = vocab.encode_batch(&[("a", "b"), ("b", "c")]);
    assert_eq!(ids[[1, 1]], 2);
}
