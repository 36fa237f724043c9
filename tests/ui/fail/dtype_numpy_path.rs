use preallocate::preallocate;

#[preallocate(dim = 3, dtype = np.float32)]
fn featurize(x: &f32) -> [f32; 3] {
    [*x; 3]
}

#[preallocate(dim = 3, dtype = torch.bfloat16)]
fn halves(x: &f32) -> [f32; 3] {
    [*x; 3]
}

#[preallocate(dim = 3, dtype = numpy.uint8)]
fn bytes(x: &u8) -> [u8; 3] {
    [*x; 3]
}

fn main() {}
