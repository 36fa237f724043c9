use preallocate::preallocate;

#[preallocate(dtype = f32)]
fn score(x: &f64) -> f64 {
    *x
}

fn main() {}
