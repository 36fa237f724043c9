use std::collections::HashMap;

use preallocate::preallocate;

#[derive(Default)]
struct Vocab {
    ids: HashMap<String, u32>,
}

impl Vocab {
    // The row function grows `self.ids` row by row: threads cannot share it.
    #[preallocate(dim = 1, dtype = u32)]
    fn encode(&mut self, word: &&str) -> [u32; 1] {
        let next = self.ids.len() as u32;
        [*self.ids.entry((*word).to_owned()).or_insert(next)]
    }
}

fn main() {
    let mut vocab = Vocab::default();
    let words = vec!["a", "b", "a"];
    let _ = vocab.encode_batch(&words);
    let _ = vocab.encode_par_batch(&words);
}
