use preallocate::preallocate;

#[preallocate(dim = 1, dtype = u8, cast = "as")]
fn featurize(x: &u8, row: &mut [u8; 1]) {
    row[0] = *x;
}

fn main() {}
