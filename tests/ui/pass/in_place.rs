use preallocate::preallocate;

#[preallocate(dim = 784, dtype = u8)]
fn pixels(seed: &u8, row: &mut [u8; 784]) {
    for (i, px) in row.iter_mut().enumerate() {
        *px = seed.wrapping_add(i as u8);
    }
}

#[preallocate(dim = 3, dtype = f32)]
fn explicit_unit_return(x: &f32, row: &mut [f32; 3]) -> () {
    row[1] = *x;
}

fn main() {
    let x = pixels::batch(&[0u8, 10]);
    assert_eq!(x.shape(), &[2, 784]);
    assert_eq!(x[[1, 5]], 15);
    let mut out = ndarray::Array2::<f32>::from_elem((1, 3), 9.0);
    explicit_unit_return::fill(&[2.0], out.view_mut()).unwrap();
    assert_eq!(out.row(0).to_vec(), vec![0.0, 2.0, 0.0]);
}
