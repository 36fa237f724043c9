//! Errors of a whole entry point ([`Error`]): a caller's buffer that does not fit, or an output
//! that stopped, with the item's error ([`ItemError`]) when an item was the cause.
//!
//! One convention throughout: an error's `Display` includes the message of the error it wraps,
//! and `source()` skips to the first error whose message it does not include, so that a chain
//! printed by `anyhow` or `eyre` shows each message once. Its `Debug` is the same message (with
//! the row function's error shown by its `Debug`), then its fields in brackets: what `main`
//! prints when it returns the error.
//!
//! In a script, a row function's error type `Box<dyn Error + Send + Sync>` works everywhere,
//! threads included, and [`Error::into_send_boxed`] (or [`ItemError::into_send_boxed`]) turns
//! what an entry point returns into an error that `?` converts into either
//! `Box<dyn Error + Send + Sync>` or `Box<dyn Error>`.

use core::convert::Infallible;
use core::fmt;
use std::error::Error as StdError;
use std::path::{Path, PathBuf};

use crate::failure::{Boxed, BoxedError, ItemError, RowError, Show};
use crate::outputs::SinkError;
use crate::policy::FillStop;

/// What went wrong in a batch entry point that writes into a caller's buffer, with the counts
/// needed to act on it. `E` is the row function's error type (`Infallible` when it cannot fail).
///
/// ```
/// // 8 rows written, items 3 and 5 dropped: item 10 is the one that did not fit.
/// let err: preallocate::Error = preallocate::Error::BufferFull { written: 8, index: 10 };
/// assert_eq!(err.rows_written(), 8);
/// assert_eq!(err.item_index(), Some(10));
/// assert_eq!(
///     err.to_string(),
///     "output buffer is full after 8 rows: item 10 (counting from 0) and any after it were not \
///      written"
/// );
/// // `Debug` (what `main` prints when it returns the error): the message, then the fields.
/// assert_eq!(
///     format!("{err:?}"),
///     format!("{err} [BufferFull {{ written: 8, index: 10 }}]")
/// );
/// ```
#[derive(Clone, PartialEq, Eq)]
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
    /// written before the failure are kept at `partial`, and with several outputs each in its
    /// own file, at `other_partials` too. The message names every path
    /// ([`Error::partial_paths`] lists them).
    Output {
        /// Rows written (and kept) before the failure.
        written: usize,
        /// Where they are kept (`x.npy.partial`, or the shard directory), if anywhere; with
        /// several outputs each in its own file (`write_npy` of a struct of rows), where the
        /// first field's are.
        partial: Option<PathBuf>,
        /// With several outputs each in its own file, where the other fields' rows are kept,
        /// in the order of the fields (`dir/y.npy.partial`, ...), when an item failed; empty
        /// otherwise. (A boxed slice rather than a `Vec`, so that the error stays small.)
        other_partials: Box<[PathBuf]>,
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

impl<E> OutputCause<E> {
    /// The message, with the row function's own error shown by `show`.
    fn describe(&self, f: &mut fmt::Formatter<'_>, show: Show<E>) -> fmt::Result {
        match self {
            OutputCause::Item(err) => err.describe(f, show),
            OutputCause::Sink(err) => fmt::Display::fmt(err, f),
        }
    }
}

impl<E: fmt::Display> fmt::Display for OutputCause<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.describe(f, <E as fmt::Display>::fmt)
    }
}

impl<E> Error<E> {
    /// The number of rows written into the output before the error.
    ///
    /// ```
    /// let err = preallocate::Error::<std::convert::Infallible>::WidthMismatch { expected: 3, found: 4 };
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

    /// Every path where rows written before the error are kept: [`Error::Output`]'s
    /// `partial`, then its `other_partials` (one `.partial` file per field of a struct of rows
    /// written by `write_npy`); empty for the other errors.
    ///
    /// ```
    /// use preallocate::{Error, OutputCause, SinkError};
    ///
    /// let err: Error = Error::Output {
    ///     written: 2,
    ///     partial: Some("out/x.npy.partial".into()),
    ///     other_partials: Box::new(["out/y.npy.partial".into()]),
    ///     cause: OutputCause::Sink(SinkError::Closed { path: "out/x.npy".into() }),
    /// };
    /// assert_eq!(err.partial_paths().len(), 2);
    /// assert!(err.to_string().ends_with(
    ///     "(2 rows written, kept in `out/x.npy.partial` and `out/y.npy.partial`)"
    /// ));
    /// ```
    #[must_use]
    pub fn partial_paths(&self) -> Vec<&Path> {
        match self {
            Error::Output {
                partial,
                other_partials,
                ..
            } => partial
                .iter()
                .chain(other_partials.iter())
                .map(PathBuf::as_path)
                .collect(),
            _ => Vec::new(),
        }
    }

    /// The index of the item the error is about, where there is one.
    ///
    /// ```
    /// let err = preallocate::Error::<std::convert::Infallible>::WidthMismatch { expected: 3, found: 4 };
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

impl<E> Error<E> {
    /// The message, with the row function's own error shown by `show`.
    fn describe(&self, f: &mut fmt::Formatter<'_>, show: Show<E>) -> fmt::Result {
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
                "output buffer is full after {written} rows: item {index} (counting from 0) and any after it were not written"
            ),
            Error::Item { written, error } => {
                error.describe(f, show)?;
                write!(f, " ({written} rows written before it)")
            }
            Error::Output {
                written, cause, ..
            } => {
                cause.describe(f, show)?;
                write!(f, " ({written} rows written, ")?;
                let paths = self.partial_paths();
                let Some((last, rest)) = paths.split_last() else {
                    return f.write_str("none kept)");
                };
                f.write_str("kept in ")?;
                for (k, path) in rest.iter().enumerate() {
                    let sep = if k + 1 == rest.len() { " and " } else { ", " };
                    write!(f, "`{}`{sep}", path.display())?;
                }
                write!(f, "`{}`)", last.display())
            }
        }
    }
}

impl<E: fmt::Display> fmt::Display for Error<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.describe(f, <E as fmt::Display>::fmt)
    }
}

/// The message (the row function's error by its `Debug`), then the fields in brackets.
impl<E: fmt::Debug> fmt::Debug for Error<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.describe(f, <E as fmt::Debug>::fmt)?;
        f.write_str(" [")?;
        Fields(self).fmt(f)?;
        f.write_str("]")
    }
}

/// An [`Error`]'s fields, as a derived `Debug` shows them (an item's error by its fields too,
/// so that the message is not repeated).
struct Fields<'a, E>(&'a Error<E>);

impl<E: fmt::Debug> fmt::Debug for Fields<'_, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Error::WidthMismatch { expected, found } => f
                .debug_struct("WidthMismatch")
                .field("expected", expected)
                .field("found", found)
                .finish(),
            Error::ShapeMismatch { expected, found } => f
                .debug_struct("ShapeMismatch")
                .field("expected", expected)
                .field("found", found)
                .finish(),
            Error::RowCountMismatch { rows } => f
                .debug_struct("RowCountMismatch")
                .field("rows", rows)
                .finish(),
            Error::BufferFull { written, index } => f
                .debug_struct("BufferFull")
                .field("written", written)
                .field("index", index)
                .finish(),
            Error::Item { written, error } => f
                .debug_struct("Item")
                .field("written", written)
                .field("error", &error.fields())
                .finish(),
            Error::Output {
                written,
                partial,
                other_partials,
                cause,
            } => f
                .debug_struct("Output")
                .field("written", written)
                .field("partial", partial)
                .field("other_partials", other_partials)
                .field("cause", &CauseFields(cause))
                .finish(),
        }
    }
}

/// An [`OutputCause`]'s fields, as a derived `Debug` shows them.
struct CauseFields<'a, E>(&'a OutputCause<E>);

impl<E: fmt::Debug> fmt::Debug for CauseFields<'_, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            OutputCause::Item(error) => f.debug_tuple("Item").field(&error.fields()).finish(),
            OutputCause::Sink(error) => f.debug_tuple("Sink").field(error).finish(),
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
    /// [`ItemError::into_boxed`]; for `Box<dyn Error + Send + Sync>`, see
    /// [`Error::into_send_boxed`]).
    ///
    /// ```
    /// use std::error::Error as _;
    /// use preallocate::{Error, ItemError, RowError};
    ///
    /// let err: Error<Box<dyn std::error::Error>> = Error::Item {
    ///     written: 2,
    ///     error: ItemError { index: 2, error: RowError::Row("bad line".into()) },
    /// };
    /// let boxed = err.into_boxed();
    /// assert_eq!(boxed.to_string(), "item 2 (counting from 0): bad line (2 rows written before it)");
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

impl<E> Error<E>
where
    E: fmt::Display + Into<Box<dyn StdError + Send + Sync>>,
{
    /// This error as a [`BoxedError`], which `?` turns into a `Box<dyn Error + Send + Sync>` or
    /// a `Box<dyn Error>`: for a row function whose own error is `Box<dyn Error + Send + Sync>`
    /// (the error type to give row functions in a script that uses threads: `.threads(n)` needs
    /// it `Send`) or `String`, which `?` cannot convert. The message is the same, the source of
    /// the row function's (or the output's) error stays reachable, and the result is
    /// `Send + Sync`. See [`ItemError::into_send_boxed`] for why this is a second method.
    ///
    /// ```
    /// use std::error::Error as _;
    /// use preallocate::{Error, ItemError, RowError};
    ///
    /// let err: Error<Box<dyn std::error::Error + Send + Sync>> = Error::Item {
    ///     written: 2,
    ///     error: ItemError { index: 2, error: RowError::Row("bad line".into()) },
    /// };
    /// let boxed: Box<dyn std::error::Error + Send + Sync> = err.into_send_boxed().into();
    /// assert_eq!(boxed.to_string(), "item 2 (counting from 0): bad line (2 rows written before it)");
    /// assert!(boxed.source().is_none());
    /// ```
    pub fn into_send_boxed(self) -> BoxedError {
        let message = self.to_string();
        let cause = match self {
            Error::Item { error, .. }
            | Error::Output {
                cause: OutputCause::Item(error),
                ..
            } => Some(error.error.into_send_cause()),
            Error::Output {
                cause: OutputCause::Sink(error),
                ..
            } => Some(Box::new(error) as Box<dyn StdError + Send + Sync>),
            Error::WidthMismatch { .. }
            | Error::ShapeMismatch { .. }
            | Error::RowCountMismatch { .. }
            | Error::BufferFull { .. } => None,
        };
        BoxedError::new(message, cause)
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
