use preallocate::preallocate;

#[preallocate(dim = 1, dtype = u8)]
extern "C" fn featurize(x: u8) -> [u8; 1] {
    [x]
}

fn main() {}
