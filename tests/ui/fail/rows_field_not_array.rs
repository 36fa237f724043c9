use preallocate::Rows;

#[derive(Rows)]
struct Example {
    x: [f32; 3],
    label: Vec<u8>,
}

fn main() {}
