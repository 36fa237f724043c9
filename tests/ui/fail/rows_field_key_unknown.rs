use preallocate::Rows;

#[derive(Rows)]
struct Example {
    #[rows(dtpye = f16)]
    x: [f32; 3],
    y: [u8; 1],
}

fn main() {}
