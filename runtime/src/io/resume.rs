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
use std::io;
use std::path::{Path, PathBuf};

use serde_json::{json, Map, Value};

use super::atomic::{parent_dir, sync_dir};
use super::error::{JobMismatch, SinkError, SinkFailure};
use super::npy::{descr, stream as npy_stream, NpyHeader};
use super::orphans::remove_orphans;
use super::shards::{ensure_dir, parse_shard_name, remove_stale, shard_name, write_json, Shard};
use super::stream::RowStream;
use super::SHARD_MANIFEST;
use crate::element::ElementType;
use crate::layout::Field;

/// The directory, inside a shard directory, of the records of unfinished jobs.
pub(crate) const JOBS_DIR: &str = ".jobs";
const JOB_FILE: &str = "job.json";

/// What a job computes, as recorded beside its shards: two runs with equal fingerprints
/// write the same shards. Fields are compared one by one, so that a mismatch names the field.
#[derive(Debug, Clone, PartialEq)]
pub struct Fingerprint(Map<String, Value>);

impl Fingerprint {
    /// A fingerprint of the given fields (name, value), in any order.
    pub(crate) fn new(fields: impl IntoIterator<Item = (&'static str, Value)>) -> Self {
        Fingerprint(
            fields
                .into_iter()
                .map(|(name, value)| (name.to_string(), value))
                .collect(),
        )
    }

    /// A short stable name for the job: 16 hex digits of FNV-1a over the fields.
    pub(crate) fn id(&self) -> String {
        let text = Value::Object(self.0.clone()).to_string();
        let hash = text.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
            (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
        });
        format!("{hash:016x}")
    }

    /// The first field that differs from `recorded`: its name and both values.
    pub(crate) fn difference(&self, recorded: &Value) -> (String, String, String) {
        let empty = Map::new();
        let recorded = recorded.as_object().unwrap_or(&empty);
        let mut names: Vec<&String> = self.0.keys().chain(recorded.keys()).collect();
        names.sort();
        names.dedup();
        for name in names {
            let ours = self.0.get(name).unwrap_or(&Value::Null);
            let theirs = recorded.get(name).unwrap_or(&Value::Null);
            if ours != theirs {
                return (name.clone(), theirs.to_string(), ours.to_string());
            }
        }
        ("fingerprint".into(), "unreadable".into(), "readable".into())
    }

    pub(crate) fn value(&self) -> Value {
        Value::Object(self.0.clone())
    }
}

/// What a job computes, as far as the pipeline knows it: the part of every output's
/// fingerprint that is not the format's.
#[derive(Debug, Clone)]
pub(crate) struct Job {
    /// The row function's type name.
    pub(crate) row_fn: &'static str,
    /// The input's length, when known.
    pub(crate) length: Option<usize>,
    /// The user's key ([`Pipeline::job_key`](crate::Pipeline::job_key)).
    pub(crate) key: Option<String>,
}

impl Job {
    /// The fingerprint of one output of this job: the row function, the dtype (`dtype`, as the
    /// format names it), the row shape, the input's length, the user's key, and the format's
    /// own `fields`.
    pub(crate) fn fingerprint(
        &self,
        dtype: &str,
        row_shape: &[usize],
        fields: impl IntoIterator<Item = (&'static str, Value)>,
    ) -> Fingerprint {
        Fingerprint::new(
            [
                ("row_fn", json!(self.row_fn)),
                ("dtype", json!(dtype)),
                ("row_shape", json!(row_shape)),
                ("items", json!(self.length)),
                ("key", json!(self.key)),
            ]
            .into_iter()
            .chain(fields),
        )
    }
}

/// What one worker's units hold, as they are computed or found committed: the tally every
/// unit-by-unit output keeps for its reports.
#[derive(Debug, Default)]
pub(crate) struct Units {
    /// Rows kept in them.
    pub(crate) rows: usize,
    /// Items they hold.
    pub(crate) items: usize,
    /// Each unit's index and rows kept, in order.
    pub(crate) units: Vec<(usize, usize)>,
    /// Items that gave no row, increasing.
    pub(crate) skipped: Vec<usize>,
    /// Units committed by an earlier run.
    pub(crate) resumed: usize,
    /// Whether the whole job is complete.
    pub(crate) complete: bool,
}

impl Units {
    /// Counts unit `index`, as `record` describes it; `resumed`: committed by an earlier run.
    pub(crate) fn add(&mut self, index: usize, record: ShardRecord, resumed: bool) {
        self.resumed += usize::from(resumed);
        self.rows += record.rows;
        self.items += record.items;
        self.units.push((index, record.rows));
        self.skipped.extend(record.skipped);
    }
}

/// One committed shard, as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardRecord {
    /// Rows in the shard.
    pub(crate) rows: usize,
    /// Items the shard's rows came from (`S`, or fewer for the last shard).
    pub(crate) items: usize,
    /// Input indices of the shard's items that gave no row, increasing.
    pub(crate) skipped: Vec<usize>,
}

impl ShardRecord {
    fn to_json(&self, file: &str) -> Value {
        json!({ "file": file, "rows": self.rows, "items": self.items, "skipped": self.skipped })
    }

    pub(crate) fn from_json(value: &Value) -> Option<Self> {
        let count = |key: &str| {
            value
                .get(key)
                .and_then(Value::as_u64)
                .and_then(|n| usize::try_from(n).ok())
        };
        let skipped = match value.get("skipped") {
            None => Vec::new(),
            Some(list) => list
                .as_array()?
                .iter()
                .map(|v| v.as_u64().and_then(|n| usize::try_from(n).ok()))
                .collect::<Option<_>>()?,
        };
        Some(ShardRecord {
            rows: count("rows")?,
            items: count("items")?,
            skipped,
        })
    }
}

/// One job's shards in one directory, opened by one worker.
#[derive(Debug)]
pub struct ShardJob {
    dir: PathBuf,
    row_shape: &'static [usize],
    shard_items: usize,
    fingerprint: Fingerprint,
    id: String,
    job_dir: PathBuf,
    /// Shards known to be committed.
    done: BTreeMap<usize, ShardRecord>,
    /// The manifest of this very job was found: nothing is left to do.
    complete: bool,
    dtype: ElementType,
    /// What `dtype` is called in the manifest: numpy's descr.
    descr: &'static str,
}

impl ShardJob {
    /// Opens (or starts) the job `fingerprint` in `dir`, creating `dir` if it is missing (its
    /// parent must exist), and removes the temporary files of writers that are gone.
    pub(crate) fn open(
        dir: &Path,
        field: &Field,
        shard_items: usize,
        fingerprint: Fingerprint,
    ) -> Result<Self, SinkError> {
        let row_shape = field.row_shape;
        let descr = descr(field.dtype).ok_or_else(|| SinkError::Unsupported {
            path: dir.to_path_buf(),
            format: "`.npy`",
            dtype: field.dtype.name(),
        })?;
        if shard_items == 0 {
            return Err(SinkError::ZeroShardRows {
                dir: dir.to_path_buf(),
            });
        }
        ensure_dir(dir)?;
        remove_orphans(dir, |dest| {
            dest == SHARD_MANIFEST || parse_shard_name(dest).is_some()
        })?;
        let id = fingerprint.id();
        let jobs = dir.join(JOBS_DIR);
        let job_dir = jobs.join(&id);
        let mut job = ShardJob {
            dir: dir.to_path_buf(),
            row_shape,
            shard_items,
            fingerprint,
            id,
            job_dir,
            done: BTreeMap::new(),
            complete: false,
            dtype: field.dtype,
            descr,
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
        job.done = job.read_records()?;
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
            if file != shard_name(index) || !self.dir.join(file).is_file() {
                return None;
            }
            done.insert(index, ShardRecord::from_json(shard)?);
        }
        Some(done)
    }

    /// The records of committed shards, as on disk now (other workers add theirs).
    fn read_records(&self) -> Result<BTreeMap<usize, ShardRecord>, SinkError> {
        let mut done = BTreeMap::new();
        for name in list_dir(&self.job_dir)? {
            let Some(index) = name
                .strip_suffix(".json")
                .and_then(|stem| parse_shard_name(&format!("{stem}.npy")))
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
                if self.dir.join(shard_name(index)).is_file() {
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
        self.dir.join(shard_name(index))
    }

    /// The shard directory.
    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// Starts writing shard `index` under a temporary name.
    pub(crate) fn start(&self, index: usize) -> Result<RowStream<NpyHeader>, SinkFailure> {
        let field = Field {
            dtype: self.dtype,
            row_shape: self.row_shape,
        };
        npy_stream(&self.shard_path(index), &field)
    }

    /// Commits shard `index`: renames it into place, then records it. A worker killed between
    /// the two leaves a shard without a record, which a rerun writes again.
    pub(crate) fn commit(
        &mut self,
        index: usize,
        shard: RowStream<NpyHeader>,
        record: ShardRecord,
    ) -> Result<Shard, SinkFailure> {
        let out = shard.finish()?;
        let out = Shard {
            path: out.dest,
            rows: out.rows,
        };
        let name = shard_name(index);
        let record_path = self
            .job_dir
            .join(format!("{}.json", name.trim_end_matches(".npy")));
        write_json(&record_path, &record.to_json(&name)).map_err(|source| SinkFailure {
            written: out.rows,
            partial: Some(self.dir.clone()),
            source,
        })?;
        let rows = record.rows;
        self.done.insert(index, record);
        Ok(Shard {
            path: out.path,
            rows,
        })
    }

    /// After this worker's shards: when every shard `0..shards` of the job is committed (by
    /// any worker), writes the manifest, removes shards of an earlier, longer dataset and the
    /// job's records, and returns the manifest's path; otherwise `None`.
    pub(crate) fn finish(&mut self, shards: usize) -> Result<Option<PathBuf>, SinkError> {
        let manifest = self.dir.join(SHARD_MANIFEST);
        if self.complete {
            return Ok(Some(manifest));
        }
        let done = self.read_records()?;
        if (0..shards).any(|index| !done.contains_key(&index)) {
            return Ok(None);
        }
        let records: Vec<(usize, &ShardRecord)> =
            done.range(..shards).map(|(&i, r)| (i, r)).collect();
        let rows: usize = records.iter().map(|(_, r)| r.rows).sum();
        let items: usize = records.iter().map(|(_, r)| r.items).sum();
        let listed: Vec<Value> = records
            .iter()
            .map(|&(index, record)| record.to_json(&shard_name(index)))
            .collect();
        let row_len: usize = self.row_shape.iter().product();
        let text = json!({
            "format": "npy-shards",
            "version": 2,
            "rows": rows,
            "items": items,
            "dtype": self.descr,
            "rust_dtype": self.dtype.name(),
            "row_shape": self.row_shape,
            "dim": row_len,
            "shard_rows": self.shard_items,
            "job": self.id,
            "fingerprint": self.fingerprint.value(),
            "shards": listed,
        });
        // The manifest covers the shards: their contents and their names in the directory are
        // on the device already (each was flushed, renamed, and the directory flushed); so is
        // the directory's own name in its parent (`out/` of `out/x/`, when this run created it)
        // before the manifest is.
        sync_dir(parent_dir(&self.dir));
        write_json(&manifest, &text)?;
        remove_stale(&self.dir, shards, true)?;
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
    use ndarray::array;

    fn fingerprint(key: &str) -> Fingerprint {
        Fingerprint::new([("row_fn", json!("f")), ("key", json!(key))])
    }

    #[test]
    fn fingerprints_name_their_first_difference() {
        let a = fingerprint("a");
        assert_eq!(a.id(), fingerprint("a").id());
        assert_ne!(a.id(), fingerprint("b").id());
        assert_eq!(a.id().len(), 16);
        assert_eq!(
            a.difference(&fingerprint("b").value()),
            ("key".to_string(), "\"b\"".to_string(), "\"a\"".to_string())
        );
    }

    const U8: Field = Field {
        dtype: ElementType::U8,
        row_shape: &[1],
    };

    #[test]
    fn committed_shards_survive_and_the_last_writes_the_manifest() {
        let dir = tempfile::tempdir().unwrap();
        let shards = dir.path().join("s");
        let mut job = ShardJob::open(&shards, &U8, 2, fingerprint("a")).unwrap();
        let mut writer = job.start(1).unwrap();
        writer.write(array![[3u8], [4]].view()).unwrap();
        let record = ShardRecord {
            rows: 2,
            items: 2,
            skipped: vec![],
        };
        job.commit(1, writer, record.clone()).unwrap();
        assert_eq!(job.finish(2).unwrap(), None);
        assert!(shards.join("part-00001.npy").is_file());

        // Another worker (or a rerun) sees shard 1 and writes shard 0.
        let mut other = ShardJob::open(&shards, &U8, 2, fingerprint("a")).unwrap();
        assert_eq!(other.committed(1), Some(&record));
        assert_eq!(other.committed(0), None);
        let mut writer = other.start(0).unwrap();
        writer.write(array![[1u8]].view()).unwrap();
        let record0 = ShardRecord {
            rows: 1,
            items: 2,
            skipped: vec![1],
        };
        other.commit(0, writer, record0).unwrap();
        let manifest = other.finish(2).unwrap().unwrap();
        let manifest: Value = serde_json::from_slice(&fs::read(manifest).unwrap()).unwrap();
        assert_eq!(manifest["rows"], 3);
        assert_eq!(manifest["items"], 4);
        assert_eq!(manifest["shards"][0]["skipped"], json!([1]));
        assert!(!shards.join(JOBS_DIR).exists());

        // The same job again: complete at once. Another job: replaces it.
        let again = ShardJob::open(&shards, &U8, 2, fingerprint("a")).unwrap();
        assert!(again.is_complete());
        let other_job = ShardJob::open(&shards, &U8, 2, fingerprint("b")).unwrap();
        assert!(!other_job.is_complete());
        assert!(!shards.join(SHARD_MANIFEST).exists());
    }

    #[test]
    fn an_unfinished_job_of_another_fingerprint_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let job = ShardJob::open(dir.path(), &U8, 2, fingerprint("a")).unwrap();
        drop(job);
        let err = ShardJob::open(dir.path(), &U8, 2, fingerprint("b")).unwrap_err();
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
