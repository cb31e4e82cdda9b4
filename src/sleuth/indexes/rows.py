"""Docno -> row lookups over an index's row arrays, with no Python object per row.

An index keeps ``row_docno: int64[n_rows]`` and ``row_live: bool[n_rows]``. Finding a docno's
row uses a sorted copy of ``row_docno`` (stable, so equal docnos keep row order and the last
one is the newest row) and ``searchsorted``: loading an index costs one pass in numpy (none when
the rows are already in docno order, as a replay of the change log adds them), not a dict of
every row built in Python.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from sleuth.indexes.base import Index

__all__ = ["RowMap"]


class RowMap(Mapping[int, int]):
    """The live rows of an index by docno (read-only; the index's writes keep it current)."""

    def __init__(self, index: Index) -> None:
        self._index = index
        # (row_docno sorted stably, the row of each, how many rows they cover), replaced whole
        # (a search may rebuild it while another reads it); None: rebuild at the next lookup
        empty = np.zeros(0, np.int64)
        self._state: tuple[np.ndarray, np.ndarray, int] | None = (empty, empty, 0)

    def appended(self, docnos: np.ndarray, first_row: int) -> None:
        """Rows ``first_row..`` were added for ``docnos``: extend the sorted copy when they come
        after every docno in it (the usual case), else rebuild it at the next lookup."""
        state = self._state
        if state is None or docnos.size == 0:
            return
        keys, rows, size = state
        in_order = (
            first_row == size
            and bool((np.diff(docnos) >= 0).all())
            and (size == 0 or docnos[0] >= keys[size - 1])
        )
        if not in_order:
            self._state = None
            return
        added = np.arange(first_row, first_row + docnos.size, dtype=np.int64)
        self._state = (_grow(keys, size, docnos), _grow(rows, size, added), size + docnos.size)

    def reset(self) -> None:
        """The rows were renumbered or replaced: rebuild at the next lookup."""
        self._state = None

    def _sorted(self) -> tuple[np.ndarray, np.ndarray]:
        state = self._state
        if state is None:
            docnos = self._index.row_docno.view
            if docnos.size < 2 or bool((np.diff(docnos) >= 0).all()):
                keys, rows = docnos.copy(), np.arange(docnos.size, dtype=np.int64)
            else:
                rows = np.argsort(docnos, kind="stable").astype(np.int64)
                keys = docnos[rows]
            state = self._state = (keys, rows, keys.size)
        keys, rows, size = state
        return keys[:size], rows[:size]

    def rows_of(self, docnos: np.ndarray) -> np.ndarray:
        """``int64[m]``: the live row of each docno, -1 where it has none."""
        docnos = np.asarray(docnos, np.int64).reshape(-1)
        keys, rows = self._sorted()
        if keys.size == 0 or docnos.size == 0:
            return np.full(docnos.size, -1, np.int64)
        pos = np.searchsorted(keys, docnos, side="right") - 1
        safe = np.maximum(pos, 0)
        found = rows[safe]
        ok = (pos >= 0) & (keys[safe] == docnos) & self._index.row_live.view[found]
        return np.where(ok, found, -1)

    def __getitem__(self, docno: int) -> int:
        row = int(self.rows_of(np.array([docno], np.int64))[0])
        if row < 0:
            raise KeyError(docno)
        return row

    def __iter__(self) -> Iterator[int]:
        live = self._index.row_live.view
        return iter(self._index.row_docno.view[live].tolist())

    def __len__(self) -> int:
        return len(self._index)


def _grow(buf: np.ndarray, size: int, values: np.ndarray) -> np.ndarray:
    need = size + values.size
    if need > buf.size:
        grown = np.empty(max(need, 2 * buf.size, 64), np.int64)
        grown[:size] = buf[:size]
        buf = grown
    buf[size:need] = values
    return buf
