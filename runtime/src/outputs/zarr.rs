//! Zarr v3 arrays (feature `zarr`), written unit by unit through the `zarrs` crate: row `i` of
//! the array is item `i`, a unit is the items of one chunk (or of one shard, with sharding),
//! and each worker of a partitioned job writes whole units only, so no two workers ever write
//! the same object.
//!
//! Beside the array's chunks, inside its own prefix (which Zarr readers never look at), the job
//! keeps its records: `<name>/.preallocate/<job>/job.json` (the fingerprint) and, per commit,
//! `u-<first>-<last>.jsonl`, a line per unit committed (its kept rows and dropped items; runs
//! before this layout wrote one `u-<unit>.json` per unit, which a resume reads too); once the
//! job is complete, they are rewritten as one file per block of units, the same files however
//! the units were committed (see `records`). The array's metadata (`<name>/zarr.json`) carries
//! `attributes.preallocate`: the job, its fingerprint, and `complete`.
//!
//! A unit's record is written only once its chunks are durable: units are committed in groups
//! (a fraction of a second of units, at most), each group's objects and directories flushed to
//! the device together, then its records written (see `store`). A killed run loses the
//! units of its last group at most; a machine crash never leaves a record, or a metadata
//! document, that describes a chunk it lost.
//!
//! When the array appears: a single-process run writes the metadata last, once every unit is
//! stored, and removes an earlier array's metadata first, so a reader sees the earlier complete
//! array, then no array, then the new complete one, never a mix. A partitioned run writes the
//! metadata first with `complete: false` (its workers need the array to exist), and the worker
//! that commits the job's last unit rewrites it with `complete: true`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;

use serde_json::{json, Value};
use zarrs::array::{
    codec::ZstdCodec, Array, ArrayBuilder, ArrayBytes, ArrayToBytesCodecTraits, CodecOptions,
};
use zarrs::storage::{StoreKey, StorePrefix};

use super::bytes::by_element_type;
use super::error::{JobMismatch, Partial, SinkError, SinkFailure};
use super::output::{
    abandon_units, committed_in_all, finish_units, Compression, Names, Output, UnitOutput,
};
use super::resume::{Fingerprint, Job, ShardRecord, Units};
use crate::element::{Element, ElementType};
use crate::layout::{Col, Column, Field, Layout};
use records::RecordFile;
pub use store::Storage;
use store::{ChunkWriter, Encode, Group, Unwritten};

/// An element type that a Zarr array stores so that zarr-python, Dask and xarray read it:
/// every [`Element`] except `bf16`, which Zarr v3 has no standard data type for.
///
/// ```
/// use preallocate::{f16, ZarrElement};
///
/// assert_eq!(<f16 as ZarrElement>::ZARR_DTYPE, "float16");
/// assert_eq!(<u8 as ZarrElement>::ZARR_DTYPE, "uint8");
/// ```
///
/// ```compile_fail,E0277
/// use preallocate::{bf16, ZarrElement};
///
/// let _ = <bf16 as ZarrElement>::ZARR_DTYPE; // zarr-python has no bfloat16
/// ```
#[diagnostic::on_unimplemented(
    message = "Zarr arrays cannot store `{Self}` so that zarr-python reads it (Zarr v3 has no standard bfloat16)",
    label = "no Zarr data type for `{Self}`",
    note = "write bf16 rows with `write_safetensors` (safetensors stores BF16), or choose `dtype = f16` or `dtype = f32`"
)]
pub trait ZarrElement: Element + bytemuck::Pod {
    /// The Zarr v3 data type's name (`"float32"`, `"uint8"`, ...).
    const ZARR_DTYPE: &'static str;
}

/// The Zarr v3 data type's name of an element type (`"float32"`, `"uint8"`, ...), or `None`
/// for `bf16`, which Zarr v3 has no standard data type for.
pub(crate) const fn zarr_dtype(dtype: ElementType) -> Option<&'static str> {
    match dtype {
        // Zarr v3 has no `bfloat16` of its own.
        ElementType::Bf16 => None,
        other => Some(other.numpy_name()),
    }
}

by_element_type!(
    ZarrElement,
    ZARR_DTYPE,
    zarr_dtype,
    [half::f16, f32, f64, i8, i16, i32, i64, u8, u16, u32, u64]
);

/// Outputs whose every element type is a [`ZarrElement`]: one array ([`Col`]) or several
/// (nested pairs).
#[doc(hidden)]
pub trait ZarrFields: Layout {}

impl<T: ZarrElement, D: ndarray::RemoveAxis + 'static> ZarrFields for Col<T, D> {}
impl<A: ZarrFields, B: ZarrFields> ZarrFields for (A, B) {}

/// What [`Pipeline::write_zarr`](crate::Pipeline::write_zarr) wrote.
///
/// ```
/// let out = preallocate::ZarrOutput {
///     store: "out.zarr".into(),
///     name: "x".into(),
///     shape: vec![10, 3],
///     rows: 10,
///     kept: 9,
///     units: vec![0, 1],
///     skipped: vec![4],
///     valid: Some("x_valid".into()),
///     resumed: 0,
///     complete: true,
/// };
/// assert_eq!(out.rows - out.kept, out.skipped.len());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZarrOutput {
    /// The group's location (a path, or an object-store URL).
    pub store: PathBuf,
    /// The array's name in the group.
    pub name: String,
    /// The array's shape: the items of the job, then the row shape. With an input of unknown
    /// length, the shape written at the end.
    pub shape: Vec<usize>,
    /// The array's rows this run is responsible for: the items of its units (all of them
    /// without a partition).
    pub rows: usize,
    /// Of those, the rows that hold data; the others are zero, and `valid` marks which.
    pub kept: usize,
    /// The units (chunks, or shards with sharding) this run wrote or found written, in order.
    pub units: Vec<usize>,
    /// Input indices of the items that gave no row, increasing.
    pub skipped: Vec<usize>,
    /// The companion array marking the rows that hold data (`1`) with `u8`s, named
    /// `<name>_valid`, when the row function can drop items.
    pub valid: Option<String>,
    /// How many of `units` an earlier run had committed already.
    pub resumed: usize,
    /// Whether the whole array is complete (`attributes.preallocate.complete` is `true`).
    pub complete: bool,
}

/// The layout of an array to write.
#[derive(Debug, Clone)]
pub struct ZarrLayout {
    pub(crate) name: String,
    pub(crate) row_shape: Vec<usize>,
    pub(crate) chunk_rows: usize,
    /// Rows per shard, a multiple of `chunk_rows`; `None`: no sharding.
    pub(crate) shard_rows: Option<usize>,
    pub(crate) compression: Compression,
    /// Items, when known.
    pub(crate) length: Option<usize>,
    /// Several workers write the array at once.
    pub(crate) partitioned: bool,
    /// The row function can drop items: write `<name>_valid`.
    pub(crate) drops: bool,
}

impl ZarrLayout {
    /// Items per unit: a shard's, or a chunk's.
    pub(crate) fn unit_items(&self) -> usize {
        self.shard_rows.unwrap_or(self.chunk_rows)
    }

    /// The fields of the job's fingerprint that the layout decides.
    pub(crate) fn fingerprint_fields(&self) -> [(&'static str, Value); 4] {
        [
            ("array", json!(self.name)),
            ("chunk_rows", json!(self.chunk_rows)),
            ("shard_rows", json!(self.shard_rows)),
            ("compression", json!(self.compression.name())),
        ]
    }
}

mod records;
mod store;

type StoredArray = Array<dyn zarrs::storage::ReadableWritableListableStorageTraits>;

/// One job's array in one store, opened by one worker.
pub struct ZarrJob {
    store: Storage,
    location: PathBuf,
    layout: ZarrLayout,
    array: StoredArray,
    valid: Option<StoredArray>,
    fingerprint: Fingerprint,
    id: String,
    /// Records of committed units.
    done: BTreeMap<usize, ShardRecord>,
    /// The array was complete, for this job, when opened.
    complete: bool,
    /// One unit's rows: kept rows first, then spread to their items' positions.
    buffer: Vec<u8>,
    /// Rows in `buffer`.
    filled: usize,
    /// Bytes per row.
    row_len: usize,
    /// Bytes per element.
    element_size: usize,
    /// Units stored whose records wait for a sync that covers their objects: a record is
    /// written only once its unit is durable, so a resume never trusts a unit a crash lost.
    unrecorded: Vec<(usize, ShardRecord)>,
    /// The units stored since the last sync.
    group: Group,
    /// Encodes and writes the units' chunks (or shards) into a local directory while the next
    /// unit is computed.
    writer: Option<ChunkWriter>,
    /// Units counted as stored whose chunks the writer then failed to write, with their
    /// records, until the run's tally takes them back ([`ZarrArrays`]).
    lost: Vec<(usize, ShardRecord)>,
}

impl std::fmt::Debug for ZarrJob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ZarrJob")
            .field("location", &self.location)
            .field("layout", &self.layout)
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl Drop for ZarrJob {
    /// A job stopped by a failure (or a panic) keeps the units it stored: they are recorded,
    /// best effort, for a rerun to resume.
    fn drop(&mut self) {
        let _ = self.record_units();
        let _ = self.store.sync();
    }
}

impl ZarrJob {
    /// Opens (or starts) the job `fingerprint` for array `layout.name` in the group at
    /// `store` (`location` names it in errors).
    pub(crate) fn open(
        store: Storage,
        location: PathBuf,
        layout: ZarrLayout,
        dtype: ElementType,
        fingerprint: Fingerprint,
    ) -> Result<Self, SinkError> {
        let name = layout.name.clone();
        check_name(&location, &name)?;
        let element_size = dtype.size();
        let dtype = zarr_dtype(dtype).ok_or_else(|| SinkError::Unsupported {
            path: location.join(&name),
            format: "Zarr",
            dtype: dtype.name(),
        })?;
        let row_len: usize = layout.row_shape.iter().product::<usize>() * element_size;
        let id = fingerprint.id();
        // Refused before anything is written.
        codec(&location, layout.compression)?;
        ensure_group(&store, &location)?;
        let array = build_array(&store, &location, &layout, dtype, &name)?;
        let valid = if layout.drops {
            Some(build_valid(&store, &location, &layout, &name)?)
        } else {
            None
        };
        let mut job = ZarrJob {
            store,
            location,
            layout,
            array,
            valid,
            fingerprint,
            id,
            done: BTreeMap::new(),
            complete: false,
            buffer: Vec::new(),
            filled: 0,
            row_len,
            element_size,
            unrecorded: Vec::new(),
            group: Group::default(),
            writer: None,
            lost: Vec::new(),
        };
        let unit_bytes = job.layout.unit_items() * job.row_len;
        job.writer = job.store.chunk_writer(unit_bytes, job.encoder()?);
        job.adopt(&name)?;
        Ok(job)
    }

    /// Takes up what the store holds of array `name`: this job complete (nothing to do),
    /// this job unfinished (its records), another job's complete array (replaced), or another
    /// job unfinished (an error, not a mix).
    fn adopt(&mut self, name: &str) -> Result<(), SinkError> {
        let recorded = self.read_json(&format!("{name}/zarr.json"))?;
        let recorded_job = recorded
            .as_ref()
            .and_then(|m| m.pointer("/attributes/preallocate"));
        let recorded_complete = recorded_job
            .and_then(|p| p.get("complete"))
            .and_then(Value::as_bool)
            == Some(true);
        let recorded_id = recorded_job
            .and_then(|p| p.get("job"))
            .and_then(Value::as_str)
            .map(str::to_owned);
        let ours = recorded_id.as_deref() == Some(self.id.as_str());
        if recorded_complete && ours {
            self.done = self.read_records()?;
            self.complete = true;
            return Ok(());
        }
        self.check_other_jobs(name, recorded_complete.then_some(recorded_id).flatten())?;
        let job_file = format!("{name}/.preallocate/{}/job.json", self.id);
        if self.read_json(&job_file)?.is_none() {
            self.write_json(&job_file, &self.fingerprint.value())?;
        }
        if self.layout.partitioned {
            // Workers need the array to exist; whoever comes first writes its metadata.
            if !ours {
                self.store_metadata(false)?;
            }
        } else if recorded.is_some() {
            // A single process publishes the array when complete: until then, no array.
            self.erase_metadata()?;
        }
        // The earlier array's metadata is gone for good before any of its chunks is replaced.
        self.sync()?;
        self.done = self.read_records()?;
        Ok(())
    }

    /// Another job's unfinished records: an error, not a mix. The records of `finished`, the
    /// job whose complete array is here, are removed, since that array is being replaced.
    fn check_other_jobs(&self, name: &str, finished: Option<String>) -> Result<(), SinkError> {
        let jobs = format!("{name}/.preallocate/");
        for other in self.list_dirs(&jobs)? {
            if other == self.id {
                continue;
            }
            if finished.as_deref() == Some(other.as_str()) {
                self.erase_prefix(&format!("{jobs}{other}/"))?;
                continue;
            }
            let theirs = self
                .read_json(&format!("{jobs}{other}/job.json"))?
                .unwrap_or(Value::Null);
            let (field, recorded, current) = self.fingerprint.difference(&theirs);
            return Err(SinkError::JobMismatch(Box::new(JobMismatch {
                dir: self.location.join(name),
                field,
                recorded,
                current,
            })));
        }
        Ok(())
    }

    /// The records of this job's committed units, from every file of them in the store.
    fn read_records(&self) -> Result<BTreeMap<usize, ShardRecord>, SinkError> {
        let mut done = BTreeMap::new();
        for file in self.record_files()? {
            // A record file is written after its units' data: one cut short (a killed writer)
            // holds the records of its whole lines, and the units of the rest are written
            // again.
            done.extend(file.records(&self.read_record_file(&file.name)?));
        }
        Ok(done)
    }

    /// Where this job's records are: `<name>/.preallocate/<job>/`.
    fn records_dir(&self) -> String {
        format!("{}/.preallocate/{}/", self.layout.name, self.id)
    }

    /// This job's record files.
    fn record_files(&self) -> Result<Vec<RecordFile>, SinkError> {
        let keys = self
            .store
            .list_prefix(&self.prefix(&self.records_dir())?)
            .map_err(|e| self.store_error("list", &e))?;
        Ok(keys
            .iter()
            .filter_map(|key| key.as_str().rsplit('/').next().and_then(RecordFile::of))
            .collect())
    }

    /// The bytes of the record file `name` of this job (none if it is gone).
    fn read_record_file(&self, name: &str) -> Result<Vec<u8>, SinkError> {
        let key = key(&self.location, &format!("{}{name}", self.records_dir()))?;
        match self.store.get(&key) {
            Ok(bytes) => Ok(bytes.map(|b| b.to_vec()).unwrap_or_default()),
            Err(e) => Err(self.store_error("read", &e)),
        }
    }

    /// Rewrites the records of the complete job, `units` units, as one file per block of
    /// units, in order, and removes the other files: a complete array keeps the same records
    /// (bytes and files) however its units were committed. The files are read in the order of
    /// their units, each once, and kept while a block needs them: memory holds a block's
    /// records and the files it overlaps, not the array's. The blocks are durable before any
    /// other file is removed.
    fn settle_records(&mut self, units: usize) -> Result<(), SinkError> {
        let mut files = self.record_files()?;
        files.sort_by_key(|file| (file.first, file.last));
        let mut pending = files.iter().peekable();
        let mut open: Vec<(&RecordFile, BTreeMap<usize, ShardRecord>)> = Vec::new();
        let mut blocks = BTreeSet::new();
        for (first, last) in records::blocks(units, self.layout.unit_items()) {
            open.retain(|(file, _)| file.last >= first);
            while let Some(file) = pending.next_if(|file| file.first <= last) {
                let bytes = self.read_record_file(&file.name)?;
                open.push((file, file.records(&bytes).into_iter().collect()));
            }
            let bytes = records::block(first, last, |unit| {
                open.iter().find_map(|(_, records)| records.get(&unit))
            })
            .map_err(|unit| {
                let missing = format!("unit {unit} has no record");
                self.store_error("gather the records of", &missing)
            })?;
            let name = records::file_name(first, last);
            if self.read_record_file(&name)? != bytes {
                self.write_bytes(&format!("{}{name}", self.records_dir()), bytes)?;
            }
            blocks.insert(name);
        }
        drop(open);
        self.sync()?;
        for file in files.iter().filter(|file| !blocks.contains(&file.name)) {
            let key = key(
                &self.location,
                &format!("{}{}", self.records_dir(), file.name),
            )?;
            self.store
                .erase(&key)
                .map_err(|e| self.store_error("remove a record of", &e))?;
        }
        Ok(())
    }

    fn store_metadata(&mut self, complete: bool) -> Result<(), SinkError> {
        let attributes = json!({
            "job": self.id,
            "fingerprint": self.fingerprint.value(),
            "complete": complete,
            "valid": self.valid.as_ref().map(|_| format!("{}_valid", self.layout.name)),
        });
        self.array
            .attributes_mut()
            .insert("preallocate".into(), attributes.clone());
        // The companion first: once the array is there, so is the mark of its rows.
        if let Some(valid) = &mut self.valid {
            valid
                .attributes_mut()
                .insert("preallocate".into(), attributes);
            valid
                .store_metadata()
                .map_err(|e| store_error(&self.location, "write the metadata of", &e))?;
        }
        self.array
            .store_metadata()
            .map_err(|e| store_error(&self.location, "write the metadata of", &e))
    }

    fn erase_metadata(&self) -> Result<(), SinkError> {
        self.array
            .erase_metadata()
            .map_err(|e| self.store_error("remove the metadata of", &e))?;
        if let Some(valid) = &self.valid {
            valid
                .erase_metadata()
                .map_err(|e| self.store_error("remove the metadata of", &e))?;
        }
        Ok(())
    }

    /// Whether the whole job was found complete when opened.
    pub(crate) fn is_complete(&self) -> bool {
        self.complete
    }

    /// The record of unit `unit`, if it is committed.
    pub(crate) fn committed(&self, unit: usize) -> Option<&ShardRecord> {
        self.done.get(&unit)
    }

    /// How many units are known to be committed.
    pub(crate) fn committed_count(&self) -> usize {
        self.done.len()
    }

    /// The array's shape.
    pub(crate) fn shape(&self) -> Vec<usize> {
        self.array.shape().iter().map(|&n| n as usize).collect()
    }

    /// The group's location.
    pub(crate) fn name(&self) -> &str {
        &self.layout.name
    }

    pub(crate) fn location(&self) -> &PathBuf {
        &self.location
    }

    /// The companion array's name, if there is one.
    pub(crate) fn valid_name(&self) -> Option<String> {
        self.valid
            .as_ref()
            .map(|_| format!("{}_valid", self.layout.name))
    }

    /// Starts a unit: an empty buffer of one unit's rows (allocated once, reused).
    pub(crate) fn start(&mut self) {
        let len = self.layout.unit_items() * self.row_len;
        if self.buffer.len() != len {
            self.buffer = vec![0; len];
        }
        self.filled = 0;
    }

    /// Appends kept rows to the unit.
    pub(crate) fn write(&mut self, column: &Column<'_>) -> Result<(), SinkFailure> {
        let row_len = self.row_len / self.element_size;
        if column.row_len != row_len {
            return Err(SinkFailure {
                written: 0,
                partial: None,
                source: SinkError::WidthMismatch {
                    path: self.location.join(&self.layout.name),
                    row_shape: self.layout.row_shape.clone(),
                    expected: row_len,
                    found: column.row_len,
                },
            });
        }
        let start = self.filled * self.row_len;
        let end = start + column.bytes.len();
        let Some(slot) = self.buffer.get_mut(start..end) else {
            return Err(SinkFailure {
                written: 0,
                partial: None,
                source: SinkError::TooLarge {
                    path: self.location.join(&self.layout.name),
                    what: "a unit received more rows than it has items",
                },
            });
        };
        // zarrs takes elements in the machine's byte order: the column's own bytes.
        slot.copy_from_slice(&column.bytes);
        self.filled += column.rows;
        Ok(())
    }

    /// Stores unit `unit`: its kept rows moved to their items' positions, dropped items' rows
    /// zero, then its record.
    pub(crate) fn commit(&mut self, unit: usize, record: &ShardRecord) -> Result<(), SinkFailure> {
        let unit_items = self.layout.unit_items();
        let first = unit * unit_items;
        let width = self.row_len;
        // Spread from the back: a kept row only ever moves to a later position.
        let mut valid = vec![0u8; unit_items];
        let mut dropped = record.skipped.iter().rev().peekable();
        let mut row = self.filled;
        for position in (0..record.items).rev() {
            if dropped.peek().is_some_and(|&&i| i == first + position) {
                dropped.next();
                self.buffer[position * width..(position + 1) * width].fill(0);
            } else {
                row -= 1;
                if row != position {
                    self.buffer
                        .copy_within(row * width..(row + 1) * width, position * width);
                }
                valid[position] = 1;
            }
        }
        self.buffer[record.items * width..].fill(0);
        let fail = |source| SinkFailure {
            written: 0,
            partial: None,
            source,
        };
        if self.layout.length.is_none() {
            // Unknown length: the array grows to hold this unit; its final shape is written
            // at the end.
            let mut shape = vec![((unit + 1) * unit_items) as u64];
            shape.extend(self.layout.row_shape.iter().map(|&n| n as u64));
            let location = &self.location;
            self.array
                .set_shape(shape)
                .map_err(|e| fail(store_error(location, "resize", &e)))?;
            if let Some(valid) = &mut self.valid {
                valid
                    .set_shape(vec![((unit + 1) * unit_items) as u64])
                    .map_err(|e| fail(store_error(&self.location, "resize", &e)))?;
            }
        }
        let mut indices = vec![0u64; 1 + self.layout.row_shape.len()];
        indices[0] = unit as u64;
        let unit_bytes = self.buffer.len();
        self.store_unit(&indices)
            .map_err(|e| fail(self.store_error("write a chunk of", &e)))?;
        if let Some(valid_array) = &self.valid {
            valid_array
                .store_chunk(&[unit as u64], ArrayBytes::new_flen(&valid[..]))
                .map_err(|e| fail(self.store_error("write a chunk of", &e)))?;
        }
        // This run's report holds the dropped items: the map keeps the counts.
        self.done.insert(unit, record.clone().without_skipped());
        self.filled = 0;
        self.unrecorded.push((unit, record.clone()));
        let due = !self.store.defers_sync()
            || self.group.add(unit_bytes, record.items, self.store.busy());
        if due {
            self.record_units().map_err(fail)?;
        }
        Ok(())
    }

    /// Whether a chunk's encoding is the unit's buffer itself: uncompressed and unsharded (the
    /// `bytes` codec alone), on a little-endian machine.
    fn writes_buffer(&self) -> bool {
        cfg!(target_endian = "little")
            && self.layout.shard_rows.is_none()
            && self.layout.compression == Compression::None
    }

    /// How the [`ChunkWriter`] encodes a unit's buffer: not at all when its encoding is the
    /// buffer itself, else with the array's codecs, as `zarrs`' `store_chunk` does (the same
    /// bytes: every chunk, or shard, has the same shape).
    fn encoder(&self) -> Result<Option<Encode>, SinkError> {
        if self.writes_buffer() {
            return Ok(None);
        }
        let codecs = self.array.codecs();
        let first = vec![0u64; self.array.dimensionality()];
        let shape = self
            .array
            .chunk_shape(&first)
            .map_err(|e| self.store_error("encode a chunk of", &e))?;
        let data_type = self.array.data_type().clone();
        let fill_value = self.array.fill_value().clone();
        Ok(Some(Arc::new(move |bytes: &[u8]| {
            codecs
                .encode(
                    ArrayBytes::new_flen(bytes),
                    &shape,
                    &data_type,
                    &fill_value,
                    &CodecOptions::default(),
                )
                .map(std::borrow::Cow::into_owned)
                .map_err(|e| e.to_string())
        })))
    }

    /// Stores the unit's buffer as the chunk at `indices`. A chunk of only the fill value (zero
    /// bytes) is erased, as `zarrs` does. Into a local directory, the [`ChunkWriter`] encodes
    /// and writes it on threads of their own while the next unit is computed (the buffer swapped
    /// for one written before); uncompressed and unsharded, it writes the buffer as it is,
    /// skipping the copy into owned bytes that `zarrs`' `store_chunk` makes (2 M rows x 32
    /// `f32`: 0.250 s with it, see the README's Zarr figures). Anything else goes through
    /// `zarrs`.
    fn store_unit(&mut self, indices: &[u64]) -> Result<(), String> {
        if self.buffer.iter().all(|&b| b == 0) {
            return self.array.erase_chunk(indices).map_err(|e| e.to_string());
        }
        let key = self.array.chunk_key(indices);
        if let Some(writer) = &mut self.writer {
            let bytes = std::mem::take(&mut self.buffer);
            return match writer.write(indices[0] as usize, key, bytes) {
                Ok(next) => {
                    self.buffer = next;
                    Ok(())
                }
                Err(unwritten) => Err(self.forget(unwritten).to_string()),
            };
        }
        if self.writes_buffer()
            && self
                .store
                .write_local(&key, &self.buffer)
                .map_err(|e| e.to_string())?
        {
            return Ok(());
        }
        self.array
            .store_chunk(indices, ArrayBytes::new_flen(&self.buffer[..]))
            .map_err(|e| e.to_string())
    }

    /// Waits for the chunk being written on the writer's thread, if any.
    fn written(&mut self) -> Result<(), SinkError> {
        let Some(writer) = &mut self.writer else {
            return Ok(());
        };
        writer.wait().map_err(|unwritten| {
            let error = self.forget(unwritten);
            store_error(&self.location, "write a chunk of", &error)
        })
    }

    /// Forgets the units of the chunks the writer did not write: they are not recorded, so a
    /// rerun computes them again, and they are kept in `lost` for the run's tally. Returns why.
    fn forget(&mut self, unwritten: Unwritten) -> std::io::Error {
        for unit in unwritten.units {
            if let Some(at) = self.unrecorded.iter().position(|(other, _)| *other == unit) {
                self.lost.push(self.unrecorded.remove(at));
            }
            self.done.remove(&unit);
        }
        unwritten.error
    }

    /// The commit point of a group of units: makes the units stored so far durable, then
    /// writes their records, one file for the group (see [`records`]).
    fn record_units(&mut self) -> Result<(), SinkError> {
        self.written()?;
        let units = std::mem::take(&mut self.unrecorded);
        let (Some(first), Some(last)) = (
            units.iter().map(|(unit, _)| *unit).min(),
            units.iter().map(|(unit, _)| *unit).max(),
        ) else {
            return Ok(());
        };
        let file = format!("{}{}", self.records_dir(), records::file_name(first, last));
        let lines: Vec<u8> = units
            .iter()
            .flat_map(|(unit, record)| records::line(*unit, record))
            .collect();
        self.store
            .commit(vec![(key(&self.location, &file)?, lines)])
            .map_err(|e| self.store_error("commit units to", &e))?;
        self.group.reset();
        Ok(())
    }

    /// Makes everything written to the store so far durable.
    fn sync(&mut self) -> Result<(), SinkError> {
        self.written()?;
        self.store
            .sync()
            .map_err(|e| store_error(&self.location, "sync", &e))?;
        self.group.reset();
        Ok(())
    }

    /// After this worker's units, out of `units`: when every unit is committed, writes the
    /// array's metadata marked complete (with its final shape) and returns `true`.
    pub(crate) fn finish(&mut self, units: usize) -> Result<bool, SinkError> {
        // This worker's units and their records are durable before it reports them.
        self.record_units()?;
        self.sync()?;
        if self.complete {
            return Ok(true);
        }
        // Other workers commit units of a partitioned job: their records are on the store. A
        // single process has every record in hand (found when opened, or its own).
        let done = if self.layout.partitioned {
            self.read_records()?
        } else {
            self.done.clone()
        };
        if (0..units).any(|unit| !done.contains_key(&unit)) {
            return Ok(false);
        }
        self.settle_records(units)?;
        let items: usize = done.range(..units).map(|(_, r)| r.items).sum();
        let mut shape = vec![items as u64];
        shape.extend(self.layout.row_shape.iter().map(|&n| n as u64));
        let location = &self.location;
        self.array
            .set_shape(shape)
            .map_err(|e| store_error(location, "resize", &e))?;
        if let Some(valid) = &mut self.valid {
            valid
                .set_shape(vec![items as u64])
                .map_err(|e| store_error(&self.location, "resize", &e))?;
        }
        // Chunks past the end belong to an earlier, longer array of this name: removed
        // before the array is published (they are outside its shape, so no reader sees them).
        let name = self.layout.name.clone();
        self.remove_chunks_from(&name, units)?;
        if self.valid.is_some() {
            self.remove_chunks_from(&format!("{name}_valid"), units)?;
        }
        self.store_metadata(true)?;
        self.done = done;
        self.complete = true;
        Ok(true)
    }

    /// Removes the chunks of `array` whose first index is `units` or more: the keys
    /// `c/<first>` (one axis) and the prefixes `c/<first>/` (several axes).
    fn remove_chunks_from(&self, array: &str, units: usize) -> Result<(), SinkError> {
        let prefix = format!("{array}/c/");
        let listed = self
            .store
            .list_dir(&self.prefix(&prefix)?)
            .map_err(|e| self.store_error("list", &e))?;
        let stale = |name: &str| {
            name[prefix.len()..]
                .trim_end_matches('/')
                .parse::<usize>()
                .is_ok_and(|first| first >= units)
        };
        let fail = |e: &dyn std::fmt::Display| self.store_error("remove a stale chunk of", e);
        for key in listed.keys().iter().filter(|key| stale(key.as_str())) {
            self.store.erase(key).map_err(|e| fail(&e))?;
        }
        for dir in listed.prefixes().iter().filter(|dir| stale(dir.as_str())) {
            self.store.erase_prefix(dir).map_err(|e| fail(&e))?;
        }
        Ok(())
    }

    fn store_error(&self, op: &'static str, err: &dyn std::fmt::Display) -> SinkError {
        store_error(&self.location, op, err)
    }

    fn prefix(&self, prefix: &str) -> Result<StorePrefix, SinkError> {
        StorePrefix::new(prefix).map_err(|e| self.store_error("name a prefix in", &e))
    }

    fn read_json(&self, name: &str) -> Result<Option<Value>, SinkError> {
        let key = key(&self.location, name)?;
        match self.store.get(&key) {
            Ok(Some(bytes)) => Ok(serde_json::from_slice(&bytes).ok()),
            Ok(None) => Ok(None),
            Err(e) => Err(self.store_error("read", &e)),
        }
    }

    fn write_json(&self, name: &str, value: &Value) -> Result<(), SinkError> {
        self.write_bytes(name, json_bytes(value))
    }

    fn write_bytes(&self, name: &str, bytes: Vec<u8>) -> Result<(), SinkError> {
        let key = key(&self.location, name)?;
        self.store
            .set(&key, bytes.into())
            .map_err(|e| self.store_error("write", &e))
    }

    fn list_dirs(&self, prefix: &str) -> Result<Vec<String>, SinkError> {
        let listed = self
            .store
            .list_dir(&self.prefix(prefix)?)
            .map_err(|e| self.store_error("list", &e))?;
        Ok(listed
            .prefixes()
            .iter()
            .filter_map(|p| {
                p.as_str()
                    .trim_end_matches('/')
                    .rsplit('/')
                    .next()
                    .map(str::to_owned)
            })
            .collect())
    }

    fn erase_prefix(&self, prefix: &str) -> Result<(), SinkError> {
        self.store
            .erase_prefix(&self.prefix(prefix)?)
            .map_err(|e| self.store_error("remove", &e))
    }
}

fn store_error(
    location: &std::path::Path,
    op: &'static str,
    err: &dyn std::fmt::Display,
) -> SinkError {
    SinkError::Store {
        path: location.to_path_buf(),
        op,
        message: err.to_string(),
    }
}

fn json_bytes(value: &Value) -> Vec<u8> {
    serde_json::to_vec_pretty(value).unwrap_or_default()
}

fn key(location: &std::path::Path, name: &str) -> Result<StoreKey, SinkError> {
    StoreKey::new(name).map_err(|e| store_error(location, "name a key in", &e))
}

/// One Zarr array per field in one group: the array the call names for one output, an array
/// per field, named by it, for several. A unit (the items of one chunk, or of one shard) is
/// committed when it is stored in every array.
pub(crate) struct ZarrArrays {
    /// One job per field.
    jobs: Vec<ZarrJob>,
    /// The units of this run.
    units: Units,
}

impl ZarrArrays {
    /// Opens (or starts) an array per field of the group at `location`, each laid out as
    /// `layout` says (with its own name and row shape).
    pub(crate) fn open(
        location: &std::path::Path,
        names: Names<'_>,
        fields: &[Field],
        layout: &ZarrLayout,
        job: &Job,
    ) -> Result<Self, SinkError> {
        let storage = open_store(location)?;
        let name_of = |k: usize| match names {
            Names::One(name) => name,
            Names::Fields(names) => names.get(k).copied().unwrap_or_default(),
        };
        let jobs = fields
            .iter()
            .enumerate()
            .map(|(k, field)| {
                let layout = ZarrLayout {
                    name: name_of(k).to_owned(),
                    row_shape: field.row_shape.to_vec(),
                    ..layout.clone()
                };
                let dtype = zarr_dtype(field.dtype).unwrap_or_default();
                let fingerprint =
                    job.fingerprint(dtype, field.row_shape, layout.fingerprint_fields());
                let location = location.to_path_buf();
                ZarrJob::open(storage.clone(), location, layout, field.dtype, fingerprint)
            })
            .collect::<Result<_, _>>()?;
        Ok(ZarrArrays {
            jobs,
            units: Units::default(),
        })
    }

    /// Takes the units a field's writer lost (counted when handed over, then not written) out
    /// of the run's tally, so that a failure's `written` counts only rows that are stored.
    fn take_back_lost(&mut self) {
        for job in &mut self.jobs {
            for (unit, record) in std::mem::take(&mut job.lost) {
                self.units.remove(unit, &record);
            }
        }
    }
}

impl Output for ZarrArrays {
    type Report = ZarrOutput;

    fn write(&mut self, columns: &[Column<'_>]) -> Result<(), SinkFailure> {
        for (job, column) in self.jobs.iter_mut().zip(columns) {
            job.write(column)?;
        }
        Ok(())
    }

    fn finish(self, _skipped: Vec<usize>) -> Result<Vec<ZarrOutput>, SinkFailure> {
        finish_units(self)
    }

    fn abandon(self) -> Partial {
        abandon_units(self)
    }
}

impl UnitOutput for ZarrArrays {
    fn is_complete(&self) -> bool {
        self.jobs.iter().all(ZarrJob::is_complete)
    }

    fn committed(&self, unit: usize) -> Option<&ShardRecord> {
        committed_in_all(self.jobs.iter().map(|job| job.committed(unit)))
    }

    fn committed_count(&self) -> usize {
        self.jobs
            .iter()
            .map(ZarrJob::committed_count)
            .min()
            .unwrap_or(0)
    }

    fn start(&mut self, _unit: usize) -> Result<(), SinkFailure> {
        self.jobs.iter_mut().for_each(ZarrJob::start);
        Ok(())
    }

    fn commit(&mut self, unit: usize, record: ShardRecord) -> Result<(), SinkFailure> {
        let committed = self
            .jobs
            .iter_mut()
            .try_for_each(|job| job.commit(unit, &record));
        if committed.is_err() {
            // The run stops: the chunks still in flight first, so that those whose writes fail
            // too are not counted as written either.
            for job in &mut self.jobs {
                let _ = job.written();
            }
        }
        self.take_back_lost();
        committed?;
        self.units.add(unit, record, false);
        Ok(())
    }

    fn abandon_unit(&mut self) -> usize {
        // A unit is stored whole or not at all: its rows are not kept.
        0
    }

    fn complete(&mut self, units: usize) -> Result<bool, SinkError> {
        let finished: Result<Vec<bool>, SinkError> =
            self.jobs.iter_mut().map(|job| job.finish(units)).collect();
        self.take_back_lost();
        let complete = finished?.into_iter().all(|done| done);
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
            .map_or_else(PathBuf::new, |job| job.location().clone())
    }

    fn reports(&mut self) -> Vec<ZarrOutput> {
        let fields = self.jobs.len();
        let mut reports = Vec::with_capacity(fields);
        for (k, job) in self.jobs.iter().enumerate() {
            let skipped = self.units.skipped_for(k, fields);
            reports.push(ZarrOutput {
                store: job.location().clone(),
                name: job.name().to_owned(),
                shape: job.shape(),
                rows: self.units.items,
                kept: self.units.rows,
                units: self.units.units.iter().map(|&(unit, _)| unit).collect(),
                skipped,
                valid: job.valid_name(),
                resumed: self.units.resumed,
                complete: self.units.complete,
            });
        }
        reports
    }
}

/// Creates the group at `location` when the store has none.
fn ensure_group(store: &Storage, location: &std::path::Path) -> Result<(), SinkError> {
    let err = |op: &'static str| {
        move |e: &dyn std::fmt::Display| SinkError::Store {
            path: location.to_path_buf(),
            op,
            message: e.to_string(),
        }
    };
    let group_key = key(location, "zarr.json")?;
    if store
        .get(&group_key)
        .map_err(|e| err("read")(&e))?
        .is_none()
    {
        zarrs::group::GroupBuilder::new()
            .build(store.objects(), "/")
            .map_err(|e| err("create the group in")(&e))?
            .store_metadata()
            .map_err(|e| err("write the group's metadata to")(&e))?;
    }
    Ok(())
}

/// An array name: one path segment that Zarr and this crate's records allow.
fn check_name(location: &std::path::Path, name: &str) -> Result<(), SinkError> {
    let reason = if name.is_empty() {
        Some("it is empty")
    } else if name.contains('/') {
        Some("it contains `/`: give the group as the store, and one name")
    } else if name.starts_with('.') || name.starts_with("__") {
        Some("names starting with `.` or `__` are reserved")
    } else if name == "zarr.json" || name == "c" {
        Some("it is a name Zarr uses for its own keys")
    } else {
        None
    };
    match reason {
        Some(reason) => Err(SinkError::InvalidArrayName {
            store: location.to_path_buf(),
            name: name.to_string(),
            reason,
        }),
        None => Ok(()),
    }
}

/// The array `<name>`: shape `[items (or 0 until known), row shape…]`, chunks of `chunk_rows`
/// rows, optionally in shards of `shard_rows`, fill value 0, dimension names `row`, then
/// `<name>_1`, `<name>_2`, ….
fn build_array(
    store: &Storage,
    location: &std::path::Path,
    layout: &ZarrLayout,
    dtype: &str,
    name: &str,
) -> Result<StoredArray, SinkError> {
    let rows = layout.length.unwrap_or(0) as u64;
    let mut shape = vec![rows];
    shape.extend(layout.row_shape.iter().map(|&n| n as u64));
    let unit = |rows: usize| {
        let mut chunk = vec![rows as u64];
        chunk.extend(layout.row_shape.iter().map(|&n| (n as u64).max(1)));
        chunk
    };
    // why the number 0: Zarr's fill value is JSON, a number for every numeric type.
    let mut builder = ArrayBuilder::new(shape, unit(layout.unit_items()), dtype, 0u8);
    if layout.shard_rows.is_some() {
        builder.subchunk_shape(unit(layout.chunk_rows));
    }
    if let Some(codec) = codec(location, layout.compression)? {
        builder.bytes_to_bytes_codecs(vec![codec]);
    }
    let mut names = vec!["row".to_string()];
    names.extend((1..=layout.row_shape.len()).map(|axis| format!("{name}_{axis}")));
    builder.dimension_names(Some(names));
    builder
        .build(store.objects(), &format!("/{name}"))
        .map_err(|e| store_error(location, "create the array in", &e))
}

/// The chunks' codec after the bytes: none, or zstd; Zarr v3 has no Snappy.
fn codec(
    location: &std::path::Path,
    compression: Compression,
) -> Result<Option<Arc<dyn zarrs::array::BytesToBytesCodecTraits>>, SinkError> {
    match compression {
        Compression::None => Ok(None),
        Compression::Zstd(level) => Ok(Some(Arc::new(ZstdCodec::new(level, false)))),
        Compression::Snappy => Err(SinkError::UnsupportedCompression {
            path: location.to_path_buf(),
            format: "Zarr",
            compression: "Snappy",
        }),
    }
}

/// The companion `<name>_valid`: one `u8` per row, in units of the array's.
fn build_valid(
    store: &Storage,
    location: &std::path::Path,
    layout: &ZarrLayout,
    name: &str,
) -> Result<StoredArray, SinkError> {
    let mut builder = ArrayBuilder::new(
        vec![layout.length.unwrap_or(0) as u64],
        vec![layout.unit_items() as u64],
        "uint8",
        0u8,
    );
    if let Some(codec) = codec(location, layout.compression)? {
        builder.bytes_to_bytes_codecs(vec![codec]);
    }
    builder.dimension_names(Some(["row"]));
    builder
        .build(store.objects(), &format!("/{name}_valid"))
        .map_err(|e| store_error(location, "create the array in", &e))
}

/// The store at `location`: an `s3://bucket/prefix` URL (feature `s3`), or a directory
/// (created if missing; its parent must exist).
pub(crate) fn open_store(location: &std::path::Path) -> Result<Storage, SinkError> {
    if let Some(url) = location.to_str().filter(|l| l.starts_with("s3://")) {
        #[cfg(feature = "s3")]
        return match super::s3::parse_url(url) {
            Some((bucket, prefix)) => {
                super::s3::open(location, bucket, prefix).map(Storage::remote)
            }
            None => Err(store_error(
                location,
                "open",
                &format!("`{url}` names no bucket: give `s3://bucket/prefix`"),
            )),
        };
        #[cfg(not(feature = "s3"))]
        return Err(store_error(
            location,
            "open",
            &format!(
                "`{url}` is an object-store URL: S3 stores need the feature `s3` of \
                 `preallocate`"
            ),
        ));
    }
    let dir = location;
    if !dir.exists() {
        let parent = super::atomic::parent_dir(dir);
        if !parent.is_dir() {
            return Err(SinkError::MissingDirectory {
                path: dir.to_path_buf(),
                dir: parent.to_path_buf(),
            });
        }
    } else if !dir.is_dir() {
        return Err(SinkError::NotADirectory {
            path: dir.to_path_buf(),
        });
    }
    Storage::local(dir).map_err(|e| store_error(location, "open", &e))
}
