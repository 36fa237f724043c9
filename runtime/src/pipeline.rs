//! Bounded-memory processing: rows go through one reused chunk buffer to a closure or a file.
//!
//! A [`Pipeline`] drives the engine's one loop into its chunk buffer ([`Chunks`]), and each
//! full chunk goes to a consumer: the caller's closure, or a file writer of the output layer.

use std::path::Path;

use crate::drivers::Multi;
use crate::drivers::{self, Chunks, Outputs, Stop, WriteRows};
use crate::error::{Error, OutputCause};
use crate::failure::ItemError;
use crate::layout::Field;
use crate::layout::Layout;
use crate::outputs::{
    FileOutput, Names, NpyFiles, NpyLayout, Output, Partial, SafetensorsFile, SinkFailure, Ticker,
};
use crate::policy::Batch;
use crate::policy::{IntoChunkError, Policy};
use crate::row::{RowFn, RowSpec};
use crate::rows::{RowsFn, RowsSpec};

/// The chunk buffer's size when neither [`Pipeline::chunk_rows`] nor
/// [`Pipeline::memory_budget`] is set: large enough that per-chunk costs vanish, small enough
/// that a chunk is still in cache when it is copied to the file (measured in
/// `benches/out_of_core.rs`; see the README).
pub const DEFAULT_MEMORY_BUDGET: usize = 1 << 20;

/// The report of [`Pipeline::for_each_chunk`], by its old name.
#[doc(hidden)]
#[deprecated(
    note = "use `Batch<usize>`: `for_each_chunk` returns the row count and the skipped items"
)]
pub type Written<O> = Batch<O>;

/// Runs a row function over any number of items with bounded memory: rows are written into one
/// chunk buffer, allocated once and reused, and each full chunk goes to a closure or a file.
///
/// `#[preallocate]` gives every row function a `pipeline()` (`transform_pipeline()` for a
/// method) returning one of these. It gives the same results as the row function's `batch`, in
/// the shape its [`Policy`] gives them.
///
/// ```
/// use std::convert::Infallible;
/// use preallocate::{policy, Pipeline, RowFn, RowSpec};
///
/// struct Pair;
/// impl RowSpec for Pair {
///     type Dtype = u32;
///     type Dim = ndarray::Ix2;
///     type Policy = policy::Plain;
///     const DIM: usize = 2;
///     const SHAPE: &'static [usize] = &[2];
///     const OVERWRITES_ROW: bool = true;
/// }
/// impl RowFn<u32> for Pair {
///     type Error = Infallible;
///     fn write_row(&mut self, x: u32, row: &mut [u32]) -> Result<bool, Infallible> {
///         row.copy_from_slice(&[x, x * x]);
///         Ok(true)
///     }
/// }
///
/// let mut sums = Vec::new();
/// Pipeline::new(Pair)
///     .chunk_rows(4)
///     .for_each_chunk(0..10, |chunk| {
///         sums.push(chunk.sum());
///         Ok::<(), Infallible>(())
///     })?;
/// assert_eq!(sums, vec![20, 148, 162]); // chunks of 4, 4 and 2 rows
/// # Ok::<(), Infallible>(())
/// ```
pub struct Pipeline<R, X = Serial> {
    row_fn: R,
    chunk: ChunkSize,
    progress: bool,
    exec: X,
    scale: scale::Scale,
}

pub(crate) mod scale;

/// How a [`Pipeline`] computes its chunks: on the calling thread (`Serial`, the default), or
/// on several threads (`Threaded`, from `Pipeline::threads`). Type states: nothing to call.
#[doc(hidden)]
pub mod exec {
    use crate::drivers::{Fatal, Run, WriteRows};
    use crate::layout::Layout;

    /// Each chunk's rows on the calling thread.
    #[derive(Debug, Clone, Copy, Default)]
    pub struct Serial;

    /// Implemented when the feature `progress` is on: [`Pipeline::progress`](crate::Pipeline::progress)
    /// requires it, so that without the feature the call is an error naming the feature.
    #[diagnostic::on_unimplemented(
        message = "`.progress(..)` needs the `progress` feature of `preallocate`",
        label = "progress reporting is not compiled in",
        note = "enable it in Cargo.toml: `preallocate = {{ version = \"...\", features = [\"progress\"] }}`"
    )]
    pub trait ProgressFeature {}

    #[cfg(feature = "progress")]
    impl<R, X> ProgressFeature for crate::pipeline::Pipeline<R, X> {}

    /// What a [`Pipeline::for_each_chunk`](crate::Pipeline::for_each_chunk) closure returns:
    /// `()` when it cannot fail, or `Result<(), E>`.
    pub trait ChunkResult<E> {
        /// The closure's outcome as a `Result`.
        ///
        /// # Errors
        /// The closure's own error.
        fn into_result(self) -> Result<(), E>;
    }

    impl ChunkResult<core::convert::Infallible> for () {
        fn into_result(self) -> Result<(), core::convert::Infallible> {
            Ok(())
        }
    }

    impl<E> ChunkResult<E> for Result<(), E> {
        fn into_result(self) -> Result<(), E> {
            self
        }
    }

    /// Each chunk's rows on `threads` threads of rayon's current pool, while the calling thread
    /// hands on the previous chunk and reads the next chunk's items.
    #[cfg(feature = "parallel")]
    #[derive(Debug, Clone, Copy)]
    pub struct Threaded {
        pub(crate) threads: usize,
    }

    /// Runs a row function over items into chunks handed to a consumer; sealed.
    #[diagnostic::on_unimplemented(
        message = "a pipeline with `.threads(n)` needs items that can be sent to other threads",
        label = "these items are not `Send` (or the row function is not `Sync + Clone`)",
        note = "compute each chunk on several threads only with `Send` items (owned data, `&T` of `Sync` data); without `.threads(n)` any items work"
    )]
    pub trait Exec<R, I>
    where
        I: Iterator,
        R: WriteRows<I::Item>,
    {
        /// The loop: rows of `items` into chunks of `chunk_rows`, each handed to `consume`.
        #[doc(hidden)]
        fn run_chunks<C, E>(
            &self,
            row_fn: &mut R,
            items: I,
            chunk_rows: usize,
            consume: C,
        ) -> Run<Fatal<R, I::Item>, E>
        where
            C: FnMut(<R::Layout as Layout>::View<'_>) -> Result<(), E>;

        /// The whole output in memory, before the policy shapes it.
        #[doc(hidden)]
        fn batch(
            &self,
            row_fn: &mut R,
            items: I,
            chunk_rows: usize,
        ) -> crate::drivers::Grown<R, I::Item>;
    }
}

use exec::Exec;
pub use exec::Serial;
#[cfg(feature = "parallel")]
use exec::Threaded;

impl<R, I> Exec<R, I> for Serial
where
    I: Iterator,
    R: WriteRows<I::Item>,
{
    fn run_chunks<C, E>(
        &self,
        row_fn: &mut R,
        items: I,
        chunk_rows: usize,
        consume: C,
    ) -> drivers::Run<drivers::Fatal<R, I::Item>, E>
    where
        C: FnMut(<R::Layout as Layout>::View<'_>) -> Result<(), E>,
    {
        let mut chunks = Chunks::<R::Layout, C>::new(chunk_rows, R::shape(), consume);
        drivers::run(row_fn, items, &mut chunks)
    }

    fn batch(&self, row_fn: &mut R, items: I, _: usize) -> drivers::Grown<R, I::Item> {
        drivers::grow_rows(row_fn, items)
    }
}

#[cfg(feature = "parallel")]
impl<R, I> Exec<R, I> for Threaded
where
    I: Iterator,
    I::Item: Send,
    R: WriteRows<I::Item> + Clone + Send + Sync,
    drivers::Fatal<R, I::Item>: Send,
{
    fn run_chunks<C, E>(
        &self,
        row_fn: &mut R,
        items: I,
        chunk_rows: usize,
        consume: C,
    ) -> drivers::Run<drivers::Fatal<R, I::Item>, E>
    where
        C: FnMut(<R::Layout as Layout>::View<'_>) -> Result<(), E>,
    {
        if self.threads <= 1 {
            return Serial.run_chunks(row_fn, items, chunk_rows, consume);
        }
        crate::parallel::run_chunks(row_fn, items, chunk_rows, self.threads, consume)
    }

    fn batch(&self, row_fn: &mut R, items: I, chunk_rows: usize) -> drivers::Grown<R, I::Item> {
        if self.threads <= 1 {
            return drivers::grow_rows(row_fn, items);
        }
        // Each chunk computed on the threads, appended to one buffer per output: allocated once
        // when the length is known, grown (amortized) when it is not.
        let shape = R::shape();
        let (lower, upper) = items.size_hint();
        let mut data =
            R::Layout::with_capacity(shape, if upper == Some(lower) { lower } else { 0 });
        let run = self.run_chunks(
            row_fn,
            items,
            chunk_rows,
            |chunk: <R::Layout as Layout>::View<'_>| {
                R::Layout::append(&mut data, chunk);
                Ok::<(), core::convert::Infallible>(())
            },
        );
        match run {
            Ok(skipped) => {
                let rows = R::Layout::buf_rows(&data, shape);
                Ok(Batch {
                    rows: R::Layout::buf_into_array(data, shape, rows),
                    skipped,
                })
            }
            Err(Stop::Item(failed)) => Err(failed),
            Err(Stop::Target(never)) => match never {},
        }
    }
}

#[derive(Clone, Copy, Debug)]
enum ChunkSize {
    Rows(usize),
    Bytes(usize),
}

impl<R: Outputs> Pipeline<R> {
    /// A pipeline over the row writer `row_fn`, with the default memory budget.
    pub fn new(row_fn: R) -> Self {
        Pipeline {
            row_fn,
            chunk: ChunkSize::Bytes(DEFAULT_MEMORY_BUDGET),
            progress: false,
            exec: Serial,
            scale: scale::Scale::default(),
        }
    }

    /// Computes each chunk's rows on `threads` threads of rayon's current pool (feature
    /// `parallel`); `threads(1)` is the default, one thread. The result is the same, byte for
    /// byte, whatever the count: rows in input order, the same `skipped` list, the failure with
    /// the lowest index.
    ///
    /// While a chunk is computed, the calling thread hands on the previous one (to the closure
    /// or the file) and reads the next chunk's items, so reading, computing and writing
    /// overlap; memory stays at two chunk buffers and two chunks of items, whatever the input's
    /// length. When computing a chunk takes less time than handing it on (cheap rows, a slow
    /// consumer: running averages decide), a chunk is computed on the calling thread instead,
    /// since threads would only move the rows between cores. The items must be `Send`.
    ///
    /// ```
    /// # use std::convert::Infallible;
    /// # use preallocate::{policy, RowFn, RowSpec};
    /// # #[derive(Clone)]
    /// # struct Square;
    /// # impl RowSpec for Square {
    /// #     type Dtype = u64;
    /// #     type Dim = ndarray::Ix2;
    /// #     type Policy = policy::Plain;
    /// #     const DIM: usize = 2;
    /// #     const SHAPE: &'static [usize] = &[2];
    /// #     const OVERWRITES_ROW: bool = true;
    /// # }
    /// # impl RowFn<u64> for Square {
    /// #     type Error = Infallible;
    /// #     fn write_row(&mut self, x: u64, row: &mut [u64]) -> Result<bool, Infallible> {
    /// #         row.copy_from_slice(&[x, x * x]);
    /// #         Ok(true)
    /// #     }
    /// # }
    /// use preallocate::Pipeline;
    ///
    /// let mut sum = 0;
    /// let done = Pipeline::new(Square).chunk_rows(4096).threads(2).for_each_chunk(0..50_000u64, |chunk| {
    ///     sum += chunk.column(1).sum();
    ///     Ok::<(), Infallible>(())
    /// })?;
    /// assert_eq!(done.rows, 50_000);
    /// assert_eq!(sum, (0..50_000u64).map(|x| x * x).sum::<u64>());
    /// # Ok::<(), Infallible>(())
    /// ```
    #[cfg(feature = "parallel")]
    #[must_use]
    pub fn threads(self, threads: usize) -> Pipeline<R, Threaded> {
        Pipeline {
            row_fn: self.row_fn,
            chunk: self.chunk,
            progress: self.progress,
            exec: Threaded {
                threads: threads.max(1),
            },
            scale: self.scale,
        }
    }
}

impl<R: Outputs, X> Pipeline<R, X> {
    /// Rows per chunk (at least 1): the chunk buffer holds `rows × DIM` elements, and each
    /// `.npy` shard holds this many rows.
    #[must_use]
    pub fn chunk_rows(mut self, rows: usize) -> Self {
        self.chunk = ChunkSize::Rows(rows.max(1));
        self
    }

    /// The chunk buffer's size in bytes; the rows per chunk follow from the row's size (at
    /// least one row).
    #[must_use]
    pub fn memory_budget(mut self, bytes: usize) -> Self {
        self.chunk = ChunkSize::Bytes(bytes);
        self
    }

    /// Shows rows done, rows per second and, when the input's length is known, an ETA on
    /// stderr while a file is written or chunks are processed: a bar on a terminal, a plain line
    /// every few seconds in a log. Needs the feature `progress`; without it, calling this is a
    /// compile error that says so.
    #[must_use]
    pub fn progress(mut self, on: bool) -> Self
    where
        Self: exec::ProgressFeature,
    {
        self.progress = on;
        self
    }

    /// The number of rows in one chunk.
    ///
    /// ```
    /// # use std::convert::Infallible;
    /// # use preallocate::{policy, RowFn, RowSpec};
    /// # struct Wide;
    /// # impl RowSpec for Wide {
    /// #     type Dtype = f32;
    /// #     type Dim = ndarray::Ix2;
    /// #     type Policy = policy::Plain;
    /// #     const DIM: usize = 256;
    /// #     const SHAPE: &'static [usize] = &[256];
    /// #     const OVERWRITES_ROW: bool = true;
    /// # }
    /// # impl RowFn<u8> for Wide {
    /// #     type Error = Infallible;
    /// #     fn write_row(&mut self, _: u8, row: &mut [f32]) -> Result<bool, Infallible> {
    /// #         Ok(true)
    /// #     }
    /// # }
    /// use preallocate::Pipeline;
    ///
    /// let pipeline = Pipeline::new(Wide).memory_budget(1 << 20);
    /// assert_eq!(pipeline.rows_per_chunk(), 1024); // 1 MiB of 256 f32 rows
    /// ```
    pub fn rows_per_chunk(&self) -> usize {
        match self.chunk {
            ChunkSize::Rows(rows) => rows.min(max_rows::<R>()),
            ChunkSize::Bytes(bytes) => (bytes / row_bytes::<R>()).clamp(1, max_rows::<R>()),
        }
    }
}

impl<R: Outputs, X> Pipeline<R, X> {
    /// The same result as the row function's `batch`: the whole output in memory. With
    /// [`threads`](Pipeline::threads), the rows are computed chunk by chunk on the threads and
    /// appended to one buffer (allocated once when the input's length is known).
    // The return type is the policy's, as for `crate::batch`.
    #[allow(clippy::type_complexity)]
    pub fn batch<I>(
        mut self,
        items: I,
    ) -> <R::Policy as Policy>::Batch<R::Arrays, <R as WriteRows<I::Item>>::Error>
    where
        I: IntoIterator,
        R: WriteRows<I::Item>,
        X: Exec<R, I::IntoIter>,
    {
        let chunk_rows = self.rows_per_chunk();
        let grown = self
            .exec
            .batch(&mut self.row_fn, items.into_iter(), chunk_rows);
        drivers::shape_batch::<R, I::Item>(grown)
    }

    /// Passes every chunk of rows (`n × DIM`, row-major, `n` at most the chunk size) to `f`,
    /// from one buffer allocated once; returns the number of rows and the items that gave none.
    ///
    /// `f` returns `()` when it cannot fail, or a `Result<(), E>`. The first error stops the
    /// run and is returned: `f`'s own, or, for a row function that can fail, the item's
    /// ([`ItemError`] converted with `From`); the rows before a failed item are passed to `f`
    /// first.
    ///
    /// # Errors
    /// The first error of `f` or of an item.
    ///
    /// ```
    /// # use std::convert::Infallible;
    /// # use preallocate::{policy, RowFn, RowSpec};
    /// # struct Double;
    /// # impl RowSpec for Double {
    /// #     type Dtype = u32;
    /// #     type Dim = ndarray::Ix2;
    /// #     type Policy = policy::Plain;
    /// #     const DIM: usize = 1;
    /// #     const SHAPE: &'static [usize] = &[1];
    /// #     const OVERWRITES_ROW: bool = true;
    /// # }
    /// # impl RowFn<u32> for Double {
    /// #     type Error = Infallible;
    /// #     fn write_row(&mut self, x: u32, row: &mut [u32]) -> Result<bool, Infallible> {
    /// #         row[0] = 2 * x;
    /// #         Ok(true)
    /// #     }
    /// # }
    /// use preallocate::Pipeline;
    ///
    /// let mut total = 0;
    /// // A closure that cannot fail returns nothing: no error type to spell out.
    /// let done = Pipeline::new(Double).chunk_rows(3).for_each_chunk(0..10, |chunk| total += chunk.sum())?;
    /// assert_eq!((done.rows, total), (10, 90));
    /// # Ok::<(), Infallible>(())
    /// ```
    pub fn for_each_chunk<I, F, O, E>(mut self, items: I, mut f: F) -> Result<Batch<usize>, E>
    where
        I: IntoIterator,
        R: WriteRows<I::Item>,
        X: Exec<R, I::IntoIter>,
        drivers::Fatal<R, I::Item>: IntoChunkError<E>,
        F: FnMut(R::Chunk<'_>) -> O,
        O: exec::ChunkResult<E>,
    {
        let items = items.into_iter();
        let ticker = self.ticker(&items);
        let chunk_rows = self.rows_per_chunk();
        let mut rows = 0;
        let run = self.exec.run_chunks(
            &mut self.row_fn,
            items,
            chunk_rows,
            |chunk: <R::Layout as Layout>::View<'_>| {
                let n = R::Layout::view_rows(&chunk);
                f(R::chunk(chunk)).into_result()?;
                rows += n;
                ticker.advance(n);
                Ok(())
            },
        );
        match run {
            Ok(skipped) => {
                ticker.finish();
                Ok(Batch { rows, skipped })
            }
            Err(Stop::Item(failed)) => {
                ticker.abandon();
                Err(failed.failure.into_chunk_error(failed.index))
            }
            Err(Stop::Target(err)) => {
                ticker.abandon();
                Err(err)
            }
        }
    }

    /// The one driver of every file output: each chunk's columns to `output`.
    #[allow(clippy::type_complexity)]
    pub(crate) fn write<I, O>(
        mut self,
        items: I,
        mut output: O,
    ) -> Result<Vec<O::Report>, Error<<R as WriteRows<I::Item>>::Error>>
    where
        I: IntoIterator,
        R: WriteRows<I::Item>,
        X: Exec<R, I::IntoIter>,
        O: Output,
    {
        let items = items.into_iter();
        let ticker = self.ticker(&items);
        let chunk_rows = self.rows_per_chunk();
        let run = self.exec.run_chunks(
            &mut self.row_fn,
            items,
            chunk_rows,
            |chunk: <R::Layout as Layout>::View<'_>| {
                write_chunk::<R::Layout, _>(&mut output, &chunk, &ticker)
            },
        );
        match run {
            Ok(skipped) => {
                let reports = output.finish(skipped).map_err(sink_error);
                if reports.is_ok() {
                    ticker.finish();
                } else {
                    ticker.abandon();
                }
                reports
            }
            Err(Stop::Target(failure)) => {
                ticker.abandon();
                Err(sink_error(failure))
            }
            Err(Stop::Item(failed)) => {
                ticker.abandon();
                // Every field's file keeps the same rows; the error names each one.
                let mut kept = output.abandon_each().into_iter();
                let first = kept.next().unwrap_or(Partial {
                    rows: 0,
                    path: None,
                    error: None,
                });
                Err(Error::Output {
                    written: first.rows,
                    partial: first.path,
                    other_partials: kept.filter_map(|other| other.path).collect(),
                    cause: OutputCause::Item(ItemError {
                        index: failed.index,
                        error: failed.failure.into(),
                    }),
                })
            }
        }
    }

    /// Each output's element type and row shape, in order.
    fn fields() -> Vec<Field> {
        let mut fields = Vec::new();
        R::Layout::fields(R::shape(), &mut fields);
        fields
    }

    /// The outputs' names: each field's, or `one` for one output.
    fn names(one: &str) -> Names<'_> {
        R::NAMES.map_or(Names::One(one), Names::Fields)
    }

    /// Streams the rows into `.npy` files, whatever the input's length, through the chunk
    /// buffer: for one output, the file `path`; for several (`rows = ..`), `{field}.npy` for
    /// each field in the directory `path` (created if missing), in one pass, all holding the
    /// same rows. Each file is written under a temporary name beside its final one and renamed
    /// into place when complete; numpy loads it (`np.load`, also with `mmap_mode="r"`).
    ///
    /// Returns a [`FileOutput`] for one output, one per field in the order of the fields for
    /// several; each report's `skipped` lists the items that gave no row.
    ///
    /// # Errors
    /// [`Error::Output`] when an item or a file fails: the rows before it are kept in
    /// `<file>.partial` (a valid `.npy`; with several outputs, when an item fails, every file
    /// keeps the same rows, and the error names each: `partial` the first field's,
    /// `other_partials` the others'), and the final paths are left as they were.
    // The report's type is the layout's: one, or one per field.
    #[allow(clippy::type_complexity)]
    pub fn write_npy<I>(
        self,
        items: I,
        path: impl AsRef<Path>,
    ) -> Result<R::Each<FileOutput>, Error<<R as WriteRows<I::Item>>::Error>>
    where
        I: IntoIterator,
        R: WriteRows<I::Item>,
        R::Layout: NpyLayout,
        X: Exec<R, I::IntoIter>,
    {
        self.npy(items, path.as_ref()).map(R::each)
    }

    /// The one definition of `write_npy`, with one report per field: the element types are
    /// checked as the files are created (`bf16` is an error), for a caller whose types are
    /// known only at run time (Python).
    pub(crate) fn npy<I>(
        self,
        items: I,
        path: &Path,
    ) -> Result<Vec<FileOutput>, Error<<R as WriteRows<I::Item>>::Error>>
    where
        I: IntoIterator,
        R: WriteRows<I::Item>,
        X: Exec<R, I::IntoIter>,
    {
        let output =
            NpyFiles::create(path, Self::names(""), &Self::fields()).map_err(sink_error)?;
        self.write(items, output)
    }

    /// The one definition of `write_safetensors`, for one output (its tensor `tensor_name`)
    /// and for several (a tensor per field); documented on the one-output call, as Rust has
    /// no two arities for one method.
    pub(crate) fn safetensors<I>(
        self,
        items: I,
        path: &Path,
        tensor_name: &str,
    ) -> Result<FileOutput, Error<<R as WriteRows<I::Item>>::Error>>
    where
        I: IntoIterator,
        R: WriteRows<I::Item>,
        X: Exec<R, I::IntoIter>,
    {
        let output = SafetensorsFile::create(path, Self::names(tensor_name), &Self::fields())
            .map_err(sink_error)?;
        let reports = self.write(items, output)?;
        Ok(reports
            .into_iter()
            .next()
            .expect("a safetensors output reports its one file"))
    }

    /// The one definition of `write_parquet`, for one output (its column `column`) and for
    /// several (a column per field); documented on the one-output call, as Rust has no two
    /// arities for one method.
    #[cfg(feature = "parquet")]
    pub(crate) fn parquet<I>(
        self,
        items: I,
        path: &Path,
        column: &str,
    ) -> Result<FileOutput, Error<<R as WriteRows<I::Item>>::Error>>
    where
        I: IntoIterator,
        R: WriteRows<I::Item>,
        X: Exec<R, I::IntoIter>,
    {
        let output = crate::outputs::ParquetFile::create(
            path,
            Self::names(column),
            &Self::fields(),
            self.parquet_options(),
        )
        .map_err(sink_error)?;
        let reports = self.write(items, output)?;
        Ok(reports
            .into_iter()
            .next()
            .expect("a Parquet output reports its one file"))
    }

    fn ticker<I: Iterator>(&self, items: &I) -> Ticker {
        if !self.progress {
            return Ticker::none();
        }
        #[cfg(feature = "progress")]
        {
            let (lower, upper) = items.size_hint();
            let total = (upper == Some(lower)).then_some(lower as u64);
            Ticker::new(crate::outputs::Progress::stderr(total))
        }
        #[cfg(not(feature = "progress"))]
        {
            let _ = items;
            Ticker::none()
        }
    }
}

impl<R: RowSpec, X> Pipeline<R, X> {
    /// Streams the rows into a safetensors file at `path` holding one tensor, `tensor_name`,
    /// of shape `[n, SHAPE...]`, straight into the file: the format PyTorch users load with
    /// `safetensors.torch.load_file`, and the one output that stores `bf16`. The file is
    /// written under a temporary name beside `path` and renamed into place when complete.
    ///
    /// A row function with several outputs (`rows = ..`) writes one tensor per field, named by
    /// the field, into one file: the same call without `tensor_name`. Each tensor's rows then
    /// go to a temporary file beside `path` while they stream in (memory stays at the chunk
    /// buffers); when the input ends, the header and the tensors are written into the file.
    /// The report's `shape` is then the tensors' shared row count; each tensor's shape is that
    /// count then its row shape.
    ///
    /// # Errors
    /// As [`Pipeline::write_npy`]; with several tensors, the rows every tensor has are kept in
    /// `<path>.partial`. An empty `tensor_name`, or `__metadata__`, is refused
    /// ([`SinkError::InvalidTensorName`](crate::SinkError::InvalidTensorName)).
    pub fn write_safetensors<I>(
        self,
        items: I,
        path: impl AsRef<Path>,
        tensor_name: &str,
    ) -> Result<FileOutput, Error<<R as RowFn<I::Item>>::Error>>
    where
        I: IntoIterator,
        R: RowFn<I::Item>,
        X: Exec<R, I::IntoIter>,
    {
        self.safetensors(items, path.as_ref(), tensor_name)
    }
}

#[cfg(feature = "parquet")]
impl<R: RowSpec, X> Pipeline<R, X> {
    /// Streams the rows into a Parquet file at `path` (feature `parquet`) with one column,
    /// `column`: each row one value of type `FixedSizeList<dtype, N>` for a row of shape
    /// `[N]`, nested fixed-size lists (outer axis first) for `(H, W)`, the plain dtype for a
    /// scalar row. pyarrow (`pq.read_table`), polars (`pl.read_parquet`), DuckDB and Hugging
    /// Face `datasets` (`load_dataset("parquet", data_files=..)`, then
    /// `.with_format("numpy")`) read it back as arrays of shape `(n, N)` or `(n, H, W)`.
    /// Every dtype but `bf16` (a compile error: Arrow has no bfloat16) is stored, `f16` as
    /// Parquet's `Float16`.
    ///
    /// - Row groups: one per chunk of [`rows_per_chunk`](Pipeline::rows_per_chunk) rows, or
    ///   every [`row_group_rows`](Pipeline::row_group_rows) rows. Memory stays at the chunk
    ///   buffer and one encoded page (about 1 MiB); with `row_group_rows`, one encoded row
    ///   group (about `row_group_rows` rows' bytes, less when compressed).
    /// - [`compression`](Pipeline::compression): none (the default), zstd or Snappy.
    /// - Items that give no row (`Option` rows, `on_error = "skip"`) leave no row; the report's
    ///   `skipped` lists them.
    /// - A row function with several outputs (`rows = ..`) writes a column per field, named
    ///   by the field, all of one item in one row: the same call without `column`.
    ///
    /// The file is written under a temporary name beside `path` and renamed into place when
    /// complete. The report's `shape` is `[n, SHAPE…]` (with several columns, `[n]`), its
    /// `bytes` the file's size, its `data_offset` 4 (after the magic `PAR1`).
    ///
    /// # Errors
    /// [`Error::Output`] when an item or the file fails (a missing directory, a read-only one,
    /// a full disk): the rows before it are kept in `<path>.partial`, itself a valid Parquet
    /// file holding exactly those rows (after a failed write, the whole row groups before
    /// it), and `path` is left as it was. An empty `column` is refused
    /// ([`SinkError::InvalidColumnName`](crate::SinkError::InvalidColumnName)).
    ///
    /// ```
    /// # use std::convert::Infallible;
    /// # use preallocate::{policy, RowFn, RowSpec};
    /// # struct Pair;
    /// # impl RowSpec for Pair {
    /// #     type Dtype = f32;
    /// #     type Dim = ndarray::Ix2;
    /// #     type Policy = policy::Plain;
    /// #     const DIM: usize = 2;
    /// #     const SHAPE: &'static [usize] = &[2];
    /// #     const OVERWRITES_ROW: bool = true;
    /// # }
    /// # impl RowFn<u32> for Pair {
    /// #     type Error = Infallible;
    /// #     fn write_row(&mut self, x: u32, row: &mut [f32]) -> Result<bool, Infallible> {
    /// #         row.copy_from_slice(&[x as f32, 0.5]);
    /// #         Ok(true)
    /// #     }
    /// # }
    /// use preallocate::Pipeline;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("train.parquet");
    /// let out = Pipeline::new(Pair).chunk_rows(4).write_parquet(0..10, &path, "x")?;
    /// assert_eq!((out.rows, out.shape), (10, vec![10, 2]));
    /// assert!(std::fs::read(&path)?.starts_with(b"PAR1"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn write_parquet<I>(
        self,
        items: I,
        path: impl AsRef<Path>,
        column: &str,
    ) -> Result<FileOutput, Error<<R as RowFn<I::Item>>::Error>>
    where
        I: IntoIterator,
        R: RowFn<I::Item>,
        R::Dtype: crate::outputs::ParquetElement,
        X: Exec<R, I::IntoIter>,
    {
        self.parquet(items, path.as_ref(), column)
    }
}

#[cfg(feature = "parquet")]
impl<M: RowsSpec, X> Pipeline<Multi<M>, X> {
    /// The one-output [`Pipeline::write_parquet`] for several outputs: a column per field,
    /// named by the field, all of one item in one row, in one file at `path`.
    ///
    /// # Errors
    /// As the one-output call.
    pub fn write_parquet<I>(
        self,
        items: I,
        path: impl AsRef<Path>,
    ) -> Result<FileOutput, Error<M::Error>>
    where
        I: IntoIterator,
        M: RowsFn<I::Item>,
        <M::Rows as crate::rows::Rows>::Layout: crate::outputs::ParquetFields,
        X: Exec<Multi<M>, I::IntoIter>,
    {
        self.parquet(items, path.as_ref(), "")
    }
}

impl<M: RowsSpec, X> Pipeline<Multi<M>, X> {
    /// The one-output [`Pipeline::write_safetensors`] for several outputs: one tensor per
    /// field, named by the field, in one file at `path`.
    ///
    /// # Errors
    /// As the one-output call.
    pub fn write_safetensors<I>(
        self,
        items: I,
        path: impl AsRef<Path>,
    ) -> Result<FileOutput, Error<M::Error>>
    where
        I: IntoIterator,
        M: RowsFn<I::Item>,
        X: Exec<Multi<M>, I::IntoIter>,
    {
        self.safetensors(items, path.as_ref(), "")
    }
}

/// Hands a chunk to an output, one column per field, and counts its rows.
pub(crate) fn write_chunk<L: Layout, O: Output>(
    output: &mut O,
    chunk: &L::View<'_>,
    ticker: &Ticker,
) -> Result<(), SinkFailure> {
    let mut columns = Vec::new();
    L::columns(chunk, &mut columns);
    output.write(&columns)?;
    ticker.advance(L::view_rows(chunk));
    Ok(())
}

fn row_bytes<R: Outputs>() -> usize {
    R::Layout::row_bytes(R::shape()).max(1)
}

/// The most rows a chunk buffer can have: its size must fit in `isize`.
fn max_rows<R: Outputs>() -> usize {
    (isize::MAX as usize / row_bytes::<R>()).max(1)
}

pub(crate) fn sink_error<E>(failure: SinkFailure) -> Error<E> {
    Error::Output {
        written: failure.written,
        partial: failure.partial,
        other_partials: Box::default(),
        cause: OutputCause::Sink(failure.source),
    }
}

#[cfg(test)]
mod tests;
