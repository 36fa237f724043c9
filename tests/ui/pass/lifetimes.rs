use preallocate::preallocate;

struct Token<'a> {
    text: &'a str,
}

#[preallocate(dim = 1, dtype = u32)]
fn elided(t: &Token<'_>) -> [u32; 1] {
    [t.text.len() as u32]
}

#[preallocate(dim = 1, dtype = u32)]
fn named<'a>(t: &'a Token<'a>) -> [u32; 1] {
    [t.text.len() as u32]
}

#[preallocate(dim = 1, dtype = u32)]
fn owned_with_lifetime(t: Token<'_>) -> [u32; 1] {
    [t.text.len() as u32]
}

#[preallocate(dim = 1, dtype = u32)]
fn str_slice(t: &str) -> [u32; 1] {
    [t.len() as u32]
}

fn main() {
    let text = String::from("a bb ccc");
    let tokens: Vec<Token> = text.split(' ').map(|text| Token { text }).collect();
    assert_eq!(elided::batch(&tokens).column(0).to_vec(), vec![1, 2, 3]);
    assert_eq!(named::batch(&tokens).column(0).to_vec(), vec![1, 2, 3]);
    let owned = owned_with_lifetime::batch(text.split(' ').map(|text| Token { text }));
    assert_eq!(owned.column(0).to_vec(), vec![1, 2, 3]);
    assert_eq!(str_slice::batch(text.split(' ')).column(0).to_vec(), vec![1, 2, 3]);
}
