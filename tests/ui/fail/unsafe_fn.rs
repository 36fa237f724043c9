use preallocate::preallocate;

#[preallocate(dim = 1, dtype = u8)]
unsafe fn featurize(x: *const u8) -> [u8; 1] {
    [unsafe { *x }]
}

fn main() {}
