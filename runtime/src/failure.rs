//! Why one item produced no row ([`RowError`]) and which item it was ([`ItemError`]): what a
//! row function's failure becomes, whatever the entry point.
//!
//! One convention throughout: an error's `Display` includes the message of the error it wraps,
//! and `source()` skips to the first error whose message it does not include, so that a chain
//! printed by `anyhow` or `eyre` shows each message once. Its `Debug` is the same message (with
//! the row function's error shown by its `Debug`), then its fields in brackets: what `main`
//! prints when it returns the error.

use core::convert::Infallible;
use core::fmt;
use std::error::Error as StdError;

use crate::element::CastError;

/// Why one item produced no row: the row function's own error, or a checked cast.
///
/// ```
/// use preallocate::{CastError, RowError};
///
/// let own: RowError<String> = RowError::Row("bad record".to_owned());
/// assert_eq!(own.to_string(), "bad record");
/// let cast: RowError<String> = RowError::Cast(CastError::new(0, &-1, "u8"));
/// assert_eq!(cast.to_string(), "row element 0 (-1) does not fit in u8");
/// ```
/// Transparent: the wrapped error's message, and its source.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RowError<E = Infallible> {
    /// The row function returned `Err`.
    #[error(transparent)]
    Row(E),
    /// A value did not fit the storage type (`cast = "checked"`).
    #[error(transparent)]
    Cast(CastError),
}

impl<E> From<Infallible> for RowError<E> {
    fn from(never: Infallible) -> Self {
        match never {}
    }
}

impl<E> From<CastError> for RowError<E> {
    fn from(err: CastError) -> Self {
        RowError::Cast(err)
    }
}

impl<E> RowError<E> {
    /// The message, with the row function's own error shown by `show`.
    pub(crate) fn describe(&self, f: &mut fmt::Formatter<'_>, show: Show<E>) -> fmt::Result {
        match self {
            RowError::Row(err) => show(err, f),
            RowError::Cast(err) => fmt::Display::fmt(err, f),
        }
    }
}

/// How a message shows the row function's own error: by its `Display` (in `Display`), or by its
/// `Debug` (in `Debug`, which does not require `Display`).
pub(crate) type Show<E> = fn(&E, &mut fmt::Formatter<'_>) -> fmt::Result;

/// The item at `index` produced no row, and why. Its message says `item 7 (counting from 0)`:
/// the index is the item's position in the input, the first item being item 0.
///
/// ```
/// use preallocate::{ItemError, RowError};
///
/// let err = ItemError { index: 7, error: RowError::Row(std::fmt::Error) };
/// assert_eq!(err.index(), 7);
/// assert_eq!(
///     err.to_string(),
///     "item 7 (counting from 0): an error occurred when formatting an argument"
/// );
/// // `Debug` (what `main` prints when it returns the error): the message, then the fields.
/// assert_eq!(
///     format!("{err:?}"),
///     "item 7 (counting from 0): Error [ItemError { index: 7, error: Row(Error) }]"
/// );
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct ItemError<E = Infallible> {
    /// Position of the item in the input, counting from 0.
    pub index: usize,
    /// What went wrong.
    pub error: RowError<E>,
}

impl<E> ItemError<E> {
    /// Position of the item in the input, counting from 0.
    #[must_use]
    pub fn index(&self) -> usize {
        self.index
    }

    /// The message, with the row function's own error shown by `show`.
    pub(crate) fn describe(&self, f: &mut fmt::Formatter<'_>, show: Show<E>) -> fmt::Result {
        write!(f, "item {} (counting from 0): ", self.index)?;
        self.error.describe(f, show)
    }

    /// The fields alone, as a derived `Debug` shows them.
    pub(crate) fn fields(&self) -> impl fmt::Debug + '_
    where
        E: fmt::Debug,
    {
        Fields(self)
    }
}

/// An [`ItemError`]'s fields, as a derived `Debug` shows them.
struct Fields<'a, E>(&'a ItemError<E>);

impl<E: fmt::Debug> fmt::Debug for Fields<'_, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ItemError")
            .field("index", &self.0.index)
            .field("error", &self.0.error)
            .finish()
    }
}

impl<E: fmt::Display> fmt::Display for ItemError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.describe(f, <E as fmt::Display>::fmt)
    }
}

/// The message (the row function's error by its `Debug`), then the fields in brackets.
impl<E: fmt::Debug> fmt::Debug for ItemError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.describe(f, <E as fmt::Debug>::fmt)?;
        f.write_str(" [")?;
        self.fields().fmt(f)?;
        f.write_str("]")
    }
}

impl<E: StdError + 'static> StdError for ItemError<E> {
    /// The source of the row function's error (its message is this one's).
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.error.source()
    }
}

/// An error turned into a `Box<dyn Error>` by `into_boxed`: the message as the error printed it,
/// and, as its source, the source of the row function's error.
pub(crate) struct Boxed {
    pub(crate) message: String,
    pub(crate) cause: Option<Box<dyn StdError>>,
}

impl fmt::Debug for Boxed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl fmt::Display for Boxed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl StdError for Boxed {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.cause.as_ref().and_then(|cause| cause.source())
    }
}

/// An [`ItemError`] or an [`Error`](crate::Error) whose row function's error is boxed, as made
/// by their `into_send_boxed`: the message as the error printed it, and, as its `source()`, the
/// source of the error it wraps (the row function's, or the output's).
///
/// It is `Error + Send + Sync + 'static`, so `?` turns it into a `Box<dyn Error + Send + Sync>`
/// (what a script that uses threads returns) as well as into a `Box<dyn Error>`, whatever the
/// row function's error type: `Box<dyn Error + Send + Sync>`, `String`, or any
/// `Error + Send + Sync`. Its `Debug` is its message, so that `main` prints it as it is.
///
/// ```
/// use std::error::Error;
/// use preallocate::{BoxedError, ItemError, RowError};
///
/// let failed: ItemError<Box<dyn Error + Send + Sync>> =
///     ItemError { index: 3, error: RowError::Row("bad line".into()) };
/// let boxed: BoxedError = failed.into_send_boxed();
/// assert_eq!(boxed.to_string(), "item 3 (counting from 0): bad line");
/// assert_eq!(format!("{boxed:?}"), "item 3 (counting from 0): bad line");
/// let on_any_thread: Box<dyn Error + Send + Sync> = boxed.into();
/// # let _ = on_any_thread;
/// ```
pub struct BoxedError {
    message: String,
    cause: Option<Box<dyn StdError + Send + Sync>>,
}

impl BoxedError {
    pub(crate) fn new(message: String, cause: Option<Box<dyn StdError + Send + Sync>>) -> Self {
        BoxedError { message, cause }
    }
}

impl fmt::Debug for BoxedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl fmt::Display for BoxedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl StdError for BoxedError {
    /// The source of the error it wraps, whose message is this one's.
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.cause.as_ref().and_then(|cause| cause.source())
    }
}

impl<E> RowError<E>
where
    E: Into<Box<dyn StdError>>,
{
    pub(crate) fn into_cause(self) -> Box<dyn StdError> {
        match self {
            RowError::Row(err) => err.into(),
            RowError::Cast(err) => Box::new(err),
        }
    }
}

impl<E> RowError<E>
where
    E: Into<Box<dyn StdError + Send + Sync>>,
{
    pub(crate) fn into_send_cause(self) -> Box<dyn StdError + Send + Sync> {
        match self {
            RowError::Row(err) => err.into(),
            RowError::Cast(err) => Box::new(err),
        }
    }
}

impl<E> ItemError<E>
where
    E: fmt::Display + Into<Box<dyn StdError>>,
{
    /// This error as a `Box<dyn Error>`, for a row function whose own error type is not an
    /// `Error` itself (`Box<dyn Error>`, `String`), which `?` cannot convert: the message is
    /// the same, and the row error's source stays reachable.
    ///
    /// A row function whose error is `Box<dyn Error + Send + Sync>` (what a pipeline with
    /// `.threads(n)` needs) is not covered here: use [`ItemError::into_send_boxed`], whose
    /// result `?` converts into `Box<dyn Error>` and `Box<dyn Error + Send + Sync>` alike.
    ///
    /// ```
    /// use std::error::Error;
    /// use preallocate::{ItemError, RowError};
    ///
    /// fn script() -> Result<(), Box<dyn Error>> {
    ///     let failed: Result<(), ItemError<Box<dyn Error>>> =
    ///         Err(ItemError { index: 3, error: RowError::Row("bad line".into()) });
    ///     failed.map_err(ItemError::into_boxed)?; // `?` alone does not compile here
    ///     Ok(())
    /// }
    /// assert_eq!(script().unwrap_err().to_string(), "item 3 (counting from 0): bad line");
    /// ```
    pub fn into_boxed(self) -> Box<dyn StdError> {
        let message = self.to_string();
        Box::new(Boxed {
            message,
            cause: Some(self.error.into_cause()),
        })
    }
}

impl<E> ItemError<E>
where
    E: fmt::Display + Into<Box<dyn StdError + Send + Sync>>,
{
    /// This error as a [`BoxedError`], which `?` turns into a `Box<dyn Error + Send + Sync>` or
    /// a `Box<dyn Error>`: for a row function whose own error is `Box<dyn Error + Send + Sync>`
    /// or `String`, which `?` cannot convert (an `E: Error + Send + Sync + 'static` needs
    /// neither this nor [`ItemError::into_boxed`]: `?` converts the `ItemError` itself). The
    /// message is the same, the row error's source stays reachable, and the result is
    /// `Send + Sync`, so it crosses threads.
    ///
    /// Why a second method rather than `into_boxed` for every error type: a
    /// `Box<dyn Error + Send + Sync>` does not convert into a `Box<dyn Error>` by `Into` (only
    /// by a coercion), so no one bound covers both boxes (and coherence rules out a second
    /// impl); and `into_boxed` returns a `Box<dyn Error>`, which is not `Send`. Returning a
    /// concrete type, rather than a box, is what lets `?` pick either box.
    ///
    /// ```
    /// use std::error::Error;
    /// use preallocate::{ItemError, RowError};
    ///
    /// type Failed = Result<(), ItemError<Box<dyn Error + Send + Sync>>>;
    /// let failed = || -> Failed {
    ///     Err(ItemError { index: 3, error: RowError::Row("bad line".into()) })
    /// };
    ///
    /// fn threaded(failed: Failed) -> Result<(), Box<dyn Error + Send + Sync>> {
    ///     failed.map_err(ItemError::into_send_boxed)?;
    ///     Ok(())
    /// }
    /// fn script(failed: Failed) -> Result<(), Box<dyn Error>> {
    ///     failed.map_err(ItemError::into_send_boxed)?; // the same line
    ///     Ok(())
    /// }
    /// let err = std::thread::spawn(move || threaded(failed())).join().unwrap().unwrap_err();
    /// assert_eq!(err.to_string(), "item 3 (counting from 0): bad line");
    /// assert_eq!(script(failed()).unwrap_err().to_string(), err.to_string());
    /// ```
    pub fn into_send_boxed(self) -> BoxedError {
        let message = self.to_string();
        BoxedError::new(message, Some(self.error.into_send_cause()))
    }
}
