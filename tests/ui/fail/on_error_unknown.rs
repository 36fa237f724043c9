use preallocate::preallocate;

#[preallocate(dim = 1, dtype = f32, on_error = "retry")]
fn parse(s: &str) -> Result<[f32; 1], std::num::ParseFloatError> {
    Ok([s.parse()?])
}

fn main() {}
