//! Bounded-memory processing: rows go through one reused chunk buffer to a closure or a file.

use core::convert::Infallible;
use core::marker::PhantomData;
use core::ops::Deref;
use std::path::Path;

use ndarray::{s, Array2, ArrayView2};

use crate::{
    drivers, Batch, ChunkSink, Element, Error, FileOutput, ItemError, NpyElement, NpyShardWriter,
    NpyWriter, OutputCause, RowError, RowFn, RowSpec, Rows, SafetensorsElement, SafetensorsWriter,
    ShardsOutput, SinkFailure,
};

/// The chunk buffer's size when neither [`Pipeline::chunk_rows`] nor
/// [`Pipeline::memory_budget`] is set: large enough that per-chunk costs vanish, small enough
/// that a chunk is still in cache when it is copied to the file. (Measured with
/// `benches/out_of_core.rs` on 100 M rows × 3 `f32`: 0.75–2 MiB chunks wrote in 0.65–0.95 s,
/// 4 MiB chunks in 1.1–2.4 s, the kernel's copy into the page cache missing the cache.)
pub const DEFAULT_MEMORY_BUDGET: usize = 1 << 20;

/// What an output reports when it is complete, and which items gave no row.
///
/// Dereferences to the output, so `written.rows` or `written.path` read the output's fields.
///
/// ```
/// use preallocate_runtime::Written;
///
/// let written = Written { output: 10usize, skipped: vec![3] };
/// assert_eq!(*written, 10);
/// assert_eq!(written.skipped, vec![3]);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written<O> {
    /// The output's report ([`FileOutput`], [`ShardsOutput`], or the number of rows).
    pub output: O,
    /// Input indices of the items that gave no row (filtered out, or failed under
    /// `on_error = "skip"`), increasing.
    pub skipped: Vec<usize>,
}

impl<O> Deref for Written<O> {
    type Target = O;
    fn deref(&self) -> &O {
        &self.output
    }
}

/// The failure policies and result shapes of the row functions, as types, so that a
/// [`Pipeline`] gives the same results as the batch entry points of its row function.
pub mod mode {
    use super::{drivers, Batch, Infallible, ItemError, RowError, RowFn, Rows};

    /// A row function's kind: what its `batch` returns, and whether failed items are skipped.
    pub trait Mode<R, Item>
    where
        R: RowFn<Item>,
    {
        /// What `batch` returns.
        type Batch;
        /// Whether an item that fails is skipped (`on_error = "skip"`) instead of stopping.
        const SKIP_FAILURES: bool;
        /// Builds the whole batch in memory.
        fn batch<I: IntoIterator<Item = Item>>(row_fn: &mut R, items: I) -> Self::Batch;
    }

    /// Rows that cannot fail or be dropped: `batch` returns the array.
    #[derive(Debug, Clone, Copy, Default)]
    pub struct Plain;
    /// Rows that may be dropped (`Option`): `batch` returns a [`Batch`].
    #[derive(Debug, Clone, Copy, Default)]
    pub struct Filtered;
    /// Rows that may fail: `batch` stops at the first failure.
    #[derive(Debug, Clone, Copy, Default)]
    pub struct Fallible;
    /// Rows that may fail or be dropped: `batch` stops at the first failure.
    #[derive(Debug, Clone, Copy, Default)]
    pub struct FallibleFiltered;
    /// Rows that may fail, and failed items are dropped (`on_error = "skip"`).
    #[derive(Debug, Clone, Copy, Default)]
    pub struct Skipping;

    impl<R: RowFn<Item, Failure = Infallible>, Item> Mode<R, Item> for Plain {
        type Batch = Rows<R>;
        const SKIP_FAILURES: bool = false;
        fn batch<I: IntoIterator<Item = Item>>(row_fn: &mut R, items: I) -> Self::Batch {
            drivers::batch(row_fn, items)
        }
    }

    impl<R: RowFn<Item, Failure = Infallible>, Item> Mode<R, Item> for Filtered {
        type Batch = Batch<Rows<R>>;
        const SKIP_FAILURES: bool = false;
        fn batch<I: IntoIterator<Item = Item>>(row_fn: &mut R, items: I) -> Self::Batch {
            drivers::batch_filtered(row_fn, items)
        }
    }

    impl<R: RowFn<Item>, Item> Mode<R, Item> for Fallible {
        type Batch = Result<Rows<R>, ItemError<R::Error>>;
        const SKIP_FAILURES: bool = false;
        fn batch<I: IntoIterator<Item = Item>>(row_fn: &mut R, items: I) -> Self::Batch {
            drivers::try_batch(row_fn, items)
        }
    }

    impl<R: RowFn<Item>, Item> Mode<R, Item> for FallibleFiltered {
        type Batch = Result<Batch<Rows<R>>, ItemError<R::Error>>;
        const SKIP_FAILURES: bool = false;
        fn batch<I: IntoIterator<Item = Item>>(row_fn: &mut R, items: I) -> Self::Batch {
            drivers::try_batch_filtered(row_fn, items)
        }
    }

    impl<R: RowFn<Item>, Item> Mode<R, Item> for Skipping {
        type Batch = Batch<Rows<R>>;
        const SKIP_FAILURES: bool = true;
        fn batch<I: IntoIterator<Item = Item>>(row_fn: &mut R, items: I) -> Self::Batch {
            drivers::batch_skipping(row_fn, items)
        }
    }

    /// How an item's failure becomes the error of [`Pipeline::for_each_chunk`](super::Pipeline::for_each_chunk):
    /// a row function that cannot fail needs nothing of the closure's error type; one that can
    /// needs `E: From<ItemError<..>>`.
    pub trait IntoChunkError<E> {
        /// The error for the item at `index`.
        fn into_chunk_error(self, index: usize) -> E;
    }

    impl<E> IntoChunkError<E> for Infallible {
        fn into_chunk_error(self, _: usize) -> E {
            match self {}
        }
    }

    impl<RowErr, E: From<ItemError<RowErr>>> IntoChunkError<E> for RowError<RowErr> {
        fn into_chunk_error(self, index: usize) -> E {
            E::from(ItemError { index, error: self })
        }
    }
}

use mode::{IntoChunkError, Mode};

/// Runs a row function over any number of items with bounded memory: rows are written into one
/// chunk buffer, allocated once and reused, and each full chunk goes to a closure or a file.
///
/// `#[preallocate]` gives every row function a `pipeline()` (`transform_pipeline()` for a
/// method) returning one of these.
///
/// ```
/// use std::convert::Infallible;
/// use preallocate_runtime::{mode, Pipeline, RowFn, RowSpec};
///
/// struct Pair;
/// impl RowSpec for Pair {
///     type Dtype = u32;
///     type Dim = ndarray::Ix2;
///     const DIM: usize = 2;
///     const SHAPE: &'static [usize] = &[2];
///     const OVERWRITES_ROW: bool = true;
/// }
/// impl RowFn<u32> for Pair {
///     type Error = Infallible;
///     type Failure = Infallible;
///     fn write_row(&mut self, x: u32, row: &mut [u32]) -> Result<bool, Infallible> {
///         row.copy_from_slice(&[x, x * x]);
///         Ok(true)
///     }
/// }
///
/// let mut sums = Vec::new();
/// Pipeline::<_, mode::Plain>::new(Pair)
///     .chunk_rows(4)
///     .for_each_chunk(0..10, |chunk| {
///         sums.push(chunk.sum());
///         Ok::<(), Infallible>(())
///     })?;
/// assert_eq!(sums, vec![20, 148, 162]); // chunks of 4, 4 and 2 rows
/// # Ok::<(), Infallible>(())
/// ```
pub struct Pipeline<R, M = mode::Plain> {
    row_fn: R,
    chunk: ChunkSize,
    progress: bool,
    mode: PhantomData<M>,
}

#[derive(Clone, Copy, Debug)]
enum ChunkSize {
    Rows(usize),
    Bytes(usize),
}

impl<R: RowSpec, M> Pipeline<R, M> {
    /// A pipeline over the row writer `row_fn`, with the default memory budget.
    pub fn new(row_fn: R) -> Self {
        Pipeline {
            row_fn,
            chunk: ChunkSize::Bytes(DEFAULT_MEMORY_BUDGET),
            progress: false,
            mode: PhantomData,
        }
    }

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
    /// stderr while a file is written or chunks are processed (feature `progress`).
    #[cfg(feature = "progress")]
    #[must_use]
    pub fn progress(mut self, on: bool) -> Self {
        self.progress = on;
        self
    }

    /// The number of rows in one chunk.
    ///
    /// ```
    /// # use preallocate_runtime::{Axes1, FnRow, Pipeline};
    /// # use std::convert::Infallible;
    /// let row_fn = FnRow::<_, f32, Axes1<256>, Infallible, true>::new(
    ///     |_: u8, _: &mut [f32]| Ok::<bool, Infallible>(true),
    /// );
    /// let pipeline = Pipeline::<_>::new(row_fn).memory_budget(1 << 20);
    /// assert_eq!(pipeline.rows_per_chunk(), 1024); // 1 MiB of 256 f32 rows
    /// ```
    pub fn rows_per_chunk(&self) -> usize {
        match self.chunk {
            ChunkSize::Rows(rows) => rows.min(max_rows::<R>()),
            ChunkSize::Bytes(bytes) => (bytes / row_bytes::<R>()).clamp(1, max_rows::<R>()),
        }
    }
}

impl<R: RowSpec, M> Pipeline<R, M> {
    /// The same result as the row function's `batch`: the whole output in memory (no chunks).
    pub fn batch<I>(mut self, items: I) -> M::Batch
    where
        I: IntoIterator,
        R: RowFn<I::Item>,
        M: Mode<R, I::Item>,
    {
        M::batch(&mut self.row_fn, items)
    }

    /// Passes every chunk of rows (`n × DIM`, row-major, `n` at most the chunk size) to `f`,
    /// from one buffer allocated once; returns the number of rows. The first error stops the
    /// run and is returned: `f`'s own, or, for a row function that can fail, the item's
    /// ([`ItemError`] converted with `From`).
    ///
    /// # Errors
    /// The first error of `f` or of an item.
    pub fn for_each_chunk<I, F, E>(mut self, items: I, mut f: F) -> Result<Written<usize>, E>
    where
        I: IntoIterator,
        R: RowFn<I::Item>,
        R::Failure: IntoChunkError<E>,
        M: Mode<R, I::Item>,
        F: FnMut(ArrayView2<'_, R::Dtype>) -> Result<(), E>,
    {
        let items = items.into_iter();
        let ticker = self.ticker(&items);
        let chunk_rows = self.rows_per_chunk();
        let run = run_chunks::<R, M, _, _, E>(&mut self.row_fn, items, chunk_rows, |chunk| {
            f(chunk)?;
            ticker.advance(chunk.nrows());
            Ok(())
        });
        ticker.finish();
        match run {
            Ok(done) => Ok(done.into_written()),
            Err(Stop::Item { failed, .. }) => Err(failed.failure.into_chunk_error(failed.index)),
            Err(Stop::Sink(err)) => Err(err),
        }
    }

    /// Streams the rows into one `.npy` file at `path`, whatever the input's length, through
    /// the chunk buffer. The file is written under a temporary name beside `path` and renamed
    /// into place when complete; numpy loads it (`np.load`, also with `mmap_mode="r"`).
    ///
    /// # Errors
    /// [`Error::Output`] when an item or the file fails: the rows before it are kept in
    /// `<path>.partial` (a valid `.npy`), and `path` is left as it was.
    pub fn write_npy<I>(
        self,
        items: I,
        path: impl AsRef<Path>,
    ) -> Result<Written<FileOutput>, Error<R::Error>>
    where
        I: IntoIterator,
        R: RowFn<I::Item>,
        R::Dtype: NpyElement,
        M: Mode<R, I::Item>,
    {
        let sink = NpyWriter::create(path, R::SHAPE).map_err(sink_error)?;
        self.write(items, sink)
    }

    /// Streams the rows into `.npy` shards of [`Pipeline::rows_per_chunk`] rows each
    /// (`part-00000.npy`, ...) in `dir`, then `manifest.json`. `dir` is created if missing (its
    /// parent must exist).
    ///
    /// # Errors
    /// As [`Pipeline::write_npy`]; the shards written are kept in `dir`.
    pub fn write_npy_shards<I>(
        self,
        items: I,
        dir: impl AsRef<Path>,
    ) -> Result<Written<ShardsOutput>, Error<R::Error>>
    where
        I: IntoIterator,
        R: RowFn<I::Item>,
        R::Dtype: NpyElement,
        M: Mode<R, I::Item>,
    {
        let sink =
            NpyShardWriter::create(dir, R::SHAPE, self.rows_per_chunk()).map_err(sink_error)?;
        self.write(items, sink)
    }

    /// Streams the rows into a safetensors file holding one tensor, `tensor_name`, of shape
    /// `[n, SHAPE...]`: the format PyTorch users load with `safetensors.torch.load_file`, and
    /// the one output that stores `bf16`.
    ///
    /// # Errors
    /// As [`Pipeline::write_npy`].
    pub fn write_safetensors<I>(
        self,
        items: I,
        path: impl AsRef<Path>,
        tensor_name: &str,
    ) -> Result<Written<FileOutput>, Error<R::Error>>
    where
        I: IntoIterator,
        R: RowFn<I::Item>,
        R::Dtype: SafetensorsElement,
        M: Mode<R, I::Item>,
    {
        let sink = SafetensorsWriter::create(path, tensor_name, R::SHAPE).map_err(sink_error)?;
        self.write(items, sink)
    }

    fn write<I, S>(mut self, items: I, mut sink: S) -> Result<Written<S::Output>, Error<R::Error>>
    where
        I: IntoIterator,
        R: RowFn<I::Item>,
        M: Mode<R, I::Item>,
        S: ChunkSink<R::Dtype>,
    {
        let items = items.into_iter();
        let ticker = self.ticker(&items);
        let chunk_rows = self.rows_per_chunk();
        let run =
            run_chunks::<R, M, _, _, SinkFailure>(&mut self.row_fn, items, chunk_rows, |chunk| {
                sink.write_chunk(chunk)?;
                ticker.advance(chunk.nrows());
                Ok(())
            });
        ticker.finish();
        match run {
            Ok(done) => {
                let output = sink.finish().map_err(sink_error)?;
                Ok(Written {
                    output,
                    skipped: done.skipped,
                })
            }
            Err(Stop::Sink(failure)) => Err(sink_error(failure)),
            Err(Stop::Item { failed, .. }) => {
                let kept = sink.abandon();
                Err(Error::Output {
                    written: kept.rows,
                    partial: kept.path,
                    cause: OutputCause::Item(ItemError {
                        index: failed.index,
                        error: failed.failure.into(),
                    }),
                })
            }
        }
    }

    fn ticker<I: Iterator>(&self, items: &I) -> Ticker {
        Ticker::new(self.progress, items.size_hint())
    }
}

fn row_bytes<R: RowSpec>() -> usize {
    (R::DIM * size_of::<R::Dtype>()).max(1)
}

/// The most rows a chunk buffer can have: its size must fit in `isize`.
fn max_rows<R: RowSpec>() -> usize {
    (isize::MAX as usize / row_bytes::<R>()).max(1)
}

fn sink_error<E>(failure: SinkFailure) -> Error<E> {
    Error::Output {
        written: failure.written,
        partial: failure.partial,
        cause: OutputCause::Sink(failure.source),
    }
}

/// Progress on stderr when asked for and compiled in; nothing otherwise.
struct Ticker {
    #[cfg(feature = "progress")]
    progress: Option<crate::Progress>,
}

impl Ticker {
    #[cfg_attr(not(feature = "progress"), allow(unused_variables))]
    fn new(on: bool, size_hint: (usize, Option<usize>)) -> Self {
        #[cfg(feature = "progress")]
        {
            let total = (size_hint.1 == Some(size_hint.0)).then_some(size_hint.0 as u64);
            Ticker {
                progress: on.then(|| crate::Progress::stderr(total)),
            }
        }
        #[cfg(not(feature = "progress"))]
        Ticker {}
    }

    #[cfg_attr(
        not(feature = "progress"),
        allow(unused_variables, clippy::unused_self)
    )]
    fn advance(&self, rows: usize) {
        #[cfg(feature = "progress")]
        if let Some(progress) = &self.progress {
            progress.advance(rows as u64);
        }
    }

    #[allow(clippy::unused_self)]
    fn finish(self) {}
}

struct Done {
    rows: usize,
    skipped: Vec<usize>,
}

impl Done {
    fn into_written(self) -> Written<usize> {
        Written {
            output: self.rows,
            skipped: self.skipped,
        }
    }
}

struct Failed<F> {
    index: usize,
    failure: F,
}

enum Stop<F, E> {
    /// An item failed; the rows before it were passed on.
    Item { failed: Failed<F> },
    /// The chunk consumer failed.
    Sink(E),
}

/// The chunk loop: fills the buffer row by row, hands each full (or last) chunk to `consume`,
/// and on an item's failure first hands on the rows before it, so that nothing processed is
/// lost.
fn run_chunks<R, M, I, C, E>(
    row_fn: &mut R,
    items: I,
    chunk_rows: usize,
    mut consume: C,
) -> Result<Done, Stop<R::Failure, E>>
where
    I: Iterator,
    R: RowFn<I::Item>,
    M: Mode<R, I::Item>,
    C: FnMut(ArrayView2<'_, R::Dtype>) -> Result<(), E>,
{
    let dim = R::DIM;
    // Allocated once, zeroed by the allocator, reused for every chunk.
    let data = bytemuck::allocation::try_zeroed_vec::<R::Dtype>(chunk_rows * dim)
        .unwrap_or_else(|()| vec![R::Dtype::ZERO; chunk_rows * dim]);
    let mut buffer = Array2::from_shape_vec((chunk_rows, dim), data)
        .expect("the chunk buffer holds chunk_rows * DIM elements");
    let mut items = items.enumerate();
    let mut rows = 0usize;
    let mut skipped = Vec::new();
    loop {
        let mut filled = 0usize;
        let mut failed = None;
        let mut ended = false;
        {
            let flat = buffer
                .as_slice_mut()
                .expect("a freshly built array is in standard layout");
            while filled < chunk_rows {
                let Some((index, item)) = items.next() else {
                    ended = true;
                    break;
                };
                let slot = &mut flat[filled * dim..(filled + 1) * dim];
                if !R::OVERWRITES_ROW {
                    slot.fill(R::Dtype::ZERO);
                }
                match row_fn.write_row(item, slot) {
                    Ok(true) => filled += 1,
                    Ok(false) => skipped.push(index),
                    Err(_) if M::SKIP_FAILURES => skipped.push(index),
                    Err(failure) => {
                        failed = Some(Failed { index, failure });
                        break;
                    }
                }
            }
        }
        if filled > 0 {
            consume(buffer.slice(s![..filled, ..])).map_err(Stop::Sink)?;
            rows += filled;
        }
        if let Some(failed) = failed {
            return Err(Stop::Item { failed });
        }
        if ended {
            return Ok(Done { rows, skipped });
        }
    }
}

#[cfg(test)]
mod tests;
