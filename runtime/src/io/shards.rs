//! Directories of `.npy` shards plus a JSON manifest, written unit by unit and resumed:
//! [`NpyShards`], the output of [`Pipeline::write_npy_shards`](crate::Pipeline::write_npy_shards).

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::json;

use super::atomic::{parent_dir, AtomicFile};
use super::error::{Partial, SinkError, SinkFailure};
use super::npy::{create_dir, descr, NpyHeader};
use super::resume::{Job, ShardJob, ShardRecord, Units};
use super::stream::RowStream;
use super::{Names, Output, UnitOutput};
use crate::layout::{Column, Field};

/// The manifest's file name: the directory's only `*.json`.
pub const SHARD_MANIFEST: &str = "manifest.json";

/// `.npy` shards, one directory of them per field: `dir` itself for one output,
/// `dir/{name}/` for each field of several. Shard `j` of every field holds the rows of items
/// `j·n .. (j+1)·n`; a unit (one shard of every field) is committed when it is stored in every
/// field, each field's manifest is written once every unit is committed (the `resume` module).
pub(crate) struct NpyShards {
    /// One job per field.
    jobs: Vec<ShardJob>,
    /// The open unit's shard of every field; empty between units.
    open: Vec<RowStream<NpyHeader>>,
    /// The units of this run.
    units: Units,
}

impl NpyShards {
    /// Opens (or starts) the shard jobs of `fields` in `dir`, `shard_items` items per shard.
    pub(crate) fn open(
        dir: &Path,
        names: Names<'_>,
        fields: &[Field],
        shard_items: usize,
        job: &Job,
    ) -> Result<Self, SinkFailure> {
        let fail = |source| SinkFailure {
            written: 0,
            partial: None,
            source,
        };
        let open = |dir: &Path, field: &Field, output: Option<&str>| {
            let descr = descr(field.dtype).unwrap_or_default();
            let mut own = vec![("shard_rows", json!(shard_items))];
            own.extend(output.map(|name| ("output", json!(name))));
            let fingerprint = job.fingerprint(descr, field.row_shape, own);
            ShardJob::open(dir, field, shard_items, fingerprint).map_err(fail)
        };
        let jobs = match names {
            Names::One(_) => fields
                .iter()
                .map(|field| open(dir, field, None))
                .collect::<Result<_, _>>()?,
            Names::Fields(names) => {
                create_dir(dir)?;
                names
                    .iter()
                    .zip(fields)
                    .map(|(name, field)| open(&dir.join(name), field, Some(name)))
                    .collect::<Result<_, _>>()?
            }
        };
        Ok(NpyShards {
            jobs,
            open: Vec::new(),
            units: Units::default(),
        })
    }
}

impl Output for NpyShards {
    type Report = ShardsOutput;

    fn write(&mut self, columns: &[Column<'_>]) -> Result<(), SinkFailure> {
        for (shard, column) in self.open.iter_mut().zip(columns) {
            shard.write_column(column)?;
        }
        Ok(())
    }

    fn finish(mut self, _skipped: Vec<usize>) -> Result<Vec<ShardsOutput>, SinkFailure> {
        let units = self.committed_count();
        self.complete(units).map_err(|source| SinkFailure {
            written: self.units.rows,
            partial: Some(self.location()),
            source,
        })?;
        Ok(self.reports())
    }

    fn abandon(mut self) -> Partial {
        let kept = self.abandon_unit();
        Partial {
            rows: self.units.rows + kept,
            path: Some(self.location()),
            error: None,
        }
    }
}

impl UnitOutput for NpyShards {
    fn is_complete(&self) -> bool {
        self.jobs.iter().all(ShardJob::is_complete)
    }

    fn committed(&self, unit: usize) -> Option<&ShardRecord> {
        let mut records = self.jobs.iter().map(|job| job.committed(unit));
        let first = records.next()??;
        records.all(|record| record.is_some()).then_some(first)
    }

    fn committed_count(&self) -> usize {
        self.jobs
            .iter()
            .map(ShardJob::committed_count)
            .min()
            .unwrap_or(0)
    }

    fn start(&mut self, unit: usize) -> Result<(), SinkFailure> {
        self.abandon_unit();
        for job in &self.jobs {
            match job.start(unit) {
                Ok(shard) => self.open.push(shard),
                Err(failure) => {
                    self.abandon_unit();
                    return Err(failure);
                }
            }
        }
        Ok(())
    }

    fn commit(&mut self, unit: usize, record: ShardRecord) -> Result<(), SinkFailure> {
        let shards = std::mem::take(&mut self.open);
        for (job, shard) in self.jobs.iter_mut().zip(shards) {
            job.commit(unit, shard, record.clone())?;
        }
        self.units.add(unit, record, false);
        Ok(())
    }

    fn abandon_unit(&mut self) -> usize {
        let mut kept = self.open.drain(..).map(|mut shard| shard.abandon().rows);
        let first = kept.next().unwrap_or(0);
        kept.for_each(drop);
        first
    }

    fn complete(&mut self, units: usize) -> Result<bool, SinkError> {
        let mut complete = true;
        for job in &mut self.jobs {
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
            .map_or_else(PathBuf::new, |job| job.dir().to_path_buf())
    }

    fn reports(&self) -> Vec<ShardsOutput> {
        self.jobs
            .iter()
            .map(|job| ShardsOutput {
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
                skipped: self.units.skipped.clone(),
                complete: self.units.complete,
                resumed: self.units.resumed,
            })
            .collect()
    }
}

/// One shard of [`Pipeline::write_npy_shards`](crate::Pipeline::write_npy_shards).
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

/// What [`Pipeline::write_npy_shards`](crate::Pipeline::write_npy_shards) wrote, for one output.
///
/// ```
/// # use std::convert::Infallible;
/// # use preallocate_runtime::{policy, Pipeline, RowFn, RowSpec};
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

    fn open(dir: &Path, shard_items: usize) -> Result<NpyShards, SinkFailure> {
        let field = Field {
            dtype: crate::element::ElementType::U8,
            row_shape: &[1],
        };
        let job = Job {
            row_fn: "f",
            length: None,
            key: None,
        };
        NpyShards::open(dir, Names::One(""), &[field], shard_items, &job)
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
}
