use preallocate::preallocate;

#[preallocate(dim = 4, dtype = f32)]
fn stats<T: AsRef<[f32]>>(x: &T) -> [f32; 4] {
    let x = x.as_ref();
    [x.len() as f32, x.iter().sum(), x[0], x[x.len() - 1]]
}

#[preallocate(dim = 2, dtype = f64)]
fn pair<A, B>(item: (A, B)) -> [f64; 2]
where
    A: Into<f64>,
    B: Into<f64>,
{
    [item.0.into(), item.1.into()]
}

fn main() {
    let x = stats::batch(&[vec![1.0f32, 2.0], vec![3.0]]);
    assert_eq!(x.shape(), &[2, 4]);
    let y = pair::batch(vec![(1u8, 2.0f32), (3, 4.0)]);
    assert_eq!(y[[1, 1]], 4.0);
}
