use preallocate::preallocate;

fn main() {
    struct Local(u16);

    #[preallocate(dim = 1, dtype = u32)]
    fn widen(l: &Local) -> [u16; 1] {
        [l.0]
    }

    let x = widen::batch(&[Local(7), Local(9)]);
    assert_eq!(x.column(0).to_vec(), vec![7u32, 9]);
}
