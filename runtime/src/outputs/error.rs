//! Errors of the output layer: what failed ([`SinkError`]), and what a failed or abandoned output
//! left behind ([`SinkFailure`], [`Partial`]).

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// An operating-system I/O error, shareable and comparable.
///
/// Wraps [`std::io::Error`] so that [`SinkError`] can be `Clone + Eq` like the crate's other error
/// types (`io::Error` is neither). Two `IoError`s are equal when their kind, OS error code and
/// message are.
///
/// ```
/// use preallocate::IoError;
///
/// let err = IoError::from(std::io::Error::from(std::io::ErrorKind::StorageFull));
/// assert_eq!(err.kind(), std::io::ErrorKind::StorageFull);
/// assert_eq!(err.clone(), err);
/// ```
#[derive(Debug, Clone, thiserror::Error)]
#[error(transparent)]
pub struct IoError(Arc<io::Error>);

impl IoError {
    /// The kind of the error (`NotFound`, `StorageFull`, `ReadOnlyFilesystem`, ...).
    ///
    /// ```
    /// # use preallocate::IoError;
    /// let err = IoError::from(std::io::Error::from(std::io::ErrorKind::NotFound));
    /// assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
    /// ```
    #[must_use]
    pub fn kind(&self) -> io::ErrorKind {
        self.0.kind()
    }

    /// The underlying `std::io::Error` (for its `raw_os_error`, say).
    ///
    /// ```
    /// # use preallocate::IoError;
    /// let err = IoError::from(std::io::Error::from_raw_os_error(28));
    /// assert_eq!(err.get_ref().raw_os_error(), Some(28));
    /// ```
    #[must_use]
    pub fn get_ref(&self) -> &io::Error {
        &self.0
    }
}

impl From<io::Error> for IoError {
    fn from(err: io::Error) -> Self {
        IoError(Arc::new(err))
    }
}

impl PartialEq for IoError {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
            || (self.0.kind() == other.0.kind()
                && self.0.raw_os_error() == other.0.raw_os_error()
                && self.0.to_string() == other.0.to_string())
    }
}

impl Eq for IoError {}

/// What went wrong while writing an output file, naming the path involved.
///
/// ```
/// use std::path::PathBuf;
/// use preallocate::SinkError;
///
/// let err = SinkError::MissingDirectory {
///     path: PathBuf::from("out/x.npy"),
///     dir: PathBuf::from("out"),
/// };
/// assert_eq!(err.to_string(), "cannot write `out/x.npy`: directory `out` does not exist");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SinkError {
    /// An I/O operation on `path` failed (disk full, read-only file system, ...).
    Io {
        /// What was being done, as a verb phrase ("write rows to", "create").
        op: &'static str,
        /// The file or directory the operation was on.
        path: PathBuf,
        /// The operating system's error.
        source: IoError,
    },
    /// Renaming a finished (or partial) file into place failed.
    Rename {
        /// The temporary file.
        from: PathBuf,
        /// Where it was meant to go.
        to: PathBuf,
        /// The operating system's error.
        source: IoError,
    },
    /// The directory that should hold the output file does not exist.
    MissingDirectory {
        /// The output file.
        path: PathBuf,
        /// Its missing parent directory.
        dir: PathBuf,
    },
    /// The output path names an existing directory, not a file.
    IsADirectory {
        /// The output path.
        path: PathBuf,
    },
    /// The shard directory's path names an existing file, not a directory.
    NotADirectory {
        /// The shard directory's path.
        path: PathBuf,
    },
    /// A chunk's width is not the number of elements of one row.
    WidthMismatch {
        /// The output path.
        path: PathBuf,
        /// The shape of one row.
        row_shape: Vec<usize>,
        /// Elements per row (the product of `row_shape`).
        expected: usize,
        /// Columns of the chunk that was passed.
        found: usize,
    },
    /// The output would be larger than the format (or this machine's address space) can describe.
    TooLarge {
        /// The output path.
        path: PathBuf,
        /// What overflowed.
        what: &'static str,
    },
    /// The tensor name is not usable in a safetensors header.
    InvalidTensorName {
        /// The name that was passed.
        name: String,
        /// Why it is rejected.
        reason: &'static str,
    },
    /// Shards of zero rows were asked for.
    ZeroShardRows {
        /// The shard directory.
        dir: PathBuf,
    },
    /// The writer was already closed by an earlier error.
    Closed {
        /// The output path.
        path: PathBuf,
    },
    /// The output directory holds an unfinished run of another job (its fingerprint differs):
    /// resuming it with this job's rows would mix two datasets.
    JobMismatch(Box<JobMismatch>),
    /// The Zarr store failed (feature `zarr`): reading, writing or listing its keys, or the
    /// codecs of a chunk.
    Store {
        /// The store's location.
        path: PathBuf,
        /// What was being done, as a verb phrase.
        op: &'static str,
        /// The store's or codec's message.
        message: String,
    },
    /// The format has no data type for an output's element type (`bf16` in `.npy` or Zarr):
    /// the typed entry points refuse it at compile time, so only an output driven by hand sees
    /// this.
    Unsupported {
        /// The output.
        path: PathBuf,
        /// The format.
        format: &'static str,
        /// The element type's name.
        dtype: &'static str,
    },
    /// The format has no such compression (Snappy in Zarr).
    UnsupportedCompression {
        /// The output.
        path: PathBuf,
        /// The format.
        format: &'static str,
        /// The compression's name.
        compression: &'static str,
    },
    /// The name of a Zarr array is not usable.
    InvalidArrayName {
        /// The store's location.
        store: PathBuf,
        /// The name that was passed.
        name: String,
        /// Why it is rejected.
        reason: &'static str,
    },
    /// The name of a Parquet column is not usable (feature `parquet`).
    InvalidColumnName {
        /// The output.
        path: PathBuf,
        /// The name that was passed.
        name: String,
        /// Why it is rejected.
        reason: &'static str,
    },
    /// The Parquet encoder refused the rows or its settings (feature `parquet`); its I/O
    /// errors are [`SinkError::Io`].
    Parquet {
        /// The output.
        path: PathBuf,
        /// What was being done, as a verb phrase.
        op: &'static str,
        /// The encoder's message.
        message: String,
    },
    /// Shards must hold whole chunks: `shard_rows` is not a multiple of the chunk's rows.
    ShardRowsNotMultiple {
        /// The output.
        path: PathBuf,
        /// Rows per chunk.
        chunk_rows: usize,
        /// Rows per shard asked for.
        shard_rows: usize,
    },
    /// The partition asked for is not one of the job.
    Partition {
        /// The output.
        path: PathBuf,
        /// What is wrong with it.
        error: Box<crate::partition::PartitionError>,
    },
}

impl fmt::Display for SinkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SinkError::Io { op, path, source } => {
                write!(f, "cannot {op} `{}`: {source}", path.display())
            }
            SinkError::Rename { from, to, source } => write!(
                f,
                "cannot rename `{}` to `{}`: {source}",
                from.display(),
                to.display()
            ),
            SinkError::MissingDirectory { path, dir } => write!(
                f,
                "cannot write `{}`: directory `{}` does not exist",
                path.display(),
                dir.display()
            ),
            SinkError::IsADirectory { path } => {
                write!(f, "cannot write `{}`: it is a directory", path.display())
            }
            SinkError::NotADirectory { path } => write!(
                f,
                "cannot write shards into `{}`: it exists and is not a directory",
                path.display()
            ),
            SinkError::WidthMismatch {
                path,
                row_shape,
                expected,
                found,
            } => write!(
                f,
                "cannot write to `{}`: the chunk has {found} columns, but a row of shape {row_shape:?} has {expected} elements",
                path.display()
            ),
            SinkError::TooLarge { path, what } => {
                write!(f, "cannot write `{}`: {what}", path.display())
            }
            SinkError::InvalidTensorName { name, reason } => {
                write!(f, "invalid safetensors tensor name {name:?}: {reason}")
            }
            SinkError::ZeroShardRows { dir } => write!(
                f,
                "cannot write shards into `{}`: `shard_rows` must be at least 1",
                dir.display()
            ),
            SinkError::Closed { path } => write!(
                f,
                "cannot write to `{}`: an earlier error closed the writer",
                path.display()
            ),
            SinkError::JobMismatch(mismatch) => mismatch.fmt(f),
            SinkError::Store { path, op, message } | SinkError::Parquet { path, op, message } => {
                write!(f, "cannot {op} `{}`: {message}", path.display())
            }
            SinkError::InvalidColumnName { path, name, reason } => write!(
                f,
                "invalid Parquet column name {name:?} for `{}`: {reason}",
                path.display()
            ),
            SinkError::Unsupported { path, format, dtype } => write!(
                f,
                "cannot write `{}`: {format} has no data type for `{dtype}`",
                path.display()
            ),
            SinkError::UnsupportedCompression {
                path,
                format,
                compression,
            } => write!(
                f,
                "cannot write `{}`: {format} has no {compression} compression (use zstd, or none)",
                path.display()
            ),
            SinkError::InvalidArrayName {
                store,
                name,
                reason,
            } => write!(
                f,
                "invalid Zarr array name {name:?} in `{}`: {reason}",
                store.display()
            ),
            SinkError::ShardRowsNotMultiple {
                path,
                chunk_rows,
                shard_rows,
            } => write!(
                f,
                "cannot write `{}`: `shard_rows` ({shard_rows}) must be a multiple of the chunk's \
                 rows ({chunk_rows}), so that each shard holds whole chunks",
                path.display()
            ),
            SinkError::Partition { path, error } => {
                write!(f, "cannot write `{}`: {error}", path.display())
            }
        }
    }
}

impl std::error::Error for SinkError {
    /// The source of the operating system's error, whose message this one includes.
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            SinkError::Io { source, .. } | SinkError::Rename { source, .. } => {
                std::error::Error::source(source)
            }
            _ => None,
        }
    }
}

impl SinkError {
    /// The I/O error behind this one, if the operating system reported one.
    ///
    /// ```
    /// use preallocate::SinkError;
    ///
    /// let err = SinkError::Closed { path: "x.npy".into() };
    /// assert!(err.io_error().is_none());
    /// ```
    #[must_use]
    pub fn io_error(&self) -> Option<&io::Error> {
        match self {
            SinkError::Io { source, .. } | SinkError::Rename { source, .. } => {
                Some(source.get_ref())
            }
            _ => None,
        }
    }

    pub(crate) fn io(op: &'static str, path: &Path, source: io::Error) -> Self {
        SinkError::Io {
            op,
            path: path.to_path_buf(),
            source: source.into(),
        }
    }
}

/// What differs between an unfinished job found in an output directory and the job that was
/// asked to write there ([`SinkError::JobMismatch`]).
///
/// ```
/// use preallocate::JobMismatch;
///
/// let mismatch = JobMismatch {
///     dir: "out/shards".into(),
///     field: "key".into(),
///     recorded: "\"v1\"".into(),
///     current: "\"v2\"".into(),
/// };
/// assert_eq!(
///     mismatch.to_string(),
///     "cannot write into `out/shards`: it holds an unfinished run of another job (`key` was \
///      \"v1\", is now \"v2\"); rerun that job to finish it, or remove the directory to start over"
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "cannot write into `{}`: it holds an unfinished run of another job (`{field}` was \
     {recorded}, is now {current}); rerun that job to finish it, or remove the directory to \
     start over",
    dir.display()
)]
pub struct JobMismatch {
    /// The output directory.
    pub dir: PathBuf,
    /// The first field of the fingerprint that differs (`row_fn`, `dtype`, `row_shape`,
    /// `items`, `shard_rows`, `key`, ...).
    pub field: String,
    /// Its value for the unfinished job, as JSON.
    pub recorded: String,
    /// Its value for this job, as JSON.
    pub current: String,
}

/// A failed output: the error, how many rows had been written, and where they are kept.
///
/// Every method of a writer that can fail returns this. The rows `0..written` are kept in
/// `partial` when it is `Some`: for a single file, `<path>.partial` (a valid `.npy` or
/// safetensors file holding exactly those rows); for shards, the shard directory, whose
/// `part-NNNNN.npy.partial` files hold them. The final path itself is never touched by a failure.
///
/// ```
/// use preallocate::{SinkError, SinkFailure};
///
/// let failure = SinkFailure {
///     written: 128,
///     partial: Some("x.npy.partial".into()),
///     source: SinkError::Closed { path: "x.npy".into() },
/// };
/// assert_eq!(
///     failure.to_string(),
///     "cannot write to `x.npy`: an earlier error closed the writer \
///      (128 rows written, kept in `x.npy.partial`)"
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SinkFailure {
    /// Rows written (and kept, if `partial` is `Some`) before the failure.
    pub written: usize,
    /// Where the rows written are kept, if anywhere.
    pub partial: Option<PathBuf>,
    /// What went wrong.
    pub source: SinkError,
}

impl fmt::Display for SinkFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({} rows written, ", self.source, self.written)?;
        match &self.partial {
            Some(path) => write!(f, "kept in `{}`)", path.display()),
            None => f.write_str("none kept)"),
        }
    }
}

impl std::error::Error for SinkFailure {
    /// The source of [`SinkFailure::source`], whose message this one includes.
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        std::error::Error::source(&self.source)
    }
}

/// What an abandoned writer left behind: the rows written and where they are kept.
///
/// Returned by `abandon` (call it when the source or the row function fails, to put the rows
/// written so far into the error). Finalizing the partial output is itself I/O and may fail:
/// then `path` is `None` and `error` says why.
///
/// ```
/// use preallocate::Partial;
///
/// let kept = Partial { rows: 3, path: Some("x.npy.partial".into()), error: None };
/// assert_eq!(kept.rows, 3);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Partial {
    /// Rows written before the writer was abandoned.
    pub rows: usize,
    /// Where they are kept (see [`SinkFailure`] for what the path names).
    pub path: Option<PathBuf>,
    /// What went wrong while keeping them, if anything: with `path` `None` they are lost (the
    /// file could not be made valid, so it was deleted); with `path` `Some`, they are kept but
    /// not as usual (under the temporary name when the rename failed, or not flushed).
    pub error: Option<SinkError>,
}
