//! Temporary files left by writers that are gone (a process killed by SIGKILL, the OOM killer, a
//! preempted node): found by their names and removed by a later writer, never while their
//! writer still runs.
//!
//! A temporary file is named `.<name>.<pid>-<n>@<host>.tmp` (`.x.npy.4242-0@node7.tmp`): the
//! destination's file name, the writing process's id, a counter, and the machine's host name.
//! A later writer in the same directory removes a temporary file when its host is this machine
//! and no process with its id is running here (checked in `/proc`). A file written from
//! another machine (a shared file system) is left alone, since this machine cannot tell whether
//! its writer lives; so is every file where `/proc` is not available. Names without a host
//! (`.x.npy.4242-0.tmp`, written before the host was part of the name) count as this machine's.

use std::ffi::OsStr;
use std::fs;
use std::io;
use std::path::Path;
use std::sync::OnceLock;

use super::error::SinkError;

/// The temporary name for destination `name`, written by this process.
pub(crate) fn temp_name(name: &OsStr, counter: u64) -> std::ffi::OsString {
    let mut temp = std::ffi::OsString::from(".");
    temp.push(name);
    temp.push(format!(".{}-{counter}", std::process::id()));
    if let Some(host) = host() {
        temp.push("@");
        temp.push(host);
    }
    temp.push(".tmp");
    temp
}

/// What a temporary file's name says about its writer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TempName<'a> {
    /// The destination's file name.
    pub(crate) dest: &'a str,
    /// The writing process's id.
    pub(crate) pid: u32,
    /// The writer's host, when the name has one.
    pub(crate) host: Option<&'a str>,
}

/// Parses a temporary file's name; `None` for any other name.
pub(crate) fn parse_temp_name(name: &str) -> Option<TempName<'_>> {
    let rest = name.strip_prefix('.')?.strip_suffix(".tmp")?;
    let (rest, host) = match rest.rsplit_once('@') {
        Some((rest, host)) if !host.is_empty() && !host.contains('.') => (rest, Some(host)),
        Some(_) => return None,
        None => (rest, None),
    };
    let (dest, id) = rest.rsplit_once('.')?;
    let (pid, counter) = id.split_once('-')?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if dest.is_empty() || !digits(pid) || !digits(counter) {
        return None;
    }
    Some(TempName {
        dest,
        pid: pid.parse().ok()?,
        host,
    })
}

/// This machine's host name, reduced to letters, digits, `-` and `_` (so that it cannot be
/// mistaken for another part of a file name); `None` when it cannot be found.
pub(crate) fn host() -> Option<&'static str> {
    static HOST: OnceLock<Option<String>> = OnceLock::new();
    HOST.get_or_init(|| {
        let raw = fs::read_to_string("/proc/sys/kernel/hostname")
            .ok()
            .or_else(|| std::env::var("HOSTNAME").ok())?;
        let host: String = raw
            .trim()
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .take(64)
            .collect();
        (!host.is_empty()).then_some(host)
    })
    .as_deref()
}

/// Whether the writer of a temporary file is known to be gone: on this machine, and no process
/// with its id runs. Unknown (no `/proc`, another machine) counts as alive.
pub(crate) fn writer_is_gone(temp: &TempName<'_>) -> bool {
    if temp.pid == std::process::id() {
        return false;
    }
    match (temp.host, host()) {
        (Some(theirs), Some(ours)) if theirs != ours => return false,
        (Some(_), None) => return false,
        _ => {}
    }
    let proc = Path::new("/proc");
    if !proc.join("self").exists() {
        return false;
    }
    match fs::metadata(proc.join(temp.pid.to_string())) {
        Ok(_) => false,
        Err(err) => err.kind() == io::ErrorKind::NotFound,
    }
}

/// Removes the temporary files in `dir` whose writer is gone and whose destination's name
/// `belongs` accepts; returns how many were removed. A file that disappears meanwhile (another
/// writer cleaning up too) is not an error.
///
/// # Errors
/// Listing `dir`, or removing a file, failed.
pub(crate) fn remove_orphans(
    dir: &Path,
    belongs: impl Fn(&str) -> bool,
) -> Result<usize, SinkError> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(err) => return Err(SinkError::io("list", dir, err)),
    };
    let mut removed = 0;
    for entry in entries {
        let entry = entry.map_err(|err| SinkError::io("list", dir, err))?;
        let name = entry.file_name();
        let Some(temp) = name.to_str().and_then(parse_temp_name) else {
            continue;
        };
        if !belongs(temp.dest) || !writer_is_gone(&temp) {
            continue;
        }
        let path = entry.path();
        match fs::remove_file(&path) {
            Ok(()) => removed += 1,
            Err(err) if err.kind() == io::ErrorKind::NotFound => {}
            Err(err) => return Err(SinkError::io("remove the orphaned", &path, err)),
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A process id that no process has: the largest allowed by the kernel is below it.
    const DEAD_PID: u32 = 2_147_483_646;

    #[test]
    fn names_round_trip() {
        let name = temp_name(OsStr::new("x.npy"), 7);
        let name = name.to_str().unwrap();
        let parsed = parse_temp_name(name).unwrap();
        assert_eq!(parsed.dest, "x.npy");
        assert_eq!(parsed.pid, std::process::id());
        assert_eq!(parsed.host, host());
        assert!(
            name.starts_with(".x.npy.") && name.ends_with(".tmp"),
            "{name}"
        );
    }

    #[test]
    fn old_and_foreign_names() {
        assert_eq!(
            parse_temp_name(".x.npy.4242-0.tmp"),
            Some(TempName {
                dest: "x.npy",
                pid: 4242,
                host: None
            })
        );
        assert_eq!(
            parse_temp_name(".part-00001.npy.12-3@node-7.tmp"),
            Some(TempName {
                dest: "part-00001.npy",
                pid: 12,
                host: Some("node-7")
            })
        );
        for other in [
            "x.npy",
            ".x.npy.tmp",
            ".x.npy.12.tmp",
            ".x.npy.a-1.tmp",
            "..12-1.tmp",
            ".x.npy.12-1@.tmp",
            ".x.npy.12-1@a.b.tmp",
            ".x.npy.12-1.partial",
        ] {
            assert_eq!(parse_temp_name(other), None, "{other}");
        }
    }

    #[cfg(unix)]
    #[test]
    fn only_the_files_of_gone_writers_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let host = host().map(|h| format!("@{h}")).unwrap_or_default();
        let dead = format!(".x.npy.{DEAD_PID}-0{host}.tmp");
        let dead_old = format!(".x.npy.{DEAD_PID}-1.tmp");
        let alive = format!(".x.npy.{}-0{host}.tmp", std::process::id());
        let parent = format!(".x.npy.{}-0{host}.tmp", std::os::unix::process::parent_id());
        let foreign = format!(".x.npy.{DEAD_PID}-0@another_machine_0.tmp");
        let other_dest = format!(".y.npy.{DEAD_PID}-0{host}.tmp");
        for name in [&dead, &dead_old, &alive, &parent, &foreign, &other_dest] {
            fs::write(dir.path().join(name), b"rows").unwrap();
        }
        let removed = remove_orphans(dir.path(), |dest| dest == "x.npy").unwrap();
        let proc_available = Path::new("/proc/self").exists();
        assert_eq!(removed, if proc_available { 2 } else { 0 });
        let mut left: Vec<String> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        let mut expected = vec![alive, parent, foreign, other_dest];
        if !proc_available {
            expected.extend([dead, dead_old]);
        }
        expected.sort();
        assert_eq!(left, expected);
    }

    #[test]
    fn a_missing_directory_has_no_orphans() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(remove_orphans(&dir.path().join("nope"), |_| true), Ok(0));
    }
}
