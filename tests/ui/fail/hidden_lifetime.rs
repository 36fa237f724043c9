use preallocate::preallocate;

struct Token<'a> {
    text: &'a str,
}

#[preallocate(dim = 1, dtype = u32)]
fn length(t: Token) -> [u32; 1] {
    [t.text.len() as u32]
}

fn main() {}
