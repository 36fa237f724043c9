use preallocate::{preallocate, Rows};

#[derive(Rows)]
struct Example {
    x: [f32; 1],
}

struct Scale(f32);

impl Scale {
    #[preallocate(rows = Example)]
    fn apply(self, v: f32) -> Example {
        Example { x: [v * self.0] }
    }
}

fn main() {}
