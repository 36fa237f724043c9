use preallocate::Rows;

#[derive(Rows)]
struct Example {
    #[rows(dtype = np.float32)]
    x: [f64; 3],
}

fn main() {}
