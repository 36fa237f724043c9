//! Why one item produced no row ([`RowError`]) and which item it was ([`ItemError`]): what a
//! row function's failure becomes, whatever the entry point.
//!
//! One convention throughout: an error's `Display` includes the message of the error it wraps,
//! and `source()` skips to the first error whose message it does not include, so that a chain
//! printed by `anyhow` or `eyre` shows each message once.

use core::convert::Infallible;
use core::fmt;
use std::error::Error as StdError;

use crate::element::CastError;

/// Why one item produced no row: the row function's own error, or a checked cast.
///
/// ```
/// use preallocate_runtime::{CastError, RowError};
///
/// let own: RowError<String> = RowError::Row("bad record".to_owned());
/// assert_eq!(own.to_string(), "bad record");
/// let cast: RowError<String> = RowError::Cast(CastError::new(0, &-1, "u8"));
/// assert_eq!(cast.to_string(), "row element 0 (-1) does not fit in u8");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RowError<E = Infallible> {
    /// The row function returned `Err`.
    Row(E),
    /// A value did not fit the storage type (`cast = "checked"`).
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

/// Transparent: the wrapped error's message, and its source.
impl<E: fmt::Display> fmt::Display for RowError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RowError::Row(err) => err.fmt(f),
            RowError::Cast(err) => err.fmt(f),
        }
    }
}

impl<E: StdError + 'static> StdError for RowError<E> {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match self {
            RowError::Row(err) => err.source(),
            RowError::Cast(err) => err.source(),
        }
    }
}

/// The item at `index` produced no row, and why.
///
/// ```
/// use preallocate_runtime::{ItemError, RowError};
///
/// let err = ItemError { index: 7, error: RowError::Row(std::fmt::Error) };
/// assert_eq!(err.index(), 7);
/// assert_eq!(err.to_string(), "item 7: an error occurred when formatting an argument");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
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
}

impl<E: fmt::Display> fmt::Display for ItemError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "item {}: {}", self.index, self.error)
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

impl<E> ItemError<E>
where
    E: fmt::Display + Into<Box<dyn StdError>>,
{
    /// This error as a `Box<dyn Error>`, for a row function whose own error type is not an
    /// `Error` itself (`Box<dyn Error>`, `String`), which `?` cannot convert: the message is
    /// the same, and the row error's source stays reachable.
    ///
    /// ```
    /// use std::error::Error;
    /// use preallocate_runtime::{ItemError, RowError};
    ///
    /// fn script() -> Result<(), Box<dyn Error>> {
    ///     let failed: Result<(), ItemError<Box<dyn Error>>> =
    ///         Err(ItemError { index: 3, error: RowError::Row("bad line".into()) });
    ///     failed.map_err(ItemError::into_boxed)?; // `?` alone does not compile here
    ///     Ok(())
    /// }
    /// assert_eq!(script().unwrap_err().to_string(), "item 3: bad line");
    /// ```
    pub fn into_boxed(self) -> Box<dyn StdError> {
        let message = self.to_string();
        Box::new(Boxed {
            message,
            cause: Some(self.error.into_cause()),
        })
    }
}
