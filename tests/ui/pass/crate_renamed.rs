extern crate preallocate as pa;

#[pa::preallocate(dim = 1, dtype = f32, crate = pa)]
fn renamed(x: &f32) -> [f32; 1] {
    [*x]
}

fn main() {
    assert_eq!(renamed::batch(&[1.0])[[0, 0]], 1.0);
}
