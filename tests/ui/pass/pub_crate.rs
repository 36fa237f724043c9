mod features {
    use preallocate::preallocate;

    #[preallocate(dim = 2, dtype = i64)]
    pub(crate) fn square(x: &i64) -> [i64; 2] {
        [*x, x * x]
    }

    pub mod deeper {
        use preallocate::preallocate;

        #[preallocate(dim = 1, dtype = i64)]
        pub(super) fn negate(x: &i64) -> [i64; 1] {
            [-x]
        }

        #[preallocate(dim = 1, dtype = i64)]
        pub(in crate::features) fn double(x: &i64) -> [i64; 1] {
            [2 * x]
        }
    }

    pub fn use_restricted() -> (i64, i64) {
        (deeper::negate::batch(&[4])[[0, 0]], deeper::double::batch(&[4])[[0, 0]])
    }
}

fn main() {
    assert_eq!(features::square::batch(&[3])[[0, 1]], 9);
    assert_eq!(features::square::DIM, 2);
    assert_eq!(features::use_restricted(), (-4, 8));
}
