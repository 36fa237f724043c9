//! Errors of a whole entry point ([`Error`]): a caller's buffer that does not fit, or an output
//! that stopped, with the item's error ([`ItemError`]) when an item was the cause.
//!
//! One convention throughout: an error's `Display` includes the message of the error it wraps,
//! and `source()` skips to the first error whose message it does not include, so that a chain
//! printed by `anyhow` or `eyre` shows each message once.

use core::convert::Infallible;
use core::fmt;
use std::error::Error as StdError;
use std::path::PathBuf;

use crate::failure::{Boxed, ItemError, RowError};
use crate::outputs::SinkError;
use crate::policy::FillStop;

/// What went wrong in a batch entry point that writes into a caller's buffer, with the counts
/// needed to act on it. `E` is the row function's error type (`Infallible` when it cannot fail).
///
/// ```
/// // 8 rows written, items 3 and 5 dropped: item 10 is the one that did not fit.
/// let err: preallocate_runtime::Error = preallocate_runtime::Error::BufferFull { written: 8, index: 10 };
/// assert_eq!(err.rows_written(), 8);
/// assert_eq!(err.item_index(), Some(10));
/// assert_eq!(
///     err.to_string(),
///     "output buffer is full after 8 rows: item 10 and any after it were not written"
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error<E = Infallible> {
    /// The caller's buffer does not have one column per row element; nothing was written.
    WidthMismatch {
        /// The row width the function produces (`dim`).
        expected: usize,
        /// The number of columns of the buffer that was passed.
        found: usize,
    },
    /// The caller's buffer does not have the row shape of a multi-axis row function (`shape`);
    /// nothing was written.
    ShapeMismatch {
        /// The row shape the function produces.
        expected: Vec<usize>,
        /// The shape of one row of the buffer that was passed (its shape without axis 0).
        found: Vec<usize>,
    },
    /// The buffers of a row function with several outputs do not all have the same number of
    /// rows; nothing was written.
    RowCountMismatch {
        /// The number of rows of each buffer, in the order of the outputs.
        rows: Vec<usize>,
    },
    /// The input has more rows than the caller's buffer.
    ///
    /// Every row of the buffer was written; the item that did not fit was taken from the input
    /// and dropped, and the items after it were not taken.
    BufferFull {
        /// Rows written, which is the buffer's number of rows.
        written: usize,
        /// Input index of the item whose row did not fit.
        index: usize,
    },
    /// An item failed (under `on_error = "fail"`); the rows before it are written.
    Item {
        /// Rows written before the failure.
        written: usize,
        /// The failed item and why.
        error: ItemError<E>,
    },
    /// Writing an output file stopped, because an item failed or the output itself did (disk
    /// full, read-only file system, missing directory). The final path is untouched; the rows
    /// written before the failure are kept at `partial`.
    Output {
        /// Rows written (and kept) before the failure.
        written: usize,
        /// Where they are kept (`x.npy.partial`, or the shard directory), if anywhere.
        partial: Option<PathBuf>,
        /// What stopped the output.
        cause: OutputCause<E>,
    },
}

/// Why an output file stopped before it was complete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutputCause<E = Infallible> {
    /// An item failed.
    Item(ItemError<E>),
    /// Writing the output failed.
    Sink(SinkError),
}

impl<E: fmt::Display> fmt::Display for OutputCause<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OutputCause::Item(err) => err.fmt(f),
            OutputCause::Sink(err) => err.fmt(f),
        }
    }
}

impl<E> Error<E> {
    /// The number of rows written into the output before the error.
    ///
    /// ```
    /// let err = preallocate_runtime::Error::<std::convert::Infallible>::WidthMismatch { expected: 3, found: 4 };
    /// assert_eq!(err.rows_written(), 0);
    /// ```
    #[must_use]
    pub fn rows_written(&self) -> usize {
        match self {
            Error::WidthMismatch { .. }
            | Error::ShapeMismatch { .. }
            | Error::RowCountMismatch { .. } => 0,
            Error::BufferFull { written, .. }
            | Error::Item { written, .. }
            | Error::Output { written, .. } => *written,
        }
    }

    /// The index of the item the error is about, where there is one.
    ///
    /// ```
    /// let err = preallocate_runtime::Error::<std::convert::Infallible>::WidthMismatch { expected: 3, found: 4 };
    /// assert_eq!(err.item_index(), None);
    /// ```
    #[must_use]
    pub fn item_index(&self) -> Option<usize> {
        match self {
            Error::WidthMismatch { .. }
            | Error::ShapeMismatch { .. }
            | Error::RowCountMismatch { .. } => None,
            Error::BufferFull { index, .. } => Some(*index),
            Error::Item { error, .. }
            | Error::Output {
                cause: OutputCause::Item(error),
                ..
            } => Some(error.index),
            Error::Output { .. } => None,
        }
    }
}

impl<E: fmt::Display> fmt::Display for Error<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::WidthMismatch { expected, found } => write!(
                f,
                "output buffer has {found} columns, but each row has {expected} elements (`dim = {expected}`); nothing was written"
            ),
            Error::ShapeMismatch { expected, found } => write!(
                f,
                "output buffer rows have shape {found:?}, but each row has shape {expected:?} (`shape`); nothing was written"
            ),
            Error::RowCountMismatch { rows } => write!(
                f,
                "the output buffers have {rows:?} rows: every output needs the same number of rows; nothing was written"
            ),
            Error::BufferFull { written, index } => write!(
                f,
                "output buffer is full after {written} rows: item {index} and any after it were not written"
            ),
            Error::Item { written, error } => {
                write!(f, "{error} ({written} rows written before it)")
            }
            Error::Output {
                written,
                partial,
                cause,
            } => {
                write!(f, "{cause} ({written} rows written, ")?;
                match partial {
                    Some(path) => write!(f, "kept in `{}`)", path.display()),
                    None => f.write_str("none kept)"),
                }
            }
        }
    }
}

impl<E: StdError + 'static> StdError for Error<E> {
    /// The source of the item's or the output's error (their messages are this one's).
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match self {
            Error::Item { error, .. }
            | Error::Output {
                cause: OutputCause::Item(error),
                ..
            } => error.source(),
            Error::Output {
                cause: OutputCause::Sink(error),
                ..
            } => error.source(),
            Error::WidthMismatch { .. }
            | Error::ShapeMismatch { .. }
            | Error::RowCountMismatch { .. }
            | Error::BufferFull { .. } => None,
        }
    }
}

impl<E> Error<E>
where
    E: fmt::Display + Into<Box<dyn StdError>>,
{
    /// This error as a `Box<dyn Error>`, for a row function whose own error type is not an
    /// `Error` itself (`Box<dyn Error>`, `String`), which `?` cannot convert (see
    /// [`ItemError::into_boxed`]).
    ///
    /// ```
    /// use std::error::Error as _;
    /// use preallocate_runtime::{Error, ItemError, RowError};
    ///
    /// let err: Error<Box<dyn std::error::Error>> = Error::Item {
    ///     written: 2,
    ///     error: ItemError { index: 2, error: RowError::Row("bad line".into()) },
    /// };
    /// let boxed = err.into_boxed();
    /// assert_eq!(boxed.to_string(), "item 2: bad line (2 rows written before it)");
    /// assert!(boxed.source().is_none());
    /// ```
    pub fn into_boxed(self) -> Box<dyn StdError> {
        let message = self.to_string();
        let cause = match self {
            Error::Item { error, .. }
            | Error::Output {
                cause: OutputCause::Item(error),
                ..
            } => Some(error.error.into_cause()),
            Error::Output {
                cause: OutputCause::Sink(error),
                ..
            } => Some(Box::new(error) as Box<dyn StdError>),
            Error::WidthMismatch { .. }
            | Error::ShapeMismatch { .. }
            | Error::RowCountMismatch { .. }
            | Error::BufferFull { .. } => None,
        };
        Box::new(Boxed { message, cause })
    }
}

impl<E> Error<E> {
    /// The error of a `fill` that stopped.
    pub(crate) fn from_fill_stop<F: Into<RowError<E>>>(stop: FillStop<F>) -> Self {
        match stop {
            FillStop::Rejected { expected, found } => match (expected, found.as_slice()) {
                (&[expected], &[found]) => Error::WidthMismatch { expected, found },
                _ => Error::ShapeMismatch {
                    expected: expected.to_vec(),
                    found,
                },
            },
            FillStop::Unequal { rows } => Error::RowCountMismatch { rows },
            FillStop::Full { written, index } => Error::BufferFull { written, index },
            FillStop::Item { written, failed } => Error::Item {
                written,
                error: failed.item_error(),
            },
        }
    }
}
