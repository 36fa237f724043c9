//! The records of a Zarr job's committed units, in `<name>/.preallocate/<job>/`.
//!
//! Each commit writes one file, `u-<first>-<last>.jsonl`, a line per unit it made durable
//! ([`line`]): one file, not one per unit, which doubled the files a run creates and flushes
//! (2 M rows x 32 `f32` in 1 MiB chunks took 2.61 times `write_npy` with a file per unit, 1.35
//! times with no records at all, on a virtual disk). A line ends in a newline,
//! which marks it whole: a file cut short by a killed writer keeps the records of its whole
//! lines. Runs before this layout wrote one `u-<unit>.json` per unit: a resume reads those too.
//!
//! Which units a commit holds depends on timing, so a complete array's records are rewritten as
//! one file per block of units ([`blocks`], [`block`]): the records an array keeps are then the
//! same bytes however its units were committed, in how many runs, by how many workers. A block
//! holds the units of about [`BLOCK_ITEMS`] items (and at most [`BLOCK_UNITS`] units), so that
//! rewriting one holds the records of that many items at most, whatever the array's length.

use serde_json::Value;

use crate::outputs::resume::ShardRecord;

/// Items per file of a complete array's records, at most (but one unit's, when a unit holds
/// more)...
pub(super) const BLOCK_ITEMS: usize = 1 << 20;
/// ... and units per file, at most.
pub(super) const BLOCK_UNITS: usize = 1024;

/// A file of records, by its name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct RecordFile {
    /// The file's name (not its path).
    pub(super) name: String,
    /// `true` for `u-<unit>.json`, one unit's record as a JSON object; `false` for
    /// `u-<first>-<last>.jsonl`, a line per unit.
    single: bool,
    /// The first unit the name says the file holds.
    pub(super) first: usize,
    /// The last.
    pub(super) last: usize,
}

impl RecordFile {
    /// The record file named `name`, if it is one.
    pub(super) fn of(name: &str) -> Option<Self> {
        let stem = name.strip_prefix("u-")?;
        let (single, first, last) = match stem.strip_suffix(".json") {
            Some(digits) => {
                let unit = digits.parse().ok()?;
                (true, unit, unit)
            }
            None => {
                let (first, last) = stem.strip_suffix(".jsonl")?.split_once('-')?;
                (false, first.parse().ok()?, last.parse().ok()?)
            }
        };
        Some(RecordFile {
            name: name.to_owned(),
            single,
            first,
            last,
        })
    }

    /// The records the file's `bytes` hold: those that are whole and well formed.
    pub(super) fn records(&self, bytes: &[u8]) -> Vec<(usize, ShardRecord)> {
        if self.single {
            return serde_json::from_slice(bytes)
                .ok()
                .and_then(|value| ShardRecord::from_json(&value))
                .map(|record| (self.first, record))
                .into_iter()
                .collect();
        }
        bytes
            .split_inclusive(|&b| b == b'\n')
            .filter(|line| line.ends_with(b"\n"))
            .filter_map(|line| serde_json::from_slice::<Value>(line).ok())
            .filter_map(|value| {
                let unit = usize::try_from(value.get("unit")?.as_u64()?).ok()?;
                Some((unit, ShardRecord::from_json(&value)?))
            })
            .collect()
    }
}

/// The name of the file of the records of units `first..=last`.
pub(super) fn file_name(first: usize, last: usize) -> String {
    format!("u-{first:06}-{last:06}.jsonl")
}

/// Unit `unit`'s record as a line: a JSON object (`unit`, `rows`, `items`, `skipped`, in this
/// order, whatever `serde_json`'s features), then a newline.
pub(super) fn line(unit: usize, record: &ShardRecord) -> Vec<u8> {
    use std::fmt::Write;
    let mut line = format!(
        "{{\"unit\":{unit},\"rows\":{},\"items\":{},\"skipped\":[",
        record.rows, record.items
    );
    for (k, item) in record.skipped.iter().enumerate() {
        let comma = if k == 0 { "" } else { "," };
        // Writing to a `String` cannot fail.
        let _ = write!(line, "{comma}{item}");
    }
    line.push_str("]}\n");
    line.into_bytes()
}

/// The blocks of a complete array of `units` units of `unit_items` items each: `(first, last)`,
/// the same number of units each but the last.
pub(super) fn blocks(units: usize, unit_items: usize) -> impl Iterator<Item = (usize, usize)> {
    let per_block = (BLOCK_ITEMS / unit_items.max(1)).clamp(1, BLOCK_UNITS);
    (0..units)
        .step_by(per_block)
        .map(move |first| (first, (first + per_block).min(units) - 1))
}

/// The file of block `first..=last`: its units' lines in order, each unit's record from
/// `record`; the first unit without one if one is missing.
pub(super) fn block<'a>(
    first: usize,
    last: usize,
    record: impl Fn(usize) -> Option<&'a ShardRecord>,
) -> Result<Vec<u8>, usize> {
    let mut bytes = Vec::new();
    for unit in first..=last {
        bytes.extend(line(unit, record(unit).ok_or(unit)?));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn record(items: usize, skipped: Vec<usize>) -> ShardRecord {
        ShardRecord {
            rows: items - skipped.len(),
            items,
            skipped,
        }
    }

    #[test]
    fn names_say_which_units_a_file_holds() {
        let commit = RecordFile::of("u-000003-000010.jsonl").unwrap();
        assert!(!commit.single && (commit.first, commit.last) == (3, 10));
        let unit = RecordFile::of("u-000007.json").unwrap();
        assert!(unit.single && (unit.first, unit.last) == (7, 7));
        assert_eq!(file_name(3, 10), "u-000003-000010.jsonl");
        for other in [
            "job.json",
            "u-.jsonl",
            "u-1.jsonl",
            "u-a-2.jsonl",
            "u-1-2.json",
            "u-1.txt",
            "x-000001.json",
        ] {
            assert_eq!(RecordFile::of(other), None, "{other}");
        }
    }

    #[test]
    fn a_commit_file_gives_its_whole_lines_and_a_unit_file_its_object() {
        let mut bytes = line(4, &record(20, vec![81, 88]));
        bytes.extend(line(5, &record(20, vec![])));
        assert_eq!(
            String::from_utf8(bytes.clone()).unwrap(),
            "{\"unit\":4,\"rows\":18,\"items\":20,\"skipped\":[81,88]}\n\
             {\"unit\":5,\"rows\":20,\"items\":20,\"skipped\":[]}\n"
        );
        let file = RecordFile::of("u-000004-000006.jsonl").unwrap();
        let whole = vec![(4, record(20, vec![81, 88])), (5, record(20, vec![]))];
        assert_eq!(file.records(&bytes), whole);
        // A third line cut short by a killed writer: the whole lines only.
        let mut cut = bytes.clone();
        cut.extend(&line(6, &record(20, vec![]))[..20]);
        assert_eq!(file.records(&cut), whole);
        // A line without its newline is not trusted, even if it parses.
        assert_eq!(file.records(&bytes[..bytes.len() - 1]), whole[..1]);

        let old = RecordFile::of("u-000002.json").unwrap();
        let pretty = b"{\n  \"items\": 20,\n  \"rows\": 19,\n  \"skipped\": [43]\n}";
        assert_eq!(old.records(pretty), [(2, record(20, vec![43]))]);
        assert_eq!(old.records(&pretty[..10]), []);
    }

    #[test]
    fn blocks_cover_the_units_and_name_a_missing_one() {
        assert_eq!(blocks(0, 10).count(), 0);
        assert_eq!(blocks(3, 10).collect::<Vec<_>>(), [(0, 2)]);
        // Small units: BLOCK_UNITS a block.
        assert_eq!(
            blocks(2 * BLOCK_UNITS + 1, 1).collect::<Vec<_>>(),
            [
                (0, BLOCK_UNITS - 1),
                (BLOCK_UNITS, 2 * BLOCK_UNITS - 1),
                (2 * BLOCK_UNITS, 2 * BLOCK_UNITS)
            ]
        );
        // Units of a quarter of BLOCK_ITEMS: 4 a block; larger ones: 1 a block.
        assert_eq!(
            blocks(10, BLOCK_ITEMS / 4).collect::<Vec<_>>(),
            [(0, 3), (4, 7), (8, 9)]
        );
        assert_eq!(
            blocks(2, 3 * BLOCK_ITEMS).collect::<Vec<_>>(),
            [(0, 0), (1, 1)]
        );
        let records: BTreeMap<usize, ShardRecord> =
            [(0, record(5, vec![])), (2, record(5, vec![1]))].into();
        assert_eq!(block(0, 2, |unit| records.get(&unit)), Err(1));
        assert_eq!(
            block(2, 2, |unit| records.get(&unit)).unwrap(),
            line(2, &record(5, vec![1]))
        );
    }
}
