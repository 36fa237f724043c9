use std::rc::Rc;

use preallocate::preallocate;

#[preallocate(dim = 1, dtype = f32)]
fn value(x: &Rc<f32>) -> [f32; 1] {
    [**x]
}

fn main() {
    let xs: Vec<Rc<f32>> = (0..10).map(|i| Rc::new(i as f32)).collect();
    let _ = value::batch(&xs);
    let _ = value::par_batch(&xs);
}
