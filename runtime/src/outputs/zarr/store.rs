//! Where a Zarr job's objects go: a local directory, made durable in groups at commit points,
//! or an object store (feature `s3`), where every write is durable when it returns.
//!
//! On a local file system, `zarrs`' own `FilesystemStore` flushes every object it writes to the
//! device (`sync_all` per chunk file) but never the directories holding them, so each chunk
//! costs a wait for the device while a machine crash can still lose a chunk's directory entry.
//! [`LocalStore`] writes objects without waiting, remembers what it wrote (the files, and the
//! directories whose entries changed), and makes all of it durable at once when asked
//! ([`Storage::sync`]): the job's commit points. A metadata document (`zarr.json`) is a commit
//! point of its own: everything written before it is made durable first, then the document is
//! written whole under a temporary name, flushed and renamed into place, so that readers and a
//! crash only ever see an old or a new document, never a part of one, and never one that
//! describes objects that are not on the device yet.
//!
//! The job ([`ZarrJob`](super::ZarrJob)) commits units in groups ([`Group`]):
//! [`Storage::commit`] makes what was written durable, then writes the group's records, so a
//! record never describes a unit a crash can still lose. On a local directory the commit runs
//! on a thread of its own while the job computes and writes the next units, and it flushes the
//! group's files from several threads at once, so that the device writes them out together
//! rather than one after the other. One commit runs at a time: a group is committed after
//! [`GROUP_TIME`], [`GROUP_BYTES`] or [`GROUP_ITEMS`] when no commit is under way, and the job
//! waits for the one under way only when the group reaches [`GROUP_UNITS`] or four times
//! [`GROUP_BYTES`] or [`GROUP_ITEMS`]. So the device writes while the job computes, and the
//! last commit, which the end of the run waits for, is a small one. Nothing is held in memory
//! for a commit but the names of the files and the records: the files' bytes are in the
//! operating system's cache.
//!
//! A unit's chunk (or shard) is encoded and written into the local directory by a
//! [`ChunkWriter`], on threads of their own while the job computes the next units; a commit
//! waits for every chunk in flight first.

use std::collections::BTreeSet;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use zarrs::filesystem::FilesystemStore;
use zarrs::storage::byte_range::ByteRangeIterator;
use zarrs::storage::{
    store_set_partial_many, Bytes, ListableStorageTraits, MaybeBytesIterator, OffsetBytesIterator,
    ReadableStorageTraits, ReadableWritableListableStorage, StorageError, StoreKey, StoreKeys,
    StoreKeysPrefixes, StorePrefix, WritableStorageTraits,
};

use crate::outputs::atomic::{parent_dir, AtomicFile};

/// Units stored are committed this often, when no commit is under way (a killed run loses
/// about this much work, plus the unit it was computing)...
pub(crate) const GROUP_TIME: Duration = Duration::from_millis(100);
/// ... or when this many bytes of units (before compression) wait for their records, with no
/// commit under way (four times as many: whether or not one is). 16 MiB made shards of 8 MiB
/// three times slower on a virtual disk (commits of 2 shards, each waiting on the
/// device): 0.675 s against 0.208 s with 32 MiB and 0.199 s with 64 MiB, 2 M rows x 32 `f32`,
/// medians of 6 alternating runs; chunks of 1 MiB took the same time with all three...
pub(crate) const GROUP_BYTES: usize = 32 << 20;
/// ... or when units of this many items wait (four times as many: whether or not a commit is
/// under way), which bounds the records a commit holds in memory (a line per unit, with its
/// dropped items) however small the rows...
pub(crate) const GROUP_ITEMS: usize = 1 << 20;
/// ... or when this many units wait (which bounds the files one sync flushes).
pub(crate) const GROUP_UNITS: usize = 1024;
/// A file of this many bytes or more is flushed as soon as it is written, by the thread that
/// wrote it, rather than with its group at the next commit: on ext4 without a journal, writing
/// large files while the commit flushes others made both wait (shards of 8 MiB, 2 M rows x 32
/// `f32`: 0.758 s flushed with their group, 0.327 s each on its own, medians of 6 alternating
/// runs; chunks of 1 MiB flushed alone took 0.319 s against 0.230 s with their group).
const SYNC_ALONE_BYTES: usize = 4 << 20;
/// Threads that flush the files of one sync.
const SYNC_THREADS: usize = 8;

/// A Zarr job's store: the objects, and the local store behind them when they are files.
#[derive(Clone)]
pub struct Storage {
    objects: ReadableWritableListableStorage,
    local: Option<Arc<LocalStore>>,
}

impl Deref for Storage {
    type Target = ReadableWritableListableStorage;

    fn deref(&self) -> &Self::Target {
        &self.objects
    }
}

impl Storage {
    /// The directory `dir` (created by the first write when missing; its parent must exist).
    pub(crate) fn local(dir: &Path) -> Result<Self, StorageError> {
        let local = Arc::new(LocalStore::new(dir)?);
        Ok(Storage {
            objects: local.clone(),
            local: Some(local),
        })
    }

    /// An object store, whose writes are durable when they return.
    #[cfg_attr(not(feature = "s3"), allow(dead_code))]
    pub(crate) fn remote(objects: ReadableWritableListableStorage) -> Self {
        Storage {
            objects,
            local: None,
        }
    }

    /// The objects, for `zarrs`' arrays and groups.
    pub(crate) fn objects(&self) -> ReadableWritableListableStorage {
        self.objects.clone()
    }

    /// Writes `bytes` as the object `key` of a local directory, from the caller's buffer (no
    /// copy into an owned `Bytes`), without waiting for the device unless it is large
    /// ([`SYNC_ALONE_BYTES`]); `false` for an object store, which takes owned bytes through
    /// `zarrs`.
    pub(crate) fn write_local(&self, key: &StoreKey, bytes: &[u8]) -> Result<bool, StorageError> {
        match &self.local {
            Some(local) => {
                local.write(key, bytes)?;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// A writer of chunk files of `chunk_bytes` (before `encode`) on threads of their own, for
    /// a local directory; `None` for an object store, or when no thread could be started
    /// (chunks are then written in turn).
    pub(crate) fn chunk_writer(
        &self,
        chunk_bytes: usize,
        encode: Option<Encode>,
    ) -> Option<ChunkWriter> {
        let threads = ChunkWriter::threads(chunk_bytes);
        ChunkWriter::new(self.local.as_ref()?, threads, encode)
    }

    /// Whether writes wait for a commit or a sync to be durable (a local directory).
    pub(crate) fn defers_sync(&self) -> bool {
        self.local.is_some()
    }

    /// A commit point: makes every object written so far durable, then writes `records` (whose
    /// own durability waits for the next commit or sync). On a local directory this runs on a
    /// thread of its own, after the previous commit; an error of the previous commit is
    /// returned here, and one of this commit by the next call or by [`sync`](Storage::sync).
    pub(crate) fn commit(&self, records: Vec<(StoreKey, Vec<u8>)>) -> Result<(), StorageError> {
        let Some(local) = &self.local else {
            for (key, bytes) in records {
                self.objects.set(&key, bytes.into())?;
            }
            return Ok(());
        };
        local.wait()?;
        let pending = local.take();
        let store = Arc::clone(local);
        let commit = std::thread::Builder::new()
            .name("preallocate-zarr-sync".into())
            .spawn(move || {
                sync_all(&pending)?;
                for (key, bytes) in records {
                    store.write(&key, &bytes)?;
                }
                Ok(())
            })?;
        *local.in_flight() = Some(commit);
        Ok(())
    }

    /// Whether a commit is under way.
    pub(crate) fn busy(&self) -> bool {
        self.local.as_ref().is_some_and(|local| {
            local
                .in_flight()
                .as_ref()
                .is_some_and(|commit| !commit.is_finished())
        })
    }

    /// Makes every object written, and every directory entry changed, so far durable (after
    /// the commit under way, if any); nothing to do for an object store.
    pub(crate) fn sync(&self) -> Result<(), StorageError> {
        match &self.local {
            Some(local) => local.sync(),
            None => Ok(()),
        }
    }
}

/// Encodes a chunk (compression, sharding) before it is written: the bytes to write, or why
/// not. `None` where the chunk is written as it is.
pub(crate) type Encode = Arc<dyn Fn(&[u8]) -> Result<Vec<u8>, String> + Send + Sync>;

/// Encodes and writes chunk files into a local directory on threads of their own, so that the
/// job computes the next unit while the last ones are encoded and taken by the operating
/// system: compressing a chunk, creating its directory and file and copying it into the page
/// cache is most of a unit's time. Up to [`ChunkWriter::threads`] chunks are in flight, one per
/// thread, so a job holds that many unit buffers more than the one it fills (and each thread
/// an encoded chunk); a written one comes back to be filled next. A chunk written here is like
/// any other write to the store: made durable by the next commit, which waits for every chunk
/// in flight first ([`ChunkWriter::wait`]).
pub(crate) struct ChunkWriter {
    jobs: Option<mpsc::SyncSender<Chunk>>,
    done: mpsc::Receiver<(usize, Vec<u8>, io::Result<()>)>,
    threads: Vec<JoinHandle<()>>,
    /// The units whose chunks were handed over and whose results are not yet taken.
    in_flight: Vec<usize>,
    /// Buffers of chunks written, to be filled next.
    spare: Vec<Vec<u8>>,
}

/// A chunk handed to a [`ChunkWriter`]: its unit, its key, its bytes (not yet encoded).
type Chunk = (usize, StoreKey, Vec<u8>);

/// Chunks the [`ChunkWriter`] did not write: the units they belonged to, when they were handed
/// over (their writes failed, so the units must not be recorded), and why (the first error).
pub(crate) struct Unwritten {
    pub(crate) units: Vec<usize>,
    pub(crate) error: io::Error,
}

/// The bytes of chunks in flight a [`ChunkWriter`] allows beyond one chunk: the threads it
/// starts are fewer for large chunks, so that 8 MiB shards keep one in flight, as 1 MiB
/// chunks on 8 cores keep 4.
const WRITE_BYTES: usize = 8 << 20;
/// The most threads a [`ChunkWriter`] starts.
const WRITE_THREADS: usize = 4;

impl ChunkWriter {
    /// How many threads write chunks of `chunk_bytes`: one per core, up to [`WRITE_THREADS`],
    /// and as many as [`WRITE_BYTES`] of chunks in flight allow (at least one).
    fn threads(chunk_bytes: usize) -> usize {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        cores
            .min(WRITE_THREADS)
            .min(WRITE_BYTES / chunk_bytes.max(1))
            .max(1)
    }

    fn new(local: &Arc<LocalStore>, threads: usize, encode: Option<Encode>) -> Option<Self> {
        let (jobs, inbox) = mpsc::sync_channel::<Chunk>(threads);
        let inbox = Arc::new(Mutex::new(inbox));
        let (results, done) = mpsc::channel();
        let mut handles = Vec::new();
        for _ in 0..threads {
            let inbox = Arc::clone(&inbox);
            let results = results.clone();
            let local = Arc::clone(local);
            let encode = encode.clone();
            let spawned = std::thread::Builder::new()
                .name("preallocate-zarr-write".into())
                .spawn(move || loop {
                    let next = inbox.lock().unwrap_or_else(PoisonError::into_inner).recv();
                    let Ok((unit, key, bytes)) = next else {
                        break;
                    };
                    // A panic (in a codec) is this chunk's error: the other threads keep the
                    // results channel open, so a result must come back for every chunk.
                    let written =
                        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| match &encode {
                            None => local.write(&key, &bytes),
                            Some(encode) => encode(&bytes)
                                .map_err(io::Error::other)
                                .and_then(|encoded| local.write(&key, &encoded)),
                        }))
                        .unwrap_or_else(|_| Err(io::Error::other("writing the chunk panicked")));
                    if results.send((unit, bytes, written)).is_err() {
                        break;
                    }
                });
            match spawned {
                Ok(handle) => handles.push(handle),
                Err(_) => break,
            }
        }
        if handles.is_empty() {
            return None;
        }
        Some(ChunkWriter {
            jobs: Some(jobs),
            done,
            threads: handles,
            in_flight: Vec::new(),
            spare: Vec::new(),
        })
    }

    /// Hands over `bytes`, unit `unit`'s chunk `key`, once a thread is free for it; returns a
    /// buffer of the same length to fill next. An error is a chunk's handed over before (its
    /// unit named), or that the threads stopped (then `bytes` was not handed over).
    pub(crate) fn write(
        &mut self,
        unit: usize,
        key: StoreKey,
        bytes: Vec<u8>,
    ) -> Result<Vec<u8>, Unwritten> {
        if self.in_flight.len() >= self.threads.len() {
            self.take_one()?;
        }
        let len = bytes.len();
        let stopped = || Unwritten {
            units: Vec::new(),
            error: io::Error::other("the threads writing chunks stopped"),
        };
        let jobs = self.jobs.as_ref().ok_or_else(stopped)?;
        jobs.send((unit, key, bytes)).map_err(|_| stopped())?;
        self.in_flight.push(unit);
        Ok(match self.spare.pop() {
            Some(spare) if spare.len() == len => spare,
            _ => vec![0; len],
        })
    }

    /// Waits for every chunk in flight: the units of those that failed, and the first error.
    pub(crate) fn wait(&mut self) -> Result<(), Unwritten> {
        let mut failed: Option<Unwritten> = None;
        while !self.in_flight.is_empty() {
            if let Err(mut unwritten) = self.take_one() {
                match &mut failed {
                    Some(first) => first.units.append(&mut unwritten.units),
                    None => failed = Some(unwritten),
                }
            }
        }
        failed.map_or(Ok(()), Err)
    }

    /// Takes the result of one chunk in flight (there is one): its unit and error, if it
    /// failed; every unit in flight, if the threads stopped.
    fn take_one(&mut self) -> Result<(), Unwritten> {
        let Ok((unit, bytes, written)) = self.done.recv() else {
            return Err(Unwritten {
                units: std::mem::take(&mut self.in_flight),
                error: io::Error::other("the threads writing chunks stopped"),
            });
        };
        self.in_flight.retain(|&other| other != unit);
        self.spare.push(bytes);
        written.map_err(|error| Unwritten {
            units: vec![unit],
            error,
        })
    }
}

impl Drop for ChunkWriter {
    /// Ends the threads once the chunks in flight are written.
    fn drop(&mut self) {
        self.jobs = None;
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

/// The units stored since the last sync of a job's store, and when it was.
#[derive(Debug)]
pub(crate) struct Group {
    since: Instant,
    bytes: usize,
    items: usize,
    units: usize,
}

impl Default for Group {
    fn default() -> Self {
        Group {
            since: Instant::now(),
            bytes: 0,
            items: 0,
            units: 0,
        }
    }
}

impl Group {
    /// Adds a unit of `bytes` and `items`; says whether the group is due for a commit, `busy`
    /// telling whether one is under way.
    pub(crate) fn add(&mut self, bytes: usize, items: usize, busy: bool) -> bool {
        self.bytes += bytes;
        self.items += items;
        self.units += 1;
        let full = self.units >= GROUP_UNITS
            || self.bytes >= 4 * GROUP_BYTES
            || self.items >= 4 * GROUP_ITEMS;
        let ripe = self.bytes >= GROUP_BYTES
            || self.items >= GROUP_ITEMS
            || self.since.elapsed() >= GROUP_TIME;
        full || (ripe && !busy)
    }

    /// A sync happened: a new group starts.
    pub(crate) fn reset(&mut self) {
        *self = Group::default();
    }
}

/// What was written since the last sync.
#[derive(Debug, Default)]
struct Pending {
    /// Files written (their contents).
    files: BTreeSet<PathBuf>,
    /// Directories whose entries changed: the parents of files written or removed, and of
    /// directories created.
    dirs: BTreeSet<PathBuf>,
}

/// A Zarr store in a local directory whose writes are made durable by [`LocalStore::sync`]:
/// the same files, with the same bytes, as `zarrs`' `FilesystemStore` writes (which it uses to
/// read, list and remove).
#[derive(Debug)]
pub(crate) struct LocalStore {
    files: FilesystemStore,
    pending: Mutex<Pending>,
    /// The commit under way.
    in_flight: Mutex<Option<JoinHandle<io::Result<()>>>>,
}

impl LocalStore {
    fn new(dir: &Path) -> Result<Self, StorageError> {
        let files = FilesystemStore::new(dir).map_err(|e| StorageError::Other(e.to_string()))?;
        Ok(LocalStore {
            files,
            pending: Mutex::default(),
            in_flight: Mutex::default(),
        })
    }

    fn pending(&self) -> std::sync::MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn in_flight(&self) -> std::sync::MutexGuard<'_, Option<JoinHandle<io::Result<()>>>> {
        self.in_flight
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// What was written since the last sync, to be synced now.
    fn take(&self) -> Pending {
        std::mem::take(&mut *self.pending())
    }

    /// Waits for the commit under way, if any, and returns its error.
    fn wait(&self) -> io::Result<()> {
        let Some(commit) = self.in_flight().take() else {
            return Ok(());
        };
        commit
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("the thread syncing the store panicked")))
    }

    /// Creates the missing directories above `path`, remembering their entries. The parent is
    /// created first, its own parents only if that fails for want of them: a chunk's new
    /// directory (`c/<i>/`) costs one call, an existing one one call too.
    fn create_parents(&self, path: &Path) -> io::Result<()> {
        let dir = parent_dir(path);
        match fs::create_dir(dir) {
            Ok(()) => {}
            // There already (or created meanwhile by another worker): if it is not a
            // directory, writing the file below it fails and says so.
            Err(err) if err.kind() == io::ErrorKind::AlreadyExists => return Ok(()),
            Err(err) if err.kind() == io::ErrorKind::NotFound && parent_dir(dir) != dir => {
                self.create_parents(dir)?;
                match fs::create_dir(dir) {
                    Ok(()) => {}
                    Err(err) if err.kind() == io::ErrorKind::AlreadyExists => return Ok(()),
                    Err(err) => return Err(err),
                }
            }
            Err(err) => return Err(err),
        }
        self.pending().dirs.insert(parent_dir(dir).to_path_buf());
        Ok(())
    }

    /// Writes `value` as the file of `key`, without waiting for the device unless it is large
    /// ([`SYNC_ALONE_BYTES`]).
    fn write(&self, key: &StoreKey, value: &[u8]) -> io::Result<()> {
        let path = self.files.key_to_fspath(key);
        self.create_parents(&path)?;
        if is_metadata(key) {
            // A commit point: what the document describes is durable before it is.
            self.sync_io()?;
            return write_whole(&path, value);
        }
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)?;
        file.write_all(value)?;
        let alone = value.len() >= SYNC_ALONE_BYTES;
        if alone {
            file.sync_all()?;
        }
        let mut pending = self.pending();
        pending.dirs.insert(parent_dir(&path).to_path_buf());
        if !alone {
            pending.files.insert(path);
        }
        Ok(())
    }

    /// Makes everything written since the last sync durable: each file's contents, then each
    /// changed directory's entries.
    pub(crate) fn sync(&self) -> Result<(), StorageError> {
        self.sync_io().map_err(StorageError::from)
    }

    fn sync_io(&self) -> io::Result<()> {
        self.wait()?;
        sync_all(&self.take())
    }

    fn removed(&self, path: &Path) {
        self.pending().dirs.insert(parent_dir(path).to_path_buf());
    }
}

/// Flushes each of the files, then each of the directories, from up to [`SYNC_THREADS`]
/// threads.
fn sync_all(pending: &Pending) -> io::Result<()> {
    let files: Vec<&PathBuf> = pending.files.iter().collect();
    let dirs: Vec<&PathBuf> = pending.dirs.iter().collect();
    in_parallel(&files, sync_file)?;
    in_parallel(&dirs, sync_dir)
}

/// `sync` on each path, from up to [`SYNC_THREADS`] threads; the first error.
fn in_parallel(paths: &[&PathBuf], sync: fn(&Path) -> io::Result<()>) -> io::Result<()> {
    if paths.len() <= 1 {
        return paths.iter().try_for_each(|path| sync(path));
    }
    let share = paths.len().div_ceil(SYNC_THREADS);
    std::thread::scope(|scope| {
        let workers: Vec<_> = paths
            .chunks(share)
            .map(|part| scope.spawn(move || part.iter().try_for_each(|path| sync(path))))
            .collect();
        workers.into_iter().try_for_each(|worker| {
            worker
                .join()
                .unwrap_or_else(|_| Err(io::Error::other("a thread syncing files panicked")))
        })
    })
}

/// Flushes a file's contents to the device.
fn sync_file(path: &Path) -> io::Result<()> {
    match File::open(path) {
        Ok(file) => file.sync_all(),
        // Removed since (a chunk of only fill values is erased): nothing to keep.
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(err) => Err(err),
    }
}

/// Whether `key` is a Zarr metadata document (of the group or of an array).
fn is_metadata(key: &StoreKey) -> bool {
    key.as_str().rsplit('/').next() == Some("zarr.json")
}

/// Writes `value` to `path` whole: a temporary file in its directory, flushed, renamed.
fn write_whole(path: &Path, value: &[u8]) -> io::Result<()> {
    let fail = |err: crate::outputs::error::SinkError| io::Error::other(err.to_string());
    let mut file = AtomicFile::create(path).map_err(fail)?;
    let written = file
        .file()
        .write_all(value)
        .and_then(|()| file.sync().map_err(fail));
    if let Err(err) = written {
        file.discard();
        return Err(err);
    }
    file.rename_to(path).map_err(|(err, temp)| {
        let _ = fs::remove_file(temp);
        fail(err)
    })
}

/// Flushes a directory's entries to the device. A file system that cannot sync a directory
/// (`EINVAL`, some network ones) keeps its entries as well as it can.
fn sync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        let handle = match File::open(dir) {
            Ok(handle) => handle,
            // Removed since (an earlier run's records): nothing to keep.
            Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(err) => return Err(err),
        };
        match handle.sync_all() {
            Err(err) if err.kind() == io::ErrorKind::InvalidInput => Ok(()),
            other => other,
        }
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
}

impl ReadableStorageTraits for LocalStore {
    fn get_partial_many<'a>(
        &'a self,
        key: &StoreKey,
        byte_ranges: ByteRangeIterator<'a>,
    ) -> Result<MaybeBytesIterator<'a>, StorageError> {
        self.files.get_partial_many(key, byte_ranges)
    }

    fn size_key(&self, key: &StoreKey) -> Result<Option<u64>, StorageError> {
        self.files.size_key(key)
    }

    fn supports_get_partial(&self) -> bool {
        self.files.supports_get_partial()
    }
}

impl WritableStorageTraits for LocalStore {
    fn set(&self, key: &StoreKey, value: Bytes) -> Result<(), StorageError> {
        self.write(key, &value).map_err(StorageError::from)
    }

    fn set_partial_many(
        &self,
        key: &StoreKey,
        offset_values: OffsetBytesIterator,
    ) -> Result<(), StorageError> {
        // Read, patched, written whole: `zarrs` does not write parts of objects when the store
        // says it cannot (`supports_set_partial`), so this is only a fallback.
        store_set_partial_many(self, key, offset_values)
    }

    fn erase(&self, key: &StoreKey) -> Result<(), StorageError> {
        self.files.erase(key)?;
        self.removed(&self.files.key_to_fspath(key));
        Ok(())
    }

    fn erase_prefix(&self, prefix: &StorePrefix) -> Result<(), StorageError> {
        self.files.erase_prefix(prefix)?;
        self.removed(&self.files.prefix_to_fs_path(prefix));
        Ok(())
    }

    fn supports_set_partial(&self) -> bool {
        false
    }
}

impl ListableStorageTraits for LocalStore {
    fn list(&self) -> Result<StoreKeys, StorageError> {
        self.files.list()
    }

    fn list_prefix(&self, prefix: &StorePrefix) -> Result<StoreKeys, StorageError> {
        self.files.list_prefix(prefix)
    }

    fn list_dir(&self, prefix: &StorePrefix) -> Result<StoreKeysPrefixes, StorageError> {
        self.files.list_dir(prefix)
    }

    fn size_prefix(&self, prefix: &StorePrefix) -> Result<u64, StorageError> {
        self.files.size_prefix(prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(name: &str) -> StoreKey {
        StoreKey::new(name).unwrap()
    }

    #[test]
    fn a_write_creates_the_missing_directories_and_remembers_their_entries() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("data.zarr");
        let store = LocalStore::new(&root).unwrap();
        store.write(&key("x/c/3/0"), b"chunk").unwrap();
        store.write(&key("x/c/4/0"), b"other").unwrap();
        assert_eq!(fs::read(root.join("x/c/3/0")).unwrap(), b"chunk");
        assert_eq!(fs::read(root.join("x/c/4/0")).unwrap(), b"other");
        let pending = store.take();
        let files: Vec<PathBuf> = pending.files.into_iter().collect();
        assert_eq!(files, [root.join("x/c/3/0"), root.join("x/c/4/0")]);
        // The directories whose entries changed: the parents of every new directory and file.
        let dirs: Vec<PathBuf> = pending.dirs.into_iter().collect();
        let expected = [
            dir.path().to_path_buf(),
            root.clone(),
            root.join("x"),
            root.join("x/c"),
            root.join("x/c/3"),
            root.join("x/c/4"),
        ];
        assert_eq!(dirs, expected);
    }

    #[test]
    fn a_chunk_writer_names_every_unit_it_could_not_write() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(LocalStore::new(dir.path()).unwrap());
        // Encodes by adding 1 to each byte; refuses a chunk that starts with 0xFF.
        let encode: Encode = Arc::new(|bytes: &[u8]| match bytes.first() {
            Some(0xFF) => Err("refused".into()),
            _ => Ok(bytes.iter().map(|b| b + 1).collect()),
        });
        let mut writer = ChunkWriter::new(&store, 2, Some(encode)).unwrap();
        assert_eq!(writer.threads.len(), 2);
        // Two chunks in flight, both refused: the wait names both.
        for unit in [3, 4] {
            let next = writer.write(unit, key(&format!("c/{unit}")), vec![0xFF; 8]);
            assert_eq!(next.ok().map(|buffer| buffer.len()), Some(8));
        }
        let Err(unwritten) = writer.wait() else {
            panic!("both chunks were refused");
        };
        let mut units = unwritten.units;
        units.sort_unstable();
        assert_eq!(units, [3, 4]);
        assert_eq!(unwritten.error.to_string(), "refused");
        // Then three that are written, encoded, the third after a thread is free.
        for unit in [5, 6, 7] {
            let next = writer.write(unit, key(&format!("c/{unit}")), vec![unit as u8; 8]);
            assert_eq!(next.ok().map(|buffer| buffer.len()), Some(8));
        }
        assert!(writer.wait().is_ok());
        for unit in [5u8, 6, 7] {
            let written = fs::read(dir.path().join(format!("c/{unit}"))).unwrap();
            assert_eq!(written, [unit + 1; 8]);
        }
        assert!(!dir.path().join("c/3").exists() && !dir.path().join("c/4").exists());
    }

    #[test]
    fn a_chunk_whose_encoding_panics_is_an_error_of_its_unit() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(LocalStore::new(dir.path()).unwrap());
        let encode: Encode = Arc::new(|bytes: &[u8]| {
            assert!(bytes[0] != 0xFF, "a codec's bug");
            Ok(bytes.to_vec())
        });
        let mut writer = ChunkWriter::new(&store, 2, Some(encode)).unwrap();
        for (unit, byte) in [(0, 0xFF), (1, 1)] {
            assert!(writer
                .write(unit, key(&format!("c/{unit}")), vec![byte; 4])
                .is_ok());
        }
        let Err(unwritten) = writer.wait() else {
            panic!("unit 0's encoding panicked");
        };
        assert_eq!(unwritten.units, [0]);
        assert_eq!(unwritten.error.to_string(), "writing the chunk panicked");
        assert_eq!(fs::read(dir.path().join("c/1")).unwrap(), [1; 4]);
        // The writer goes on.
        assert!(writer.write(2, key("c/2"), vec![2; 4]).is_ok());
        assert!(writer.wait().is_ok());
    }

    #[test]
    fn chunk_writers_keep_a_bounded_number_of_chunks_in_flight() {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        assert_eq!(ChunkWriter::threads(1 << 20), cores.min(WRITE_THREADS));
        assert_eq!(ChunkWriter::threads(8 << 20), 1);
        assert_eq!(ChunkWriter::threads(64 << 20), 1);
        assert_eq!(ChunkWriter::threads(0), cores.min(WRITE_THREADS));
    }

    #[test]
    fn a_large_file_is_flushed_when_written_and_its_directory_at_the_commit() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStore::new(dir.path()).unwrap();
        store
            .write(&key("x/c/0/0"), &vec![7; SYNC_ALONE_BYTES])
            .unwrap();
        store
            .write(&key("x/c/1/0"), &vec![7; SYNC_ALONE_BYTES - 1])
            .unwrap();
        let pending = store.take();
        assert_eq!(
            pending.files.into_iter().collect::<Vec<_>>(),
            [dir.path().join("x/c/1/0")]
        );
        assert!(pending.dirs.contains(&dir.path().join("x/c/0")));
        assert!(pending.dirs.contains(&dir.path().join("x/c/1")));
        assert_eq!(
            fs::read(dir.path().join("x/c/0/0")).unwrap().len(),
            SYNC_ALONE_BYTES
        );
    }

    #[test]
    fn a_file_where_a_directory_belongs_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStore::new(dir.path()).unwrap();
        store.write(&key("x/c"), b"not a directory").unwrap();
        let err = store.write(&key("x/c/0/0"), b"chunk").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotADirectory, "{err}");
        assert_eq!(
            fs::read(dir.path().join("x/c")).unwrap(),
            b"not a directory"
        );
    }
}
