//! Text to fixed-width token windows: fit a vocabulary on a bundled corpus, then encode every
//! line into one preallocated `Array2<u32>` with a `&self` method.
//!
//! Run with `cargo run --release --example text_tokens`.
//!
//! 1. Fit: count lowercased words (split on anything not alphanumeric) in
//!    `examples/data/corpus.txt` and keep the most frequent, up to `MAX_VOCAB` ids in all.
//!    Id 0 is padding, 1 is "unknown", then 2.. by decreasing count, ties alphabetically.
//! 2. Encode: each line becomes `WINDOW` ids (long lines truncated, short ones padded with 0,
//!    unseen words mapped to 1); blank lines give no row and are listed in `skipped`.

use std::collections::{HashMap, HashSet};
use std::mem::size_of;

use preallocate::ndarray::{Array2, ArrayView1};
use preallocate::{preallocate, Batch};

/// The bundled corpus; read at compile time so the example runs from any directory.
const CORPUS: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/examples/data/corpus.txt"
));
/// Tokens per row.
const WINDOW: usize = 12;
/// Ids in all, padding and unknown included: rarer words fall back to `UNK`.
const MAX_VOCAB: usize = 128;
const PAD: u32 = 0;
const UNK: u32 = 1;

/// Sentences written for this example, not in the corpus: some of their words never occur
/// there, others are too rare in it to make the `MAX_VOCAB` cut.
const HELD_OUT: [&str; 4] = [
    "The baker carried a wooden box to the lighthouse.",
    "   ",
    "A purple dragon slept under the oak tree on sunday morning before the long storm ended.",
    "Quantum zebras juggle marmalade.",
];

/// The words of a line: lowercased runs of alphanumeric characters.
fn words(line: &str) -> impl Iterator<Item = String> + '_ {
    line.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
}

/// A fitted vocabulary: word → id, and id → word for display.
struct Vocab {
    ids: HashMap<String, u32>,
    words: Vec<String>,
}

impl Vocab {
    /// Keeps the `max_size - 2` most frequent words of `text`, ties broken alphabetically.
    fn fit(text: &str, max_size: usize) -> Self {
        let mut counts: HashMap<String, usize> = HashMap::new();
        for word in text.lines().flat_map(words) {
            *counts.entry(word).or_default() += 1;
        }
        let mut ranked: Vec<(String, usize)> = counts.into_iter().collect();
        ranked.sort_by(|(a, n), (b, m)| m.cmp(n).then_with(|| a.cmp(b)));
        ranked.truncate(max_size.saturating_sub(2));

        let mut all = vec!["<pad>".to_owned(), "<unk>".to_owned()];
        all.extend(ranked.into_iter().map(|(word, _)| word));
        let ids = (0u32..).zip(&all).map(|(id, w)| (w.clone(), id)).collect();
        Vocab { ids, words: all }
    }

    fn len(&self) -> usize {
        self.words.len()
    }

    /// One line as `WINDOW` token ids; a blank line gives no row.
    #[preallocate(dim = WINDOW, dtype = u32)]
    fn encode(&self, line: &str) -> Option<[u32; WINDOW]> {
        if line.trim().is_empty() {
            return None;
        }
        let mut row = [PAD; WINDOW];
        for (slot, word) in row.iter_mut().zip(words(line)) {
            *slot = self.ids.get(&word).copied().unwrap_or(UNK);
        }
        Some(row)
    }

    /// The tokens of an encoded row, for display: padding is left out.
    fn decode(&self, row: ArrayView1<u32>) -> String {
        let tokens: Vec<&str> = row
            .iter()
            .filter(|&&id| id != PAD)
            .map(|&id| self.words[id as usize].as_str())
            .collect();
        tokens.join(" ")
    }
}

/// The share of real (non-padding) tokens that are unknown.
fn unknown_rate(rows: &Array2<u32>) -> (usize, usize, f64) {
    let real = rows.iter().filter(|&&id| id != PAD).count();
    let unknown = rows.iter().filter(|&&id| id == UNK).count();
    (unknown, real, unknown as f64 / real.max(1) as f64)
}

/// The element type of an array, for display.
fn dtype_name<T>(_: &Array2<T>) -> &'static str {
    std::any::type_name::<T>()
}

fn report(name: &str, lines: &[&str], encoded: &Batch<Array2<u32>>, vocab: &Vocab) {
    let rows = &encoded.rows;
    println!(
        "\n{name}: {} lines -> shape {:?}, dtype {}, {} bytes in 1 allocation",
        lines.len(),
        rows.shape(),
        dtype_name(rows),
        rows.len() * size_of::<u32>()
    );
    let line_numbers: Vec<usize> = encoded.skipped.iter().map(|i| i + 1).collect();
    println!(
        "  blank lines skipped: {}, at line numbers {line_numbers:?}",
        encoded.skipped.len()
    );
    for (row, source) in rows.outer_iter().zip(encoded.source_index()).take(3) {
        println!("  line {:>3}: {:?}", source + 1, lines[source]);
        println!("            -> {row}");
        println!("            =  {}", vocab.decode(row));
    }
    let (unknown, real, rate) = unknown_rate(rows);
    println!(
        "  unknown tokens: {unknown} of {real} non-padding tokens ({:.1}%)",
        100.0 * rate
    );
}

fn main() {
    let vocab = Vocab::fit(CORPUS, MAX_VOCAB);
    let distinct: HashSet<String> = CORPUS.lines().flat_map(words).collect();
    println!(
        "vocabulary: {} ids (pad, unk and the {} most frequent of {} distinct words)",
        vocab.len(),
        vocab.len() - 2,
        distinct.len()
    );
    println!("most frequent: {:?}", &vocab.words[2..12.min(vocab.len())]);
    println!(
        "row: Vocab::ENCODE_DIM = {}, Vocab::ENCODE_SHAPE = {:?}",
        Vocab::ENCODE_DIM,
        Vocab::ENCODE_SHAPE
    );

    // `lines()` cannot tell its length up front, so the output starts from a 64 KiB guess,
    // grows if needed, and is trimmed to the rows kept; no per-line `Vec` is ever built.
    let lines: Vec<&str> = CORPUS.lines().collect();
    let corpus = vocab.encode_batch(CORPUS.lines());
    report("corpus.txt", &lines, &corpus, &vocab);
    // Every line is either a row or skipped.
    assert_eq!(corpus.rows.nrows() + corpus.skipped.len(), lines.len());

    let held_out = vocab.encode_batch(HELD_OUT);
    report("held out", &HELD_OUT, &held_out, &vocab);
}
