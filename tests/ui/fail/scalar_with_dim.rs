use preallocate::preallocate;

#[preallocate(dim = 1, dtype = i64)]
fn label(x: &(f32, i64)) -> i64 {
    x.1
}

fn main() {}
