use preallocate::preallocate;

const WINDOW: usize = 4;

// Caught by `cargo check` even though no entry point is called.
#[preallocate(dim = WINDOW, dtype = u32)]
fn encode(line: &str) -> Option<[u32; 5]> {
    Some([line.len() as u32; 5])
}

fn main() {}
