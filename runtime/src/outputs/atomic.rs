//! Write-then-rename: a file is written under a temporary name in its final directory and
//! renamed into place only once complete, so the final name only ever holds a whole file.

use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::error::SinkError;
use super::orphans;

/// Distinguishes the temporary files of one process (the process id distinguishes processes).
static NEXT_TEMP: AtomicU64 = AtomicU64::new(0);

/// A file being written under a temporary name next to its destination.
///
/// The temporary name is unique (`.<name>.<pid>-<n>@<host>.tmp`, created with `create_new`), so
/// two writers aimed at the same destination never write into the same file: the last to finish
/// wins, and each one's destination is always a complete file. Creating one first removes the
/// temporary files of this destination whose writers are gone (see `orphans`).
#[derive(Debug)]
pub(crate) struct AtomicFile {
    file: File,
    temp: PathBuf,
}

impl AtomicFile {
    /// Creates the temporary file for `dest`, whose directory must exist.
    pub(crate) fn create(dest: &Path) -> Result<Self, SinkError> {
        let dest = dest.to_path_buf();
        let dir = parent_dir(&dest).to_path_buf();
        // why check first: `open` on a missing directory says only "No such file or
        // directory", and naming the directory is what the caller needs.
        if !dir.is_dir() {
            return Err(SinkError::MissingDirectory { path: dest, dir });
        }
        // A path without a file name (``, `..`, `/`) names a directory too.
        let Some(name) = dest
            .file_name()
            .map(OsString::from)
            .filter(|_| !dest.is_dir())
        else {
            return Err(SinkError::IsADirectory { path: dest });
        };
        // Temporary files of earlier writers of this destination that were killed: best
        // effort, since failing to clean up must not fail this write.
        if let Some(dest_name) = name.to_str() {
            let _ = orphans::remove_orphans(&dir, |orphan| orphan == dest_name);
        }
        loop {
            let counter = NEXT_TEMP.fetch_add(1, Ordering::Relaxed);
            let temp = dir.join(orphans::temp_name(&name, counter));
            match OpenOptions::new()
                .read(true)
                .write(true)
                .create_new(true)
                .open(&temp)
            {
                Ok(file) => return Ok(AtomicFile { file, temp }),
                // A leftover of a killed process that had the same id: take the next number.
                Err(err) if err.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(err) => return Err(SinkError::io("create", &temp, err)),
            }
        }
    }

    pub(crate) fn file(&mut self) -> &mut File {
        &mut self.file
    }

    pub(crate) fn temp(&self) -> &Path {
        &self.temp
    }

    /// Flushes the file's data and metadata to the device.
    pub(crate) fn sync(&self) -> Result<(), SinkError> {
        self.file
            .sync_all()
            .map_err(|err| SinkError::io("flush", &self.temp, err))
    }

    /// Closes the (synced) file and renames it to `to`, replacing what is there.
    ///
    /// On failure the file is still under its temporary name, which is returned with the error.
    pub(crate) fn rename_to(self, to: &Path) -> Result<(), (SinkError, PathBuf)> {
        let AtomicFile { file, temp } = self;
        drop(file);
        match fs::rename(&temp, to) {
            Ok(()) => {
                sync_dir(parent_dir(to));
                Ok(())
            }
            Err(err) => Err((rename_error(&temp, to, err), temp)),
        }
    }

    /// Closes and deletes the temporary file, best effort.
    pub(crate) fn discard(self) {
        let AtomicFile { file, temp } = self;
        drop(file);
        let _ = fs::remove_file(temp);
    }
}

/// The name under which the rows of a failed output are kept: `<dest>.partial`.
pub(crate) fn partial_path(dest: &Path) -> PathBuf {
    let mut name = dest.as_os_str().to_owned();
    name.push(".partial");
    PathBuf::from(name)
}

/// The directory of `path` (`.` for a bare file name).
pub(crate) fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    }
}

pub(crate) fn rename_error(from: &Path, to: &Path, err: io::Error) -> SinkError {
    SinkError::Rename {
        from: from.to_path_buf(),
        to: to.to_path_buf(),
        source: err.into(),
    }
}

/// Makes a rename in `dir` durable, best effort: the data is already synced, and a file system
/// that cannot sync a directory (some network ones) still has the file.
pub(crate) fn sync_dir(dir: &Path) {
    #[cfg(unix)]
    if let Ok(handle) = File::open(dir) {
        let _ = handle.sync_all();
    }
    #[cfg(not(unix))]
    let _ = dir;
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn a_file_appears_under_its_name_only_when_renamed() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("x.bin");
        let mut file = AtomicFile::create(&dest).unwrap();
        file.file().write_all(b"abc").unwrap();
        file.sync().unwrap();
        assert!(!dest.exists());
        let temp = file.temp().to_path_buf();
        assert_eq!(temp.parent(), Some(dir.path()));
        let temp_name = temp.file_name().unwrap().to_str().unwrap();
        assert!(
            temp_name.starts_with(".x.bin.") && temp_name.ends_with(".tmp"),
            "{temp_name}"
        );
        file.rename_to(&dest).unwrap();
        assert_eq!(fs::read(&dest).unwrap(), b"abc");
        assert!(!temp.exists());
    }

    #[test]
    fn two_writers_to_one_destination_use_two_files() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("x.bin");
        let a = AtomicFile::create(&dest).unwrap();
        let b = AtomicFile::create(&dest).unwrap();
        assert_ne!(a.temp(), b.temp());
        a.discard();
        b.discard();
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn a_missing_directory_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("nope").join("x.npy");
        let err = AtomicFile::create(&dest).unwrap_err();
        assert_eq!(
            err,
            SinkError::MissingDirectory {
                path: dest.clone(),
                dir: dir.path().join("nope")
            }
        );
        assert!(err.to_string().contains("does not exist"));
    }

    #[test]
    fn a_directory_is_not_a_destination() {
        let dir = tempfile::tempdir().unwrap();
        let err = AtomicFile::create(dir.path()).unwrap_err();
        assert_eq!(
            err,
            SinkError::IsADirectory {
                path: dir.path().to_path_buf()
            }
        );
    }

    #[test]
    fn a_path_without_a_file_name_is_a_directory() {
        for path in ["", "..", "/"] {
            let err = AtomicFile::create(Path::new(path)).unwrap_err();
            assert_eq!(err, SinkError::IsADirectory { path: path.into() });
        }
    }

    #[test]
    fn partial_and_parent_names() {
        assert_eq!(
            partial_path(Path::new("out/x.npy")),
            PathBuf::from("out/x.npy.partial")
        );
        assert_eq!(parent_dir(Path::new("x.npy")), Path::new("."));
        assert_eq!(parent_dir(Path::new("a/x.npy")), Path::new("a"));
    }
}
