use preallocate::preallocate;

#[preallocate(dim = 3, dtype = f32)]
async fn featurize(x: &f32) -> [f32; 3] {
    [*x; 3]
}

fn main() {}
