//! One worker's share of a job: [`Partition`], from arguments or from a scheduler's environment.

use std::fmt;

/// Worker `index` of `count`: one share of a job that several processes run at once, each
/// writing its own whole shards of one output (see
/// [`Pipeline::partition`](crate::Pipeline::partition)).
///
/// ```
/// use preallocate::Partition;
///
/// let p = Partition::new(2, 4)?;
/// assert_eq!((p.index(), p.count()), (2, 4));
/// assert_eq!(p.to_string(), "2/4");
/// // Worker 2 of 4 over 10 shards takes shards 5 to 7 (counts of 2, 3, 2, 3).
/// assert_eq!(p.range(10), 5..7);
/// assert!(Partition::new(4, 4).is_err());
/// # Ok::<(), preallocate::PartitionError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Partition {
    index: usize,
    count: usize,
}

/// The environment variable naming a partition as `k/n`: [`Partition::VAR`].
#[doc(hidden)]
#[deprecated(note = "use `Partition::VAR`")]
pub const PARTITION_VAR: &str = Partition::VAR;

/// The environment variable giving a Kubernetes indexed Job's worker count:
/// [`Partition::COUNT_VAR`].
#[doc(hidden)]
#[deprecated(note = "use `Partition::COUNT_VAR`")]
pub const PARTITION_COUNT_VAR: &str = Partition::COUNT_VAR;

/// Why a partition could not be made: which value was wrong, and where it came from.
///
/// ```
/// use preallocate::{Partition, PartitionError};
///
/// let err = Partition::new(5, 3).unwrap_err();
/// assert_eq!(err, PartitionError::IndexOutOfRange { index: 5, count: 3, source: "arguments".into() });
/// assert_eq!(err.to_string(), "partition 5 of 3 (from arguments): the index must be below the count (0..3)");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PartitionError {
    /// The count is zero.
    ZeroCount {
        /// Where the values came from (`arguments`, an environment variable's name).
        source: String,
    },
    /// The index is not below the count.
    IndexOutOfRange {
        /// The index given.
        index: usize,
        /// The count given.
        count: usize,
        /// Where the values came from.
        source: String,
    },
    /// An environment variable does not hold what it should.
    Malformed {
        /// The variable.
        var: String,
        /// Its value.
        value: String,
        /// What was expected.
        expected: &'static str,
    },
    /// A variable names the index, but none gives the count.
    MissingCount {
        /// The variable that gives the index.
        index_var: &'static str,
        /// The variables that could give the count.
        count_vars: &'static str,
    },
    /// The job's input has no known length, so it cannot be split by position.
    UnknownLength {
        /// The partition asked for.
        partition: Partition,
    },
}

impl fmt::Display for PartitionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PartitionError::ZeroCount { source } => {
                write!(f, "partition count 0 (from {source}): there must be at least one worker")
            }
            PartitionError::IndexOutOfRange {
                index,
                count,
                source,
            } => write!(
                f,
                "partition {index} of {count} (from {source}): the index must be below the count (0..{count})"
            ),
            PartitionError::Malformed {
                var,
                value,
                expected,
            } => write!(f, "environment variable {var}={value:?}: expected {expected}"),
            PartitionError::MissingCount {
                index_var,
                count_vars,
            } => write!(
                f,
                "{index_var} gives this worker's index but not the worker count: set {count_vars}"
            ),
            PartitionError::UnknownLength { partition } => write!(
                f,
                "partition {partition} needs an input of known length (an `ExactSizeIterator`, \
                 or one whose `size_hint` is exact) to split it into ranges of whole shards"
            ),
        }
    }
}

impl std::error::Error for PartitionError {}

impl fmt::Display for Partition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl Default for Partition {
    /// The whole job: worker 0 of 1.
    fn default() -> Self {
        Partition::WHOLE
    }
}

impl Partition {
    /// The environment variable naming a partition as `k/n` (`PREALLOCATE_PARTITION=3/8`),
    /// which [`from_env`](Partition::from_env) reads first.
    ///
    /// ```
    /// use preallocate::Partition;
    ///
    /// let p = Partition::from_vars(|name| (name == Partition::VAR).then(|| "3/8".to_string()))?;
    /// assert_eq!(p, Partition::new(3, 8)?);
    /// # Ok::<(), preallocate::PartitionError>(())
    /// ```
    pub const VAR: &str = "PREALLOCATE_PARTITION";

    /// The environment variable giving the worker count of a Kubernetes indexed Job (set it to
    /// the Job's `completions`): Kubernetes gives each pod its index (`JOB_COMPLETION_INDEX`),
    /// not the count.
    pub const COUNT_VAR: &str = "PREALLOCATE_PARTITION_COUNT";

    /// The whole job, one worker: `0/1`.
    pub const WHOLE: Partition = Partition { index: 0, count: 1 };

    /// Worker `index` (from 0) of `count`.
    ///
    /// # Errors
    /// [`PartitionError::ZeroCount`], or [`PartitionError::IndexOutOfRange`] when
    /// `index >= count`.
    ///
    /// ```
    /// # use preallocate::Partition;
    /// assert_eq!(Partition::new(0, 1)?, Partition::WHOLE);
    /// assert!(Partition::new(0, 0).unwrap_err().to_string().contains("at least one worker"));
    /// # Ok::<(), preallocate::PartitionError>(())
    /// ```
    pub fn new(index: usize, count: usize) -> Result<Self, PartitionError> {
        Self::checked(index, count, "arguments")
    }

    fn checked(index: usize, count: usize, source: &str) -> Result<Self, PartitionError> {
        if count == 0 {
            return Err(PartitionError::ZeroCount {
                source: source.to_string(),
            });
        }
        if index >= count {
            return Err(PartitionError::IndexOutOfRange {
                index,
                count,
                source: source.to_string(),
            });
        }
        Ok(Partition { index, count })
    }

    /// This worker's index, from 0.
    #[must_use]
    pub fn index(&self) -> usize {
        self.index
    }

    /// The number of workers.
    #[must_use]
    pub fn count(&self) -> usize {
        self.count
    }

    /// Whether this is the whole job (one worker).
    #[must_use]
    pub fn is_whole(&self) -> bool {
        self.count == 1
    }

    /// This worker's range of `units` (shards): contiguous, the ranges of all workers in order
    /// cover `0..units` exactly once, and their sizes differ by at most one.
    ///
    /// ```
    /// # use preallocate::Partition;
    /// let ranges: Vec<_> = (0..3).map(|k| Partition::new(k, 3).unwrap().range(7)).collect();
    /// assert_eq!(ranges, [0..2, 2..4, 4..7]);
    /// assert_eq!(Partition::new(0, 5)?.range(2), 0..0); // more workers than shards: some idle
    /// # Ok::<(), preallocate::PartitionError>(())
    /// ```
    #[must_use]
    pub fn range(&self, units: usize) -> std::ops::Range<usize> {
        let split = |k: usize| {
            // k * units / count without overflow: units < 2^64 and count >= 1.
            ((k as u128 * units as u128) / self.count as u128) as usize
        };
        split(self.index)..split(self.index + 1)
    }

    /// The partition a scheduler gave this process, read from the environment, in this order:
    ///
    /// 1. `PREALLOCATE_PARTITION=k/n` (any scheduler, or by hand);
    /// 2. a Slurm array job: `SLURM_ARRAY_TASK_ID`, with the count from
    ///    `SLURM_ARRAY_TASK_COUNT` (or `SLURM_ARRAY_TASK_MAX`), the first index from
    ///    `SLURM_ARRAY_TASK_MIN` (default 0) and the step from `SLURM_ARRAY_TASK_STEP`
    ///    (default 1): `--array=0-7` runs workers 0/8 to 7/8, `--array=1-8` too;
    /// 3. a Kubernetes indexed Job: `JOB_COMPLETION_INDEX`, with the count from
    ///    `PREALLOCATE_PARTITION_COUNT` (set it to the Job's `completions`);
    /// 4. none of these: the whole job, [`Partition::WHOLE`].
    ///
    /// # Errors
    /// A value that is not a number, an index not below the count, a zero count, or
    /// `JOB_COMPLETION_INDEX` without `PREALLOCATE_PARTITION_COUNT`: each names the variable.
    ///
    /// ```
    /// use preallocate::Partition;
    ///
    /// // Under `PREALLOCATE_PARTITION=1/3`, `SLURM_ARRAY_TASK_ID=1 SLURM_ARRAY_TASK_COUNT=3`
    /// // or `JOB_COMPLETION_INDEX=1 PREALLOCATE_PARTITION_COUNT=3`, this is worker 1 of 3.
    /// let partition = Partition::from_env()?;
    /// # assert!(partition.index() < partition.count());
    /// # Ok::<(), preallocate::PartitionError>(())
    /// ```
    pub fn from_env() -> Result<Self, PartitionError> {
        Self::from_vars(|name| std::env::var(name).ok())
    }

    /// [`Partition::from_env`] over any source of variables (for tests and other launchers).
    ///
    /// # Errors
    /// As [`Partition::from_env`].
    ///
    /// ```
    /// use preallocate::Partition;
    ///
    /// let slurm = |name: &str| match name {
    ///     "SLURM_ARRAY_TASK_ID" => Some("5".to_string()),
    ///     "SLURM_ARRAY_TASK_MIN" => Some("1".to_string()),
    ///     "SLURM_ARRAY_TASK_MAX" => Some("8".to_string()),
    ///     _ => None,
    /// };
    /// assert_eq!(Partition::from_vars(slurm)?, Partition::new(4, 8)?);
    /// # Ok::<(), preallocate::PartitionError>(())
    /// ```
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Self, PartitionError> {
        let number =
            |name: &str| -> Result<Option<usize>, PartitionError> {
                match var(name) {
                    None => Ok(None),
                    Some(value) => value.trim().parse::<usize>().map(Some).map_err(|_| {
                        PartitionError::Malformed {
                            var: name.to_string(),
                            value,
                            expected: "a non-negative integer",
                        }
                    }),
                }
            };
        if let Some(value) = var(Self::VAR) {
            let malformed = || PartitionError::Malformed {
                var: Self::VAR.to_string(),
                value: value.clone(),
                expected: "`k/n`: this worker's index from 0, a slash, the worker count",
            };
            let (k, n) = value.trim().split_once('/').ok_or_else(malformed)?;
            let k = k.trim().parse().map_err(|_| malformed())?;
            let n = n.trim().parse().map_err(|_| malformed())?;
            return Self::checked(k, n, Self::VAR);
        }
        if let Some(id) = number("SLURM_ARRAY_TASK_ID")? {
            let min = number("SLURM_ARRAY_TASK_MIN")?.unwrap_or(0);
            let step = number("SLURM_ARRAY_TASK_STEP")?.unwrap_or(1).max(1);
            let count = match number("SLURM_ARRAY_TASK_COUNT")? {
                Some(count) => count,
                None => match number("SLURM_ARRAY_TASK_MAX")? {
                    Some(max) => max.saturating_sub(min) / step + 1,
                    None => {
                        return Err(PartitionError::MissingCount {
                            index_var: "SLURM_ARRAY_TASK_ID",
                            count_vars: "SLURM_ARRAY_TASK_COUNT or SLURM_ARRAY_TASK_MAX (Slurm sets them for `sbatch --array`)",
                        })
                    }
                },
            };
            let source = "SLURM_ARRAY_TASK_ID";
            let Some(offset) = id.checked_sub(min) else {
                return Err(PartitionError::IndexOutOfRange {
                    index: id,
                    count,
                    source: format!("{source} below SLURM_ARRAY_TASK_MIN={min}"),
                });
            };
            return Self::checked(offset / step, count, source);
        }
        if let Some(index) = number("JOB_COMPLETION_INDEX")? {
            let Some(count) = number(Self::COUNT_VAR)? else {
                return Err(PartitionError::MissingCount {
                    index_var: "JOB_COMPLETION_INDEX",
                    count_vars: "PREALLOCATE_PARTITION_COUNT to the Job's `completions`",
                });
            };
            return Self::checked(index, count, "JOB_COMPLETION_INDEX");
        }
        Ok(Partition::WHOLE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The constants under their old names still name the same variables.
    #[test]
    #[allow(deprecated)]
    fn the_old_names_of_the_variables_still_work() {
        assert_eq!(PARTITION_VAR, "PREALLOCATE_PARTITION");
        assert_eq!(PARTITION_COUNT_VAR, "PREALLOCATE_PARTITION_COUNT");
        assert_eq!(
            (Partition::VAR, Partition::COUNT_VAR),
            (PARTITION_VAR, PARTITION_COUNT_VAR)
        );
    }

    fn vars<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            pairs
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| (*v).to_string())
        }
    }

    #[test]
    fn ranges_cover_every_unit_once() {
        for units in [0usize, 1, 2, 7, 100] {
            for count in 1..=9 {
                let mut next = 0;
                for k in 0..count {
                    let range = Partition::new(k, count).unwrap().range(units);
                    assert_eq!(range.start, next);
                    assert!(range.len() <= units / count + 1);
                    next = range.end;
                }
                assert_eq!(next, units);
            }
        }
    }

    #[test]
    fn the_environment_in_order() {
        let p = |pairs: &[(&str, &str)]| Partition::from_vars(vars(pairs));
        assert_eq!(p(&[]), Ok(Partition::WHOLE));
        assert_eq!(
            p(&[("PREALLOCATE_PARTITION", " 2/5 ")]),
            Partition::new(2, 5)
        );
        assert_eq!(
            p(&[
                ("PREALLOCATE_PARTITION", "0/2"),
                ("SLURM_ARRAY_TASK_ID", "1"),
                ("SLURM_ARRAY_TASK_COUNT", "2")
            ]),
            Partition::new(0, 2)
        );
        assert_eq!(
            p(&[
                ("SLURM_ARRAY_TASK_ID", "3"),
                ("SLURM_ARRAY_TASK_COUNT", "4")
            ]),
            Partition::new(3, 4)
        );
        assert_eq!(
            p(&[
                ("SLURM_ARRAY_TASK_ID", "14"),
                ("SLURM_ARRAY_TASK_MIN", "10"),
                ("SLURM_ARRAY_TASK_MAX", "16"),
                ("SLURM_ARRAY_TASK_STEP", "2")
            ]),
            Partition::new(2, 4)
        );
        assert_eq!(
            p(&[
                ("JOB_COMPLETION_INDEX", "0"),
                ("PREALLOCATE_PARTITION_COUNT", "3")
            ]),
            Partition::new(0, 3)
        );
    }

    #[test]
    fn bad_environments_name_the_variable() {
        let err =
            |pairs: &[(&str, &str)]| Partition::from_vars(vars(pairs)).unwrap_err().to_string();
        assert_eq!(
            err(&[("PREALLOCATE_PARTITION", "3")]),
            "environment variable PREALLOCATE_PARTITION=\"3\": expected `k/n`: this worker's index from 0, a slash, the worker count"
        );
        assert_eq!(
            err(&[("PREALLOCATE_PARTITION", "3/3")]),
            "partition 3 of 3 (from PREALLOCATE_PARTITION): the index must be below the count (0..3)"
        );
        assert_eq!(
            err(&[("PREALLOCATE_PARTITION", "0/0")]),
            "partition count 0 (from PREALLOCATE_PARTITION): there must be at least one worker"
        );
        assert_eq!(
            err(&[("JOB_COMPLETION_INDEX", "2")]),
            "JOB_COMPLETION_INDEX gives this worker's index but not the worker count: set PREALLOCATE_PARTITION_COUNT to the Job's `completions`"
        );
        assert_eq!(
            err(&[
                ("SLURM_ARRAY_TASK_ID", "x"),
                ("SLURM_ARRAY_TASK_COUNT", "2")
            ]),
            "environment variable SLURM_ARRAY_TASK_ID=\"x\": expected a non-negative integer"
        );
        assert!(err(&[("SLURM_ARRAY_TASK_ID", "1")]).contains("SLURM_ARRAY_TASK_COUNT"));
        assert!(err(&[
            ("SLURM_ARRAY_TASK_ID", "1"),
            ("SLURM_ARRAY_TASK_MIN", "2"),
            ("SLURM_ARRAY_TASK_COUNT", "2")
        ])
        .contains("below SLURM_ARRAY_TASK_MIN=2"));
    }
}
