use preallocate::{preallocate, Batch, ItemError};

#[preallocate(dim = 1, dtype = i32)]
fn parse(s: &str) -> Result<[i32; 1], std::num::ParseIntError> {
    Ok([s.parse()?])
}

#[preallocate(dim = 1, dtype = i32, on_error = "skip")]
fn parse_or_skip(s: &str) -> Result<[i32; 1], std::num::ParseIntError> {
    Ok([s.parse()?])
}

#[preallocate(dim = 1, dtype = i32)]
fn positive(x: &i32) -> Option<[i32; 1]> {
    (*x > 0).then_some([*x])
}

#[preallocate(dim = 1, dtype = u8, cast = "checked")]
fn checked(x: &i32) -> [i32; 1] {
    [*x]
}

#[preallocate(dim = 1, dtype = u8, cast = "saturate")]
fn saturated(x: &i32) -> [i32; 1] {
    [*x]
}

fn main() {
    let parsed: Result<ndarray::Array2<i32>, ItemError<std::num::ParseIntError>> = parse::batch(["1", "x"]);
    assert_eq!(parsed.unwrap_err().index(), 1);
    let skipped: Batch<ndarray::Array2<i32>> = parse_or_skip::batch(["1", "x"]);
    assert_eq!(skipped.skipped, vec![1]);
    assert_eq!(positive::batch(&[1, -1]).rows.len(), 1);
    let checked: Result<ndarray::Array2<u8>, ItemError> = checked::batch(&[300]);
    assert!(checked.is_err());
    assert_eq!(saturated::batch(&[300])[[0, 0]], 255);
}
