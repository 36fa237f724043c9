"""Row functions written with preallocate: each is a `RowFunction` whose entry points give numpy
arrays (see the crate's README, "From Python")."""

from typing import Any, Iterable, Iterator

import numpy.typing as npt

# One output gives an array; several outputs (`rows = ..`) a dict of arrays by output name.
Arrays = npt.NDArray[Any] | dict[str, npt.NDArray[Any]]

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
