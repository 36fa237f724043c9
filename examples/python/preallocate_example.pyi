"""Row functions written with preallocate: each is a `RowFunction` whose entry points give numpy
arrays (see the crate's README, "From Python")."""

import os
from typing import Any, Iterable, Iterator

import numpy.typing as npt

# One output gives an array; several outputs (`rows = ..`) a dict of arrays by output name.
Arrays = npt.NDArray[Any] | dict[str, npt.NDArray[Any]]
# A writer's report (path, rows, shape, ...), or a dict of them by output name.
Report = dict[str, Any]
# None, "none", "snappy" (Parquet only), "zstd" or ("zstd", level).
Compression = str | tuple[str, int] | None

class RowError(ValueError):
    """The row function failed on an item; `index` counts from 0."""

    index: int

class RowFunction:
    """A row function: one item in, one row of numbers out."""

    @property
    def shape(self) -> list[int] | dict[str, list[int]]:
        """The shape of one row (`[]` for a scalar row); a dict for several outputs."""
    @property
    def dtype(self) -> str | dict[str, str]:
        """numpy's name of the output's dtype; a dict for several outputs."""
    @property
    def outputs(self) -> tuple[str, ...] | None:
        """The outputs' names for several outputs, else `None`."""
    @property
    def name(self) -> str:
        """The row function's name."""
    def batch(self, items: Iterable[Any], /) -> Arrays:
        """The rows of every item in one array of shape `(n, *shape)`."""
    def par_batch(self, items: Iterable[Any], /) -> Arrays:
        """`batch`, with the rows computed on every core: the same array, bit for bit."""
    def fill(self, items: Iterable[Any], out: Arrays, /) -> int:
        """Writes the rows into `out` (the dtype, rows of `shape`); returns the rows written."""
    def chunks(
        self, items: Iterable[Any], /, *, chunk_rows: int = 4096, parallel: bool = False
    ) -> Iterator[Arrays]:
        """The rows, `chunk_rows` items at a time, each chunk a new array."""
    def write_npy(
        self,
        items: Iterable[Any],
        path: str | os.PathLike[str],
        /,
        *,
        chunk_rows: int | None = None,
        memory_budget: int | None = None,
        threads: int | None = None,
    ) -> Report:
        """Streams the rows into a `.npy` file (a file per field for several outputs)."""
    def write_npy_shards(
        self,
        items: Iterable[Any],
        dir: str | os.PathLike[str],
        /,
        *,
        shard_rows: int | None = None,
        job_key: str | None = None,
        partition: tuple[int, int] | None = None,
        chunk_rows: int | None = None,
        memory_budget: int | None = None,
        threads: int | None = None,
    ) -> Report:
        """Streams the rows into resumable `.npy` shards and a manifest."""
    def write_safetensors(
        self,
        items: Iterable[Any],
        path: str | os.PathLike[str],
        /,
        *,
        tensor: str | None = None,
        chunk_rows: int | None = None,
        memory_budget: int | None = None,
        threads: int | None = None,
    ) -> Report:
        """Streams the rows into a safetensors file (bf16 too)."""
    def write_zarr(
        self,
        items: Iterable[Any],
        store: str | os.PathLike[str],
        /,
        *,
        name: str | None = None,
        compression: Compression = None,
        shard_rows: int | None = None,
        job_key: str | None = None,
        partition: tuple[int, int] | None = None,
        chunk_rows: int | None = None,
        memory_budget: int | None = None,
        threads: int | None = None,
    ) -> Report:
        """Writes the rows as a Zarr v3 array of the group `store` (an array per field)."""
    def write_parquet(
        self,
        items: Iterable[Any],
        path: str | os.PathLike[str],
        /,
        *,
        column: str | None = None,
        compression: Compression = None,
        row_group_rows: int | None = None,
        chunk_rows: int | None = None,
        memory_budget: int | None = None,
        threads: int | None = None,
    ) -> Report:
        """Streams the rows into a Parquet file (a column per field)."""
    def write_parquet_shards(
        self,
        items: Iterable[Any],
        dir: str | os.PathLike[str],
        /,
        *,
        column: str | None = None,
        compression: Compression = None,
        row_group_rows: int | None = None,
        shard_rows: int | None = None,
        job_key: str | None = None,
        partition: tuple[int, int] | None = None,
        chunk_rows: int | None = None,
        memory_budget: int | None = None,
        threads: int | None = None,
    ) -> Report:
        """Streams the rows into resumable Parquet parts and a manifest."""

class Tokenizer:
    """A tokenizer fitted on a corpus."""

    def __init__(self, corpus: list[str]) -> None: ...
    @property
    def encode(self) -> RowFunction:
        """The ids of the first 8 words of each line, `uint32`, shape `(n, 8)`."""
    @property
    def mask(self) -> RowFunction:
        """1 for each of the first 8 words of each line, `uint8`, shape `(n, 8)`."""
    @property
    def tokenize(self) -> RowFunction:
        """Both at once: a dict `{"ids": (n, 8) uint32, "mask": (n, 8) uint8}`."""
    def __len__(self) -> int: ...

featurize: RowFunction
featurize_row: RowFunction
summarize: RowFunction
address: RowFunction
counts: RowFunction
parse_pair: RowFunction
even: RowFunction
thumbnail: RowFunction
half_precision: RowFunction
brain_float: RowFunction
fragile: RowFunction
slow: RowFunction
wide: RowFunction
