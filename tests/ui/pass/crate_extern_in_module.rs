// `crate = pb` names the facade through an `extern crate` of the enclosing module.
mod inner {
    extern crate preallocate as pb;

    #[pb::preallocate(dim = 2, dtype = u16, crate = pb)]
    pub fn pair(x: &u8) -> [u8; 2] {
        [*x, x.wrapping_add(1)]
    }

    pub struct Offset(pub u8);

    impl Offset {
        #[pb::preallocate(dim = 1, dtype = u16, crate = pb)]
        pub fn shift(&self, x: &u8) -> [u8; 1] {
            [x.wrapping_add(self.0)]
        }
    }
}

fn main() {
    let x = inner::pair::batch(&[1, 7]);
    assert_eq!(x, preallocate::ndarray::array![[1u16, 2], [7, 8]]);

    let mut out = preallocate::ndarray::Array2::<inner::pair::Dtype>::zeros((1, inner::pair::DIM));
    assert_eq!(inner::pair::fill(&[3], out.view_mut()).unwrap(), 1);
    assert_eq!(out, preallocate::ndarray::array![[3u16, 4]]);

    let mut rows = 0;
    inner::pair::pipeline()
        .chunk_rows(2)
        .for_each_chunk(&[0u8, 1, 2, 3, 4], |chunk| {
            rows += chunk.nrows();
            Ok::<(), std::convert::Infallible>(())
        })
        .unwrap();
    assert_eq!(rows, 5);

    let offset = inner::Offset(10);
    assert_eq!(offset.shift_batch(&[1u8])[[0, 0]], 11);
    assert_eq!(inner::Offset::SHIFT_DIM, 1);
}
