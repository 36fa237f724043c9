//! What every output that commits unit by unit shares: a job's fingerprint ([`Fingerprint`],
//! from [`Job`]), the record of one committed unit ([`ShardRecord`]), and the tally of one
//! worker's units for its reports ([`Units`]). The shards and Zarr keep their records each in
//! their own way (`shards`, `zarr`).

use serde_json::{json, Map, Value};

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

#[cfg(feature = "parquet")]
impl Job {
    /// The fingerprint of an output of several columns, which names its own dtypes and row
    /// shapes among `fields`: the row function, the input's length, the user's key and
    /// `fields`.
    pub(crate) fn fingerprint_of(
        &self,
        fields: impl IntoIterator<Item = (&'static str, Value)>,
    ) -> Fingerprint {
        Fingerprint::new(
            [
                ("row_fn", json!(self.row_fn)),
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
    /// The dropped items for the report of field `field` of `fields`: the last takes the list
    /// itself, the others a copy, so that one output's report costs no second list.
    pub(crate) fn skipped_for(&mut self, field: usize, fields: usize) -> Vec<usize> {
        if field + 1 >= fields {
            std::mem::take(&mut self.skipped)
        } else {
            self.skipped.clone()
        }
    }

    /// Counts unit `index`, as `record` describes it; `resumed`: committed by an earlier run.
    pub(crate) fn add(&mut self, index: usize, record: ShardRecord, resumed: bool) {
        self.resumed += usize::from(resumed);
        self.rows += record.rows;
        self.items += record.items;
        self.units.push((index, record.rows));
        self.skipped.extend(record.skipped);
    }

    /// Takes back unit `index`, counted with `record`, whose data did not reach the output
    /// after all; nothing if it was not counted (or was taken back already).
    pub(crate) fn remove(&mut self, index: usize, record: &ShardRecord) {
        let Some(at) = self.units.iter().position(|&(unit, _)| unit == index) else {
            return;
        };
        self.units.remove(at);
        self.rows -= record.rows;
        self.items -= record.items;
        if !record.skipped.is_empty() {
            self.skipped
                .retain(|item| record.skipped.binary_search(item).is_err());
        }
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
    /// The same record without its dropped items, once a report holds them.
    pub(crate) fn without_skipped(self) -> Self {
        ShardRecord {
            skipped: Vec::new(),
            ..self
        }
    }

    pub(crate) fn to_json(&self, file: &str) -> Value {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn fingerprint(key: &str) -> Fingerprint {
        Fingerprint::new([("row_fn", json!("f")), ("key", json!(key))])
    }

    #[test]
    fn a_unit_taken_back_leaves_the_tally_of_the_others() {
        let record = |rows, items, skipped: Vec<usize>| ShardRecord {
            rows,
            items,
            skipped,
        };
        let mut units = Units::default();
        units.add(0, record(9, 10, vec![3]), false);
        units.add(1, record(8, 10, vec![12, 17]), false);
        units.add(2, record(10, 10, vec![]), true);
        units.remove(1, &record(8, 10, vec![12, 17]));
        assert_eq!((units.rows, units.items), (19, 20));
        assert_eq!(units.units, [(0, 9), (2, 10)]);
        assert_eq!(units.skipped, [3]);
        // Not counted (any more): nothing changes.
        units.remove(1, &record(8, 10, vec![12, 17]));
        units.remove(7, &record(1, 1, vec![]));
        assert_eq!((units.rows, units.items, units.resumed), (19, 20, 1));
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
}
