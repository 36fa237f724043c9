use preallocate::preallocate;

#[preallocate(dim = 1, dtype = u8)]
fn first_byte(path: &std::path::Path) -> std::io::Result<[u8; 1]> {
    let bytes = std::fs::read(path)?;
    Ok([bytes.first().copied().unwrap_or_default()])
}

fn main() {}
