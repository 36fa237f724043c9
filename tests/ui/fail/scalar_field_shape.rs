use preallocate::Rows;

#[derive(Rows)]
struct Example {
    x: [f32; 3],
    #[rows(shape = (1, 1))]
    label: i64,
}

fn main() {}
