//! Directories of `.npy` shards plus a JSON manifest, written unit by unit and resumed:
//! [`NpyShards`], the output of [`Pipeline::write_npy_shards`](crate::Pipeline::write_npy_shards).
//!
//! A job of `.npy` shards that survives being killed: each shard is committed (renamed into
//! place, then recorded) as soon as it is complete, a rerun of the same job resumes after the
//! shards recorded, and several workers (partitions) may write their own shards of one job
//! into one directory at once. The last to finish writes the manifest.
//!
//! On disk, beside the shards (`part-00000.npy`, …) and, once complete, `manifest.json`:
//!
//! ```text
//! .jobs/<job>/job.json            the job's fingerprint (what it computes; see `Fingerprint`)
//! .jobs/<job>/part-00003.json     shard 3 is committed: its rows, items, and dropped items
//! ```
//!
//! Shard `j` holds the rows of items `j·S .. (j+1)·S` (`S`, the items per shard): with a row
//! function that drops items it holds fewer rows, and its record lists the dropped items. So a
//! shard's content depends only on the job and `j`, never on which worker wrote it or on where
//! an earlier run stopped.
//!
//! A directory holds one job at a time. A complete job with the same fingerprint is not
//! recomputed; a complete job with another fingerprint is replaced; an unfinished job with
//! another fingerprint is an error ([`SinkError::JobMismatch`]), not silently mixed with this
//! one.

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use super::atomic::{parent_dir, sync_dir, AtomicFile};
use super::error::{JobMismatch, Partial, SinkError, SinkFailure};
use super::orphans::remove_orphans;
use super::output::{abandon_units, committed_in_all, finish_units, Output, UnitOutput};
use super::resume::{Fingerprint, ShardRecord, Units};
use crate::layout::Column;

/// The manifest's file name: the directory's only `*.json`.
pub const SHARD_MANIFEST: &str = "manifest.json";

/// The format's side of [`Shards`]: how the part files of one job are written.
pub(crate) trait Parts {
    /// An open part file, under its temporary name.
    type Part;
    /// How many of each chunk's columns this job's parts take: the next ones, in order.
    fn width(&self) -> usize;
    /// Starts the part file at `path`.
    fn create(&self, path: &Path) -> Result<Self::Part, SinkFailure>;
    /// Appends a chunk's columns (`width` of them).
    fn write(part: &mut Self::Part, columns: &[Column<'_>]) -> Result<(), SinkFailure>;
    /// Completes the part: flushed, renamed into place, the directory flushed. Returns its
    /// rows.
    fn finish(part: Self::Part) -> Result<usize, SinkFailure>;
    /// Drops the part, keeping its rows in `<path>.partial`; returns how many.
    fn abandon(part: Self::Part) -> usize;
}

/// Shards of one or more jobs, each a directory of part files of some of the fields (`.npy`:
/// a job per field; Parquet: one job of every field). Shard `j` of every job holds the rows
/// of items `j·n .. (j+1)·n`; a unit (shard `j` of every job) is committed when it is stored
/// in every job, and each job's manifest is written once every unit is committed (the
/// `resume` module).
pub(crate) struct Shards<P: Parts> {
    /// Each job, and how its parts are written.
    jobs: Vec<(ShardJob, P)>,
    /// The open unit's part of every job; empty between units.
    open: Vec<P::Part>,
    /// The units of this run.
    units: Units,
}

impl<P: Parts> Shards<P> {
    /// Shards of the jobs `jobs`, opened.
    pub(crate) fn new(jobs: Vec<(ShardJob, P)>) -> Self {
        Shards {
            jobs,
            open: Vec::new(),
            units: Units::default(),
        }
    }
}

impl<P: Parts> Output for Shards<P> {
    type Report = ShardsOutput;

    fn write(&mut self, columns: &[Column<'_>]) -> Result<(), SinkFailure> {
        let mut rest = columns;
        for ((_, parts), part) in self.jobs.iter().zip(&mut self.open) {
            let (these, next) = rest.split_at(parts.width().min(rest.len()));
            P::write(part, these)?;
            rest = next;
        }
        Ok(())
    }

    fn finish(self, _skipped: Vec<usize>) -> Result<Vec<ShardsOutput>, SinkFailure> {
        finish_units(self)
    }

    fn abandon(self) -> Partial {
        abandon_units(self)
    }
}

impl<P: Parts> UnitOutput for Shards<P> {
    fn is_complete(&self) -> bool {
        self.jobs.iter().all(|(job, _)| job.is_complete())
    }

    fn committed(&self, unit: usize) -> Option<&ShardRecord> {
        committed_in_all(self.jobs.iter().map(|(job, _)| job.committed(unit)))
    }

    fn committed_count(&self) -> usize {
        self.jobs
            .iter()
            .map(|(job, _)| job.committed_count())
            .min()
            .unwrap_or(0)
    }

    fn start(&mut self, unit: usize) -> Result<(), SinkFailure> {
        self.abandon_unit();
        for (job, parts) in &self.jobs {
            match parts.create(&job.shard_path(unit)) {
                Ok(part) => self.open.push(part),
                Err(failure) => {
                    self.abandon_unit();
                    return Err(failure);
                }
            }
        }
        Ok(())
    }

    fn commit(&mut self, unit: usize, record: ShardRecord) -> Result<(), SinkFailure> {
        let parts = std::mem::take(&mut self.open);
        for ((job, _), part) in self.jobs.iter_mut().zip(parts) {
            let rows = P::finish(part)?;
            job.commit(unit, rows, record.clone())?;
        }
        self.units.add(unit, record, false);
        Ok(())
    }

    fn abandon_unit(&mut self) -> usize {
        let mut kept = self.open.drain(..).map(P::abandon);
        let first = kept.next().unwrap_or(0);
        kept.for_each(drop);
        first
    }

    fn complete(&mut self, units: usize) -> Result<bool, SinkError> {
        let mut complete = true;
        for (job, _) in &mut self.jobs {
            complete &= job.finish(units)?.is_some();
        }
        self.units.complete = complete;
        Ok(complete)
    }

    fn units(&self) -> &Units {
        &self.units
    }

    fn units_mut(&mut self) -> &mut Units {
        &mut self.units
    }

    fn location(&self) -> PathBuf {
        self.jobs
            .first()
            .map_or_else(PathBuf::new, |(job, _)| job.dir().to_path_buf())
    }

    fn reports(&mut self) -> Vec<ShardsOutput> {
        let fields = self.jobs.len();
        let mut reports = Vec::with_capacity(fields);
        for (k, (job, _)) in self.jobs.iter().enumerate() {
            let skipped = self.units.skipped_for(k, fields);
            reports.push(ShardsOutput {
                dir: job.dir().to_path_buf(),
                manifest: job.dir().join(SHARD_MANIFEST),
                rows: self.units.rows,
                shards: self
                    .units
                    .units
                    .iter()
                    .map(|&(index, rows)| Shard {
                        path: job.shard_path(index),
                        rows,
                    })
                    .collect(),
                skipped,
                complete: self.units.complete,
                resumed: self.units.resumed,
            });
        }
        reports
    }
}

/// One shard of [`Pipeline::write_npy_shards`](crate::Pipeline::write_npy_shards).
///
/// ```
/// let shard = preallocate::Shard { path: "out/part-00000.npy".into(), rows: 10 };
/// assert_eq!(shard.rows, 10);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shard {
    /// The shard's path (`<dir>/part-NNNNN.npy`).
    pub path: PathBuf,
    /// Its rows.
    pub rows: usize,
}

/// What [`Pipeline::write_npy_shards`](crate::Pipeline::write_npy_shards) wrote, for one output.
///
/// ```
/// # use std::convert::Infallible;
/// # use preallocate::{policy, Pipeline, RowFn, RowSpec};
/// # struct Id;
/// # impl RowSpec for Id {
/// #     type Dtype = u32;
/// #     type Dim = ndarray::Ix2;
/// #     type Policy = policy::Plain;
/// #     const DIM: usize = 1;
/// #     const SHAPE: &'static [usize] = &[1];
/// #     const OVERWRITES_ROW: bool = true;
/// # }
/// # impl RowFn<u32> for Id {
/// #     type Error = Infallible;
/// #     fn write_row(&mut self, x: u32, row: &mut [u32]) -> Result<bool, Infallible> {
/// #         row[0] = x;
/// #         Ok(true)
/// #     }
/// # }
/// let dir = tempfile::tempdir()?;
/// let out = Pipeline::new(Id).shard_rows(100).write_npy_shards(0..0u32, dir.path().join("s"))?;
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

/// `part-00042.npy` for shard 42 of `.npy` shards (`ext`: `npy`).
pub(super) fn shard_name(index: usize, ext: &str) -> String {
    format!("part-{index:05}.{ext}")
}

/// The shard index and whether it is a `.partial`, for the names this writer makes with the
/// extension `ext`.
pub(super) fn parse_shard_name(name: &str, ext: &str) -> Option<(usize, bool)> {
    let rest = name.strip_prefix("part-")?;
    let digits_end = rest.find(|c: char| !c.is_ascii_digit())?;
    let (digits, suffix) = rest.split_at(digits_end);
    if digits.len() < 5 {
        return None;
    }
    let partial = match suffix.strip_prefix('.').and_then(|s| s.strip_prefix(ext)) {
        Some("") => false,
        Some(".partial") => true,
        _ => return None,
    };
    Some((digits.parse().ok()?, partial))
}

/// Removes shard files (of extension `ext`) that do not belong to a run that made `count`
/// shards: every `.partial` numbered `count` or more, and (after a successful run,
/// `complete`) every finished shard numbered `count` or more and every `.partial`.
fn remove_stale(dir: &Path, ext: &str, count: usize, complete: bool) -> Result<(), SinkError> {
    let entries = fs::read_dir(dir).map_err(|err| SinkError::io("list", dir, err))?;
    for entry in entries {
        let entry = entry.map_err(|err| SinkError::io("list", dir, err))?;
        let name = entry.file_name();
        let Some((index, partial)) = name.to_str().and_then(|name| parse_shard_name(name, ext))
        else {
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
    write_whole(path, |out| out.write_all(&text))
}

/// Writes a file whole through `write`: a temporary file, flushed, renamed into place.
fn write_whole(
    path: &Path,
    write: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> Result<(), SinkError> {
    let mut file = AtomicFile::create(path)?;
    let written = {
        let mut out = io::BufWriter::new(file.file());
        write(&mut out).and_then(|()| out.flush())
    };
    if let Err(err) = written {
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

/// Writes `value` as `serde_json` pretty-prints it, followed by a newline, with the entries of
/// `entries` in its top-level array `key` (empty in `value`), each made only when written.
fn write_with_entries(
    out: &mut dyn Write,
    value: &Value,
    key: &str,
    entries: impl Iterator<Item = io::Result<Value>>,
) -> io::Result<()> {
    let text = serde_json::to_string_pretty(value).map_err(io::Error::other)?;
    let marker = format!("\n  {}: []", Value::from(key));
    let at = text
        .find(&marker)
        .ok_or_else(|| io::Error::other(format!("no empty `{key}` array to fill")))?;
    let open = at + marker.len() - 1;
    out.write_all(&text.as_bytes()[..open])?;
    let mut first = true;
    for entry in entries {
        let entry = serde_json::to_string_pretty(&entry?).map_err(io::Error::other)?;
        out.write_all(if first { b"\n    " } else { b",\n    " })?;
        out.write_all(entry.replace('\n', "\n    ").as_bytes())?;
        first = false;
    }
    if !first {
        out.write_all(b"\n  ")?;
    }
    out.write_all(&text.as_bytes()[open..])?;
    out.write_all(b"\n")
}

/// The directory, inside a shard directory, of the records of unfinished jobs.
pub(crate) const JOBS_DIR: &str = ".jobs";
const JOB_FILE: &str = "job.json";

/// What a job's shards are, as its manifest says: the part files' extension, the format's
/// name, and the format's own entries (the dtype, the row shape, ...).
#[derive(Debug, Clone)]
pub(crate) struct ShardFormat {
    /// The part files' extension: `part-00000.{ext}`.
    pub(crate) ext: &'static str,
    /// The manifest's `format`.
    pub(crate) format: &'static str,
    /// The format's own entries of the manifest, in order.
    pub(crate) describe: Vec<(&'static str, Value)>,
}

/// One job's shards in one directory, opened by one worker.
#[derive(Debug)]
pub struct ShardJob {
    dir: PathBuf,
    format: ShardFormat,
    shard_items: usize,
    fingerprint: Fingerprint,
    id: String,
    job_dir: PathBuf,
    /// Shards known to be committed.
    done: BTreeMap<usize, ShardRecord>,
    /// The manifest of this very job was found: nothing is left to do.
    complete: bool,
}

impl ShardJob {
    /// Opens (or starts) the job `fingerprint` in `dir`, creating `dir` if it is missing (its
    /// parent must exist), and removes the temporary files of writers that are gone.
    pub(crate) fn open(
        dir: &Path,
        format: ShardFormat,
        shard_items: usize,
        fingerprint: Fingerprint,
    ) -> Result<Self, SinkError> {
        if shard_items == 0 {
            return Err(SinkError::ZeroShardRows {
                dir: dir.to_path_buf(),
            });
        }
        ensure_dir(dir)?;
        remove_orphans(dir, |dest| {
            dest == SHARD_MANIFEST || parse_shard_name(dest, format.ext).is_some()
        })?;
        let id = fingerprint.id();
        let jobs = dir.join(JOBS_DIR);
        let job_dir = jobs.join(&id);
        let mut job = ShardJob {
            dir: dir.to_path_buf(),
            format,
            shard_items,
            fingerprint,
            id,
            job_dir,
            done: BTreeMap::new(),
            complete: false,
        };
        let manifest = dir.join(SHARD_MANIFEST);
        let recorded = read_json(&manifest)?;
        if let Some(done) = recorded.as_ref().and_then(|m| job.complete_shards(m)) {
            job.done = done;
            job.complete = true;
            return Ok(job);
        }
        // Another job's unfinished shards: an error, not a mix.
        for other in list_dir(&jobs)? {
            if other == job.id {
                continue;
            }
            let recorded = read_json(&jobs.join(&other).join(JOB_FILE))?.unwrap_or(Value::Null);
            let (field, recorded, current) = job.fingerprint.difference(&recorded);
            return Err(SinkError::JobMismatch(Box::new(JobMismatch {
                dir: dir.to_path_buf(),
                field,
                recorded,
                current,
            })));
        }
        fs::create_dir_all(&job.job_dir)
            .map_err(|err| SinkError::io("create directory", &job.job_dir, err))?;
        remove_orphans(&job.job_dir, |_| true)?;
        let job_file = job.job_dir.join(JOB_FILE);
        if !job_file.exists() {
            write_json(&job_file, &job.fingerprint.value())?;
        }
        // A complete dataset of another job is being replaced: from here on the directory
        // says it is incomplete.
        if recorded.is_some() {
            remove_if_present(&manifest)?;
        }
        job.done = job.read_records(true)?;
        Ok(job)
    }

    /// The shards of `manifest`, if it is this job's and every shard is in place.
    fn complete_shards(&self, manifest: &Value) -> Option<BTreeMap<usize, ShardRecord>> {
        if manifest.get("job")?.as_str()? != self.id
            || manifest.get("fingerprint")? != &self.fingerprint.value()
        {
            return None;
        }
        let mut done = BTreeMap::new();
        for (index, shard) in manifest.get("shards")?.as_array()?.iter().enumerate() {
            let file = shard.get("file")?.as_str()?;
            if file != self.shard_name(index) || !self.dir.join(file).is_file() {
                return None;
            }
            done.insert(index, ShardRecord::from_json(shard)?);
        }
        Some(done)
    }

    /// The name of shard `index`'s file.
    fn shard_name(&self, index: usize) -> String {
        shard_name(index, self.format.ext)
    }

    /// The path of shard `index`'s record.
    fn record_path(&self, index: usize) -> PathBuf {
        self.job_dir.join(shard_name(index, "json"))
    }

    /// The record of shard `index`, as on disk, if it is readable.
    fn read_record(&self, index: usize) -> Option<ShardRecord> {
        read_json(&self.record_path(index))
            .ok()
            .flatten()
            .and_then(|value| ShardRecord::from_json(&value))
    }

    /// The records of committed shards, as on disk now (other workers add theirs); with
    /// `skipped`, their dropped items too, else only their counts.
    fn read_records(&self, skipped: bool) -> Result<BTreeMap<usize, ShardRecord>, SinkError> {
        let mut done = BTreeMap::new();
        for name in list_dir(&self.job_dir)? {
            let Some(index) = parse_shard_name(&name, "json")
                .filter(|&(_, partial)| !partial)
                .map(|(index, _)| index)
            else {
                continue;
            };
            // A record is written whole (renamed into place) after its shard: an unreadable
            // one is treated as missing, and the shard is written again.
            let record = read_json(&self.job_dir.join(&name))
                .ok()
                .flatten()
                .and_then(|value| ShardRecord::from_json(&value));
            if let Some(record) = record {
                if self.shard_path(index).is_file() {
                    let record = if skipped {
                        record
                    } else {
                        record.without_skipped()
                    };
                    done.insert(index, record);
                }
            }
        }
        Ok(done)
    }

    /// Whether the whole job was found complete when opened.
    pub(crate) fn is_complete(&self) -> bool {
        self.complete
    }

    /// The record of shard `index`, if it is committed.
    pub(crate) fn committed(&self, index: usize) -> Option<&ShardRecord> {
        self.done.get(&index)
    }

    /// How many shards are known to be committed.
    pub(crate) fn committed_count(&self) -> usize {
        self.done.len()
    }

    /// The path of shard `index`.
    pub(crate) fn shard_path(&self, index: usize) -> PathBuf {
        self.dir.join(self.shard_name(index))
    }

    /// The shard directory.
    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// Records shard `index`, whose `written` rows are in place (the part finished and
    /// renamed). A worker killed between the two leaves a shard without a record, which a
    /// rerun writes again.
    pub(crate) fn commit(
        &mut self,
        index: usize,
        written: usize,
        record: ShardRecord,
    ) -> Result<(), SinkFailure> {
        let name = self.shard_name(index);
        write_json(&self.record_path(index), &record.to_json(&name)).map_err(|source| {
            SinkFailure {
                written,
                partial: Some(self.dir.clone()),
                source,
            }
        })?;
        // This run's report holds the dropped items: the map keeps the counts.
        self.done.insert(index, record.without_skipped());
        Ok(())
    }

    /// After this worker's shards: when every shard `0..shards` of the job is committed (by
    /// any worker), writes the manifest, removes shards of an earlier, longer dataset and the
    /// job's records, and returns the manifest's path; otherwise `None`.
    pub(crate) fn finish(&mut self, shards: usize) -> Result<Option<PathBuf>, SinkError> {
        let manifest = self.dir.join(SHARD_MANIFEST);
        if self.complete {
            return Ok(Some(manifest));
        }
        // Each record's rows and items; its dropped items are read again, one record at a
        // time, as the manifest is written, so that memory does not grow with them.
        let mut done = self.read_records(false)?;
        if (0..shards).any(|index| !done.contains_key(&index)) {
            return Ok(None);
        }
        done.retain(|&index, _| index < shards);
        let rows: usize = done.values().map(|r| r.rows).sum();
        let items: usize = done.values().map(|r| r.items).sum();
        let mut text = serde_json::Map::new();
        text.insert("format".into(), json!(self.format.format));
        text.insert("version".into(), json!(2));
        text.insert("rows".into(), json!(rows));
        text.insert("items".into(), json!(items));
        for (key, value) in &self.format.describe {
            text.insert((*key).into(), value.clone());
        }
        text.insert("shard_rows".into(), json!(self.shard_items));
        text.insert("job".into(), json!(self.id));
        text.insert("fingerprint".into(), self.fingerprint.value());
        text.insert("shards".into(), json!([]));
        let text = Value::Object(text);
        // The manifest covers the shards: their contents and their names in the directory are
        // on the device already (each was flushed, renamed, and the directory flushed); so is
        // the directory's own name in its parent (`out/` of `out/x/`, when this run created it)
        // before the manifest is.
        sync_dir(parent_dir(&self.dir));
        let written = write_whole(&manifest, |out| {
            let entries = done.keys().map(|&index| {
                let record = self.read_record(index).ok_or_else(|| {
                    io::Error::other(format!("the record of shard {index} is gone"))
                })?;
                Ok(record.to_json(&self.shard_name(index)))
            });
            write_with_entries(out, &text, "shards", entries)
        });
        if let Err(err) = written {
            // Another worker completed the job meanwhile and removed the records: its
            // manifest stands. Otherwise no manifest is written, rather than one that lists a
            // shard without its dropped items.
            let theirs = read_json(&manifest)?.and_then(|m| self.complete_shards(&m));
            let Some(theirs) = theirs else {
                return Err(err);
            };
            self.done = theirs
                .into_iter()
                .map(|(index, record)| (index, record.without_skipped()))
                .collect();
            self.complete = true;
            return Ok(Some(manifest));
        }
        remove_stale(&self.dir, self.format.ext, shards, true)?;
        // Another worker may be finishing too: whatever it removed first is gone already.
        match fs::remove_dir_all(&self.job_dir) {
            Ok(()) => {}
            Err(err) if err.kind() == io::ErrorKind::NotFound => {}
            Err(err) => return Err(SinkError::io("remove", &self.job_dir, err)),
        }
        let _ = fs::remove_dir(self.dir.join(JOBS_DIR));
        sync_dir(&self.dir);
        self.done = done;
        self.complete = true;
        Ok(Some(manifest))
    }
}

/// The names of the entries of `dir`; none when it is missing.
fn list_dir(dir: &Path) -> Result<Vec<String>, SinkError> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(err) => return Err(SinkError::io("list", dir, err)),
    };
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|err| SinkError::io("list", dir, err))?;
        if let Ok(name) = entry.file_name().into_string() {
            names.push(name);
        }
    }
    names.sort();
    Ok(names)
}

/// The JSON in `path`: `None` when the file is missing or is not JSON.
fn read_json(path: &Path) -> Result<Option<Value>, SinkError> {
    match fs::read(path) {
        Ok(bytes) => Ok(serde_json::from_slice(&bytes).ok()),
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(SinkError::io("read", path, err)),
    }
}

fn remove_if_present(path: &Path) -> Result<(), SinkError> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(err) => Err(SinkError::io("remove", path, err)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::element::ElementType;
    use crate::layout::Field;
    use crate::outputs::npy::{shards as npy_shards, stream as npy_stream};
    use crate::outputs::output::Names;
    use crate::outputs::resume::Job;
    use ndarray::array;

    const U8: Field = Field {
        dtype: ElementType::U8,
        row_shape: &[1],
    };

    /// The manifest entries of `.npy` shards of `U8` rows.
    fn u8_format() -> ShardFormat {
        ShardFormat {
            ext: "npy",
            format: "npy-shards",
            describe: vec![("dtype", json!("|u1"))],
        }
    }

    /// Writes shard `index` of `job` with `rows` and commits it.
    fn commit(
        job: &mut ShardJob,
        index: usize,
        rows: ndarray::ArrayView2<'_, u8>,
        record: ShardRecord,
    ) {
        let mut part = npy_stream(&job.shard_path(index), &U8).unwrap();
        part.write(rows).unwrap();
        let written = part.finish().unwrap().rows;
        job.commit(index, written, record).unwrap();
    }

    #[test]
    fn a_streamed_manifest_is_serde_jsons_pretty_text() {
        for count in [0usize, 1, 3] {
            let entries: Vec<Value> = (0..count)
                .map(|i| json!({ "file": shard_name(i, "npy"), "rows": i, "skipped": (0..i).collect::<Vec<_>>() }))
                .collect();
            let head = json!({ "a": [1, 2], "shards": [], "z": { "k": "\"shards\": []" } });
            let mut whole = head.clone();
            whole["shards"] = Value::Array(entries.clone());
            let mut expected = serde_json::to_vec_pretty(&whole).unwrap();
            expected.push(b'\n');
            let mut out = Vec::new();
            write_with_entries(&mut out, &head, "shards", entries.into_iter().map(Ok)).unwrap();
            assert_eq!(
                String::from_utf8(out).unwrap(),
                String::from_utf8(expected).unwrap()
            );
        }
    }

    #[test]
    fn an_entry_that_cannot_be_read_stops_the_manifest() {
        let head = json!({ "shards": [] });
        let entries = [Ok(json!(1)), Err(io::Error::other("gone"))].into_iter();
        let mut out = Vec::new();
        let err = write_with_entries(&mut out, &head, "shards", entries).unwrap_err();
        assert_eq!(err.to_string(), "gone");
        assert!(
            !String::from_utf8(out).unwrap().contains(']'),
            "no closed manifest"
        );
    }

    fn fingerprint(key: &str) -> Fingerprint {
        Fingerprint::new([("row_fn", json!("f")), ("key", json!(key))])
    }

    #[test]
    fn shard_names_round_trip() {
        assert_eq!(shard_name(0, "npy"), "part-00000.npy");
        assert_eq!(shard_name(123_456, "npy"), "part-123456.npy");
        assert_eq!(shard_name(7, "parquet"), "part-00007.parquet");
        assert_eq!(parse_shard_name("part-00000.npy", "npy"), Some((0, false)));
        assert_eq!(
            parse_shard_name("part-00042.npy.partial", "npy"),
            Some((42, true))
        );
        assert_eq!(
            parse_shard_name("part-123456.npy", "npy"),
            Some((123_456, false))
        );
        assert_eq!(
            parse_shard_name("part-00003.parquet.partial", "parquet"),
            Some((3, true))
        );
        assert_eq!(parse_shard_name("part-00003.parquet", "npy"), None);
        assert_eq!(parse_shard_name("part-00003.npy", "parquet"), None);
        for other in [
            "part-0001.npy",
            "part-00001.npz",
            "part-00001.npy.tmp",
            "manifest.json",
            "part-.npy",
            ".part-00001.npy.1-2.tmp",
            "xpart-00001.npy",
            "part-00001.npyx",
        ] {
            assert_eq!(parse_shard_name(other, "npy"), None, "{other}");
        }
    }

    fn open(dir: &Path, shard_items: usize) -> Result<Shards<impl Parts>, SinkFailure> {
        let field = Field {
            dtype: crate::element::ElementType::U8,
            row_shape: &[1],
        };
        let job = Job {
            row_fn: "f",
            length: None,
            key: None,
        };
        npy_shards(dir, Names::One(""), &[field], shard_items, &job)
    }

    #[test]
    fn a_file_is_not_a_shard_directory() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        fs::write(&file, b"x").unwrap();
        let failure = open(&file, 1).err().unwrap();
        assert_eq!(failure.source, SinkError::NotADirectory { path: file });
    }

    #[test]
    fn zero_shard_rows_are_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let failure = open(dir.path(), 0).err().unwrap();
        assert!(matches!(failure.source, SinkError::ZeroShardRows { .. }));
        assert_eq!(
            failure.to_string(),
            format!(
                "cannot write shards into `{}`: `shard_rows` must be at least 1 (0 rows written, none kept)",
                dir.path().display()
            )
        );
    }

    #[test]
    fn committed_shards_survive_and_the_last_writes_the_manifest() {
        let dir = tempfile::tempdir().unwrap();
        let shards = dir.path().join("s");
        let mut job = ShardJob::open(&shards, u8_format(), 2, fingerprint("a")).unwrap();
        let record = ShardRecord {
            rows: 2,
            items: 2,
            skipped: vec![],
        };
        commit(&mut job, 1, array![[3u8], [4]].view(), record.clone());
        assert_eq!(job.finish(2).unwrap(), None);
        assert!(shards.join("part-00001.npy").is_file());

        // Another worker (or a rerun) sees shard 1 and writes shard 0.
        let mut other = ShardJob::open(&shards, u8_format(), 2, fingerprint("a")).unwrap();
        assert_eq!(other.committed(1), Some(&record));
        assert_eq!(other.committed(0), None);
        let record0 = ShardRecord {
            rows: 1,
            items: 2,
            skipped: vec![1],
        };
        commit(&mut other, 0, array![[1u8]].view(), record0);
        let manifest = other.finish(2).unwrap().unwrap();
        let manifest: Value = serde_json::from_slice(&fs::read(manifest).unwrap()).unwrap();
        assert_eq!(manifest["rows"], 3);
        assert_eq!(manifest["items"], 4);
        assert_eq!(manifest["shards"][0]["skipped"], json!([1]));
        assert_eq!(manifest["format"], "npy-shards");
        assert_eq!(manifest["dtype"], "|u1");
        assert!(!shards.join(JOBS_DIR).exists());

        // The same job again: complete at once. Another job: replaces it.
        let again = ShardJob::open(&shards, u8_format(), 2, fingerprint("a")).unwrap();
        assert!(again.is_complete());
        let other_job = ShardJob::open(&shards, u8_format(), 2, fingerprint("b")).unwrap();
        assert!(!other_job.is_complete());
        assert!(!shards.join(SHARD_MANIFEST).exists());
    }

    #[test]
    fn an_unfinished_job_of_another_fingerprint_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let job = ShardJob::open(dir.path(), u8_format(), 2, fingerprint("a")).unwrap();
        drop(job);
        let err = ShardJob::open(dir.path(), u8_format(), 2, fingerprint("b")).unwrap_err();
        assert_eq!(
            err,
            SinkError::JobMismatch(Box::new(JobMismatch {
                dir: dir.path().to_path_buf(),
                field: "key".into(),
                recorded: "\"a\"".into(),
                current: "\"b\"".into(),
            }))
        );
        assert!(
            err.to_string().contains("unfinished run of another job"),
            "{err}"
        );
    }
}
