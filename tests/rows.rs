//! Several outputs per item: `#[derive(Rows)]` and `#[preallocate(rows = ..)]`.

use ndarray::{array, Array2};
use preallocate::{f16, preallocate, Rows};

#[derive(Rows, Debug, Clone, Copy, PartialEq)]
struct Example {
    #[rows(dtype = f16, cast = "as")]
    x: [f32; 3],
    y: [u8; 1],
}

#[preallocate(rows = Example)]
fn parse(line: &str) -> Result<Example, std::num::ParseFloatError> {
    let mut fields = line.split(',');
    let mut x = [0.0f32; 3];
    for v in &mut x {
        *v = fields.next().unwrap_or("nan").trim().parse()?;
    }
    let y = fields.next().unwrap_or("0").trim().parse::<f32>()? as u8;
    Ok(Example { x, y: [y] })
}

const LINES: [&str; 3] = ["1, 2, 3, 1", "4.5, 5, 6, 0", "7, 8, 9.25, 1"];

#[test]
fn batch_gives_one_array_per_field() {
    let out = parse::batch(LINES).unwrap();
    assert_eq!(
        out.x,
        array![[1.0f32, 2.0, 3.0], [4.5, 5.0, 6.0], [7.0, 8.0, 9.25]].mapv(f16::from_f32)
    );
    assert_eq!(out.y, array![[1u8], [0], [1]]);
}

#[test]
fn a_failed_item_is_named() {
    let err = parse::batch(["1,2,3,1", "x,2,3,1"]).unwrap_err();
    assert_eq!(err.index(), 1);
}

#[preallocate(rows = Example)]
fn keep_positive(v: &f32) -> Option<Example> {
    (*v > 0.0).then(|| Example {
        x: [*v, 2.0 * v, 3.0 * v],
        y: [*v as u8],
    })
}

#[test]
fn dropped_items_are_dropped_from_every_output() {
    let out = keep_positive::batch(&[1.0, -1.0, 2.0]);
    assert_eq!(out.skipped, vec![1]);
    assert_eq!(out.rows.x.nrows(), 2);
    assert_eq!(out.rows.y, array![[1u8], [2]]);
    assert_eq!(out.source_index(), vec![0, 2]);
}

#[test]
fn fill_writes_every_buffer() {
    let mut x = Array2::<f16>::zeros((4, 3));
    let mut y = Array2::<u8>::zeros((4, 1));
    let got = parse::fill(
        LINES,
        ExampleViews {
            x: x.view_mut(),
            y: y.view_mut(),
        },
    )
    .unwrap();
    assert_eq!(got, 3);
    assert_eq!(y, array![[1u8], [0], [1], [0]]);
    assert_eq!(x[[1, 0]], f16::from_f32(4.5));
}

#[test]
fn pipeline_chunks_hold_every_output() {
    let mut seen = Vec::new();
    let done = parse::pipeline()
        .chunk_rows(2)
        .for_each_chunk(LINES, |chunk: ExampleChunk<'_>| {
            seen.push((chunk.x.nrows(), chunk.y.sum()));
            Ok::<(), preallocate::ItemError<std::num::ParseFloatError>>(())
        })
        .unwrap();
    assert_eq!(done.rows, 3);
    assert_eq!(seen, vec![(2, 1), (1, 1)]);

    let done = keep_positive::pipeline()
        .chunk_rows(2)
        .for_each_chunk(&[1.0, -1.0, 2.0, 3.0], |chunk| {
            seen.push((chunk.x.nrows(), chunk.y.sum()))
        })
        .unwrap();
    assert_eq!((done.rows, done.skipped), (3, vec![1]));
    assert_eq!(seen[2..], [(2, 3), (1, 3)]);
}
