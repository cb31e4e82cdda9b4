"""Attributes held in memory as sparse columns, so filters become numpy masks over docnos.

A column holds only the items that have the attribute: their docnos and values, kept sorted
by value. Its memory follows the live items that have it, not every docno ever written (each
item version gets a fresh docno) nor the items without it. A comparison is two binary searches
for the run of matching values; the mask is built by scattering that run's docnos into a bool
array over all docnos, so its cost follows the matches, not the column. ``compile_filter`` ANDs
it with ``live``, so entries of deleted docnos that a column still holds never match; the table
drops those entries (and the strings only they used) once deletions since the last compaction
reach a quarter of the live items.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from sleuth.values import to_timestamp

__all__ = ["AttributeTable", "Column"]

_DTYPES = {"number": np.float64, "datetime": np.float64, "bool": np.int8, "str": np.int32}
# comparison -> (side of the lower bound, side of the upper bound); None: the column's end
_RANGES = {
    "gt": ("right", None),
    "gte": ("left", None),
    "lt": (None, "left"),
    "lte": (None, "right"),
}


class Column:
    """One attribute, as entries sorted by value: ``values[n]`` (float64 for number/datetime in
    epoch seconds, int8 for bool, int32 string codes for str and list elements) and
    ``owners: int64[n]``, the docno of each entry. A list has one entry per distinct element;
    ``docnos`` then says which items have the attribute at all (an empty list included), for
    ``exists``. For the other kinds ``docnos`` is ``owners``.

    Writes append to buffers; the first read after them merges the buffers in (sorted insertion,
    under a lock, as reads run in parallel), so a bulk load costs one sort, not one per item.
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.codes: dict[str, int] = {}
        empty = np.zeros(0, np.int64)
        # one tuple, replaced whole, so a parallel reader never sees arrays of two versions
        self._data = (empty, empty, np.zeros(0, _DTYPES.get(kind, np.int32)))
        self._new_docnos: list[int] = []
        self._new_owners: list[int] = []
        self._new_values: list[Any] = []
        self._lock = threading.Lock()

    def code(self, text: str) -> int:
        """The code of a string, or -2 when it was never stored (matches nothing)."""
        return self.codes.get(text, -2)

    def set(self, docno: int, value: Any) -> None:
        """Record ``value`` for ``docno``; a docno is set at most once (they are never reused).
        Nothing is recorded if the value fails to convert."""
        if self.kind == "list":
            for element in dict.fromkeys(value):  # each string once per list
                self._new_values.append(self.codes.setdefault(element, len(self.codes)))
                self._new_owners.append(docno)
        elif self.kind == "str":
            self._new_values.append(self.codes.setdefault(str(value), len(self.codes)))
        elif self.kind == "datetime":
            self._new_values.append(to_timestamp(value))
        else:
            self._new_values.append(float(value) if self.kind == "number" else int(value))
        self._new_docnos.append(docno)

    def _arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(docnos, owners, values), the buffered writes merged in."""
        if self._new_docnos:
            with self._lock:
                if self._new_docnos:  # not merged by another reader meanwhile
                    self._data = self._merged()
                    self._new_docnos, self._new_owners, self._new_values = [], [], []
        return self._data

    def _merged(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        docnos, owners, values = self._data
        new_values = np.array(self._new_values, values.dtype)
        order = np.argsort(new_values, kind="stable")
        new_values = new_values[order]
        # a list's entries are its elements; any other kind has one entry per docno
        owned = self._new_owners if self.kind == "list" else self._new_docnos
        new_owners = np.array(owned, np.int64)[order]
        at = np.searchsorted(values, new_values, side="right")
        values = np.insert(values, at, new_values)
        owners = np.insert(owners, at, new_owners)
        if self.kind == "list":
            return np.concatenate([docnos, np.array(self._new_docnos, np.int64)]), owners, values
        return owners, owners, values

    def present(self, size: int) -> np.ndarray:
        """``bool[size]``: the docnos that have the attribute."""
        out = np.zeros(size, bool)
        out[self._arrays()[0]] = True
        return out

    def equal_to(self, wanted: list[Any], size: int) -> np.ndarray:
        """``bool[size]``: the docnos with an entry equal to any of ``wanted`` (string codes
        for str and list, 0/1 for bool)."""
        _, owners, values = self._arrays()
        out = np.zeros(size, bool)
        for value in wanted:
            key = values.dtype.type(value)  # a Python int would convert the whole array
            lo = int(np.searchsorted(values, key, side="left"))
            hi = int(np.searchsorted(values, key, side="right"))
            out[owners[lo:hi]] = True
        return out

    def between(
        self,
        lower: tuple[float, bool] | None,
        upper: tuple[float, bool] | None,
        size: int,
    ) -> np.ndarray:
        """``bool[size]``: the docnos whose value lies between the bounds, each ``(value,
        inclusive)`` or None for no bound: one run of the sorted values, one scatter."""
        _, owners, values = self._arrays()
        lo, hi = 0, values.size
        if lower is not None:
            key = values.dtype.type(lower[0])
            lo = int(np.searchsorted(values, key, side="left" if lower[1] else "right"))
        if upper is not None:
            key = values.dtype.type(upper[0])
            hi = int(np.searchsorted(values, key, side="right" if upper[1] else "left"))
        out = np.zeros(size, bool)
        out[owners[lo : max(lo, hi)]] = True
        return out

    def contains_any(self, texts: list[str], size: int) -> np.ndarray:
        """``bool[size]``: the docnos whose list holds any of ``texts``."""
        return self.equal_to([self.codes[t] for t in texts if t in self.codes], size)

    def keep(self, live: np.ndarray) -> None:
        """Drop the entries of docnos that are not ``live`` and the strings no entry uses.
        Only writers call this (searches are held back meanwhile)."""
        docnos, owners, values = self._arrays()
        kept = live[owners]
        owners, values = owners[kept], values[kept]
        if self.kind in ("str", "list"):
            # Renumber the codes still used, in the same order: values stay sorted.
            strings = list(self.codes)  # codes were handed out in insertion order: 0, 1, ...
            used = np.unique(values)
            remap = np.full(len(strings), -1, np.int32)
            remap[used] = np.arange(used.size, dtype=np.int32)
            values = remap[values]
            self.codes = {strings[old]: new for new, old in enumerate(used.tolist())}
        docnos = docnos[live[docnos]] if self.kind == "list" else owners
        self._data = (docnos, owners, values)

    @property
    def nbytes(self) -> int:
        docnos, owners, values = self._arrays()
        shared = docnos is owners
        return int((0 if shared else docnos.nbytes) + owners.nbytes + values.nbytes)


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
