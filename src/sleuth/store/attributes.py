"""Attributes held in memory as sparse columns, so filters become numpy masks over docnos.

A column holds only the items that have the attribute: their docnos and values. Its
memory follows the live items that have it, not every docno ever written (each item version
gets a fresh docno) nor the items without it. A mask is built by scattering the matching
docnos into a bool array over all docnos; ``compile_filter`` ANDs it with ``live``, so entries
of deleted docnos that a column still holds never match. The table drops those entries (and
the strings only they used) once deletions since the last compaction reach a quarter of the
live items.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import numpy as np

from sleuth.values import to_timestamp

__all__ = ["AttributeTable", "Column"]

_DTYPES = {"number": np.float64, "datetime": np.float64, "bool": np.int8, "str": np.int32}


class Column:
    """One attribute: ``docnos: int64[n]`` of the items that have it and ``values[n]``:
    float64 for number/datetime (epoch seconds), int8 for bool, int32 string codes for str. A
    list attribute has one entry per element instead (``elements``: the element's docno,
    ``values``: its string code), and ``docnos`` says which items have it at all (an empty list
    included).

    Writes append to buffers; the first read after them merges the buffers (under a lock, as
    reads run in parallel), so a bulk load costs one concatenation, not one copy per item.
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.codes: dict[str, int] = {}
        empty = np.zeros(0, np.int64)
        # one tuple, replaced whole, so a parallel reader never sees arrays of two versions
        self._data = (empty, empty, np.zeros(0, _DTYPES.get(kind, np.int32)))
        self._new_docnos: list[int] = []
        self._new_elements: list[int] = []
        self._new_values: list[Any] = []
        self._lock = threading.Lock()

    def code(self, text: str) -> int:
        """The code of a string, or -2 when it was never stored (matches nothing)."""
        return self.codes.get(text, -2)

    def set(self, docno: int, value: Any) -> None:
        """Record ``value`` for ``docno``; a docno is set at most once (they are never reused)."""
        if self.kind == "number":
            self._new_values.append(float(value))
        elif self.kind == "datetime":
            self._new_values.append(to_timestamp(value))
        elif self.kind == "bool":
            self._new_values.append(int(value))
        elif self.kind == "str":
            self._new_values.append(self.codes.setdefault(str(value), len(self.codes)))
        else:
            for element in dict.fromkeys(value):  # each string once per list
                self._new_elements.append(docno)
                self._new_values.append(self.codes.setdefault(element, len(self.codes)))
        self._new_docnos.append(docno)  # last: a value that failed to convert leaves nothing

    def _arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(docnos, elements, values), the buffered writes merged in."""
        if self._new_docnos:
            with self._lock:
                if self._new_docnos:  # not merged by another reader meanwhile
                    docnos, elements, values = self._data
                    self._data = (
                        np.concatenate([docnos, np.array(self._new_docnos, np.int64)]),
                        np.concatenate([elements, np.array(self._new_elements, np.int64)]),
                        np.concatenate([values, np.array(self._new_values, values.dtype)]),
                    )
                    self._new_docnos, self._new_elements, self._new_values = [], [], []
        return self._data

    def present(self, size: int) -> np.ndarray:
        """``bool[size]``: the docnos that have the attribute."""
        out = np.zeros(size, bool)
        out[self._arrays()[0]] = True
        return out

    def where(self, test: Callable[[np.ndarray], np.ndarray], size: int) -> np.ndarray:
        """``bool[size]``: the docnos whose value passes ``test`` (values -> bool array)."""
        docnos, _, values = self._arrays()
        out = np.zeros(size, bool)
        out[docnos[test(values)]] = True
        return out

    def contains_any(self, texts: list[str], size: int) -> np.ndarray:
        """``bool[size]``: the docnos whose list holds any of ``texts``."""
        _, elements, values = self._arrays()
        codes = [self.codes[t] for t in texts if t in self.codes]
        out = np.zeros(size, bool)
        if codes:
            out[elements[np.isin(values, codes)]] = True
        return out

    def keep(self, live: np.ndarray) -> None:
        """Drop the entries of docnos that are not ``live`` and the strings no entry uses.
        Only writers call this (searches are held back meanwhile)."""
        docnos, elements, values = self._arrays()
        if self.kind == "list":
            kept = live[elements]
            elements, values = elements[kept], values[kept]
        else:
            values = values[live[docnos]]
        docnos = docnos[live[docnos]]
        if self.kind in ("str", "list"):
            strings = list(self.codes)  # codes were handed out in insertion order: 0, 1, ...
            used = np.unique(values)
            remap = np.full(len(strings), -1, np.int32)
            remap[used] = np.arange(used.size, dtype=np.int32)
            values = remap[values]
            self.codes = {strings[old]: new for new, old in enumerate(used.tolist())}
        self._data = (docnos, elements, values)

    @property
    def nbytes(self) -> int:
        return sum(int(a.nbytes) for a in self._arrays())


class AttributeTable:
    """Columns for every attribute plus the ``live`` mask of current docnos."""

    def __init__(self, types: dict[str, str]) -> None:
        self.capacity = 1024
        self.live = np.zeros(self.capacity, bool)
        self.types = dict(types)
        self.columns = {name: Column(kind) for name, kind in types.items()}
        self._live_count = 0
        self._dead = 0  # removals since the columns were last compacted

    def _ensure(self, docno: int) -> None:
        if docno < self.capacity:
            return
        capacity = self.capacity
        while capacity <= docno:
            capacity *= 2
        live = np.zeros(capacity, bool)
        live[: self.capacity] = self.live
        self.live = live
        self.capacity = capacity

    def add(self, docno: int, attributes: dict[str, Any], types: dict[str, str]) -> None:
        self._ensure(docno)
        if not self.live[docno]:
            self._live_count += 1
        self.live[docno] = True
        for name, value in attributes.items():
            column = self.columns.get(name)
            if column is None:
                kind = types[name]
                self.types[name] = kind
                column = self.columns[name] = Column(kind)
            column.set(docno, value)

    def remove(self, docno: int) -> None:
        if docno >= self.capacity or not self.live[docno]:
            return
        self.live[docno] = False
        self._live_count -= 1
        self._dead += 1
        if self._dead > max(1024, self._live_count // 4):
            for column in self.columns.values():
                column.keep(self.live)
            self._dead = 0

    @property
    def nbytes(self) -> int:
        """Memory held by the columns (not counting the string code tables)."""
        return sum(column.nbytes for column in self.columns.values())
