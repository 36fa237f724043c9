use preallocate::preallocate;

#[preallocate(dim = 2, dtype = f32)]
fn featurize(x: &f32, row: &mut Vec<f32>) {
    row.push(*x);
}

fn main() {}
