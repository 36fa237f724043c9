"""Row functions written with preallocate: each is a `RowFunction` whose entry points give numpy
arrays (see the crate's README, "From Python")."""

from typing import Any, Iterable, Iterator

import numpy.typing as npt

class RowError(ValueError):
    """The row function failed on an item; `index` counts from 0."""

    index: int

class RowFunction:
    """A row function: one item in, one row of numbers out."""

    @property
    def shape(self) -> list[int]:
        """The shape of one row (`[]` for a scalar row)."""
    @property
    def dtype(self) -> str:
        """numpy's name of the output's dtype."""
    @property
    def name(self) -> str:
        """The row function's name."""
    def batch(self, items: Iterable[Any], /) -> npt.NDArray[Any]:
        """The rows of every item in one array of shape `(n, *shape)`."""
    def par_batch(self, items: Iterable[Any], /) -> npt.NDArray[Any]:
        """`batch`, with the rows computed on every core: the same array, bit for bit."""
    def fill(self, items: Iterable[Any], out: npt.NDArray[Any], /) -> int:
        """Writes the rows into `out` (the dtype, rows of `shape`); returns the rows written."""
    def chunks(
        self, items: Iterable[Any], /, *, chunk_rows: int = 4096, parallel: bool = False
    ) -> Iterator[npt.NDArray[Any]]:
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
    def __len__(self) -> int: ...

featurize: RowFunction
featurize_row: RowFunction
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
