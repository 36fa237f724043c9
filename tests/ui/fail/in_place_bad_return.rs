use preallocate::preallocate;

#[preallocate(dim = 1, dtype = u8)]
fn write(x: &u8, row: &mut [u8; 1]) -> usize {
    row[0] = *x;
    1
}

fn main() {}
