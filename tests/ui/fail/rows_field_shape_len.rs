use preallocate::Rows;

#[derive(Rows)]
struct Image {
    #[rows(shape = (28, 28))]
    pixels: [u8; 780],
}

fn main() {}
