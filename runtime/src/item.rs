//! The items a row function taking a reference accepts: the referent in the forms a caller
//! usually holds it (owned, borrowed, borrowed twice, a `String` for a `str`, a `Vec` for a
//! slice), each lent to the function for the one call, without a copy or an allocation.

use std::borrow::Cow;
use std::rc::Rc;
use std::sync::Arc;

/// An item that lends a `&T` to a row function taking `&T`.
///
/// `#[preallocate]` on `fn f(item: &T) -> ..` makes the entry points take any item that
/// implements `ItemRef<T>`: `&T` itself, `&&T` (the items of a `&Vec<&T>`), an owned `T` (the
/// items of a `Vec<T>` moved into a pipeline), `Box`, `Rc`, `Arc` and `Cow` of `T`, and
/// for strings and slices the types that hold them:
///
/// | the function takes | the entry points also take |
/// |---|---|
/// | `&str` | `String`, `&String`, `&&str`, `Box<str>`, `Arc<str>`, `Cow<str>` |
/// | `&[U]` | `Vec<U>`, `&Vec<U>`, `[U; N]`, `&[U; N]`, `&&[U]` |
/// | `&T` | `T`, `&&T`, `Box<T>`, `Arc<T>`, `Rc<T>`, `Cow<T>` (and a reference to each) |
///
/// ```
/// use preallocate::preallocate;
///
/// #[preallocate(dim = 2, dtype = u32)]
/// fn lengths(line: &str) -> [u32; 2] {
///     [line.len() as u32, line.split_whitespace().count() as u32]
/// }
///
/// let lines: Vec<String> = vec!["a b".into(), "hello".into()];
/// let x = lengths::batch(&lines); // `&String` items: no copy, no `.as_str()`
/// assert_eq!(x, ndarray::array![[3, 2], [5, 1]]);
/// assert_eq!(lengths::batch(lines), x); // owned `String`s
/// ```
#[diagnostic::on_unimplemented(
    message = "a row function taking `&{T}` cannot take items of type `{Self}`",
    label = "items of type `{Self}`",
    note = "pass items that lend a `&{T}`: `&{T}`, `&&{T}`, an owned `{T}`, or a `Box`, `Rc`, `Arc` or `Cow` of it (a `String` or `&String` lends a `&str`, a `Vec<U>`, `&Vec<U>` or `[U; N]` a `&[U]`); else map the items first (`.iter().map(|x| ..)`)"
)]
pub trait ItemRef<T: ?Sized> {
    /// The item as the row function takes it.
    fn item_ref(&self) -> &T;
}

impl<T> ItemRef<T> for T {
    #[inline]
    fn item_ref(&self) -> &T {
        self
    }
}

impl<T: ?Sized> ItemRef<T> for &T {
    #[inline]
    fn item_ref(&self) -> &T {
        self
    }
}

impl<T: ?Sized> ItemRef<T> for &&T {
    #[inline]
    fn item_ref(&self) -> &T {
        self
    }
}

impl<T: ?Sized> ItemRef<T> for &mut T {
    #[inline]
    fn item_ref(&self) -> &T {
        self
    }
}

/// The owning pointers of `T`, and a reference to each.
macro_rules! pointers {
    ($($pointer:ident),*) => {$(
        impl<T: ?Sized> ItemRef<T> for $pointer<T> {
            #[inline]
            fn item_ref(&self) -> &T {
                self
            }
        }

        impl<T: ?Sized> ItemRef<T> for &$pointer<T> {
            #[inline]
            fn item_ref(&self) -> &T {
                self
            }
        }
    )*};
}

pointers!(Box, Rc, Arc);

impl<T: ?Sized + ToOwned> ItemRef<T> for Cow<'_, T> {
    #[inline]
    fn item_ref(&self) -> &T {
        self
    }
}

impl<T: ?Sized + ToOwned> ItemRef<T> for &Cow<'_, T> {
    #[inline]
    fn item_ref(&self) -> &T {
        self
    }
}

impl ItemRef<str> for String {
    #[inline]
    fn item_ref(&self) -> &str {
        self
    }
}

impl ItemRef<str> for &String {
    #[inline]
    fn item_ref(&self) -> &str {
        self
    }
}

impl<U> ItemRef<[U]> for Vec<U> {
    #[inline]
    fn item_ref(&self) -> &[U] {
        self
    }
}

impl<U> ItemRef<[U]> for &Vec<U> {
    #[inline]
    fn item_ref(&self) -> &[U] {
        self
    }
}

impl<U, const N: usize> ItemRef<[U]> for [U; N] {
    #[inline]
    fn item_ref(&self) -> &[U] {
        self
    }
}

impl<U, const N: usize> ItemRef<[U]> for &[U; N] {
    #[inline]
    fn item_ref(&self) -> &[U] {
        *self
    }
}

#[cfg(test)]
mod tests {
    use super::ItemRef;

    fn lent<T: ?Sized, I: ItemRef<T>>(item: &I) -> *const T {
        item.item_ref()
    }

    #[test]
    fn each_form_lends_the_same_memory() {
        let s = String::from("abc");
        let at = s.as_ptr();
        assert_eq!(lent::<str, _>(&s).cast::<u8>(), at);
        assert_eq!(lent::<str, _>(&&s).cast::<u8>(), at);
        let slice: &str = &s;
        assert_eq!(lent::<str, _>(&slice).cast::<u8>(), at);
        assert_eq!(lent::<str, _>(&&slice).cast::<u8>(), at);
        let v = vec![1.0f32, 2.0];
        assert_eq!(lent::<[f32], _>(&v).cast::<f32>(), v.as_ptr());
        assert_eq!(lent::<[f32], _>(&&v).cast::<f32>(), v.as_ptr());
        let a = [1u8, 2, 3];
        assert_eq!(lent::<[u8], _>(&a).cast::<u8>(), a.as_ptr());
        assert_eq!(lent::<[u8], _>(&&a).cast::<u8>(), a.as_ptr());
        let boxed: Box<str> = "xy".into();
        assert_eq!(lent::<str, _>(&boxed).cast::<u8>(), boxed.as_ptr());
        let arc: std::sync::Arc<[u8]> = vec![4, 5].into();
        assert_eq!(lent::<[u8], _>(&arc).cast::<u8>(), arc.as_ptr());
        let cow: std::borrow::Cow<'_, str> = std::borrow::Cow::Borrowed("q");
        assert_eq!(lent::<str, _>(&cow), "q" as *const str);
        let n = 7u64;
        assert_eq!(lent::<u64, _>(&n), &raw const n);
        assert_eq!(lent::<u64, _>(&&n), &raw const n);
    }
}
