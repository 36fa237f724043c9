use preallocate::preallocate;

#[preallocate(dim = 1, dtype = u32)]
fn length(line: &str) -> [u32; 1] {
    [line.len() as u32]
}

fn main() {
    let ids = vec![1u32, 2];
    let _ = length::batch(&ids);
}
