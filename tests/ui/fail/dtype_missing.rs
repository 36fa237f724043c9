use preallocate::preallocate;

#[preallocate(dim = 3)]
fn featurize(x: &u8) -> [u8; 3] {
    [*x; 3]
}

fn main() {}
