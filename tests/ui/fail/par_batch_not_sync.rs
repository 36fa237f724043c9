use std::cell::Cell;

use preallocate::preallocate;

struct Counter {
    // Interior mutability that is not thread-safe: `Counter` is not `Sync`.
    calls: Cell<u64>,
}

impl Counter {
    #[preallocate(dim = 1, dtype = f32)]
    fn count(&self, x: &f32) -> [f32; 1] {
        self.calls.set(self.calls.get() + 1);
        [*x]
    }
}

fn main() {
    let counter = Counter { calls: Cell::new(0) };
    let xs = vec![1.0f32; 10_000];
    let _ = counter.count_batch(&xs);
    let _ = counter.count_par_batch(&xs);
}
