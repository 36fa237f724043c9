//! A directory of `.npy` shards plus a JSON manifest: [`NpyShardWriter`].

use std::ffi::OsStr;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use ndarray::{s, ArrayView2};

use super::atomic::{parent_dir, partial_path, rename_error, sync_dir, AtomicFile};
use super::dtype::NpyElement;
use super::error::{Partial, SinkError, SinkFailure};
use super::npy::NpyWriter;
use super::progress::Ticker;
use super::stream::{keep_staged, Staged};

/// The manifest's file name: the directory's only `*.json`.
pub const SHARD_MANIFEST: &str = "manifest.json";

/// Streams rows into a directory of `.npy` shards of `shard_rows` rows each, then writes a
/// manifest.
///
/// Shards are `part-00000.npy`, `part-00001.npy`, … (five digits, more past 99 999 shards); each
/// holds `shard_rows` rows except the last, which may hold fewer; zero rows make zero shards.
/// [`finish`](Self::finish) writes `manifest.json` last: the total row count, the dtype (numpy's
/// descr and the Rust name), the row shape and its element count, and each shard's file name and
/// row count.
///
/// Every shard is written under a temporary name and renamed into place only by `finish`, so a
/// failed run leaves an earlier dataset in the directory as it was; its rows are kept as
/// `part-NNNNN.npy.partial` files instead (each a valid `.npy`). A successful run removes the
/// old manifest first, then renames its shards into place, removes shards of an earlier, longer
/// run and any `.partial` shards, and writes its manifest: a directory with a manifest is
/// complete, and one without is not.
///
/// ```
/// use preallocate_runtime::NpyShardWriter;
///
/// let dir = tempfile::tempdir()?;
/// let shards_dir = dir.path().join("shards"); // created if missing; its parent must exist
/// let mut shards = NpyShardWriter::<f32>::create(&shards_dir, &[2], 2)?;
/// shards.write_chunk(ndarray::array![[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]].view())?;
/// let out = shards.finish()?;
/// assert_eq!(out.rows, 3);
/// let files: Vec<_> = out.shards.iter().map(|s| (s.path.file_name().unwrap(), s.rows)).collect();
/// assert_eq!(files, [("part-00000.npy".as_ref(), 2), ("part-00001.npy".as_ref(), 1)]);
///
/// let manifest: serde_json::Value = serde_json::from_slice(&std::fs::read(&out.manifest)?)?;
/// assert_eq!(manifest["rows"], 3);
/// assert_eq!(manifest["dtype"], "<f4");
/// assert_eq!(manifest["shards"][1]["file"], "part-00001.npy");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct NpyShardWriter<T: NpyElement> {
    dir: PathBuf,
    row_shape: Vec<usize>,
    row_len: usize,
    shard_rows: usize,
    /// The shard being filled; created when its first row arrives.
    current: Option<NpyWriter<T>>,
    /// Full shards, flushed, under their temporary names.
    staged: Vec<Staged>,
    rows: usize,
    /// Shard files this run has created (full, current, or failed).
    started: usize,
    /// Set once finished, or closed by an error or `abandon`.
    closed: bool,
    ticker: Ticker,
}

/// One shard of a finished [`NpyShardWriter`].
///
/// ```
/// let shard = preallocate_runtime::Shard { path: "out/part-00000.npy".into(), rows: 10 };
/// assert_eq!(shard.rows, 10);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shard {
    /// The shard's path (`<dir>/part-NNNNN.npy`).
    pub path: PathBuf,
    /// Its rows.
    pub rows: usize,
}

/// What a finished [`NpyShardWriter`] wrote.
///
/// ```
/// # let dir = tempfile::tempdir()?;
/// let out = preallocate_runtime::NpyShardWriter::<u8>::create(dir.path().join("s"), &[4], 100)?
///     .finish()?;
/// assert_eq!((out.rows, out.shards.len()), (0, 0)); // no rows: no shards, and a manifest
/// assert!(out.manifest.ends_with("s/manifest.json"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardsOutput {
    /// The shard directory.
    pub dir: PathBuf,
    /// The manifest's path (`<dir>/manifest.json`).
    pub manifest: PathBuf,
    /// Rows in all shards.
    pub rows: usize,
    /// The shards, in order.
    pub shards: Vec<Shard>,
    /// Input indices of the items that gave no row (filtered out, or failed under
    /// `on_error = "skip"`), increasing; empty when the writer was driven directly.
    pub skipped: Vec<usize>,
    /// Whether the whole dataset is complete, its manifest written: always, except for a
    /// partition of a job ([`Pipeline::partition`](crate::Pipeline::partition)) whose other
    /// partitions have not all finished; then `shards` and `rows` are this partition's.
    pub complete: bool,
    /// How many of `shards` an earlier run had committed already, so that this run did not
    /// compute them again (a resumed job; all of them when the job was complete).
    pub resumed: usize,
}

impl<T: NpyElement> NpyShardWriter<T> {
    /// Starts writing shards of `shard_rows` rows of shape `row_shape` into `dir`, creating `dir`
    /// if it is missing.
    ///
    /// # Errors
    /// [`SinkError::MissingDirectory`] when `dir` is missing and so is its parent,
    /// [`SinkError::NotADirectory`] when `dir` is a file, [`SinkError::ZeroShardRows`], or the
    /// I/O error of creating `dir`.
    ///
    /// ```
    /// use preallocate_runtime::{NpyShardWriter, SinkError};
    ///
    /// let dir = tempfile::tempdir()?;
    /// let failure = NpyShardWriter::<f32>::create(dir.path().join("a/b"), &[3], 10).unwrap_err();
    /// assert!(matches!(failure.source, SinkError::MissingDirectory { .. }));
    /// assert!(failure.to_string().contains("does not exist"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn create(
        dir: impl AsRef<Path>,
        row_shape: &[usize],
        shard_rows: usize,
    ) -> Result<Self, SinkFailure> {
        let dir = dir.as_ref();
        let fail = |source| SinkFailure {
            written: 0,
            partial: None,
            source,
        };
        if shard_rows == 0 {
            return Err(fail(SinkError::ZeroShardRows {
                dir: dir.to_path_buf(),
            }));
        }
        let row_len = row_shape
            .iter()
            .try_fold(1usize, |len, &axis| len.checked_mul(axis))
            .filter(|_| row_shape.len() < 64)
            .ok_or_else(|| {
                fail(SinkError::TooLarge {
                    path: dir.to_path_buf(),
                    what: "the row shape has more axes or elements than a `.npy` can hold",
                })
            })?;
        ensure_dir(dir).map_err(fail)?;
        Ok(NpyShardWriter {
            dir: dir.to_path_buf(),
            row_shape: row_shape.to_vec(),
            row_len,
            shard_rows,
            current: None,
            staged: Vec::new(),
            rows: 0,
            started: 0,
            closed: false,
            ticker: Ticker::none(),
        })
    }

    /// Reports progress on stderr while rows stream (feature `progress`).
    ///
    /// ```
    /// use preallocate_runtime::{NpyShardWriter, Progress};
    ///
    /// let dir = tempfile::tempdir()?;
    /// let shards = NpyShardWriter::<f32>::create(dir.path(), &[2], 10)?
    ///     .with_progress(Progress::hidden(Some(100)));
    /// # drop(shards);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[cfg(feature = "progress")]
    #[must_use]
    pub fn with_progress(mut self, progress: super::Progress) -> Self {
        self.ticker = Ticker::new(progress);
        self
    }

    /// Appends the rows of `rows` (`n × prod(row_shape)`), starting a new shard whenever one is
    /// full. A chunk may span several shards.
    ///
    /// # Errors
    /// As [`NpyWriter::write_chunk`]. Any error closes the writer; the rows written are kept in
    /// `part-NNNNN.npy.partial` files, and the failure's `partial` is the directory.
    ///
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// let mut shards = preallocate_runtime::NpyShardWriter::<u8>::create(dir.path(), &[1], 2)?;
    /// shards.write_chunk(ndarray::array![[1], [2], [3], [4], [5]].view())?;
    /// assert_eq!(shards.rows_written(), 5);
    /// assert_eq!(shards.finish()?.shards.len(), 3);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn write_chunk(&mut self, rows: ArrayView2<'_, T>) -> Result<(), SinkFailure> {
        if self.closed {
            return Err(self.closed_failure());
        }
        if rows.ncols() != self.row_len {
            let err = SinkError::WidthMismatch {
                path: self.dir.clone(),
                row_shape: self.row_shape.clone(),
                expected: self.row_len,
                found: rows.ncols(),
            };
            return Err(self.fail(err));
        }
        let mut done = 0;
        while done < rows.nrows() {
            if self.current.is_none() {
                let path = self.dir.join(shard_name(self.started));
                match NpyWriter::create_with(&path, &self.row_shape, Ticker::none()) {
                    Ok(shard) => {
                        self.current = Some(shard);
                        self.started += 1;
                    }
                    Err(failure) => return Err(self.fail(failure.source)),
                }
            }
            let shard = self.current.as_mut().expect("created above");
            let take = (self.shard_rows - shard.rows_written()).min(rows.nrows() - done);
            if let Err(failure) = shard.write_chunk(rows.slice(s![done..done + take, ..])) {
                // The shard kept its own rows (the ones before this chunk); keep the full
                // shards' too.
                self.current = None;
                return Err(self.fail(failure.source));
            }
            done += take;
            self.rows += take;
            if shard.rows_written() == self.shard_rows {
                let shard = self.current.take().expect("checked above");
                match shard.stage() {
                    Ok(staged) => self.staged.push(staged),
                    Err(failure) => return Err(self.fail(failure.source)),
                }
            }
        }
        self.ticker.advance(rows.nrows());
        Ok(())
    }

    /// The number of rows written so far.
    ///
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// let shards = preallocate_runtime::NpyShardWriter::<u8>::create(dir.path(), &[1], 2)?;
    /// assert_eq!(shards.rows_written(), 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn rows_written(&self) -> usize {
        self.rows
    }

    /// The shard directory.
    ///
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// let shards = preallocate_runtime::NpyShardWriter::<u8>::create(dir.path(), &[1], 2)?;
    /// assert_eq!(shards.dir(), dir.path());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Finishes the last shard, moves every shard into place, and writes the manifest.
    ///
    /// # Errors
    /// An I/O error of any step. The shards not yet in place are kept as `.partial` files, and
    /// the directory has no manifest.
    ///
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// let mut shards = preallocate_runtime::NpyShardWriter::<i64>::create(dir.path(), &[2], 8)?;
    /// shards.write_chunk(ndarray::array![[1, 2]].view())?;
    /// let out = shards.finish()?;
    /// assert_eq!(out.shards[0].path, dir.path().join("part-00000.npy"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn finish(mut self) -> Result<ShardsOutput, SinkFailure> {
        if self.closed {
            return Err(self.closed_failure());
        }
        if let Some(shard) = self.current.take() {
            match shard.stage() {
                Ok(staged) => self.staged.push(staged),
                Err(failure) => return Err(self.fail(failure.source)),
            }
        }
        let manifest = self.dir.join(SHARD_MANIFEST);
        // The old manifest goes first: from here until the new one is written, the directory
        // says it is incomplete rather than pairing an old manifest with new shards.
        match fs::remove_file(&manifest) {
            Ok(()) => {}
            Err(err) if err.kind() == io::ErrorKind::NotFound => {}
            Err(err) => return Err(self.fail(SinkError::io("remove", &manifest, err))),
        }
        let mut shards = Vec::with_capacity(self.staged.len());
        let mut pending = std::mem::take(&mut self.staged).into_iter();
        while let Some(staged) = pending.next() {
            if let Err(err) = fs::rename(&staged.temp, &staged.dest) {
                let err = rename_error(&staged.temp, &staged.dest, err);
                keep_staged(&staged.temp, &staged.dest);
                // The shards not yet renamed are kept as `.partial` by `fail`.
                self.staged.extend(pending);
                return Err(self.fail(err));
            }
            shards.push(Shard {
                path: staged.dest,
                rows: staged.rows,
            });
        }
        if let Err(err) = remove_stale(&self.dir, shards.len(), true) {
            return Err(self.fail(err));
        }
        if let Err(err) = self.write_manifest(&manifest, &shards) {
            return Err(self.fail(err));
        }
        sync_dir(&self.dir);
        self.closed = true;
        self.ticker.finish();
        Ok(ShardsOutput {
            dir: self.dir.clone(),
            manifest,
            rows: self.rows,
            shards,
            skipped: Vec::new(),
            complete: true,
            resumed: 0,
        })
    }

    /// Stops writing and keeps the rows written so far as `part-NNNNN.npy.partial` files in the
    /// directory (which the report names); an earlier dataset there is left as it was. Dropping
    /// the writer does the same, without the report.
    ///
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// let mut shards = preallocate_runtime::NpyShardWriter::<u8>::create(dir.path(), &[1], 2)?;
    /// shards.write_chunk(ndarray::array![[1], [2], [3]].view())?;
    /// let kept = shards.abandon();
    /// assert_eq!((kept.rows, kept.path.as_deref()), (3, Some(dir.path())));
    /// assert!(dir.path().join("part-00000.npy.partial").exists());
    /// assert!(dir.path().join("part-00001.npy.partial").exists());
    /// assert!(!dir.path().join("manifest.json").exists());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use = "the report says where the rows written are kept"]
    pub fn abandon(mut self) -> Partial {
        self.close()
    }

    /// Keeps every shard of this run as `.partial`, removes older `.partial` shards, and closes.
    fn close(&mut self) -> Partial {
        if self.closed {
            return Partial {
                rows: self.rows,
                path: (self.rows > 0).then(|| self.dir.clone()),
                error: None,
            };
        }
        self.closed = true;
        self.ticker.abandon();
        let mut error = None;
        if let Some(shard) = self.current.take() {
            let kept = shard.abandon();
            error = error.or(kept.error);
        }
        for staged in self.staged.drain(..) {
            let partial = partial_path(&staged.dest);
            if let Err(err) = fs::rename(&staged.temp, &partial) {
                error = error.or(Some(rename_error(&staged.temp, &partial, err)));
            }
        }
        // A `.partial` shard numbered past this run's belongs to an older failed run: leaving
        // it would mix two runs' rows under one pattern.
        if let Err(err) = remove_stale(&self.dir, self.started, false) {
            error = error.or(Some(err));
        }
        sync_dir(&self.dir);
        Partial {
            rows: self.rows,
            path: (self.rows > 0).then(|| self.dir.clone()),
            error,
        }
    }

    fn fail(&mut self, err: SinkError) -> SinkFailure {
        let kept = self.close();
        SinkFailure {
            written: kept.rows,
            partial: kept.path,
            source: err,
        }
    }

    fn closed_failure(&self) -> SinkFailure {
        SinkFailure {
            written: self.rows,
            partial: (self.rows > 0).then(|| self.dir.clone()),
            source: SinkError::Closed {
                path: self.dir.clone(),
            },
        }
    }

    fn write_manifest(&self, path: &Path, shards: &[Shard]) -> Result<(), SinkError> {
        let files: Vec<serde_json::Value> = shards
            .iter()
            .map(|shard| {
                serde_json::json!({
                    "file": shard.path.file_name().and_then(OsStr::to_str).unwrap_or_default(),
                    "rows": shard.rows,
                })
            })
            .collect();
        let manifest = serde_json::json!({
            "format": "npy-shards",
            "version": 1,
            "rows": self.rows,
            "dtype": T::DESCR,
            "rust_dtype": T::NAME,
            "row_shape": self.row_shape,
            "dim": self.row_len,
            "shard_rows": self.shard_rows,
            "shards": files,
        });
        write_json(path, &manifest)
    }
}

impl<T: NpyElement> Drop for NpyShardWriter<T> {
    /// Dropped unfinished (an early return, a panic unwinding): keeps the rows as `.partial`
    /// shards, like [`abandon`](NpyShardWriter::abandon).
    fn drop(&mut self) {
        if !self.closed {
            let _ = self.close();
        }
    }
}

/// `part-00042.npy` for shard 42.
pub(super) fn shard_name(index: usize) -> String {
    format!("part-{index:05}.npy")
}

/// The shard index and whether it is a `.partial`, for the names this writer makes.
pub(super) fn parse_shard_name(name: &str) -> Option<(usize, bool)> {
    let rest = name.strip_prefix("part-")?;
    let digits_end = rest.find(|c: char| !c.is_ascii_digit())?;
    let (digits, suffix) = rest.split_at(digits_end);
    if digits.len() < 5 {
        return None;
    }
    let partial = match suffix {
        ".npy" => false,
        ".npy.partial" => true,
        _ => return None,
    };
    Some((digits.parse().ok()?, partial))
}

/// Removes shard files that do not belong to a run that made `count` shards: every `.partial`
/// numbered `count` or more, and (after a successful run, `complete`) every finished shard
/// numbered `count` or more and every `.partial`.
pub(super) fn remove_stale(dir: &Path, count: usize, complete: bool) -> Result<(), SinkError> {
    let entries = fs::read_dir(dir).map_err(|err| SinkError::io("list", dir, err))?;
    for entry in entries {
        let entry = entry.map_err(|err| SinkError::io("list", dir, err))?;
        let name = entry.file_name();
        let Some((index, partial)) = name.to_str().and_then(parse_shard_name) else {
            continue;
        };
        let stale = if complete {
            partial || index >= count
        } else {
            partial && index >= count
        };
        if stale {
            let path = entry.path();
            fs::remove_file(&path).map_err(|err| SinkError::io("remove", &path, err))?;
        }
    }
    Ok(())
}

/// Creates `dir` if it is missing; its parent must exist.
pub(super) fn ensure_dir(dir: &Path) -> Result<(), SinkError> {
    if dir.is_dir() {
        return Ok(());
    }
    if dir.exists() {
        return Err(SinkError::NotADirectory {
            path: dir.to_path_buf(),
        });
    }
    let parent = parent_dir(dir);
    if !parent.is_dir() {
        return Err(SinkError::MissingDirectory {
            path: dir.to_path_buf(),
            dir: parent.to_path_buf(),
        });
    }
    match fs::create_dir(dir) {
        Ok(()) => Ok(()),
        // Created meanwhile by someone else: fine, if it is a directory.
        Err(_) if dir.is_dir() => Ok(()),
        Err(err) => Err(SinkError::io("create directory", dir, err)),
    }
}

/// Writes `value` to `path` whole: a temporary file, flushed, renamed into place.
pub(super) fn write_json(path: &Path, value: &serde_json::Value) -> Result<(), SinkError> {
    let mut text = serde_json::to_vec_pretty(value).unwrap_or_default();
    text.push(b'\n');
    let mut file = AtomicFile::create(path)?;
    if let Err(err) = file.file().write_all(&text) {
        let err = SinkError::io("write", file.temp(), err);
        file.discard();
        return Err(err);
    }
    if let Err(err) = file.sync() {
        file.discard();
        return Err(err);
    }
    file.rename_to(path).map_err(|(err, temp)| {
        let _ = fs::remove_file(temp);
        err
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shard_names_round_trip() {
        assert_eq!(shard_name(0), "part-00000.npy");
        assert_eq!(shard_name(123_456), "part-123456.npy");
        assert_eq!(parse_shard_name("part-00000.npy"), Some((0, false)));
        assert_eq!(parse_shard_name("part-00042.npy.partial"), Some((42, true)));
        assert_eq!(parse_shard_name("part-123456.npy"), Some((123_456, false)));
        for other in [
            "part-0001.npy",
            "part-00001.npz",
            "part-00001.npy.tmp",
            "manifest.json",
            "part-.npy",
            ".part-00001.npy.1-2.tmp",
            "xpart-00001.npy",
        ] {
            assert_eq!(parse_shard_name(other), None, "{other}");
        }
    }

    #[test]
    fn a_file_is_not_a_shard_directory() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        fs::write(&file, b"x").unwrap();
        let failure = NpyShardWriter::<u8>::create(&file, &[1], 1).unwrap_err();
        assert_eq!(failure.source, SinkError::NotADirectory { path: file });
    }

    #[test]
    fn zero_shard_rows_are_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let failure = NpyShardWriter::<u8>::create(dir.path(), &[1], 0).unwrap_err();
        assert!(matches!(failure.source, SinkError::ZeroShardRows { .. }));
        assert_eq!(
            failure.to_string(),
            format!(
                "cannot write shards into `{}`: `shard_rows` must be at least 1 (0 rows written, none kept)",
                dir.path().display()
            )
        );
    }
}
