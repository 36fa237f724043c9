use preallocate::preallocate;

const SIDE: usize = 4;

#[preallocate(shape = (SIDE, SIDE), dtype = u8)]
fn image(seed: &u8, out: &mut [[u8; SIDE]; SIDE]) {
    out[0][0] = *seed;
}

#[preallocate(shape = (2, 2, 3), dtype = f32)]
fn volume(x: &f32) -> [[[f32; 3]; 2]; 2] {
    [[[*x; 3]; 2]; 2]
}

fn main() {
    let images: ndarray::Array3<u8> = image::batch(&[1, 2]);
    assert_eq!(images.shape(), &[2, 4, 4]);
    assert_eq!(image::SHAPE, &[4, 4]);
    let volumes: ndarray::Array4<f32> = volume::batch(&[1.0]);
    assert_eq!(volumes.shape(), &[1, 2, 2, 3]);
}
