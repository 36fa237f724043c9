use preallocate::preallocate;

#[preallocate(dim = 784, shape = (28, 28), dtype = u8)]
fn image(x: &u8) -> [[u8; 28]; 28] {
    [[*x; 28]; 28]
}

fn main() {}
