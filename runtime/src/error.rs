//! The error type of the fallible entry points.

/// What went wrong in a batch entry point, with the counts needed to act on it.
///
/// ```
/// let err = preallocate_runtime::Error::BufferFull { written: 8 };
/// assert_eq!(err.rows_written(), 8);
/// assert_eq!(err.item_index(), Some(8));
/// assert_eq!(
///     err.to_string(),
///     "output buffer is full after 8 rows: item 8 and any after it were not written"
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The caller's buffer does not have one column per row element; nothing was written.
    #[error(
        "output buffer has {found} columns, but each row has {expected} elements (`dim = {expected}`); nothing was written"
    )]
    WidthMismatch {
        /// The row width the function produces (`dim`).
        expected: usize,
        /// The number of columns of the buffer that was passed.
        found: usize,
    },
    /// The input has more items than the caller's buffer has rows.
    ///
    /// Every row of the buffer was written (rows `0..written`, items `0..written`); item
    /// `written` was taken from the input and dropped, and the items after it were not taken.
    #[error("output buffer is full after {written} rows: item {written} and any after it were not written")]
    BufferFull {
        /// Rows written, which is the buffer's number of rows.
        written: usize,
    },
}

impl Error {
    /// The number of rows written into the output before the error.
    ///
    /// ```
    /// let err = preallocate_runtime::Error::WidthMismatch { expected: 3, found: 4 };
    /// assert_eq!(err.rows_written(), 0);
    /// ```
    #[must_use]
    pub fn rows_written(&self) -> usize {
        match self {
            Error::WidthMismatch { .. } => 0,
            Error::BufferFull { written } => *written,
        }
    }

    /// The index of the item the error is about, where there is one.
    ///
    /// ```
    /// let err = preallocate_runtime::Error::WidthMismatch { expected: 3, found: 4 };
    /// assert_eq!(err.item_index(), None);
    /// ```
    #[must_use]
    pub fn item_index(&self) -> Option<usize> {
        match self {
            Error::WidthMismatch { .. } => None,
            Error::BufferFull { written } => Some(*written),
        }
    }
}
