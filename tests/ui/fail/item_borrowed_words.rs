use preallocate::preallocate;

#[preallocate(dim = 1, dtype = u32)]
fn words(line: &[&str]) -> [u32; 1] {
    [line.len() as u32]
}

fn main() {
    let lines: Vec<Vec<String>> = vec![vec!["a".to_owned()]];
    let _ = words::batch(&lines);
}
