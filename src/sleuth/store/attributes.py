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
from collections.abc import Mapping, Sequence
from itertools import chain
from typing import Any

import numpy as np

from sleuth.indexes.segments import new_token, pack_strings, unpack_strings
from sleuth.values import to_timestamp

__all__ = ["AttributeTable", "Column"]

_DTYPES = {"number": np.float64, "datetime": np.float64, "bool": np.int8, "str": np.int32}
_KINDS = ("number", "datetime", "bool", "str", "list")
# comparison -> (side of the lower bound, side of the upper bound); None: the column's end
_RANGES = {
    "gt": ("right", None),
    "gte": ("left", None),
    "lt": (None, "left"),
    "lte": (None, "right"),
}


Run = tuple[np.ndarray, np.ndarray, np.ndarray]  # (docnos, owners, values), sorted by value
Saved = tuple[np.ndarray, str | None]  # an array to save and its token (``segments``)


class Column:
    """One attribute, as entries sorted by value: ``values[n]`` (float64 for number/datetime in
    epoch seconds, int8 for bool, int32 string codes for str and list elements) and
    ``owners: int64[n]``, the docno of each entry. A list has one entry per distinct element;
    ``docnos`` then says which items have the attribute at all (an empty list included), for
    ``exists``. For the other kinds ``docnos`` is ``owners``.

    Writes append to buffers; the first read after them merges the buffers in (sorted insertion,
    under a lock, as reads run in parallel), so a bulk load costs one sort, not one per item.
    The entries are two sorted runs, a main one and a small recent one that writes merge into
    (a read searches both), so a small write moves the recent run's entries, not every entry;
    the recent run joins main once it passes an eighth of it.
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.codes: dict[str, int] = {}
        empty = np.zeros(0, np.int64)
        run = (empty, empty, np.zeros(0, _DTYPES.get(kind, np.int32)))
        # one tuple, replaced whole, so a parallel reader never sees arrays of two versions
        self._data: tuple[Run, Run] = (run, run)
        self._new_docnos: list[int] = []
        self._new_owners: list[int] = []
        self._new_values: list[Any] = []
        self._lock = threading.Lock()
        # what the saved arrays are saved under (see ``sleuth.indexes.segments``)
        self.main_token = new_token()
        self.codes_token = new_token()

    def code(self, text: str) -> int:
        """The code of a string, or -2 when it was never stored (matches nothing)."""
        return self.codes.get(text, -2)

    def set_many(self, docnos: list[int], values: list[Any]) -> None:
        """Record ``values[i]`` for ``docnos[i]``; a docno is set at most once (they are never
        reused). Values are the store's, checked on write (a failing conversion raises before
        anything is recorded)."""
        codes = self.codes
        if self.kind == "list":
            lists = list(map(dict.fromkeys, values))  # each string once per list
            flat = list(chain.from_iterable(lists))
            for element in dict.fromkeys(flat):  # new strings coded in order of first use
                codes.setdefault(element, len(codes))
            self._new_owners.extend(np.repeat(docnos, list(map(len, lists))).tolist())
            self._new_values.extend(map(codes.__getitem__, flat))
        elif self.kind == "str":
            texts = list(map(str, values))
            for text in dict.fromkeys(texts):
                codes.setdefault(text, len(codes))
            self._new_values.extend(map(codes.__getitem__, texts))
        elif self.kind == "datetime":  # a bulk load repeats its dates: each parsed once
            seen: dict[Any, float] = {}
            self._new_values.extend(
                [seen[v] if v in seen else seen.setdefault(v, to_timestamp(v)) for v in values]
            )
        elif self.kind == "number":
            self._new_values.extend([float(v) for v in values])
        else:
            self._new_values.extend([int(v) for v in values])
        self._new_docnos.extend(docnos)

    def _runs(self) -> tuple[Run, Run]:
        """The main and the recent run, the buffered writes merged in."""
        if self._new_docnos:
            with self._lock:
                if self._new_docnos:  # not merged by another reader meanwhile
                    self._data = self._merged()
                    self._new_docnos, self._new_owners, self._new_values = [], [], []
        return self._data

    def _merged(self) -> tuple[Run, Run]:
        main, recent = self._data
        new_values = np.array(self._new_values, recent[2].dtype)
        order = np.argsort(new_values, kind="stable")
        # a list's entries are its elements; any other kind has one entry per docno
        owned = self._new_owners if self.kind == "list" else self._new_docnos
        new = (np.array(self._new_docnos, np.int64), np.array(owned, np.int64)[order])
        recent = self._insert(recent, new[0], new[1], new_values[order])
        if recent[2].size > max(4096, main[2].size // 8):
            self.main_token = new_token()
            return self._insert(main, *recent), self._empty()
        return main, recent

    def _insert(self, run: Run, docnos: np.ndarray, owners: np.ndarray, values: np.ndarray) -> Run:
        """``run`` with sorted entries (``owners``, ``values``) and ``docnos`` added."""
        at = np.searchsorted(run[2], values, side="right")
        values = np.insert(run[2], at, values)
        owners = np.insert(run[1], at, owners)
        if self.kind == "list":
            return np.concatenate([run[0], docnos]), owners, values
        return owners, owners, values

    def _empty(self) -> Run:
        empty = np.zeros(0, np.int64)
        return empty, empty, np.zeros(0, _DTYPES.get(self.kind, np.int32))

    def present(self, size: int) -> np.ndarray:
        """``bool[size]``: the docnos that have the attribute."""
        out = np.zeros(size, bool)
        for docnos, _, _ in self._runs():
            out[docnos] = True
        return out

    def equal_to(self, wanted: list[Any], size: int) -> np.ndarray:
        """``bool[size]``: the docnos with an entry equal to any of ``wanted`` (string codes
        for str and list, 0/1 for bool): two binary searches and one scatter per value."""
        out = np.zeros(size, bool)
        for _, owners, values in self._runs():
            if not values.size:  # the recent run, most of the time
                continue
            keys = np.asarray(wanted, values.dtype)  # a Python int would convert the column
            lo = np.searchsorted(values, keys, side="left")
            hi = np.searchsorted(values, keys, side="right")
            out[owners[_ranges(lo, hi)]] = True
        return out

    def between(
        self,
        lower: tuple[float, bool] | None,
        upper: tuple[float, bool] | None,
        size: int,
    ) -> np.ndarray:
        """``bool[size]``: the docnos whose value lies between the bounds, each ``(value,
        inclusive)`` or None for no bound: one run of the sorted values, one scatter."""
        out = np.zeros(size, bool)
        for _, owners, values in self._runs():
            lo, hi = 0, values.size
            if lower is not None:
                key = values.dtype.type(lower[0])
                lo = int(np.searchsorted(values, key, side="left" if lower[1] else "right"))
            if upper is not None:
                key = values.dtype.type(upper[0])
                hi = int(np.searchsorted(values, key, side="right" if upper[1] else "left"))
            out[owners[lo : max(lo, hi)]] = True
        return out

    def contains_any(self, texts: list[str], size: int) -> np.ndarray:
        """``bool[size]``: the docnos whose list holds any of ``texts``."""
        return self.equal_to([self.codes[t] for t in texts if t in self.codes], size)

    def keep(self, live: np.ndarray) -> None:
        """Drop the entries of docnos that are not ``live`` and the strings no entry uses (the
        two runs become one). Only writers call this (searches are held back meanwhile)."""
        docnos, owners, values = self._single()
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
        self._data = ((docnos, owners, values), self._empty())
        self.main_token, self.codes_token = new_token(), new_token()

    def _single(self) -> Run:
        """The entries as one sorted run."""
        main, recent = self._runs()
        return self._insert(main, *recent) if recent[2].size else main

    @property
    def nbytes(self) -> int:
        total = 0
        for docnos, owners, values in self._runs():
            shared = docnos is owners
            total += (0 if shared else docnos.nbytes) + owners.nbytes + values.nbytes
        return int(total)

    def payload(self) -> tuple[dict[str, Any], dict[str, Saved]]:
        """Tokens and arrays that ``restored`` reads back: the main run (saved again only once
        it is replaced), the recent one (small, written whole) and the string codes in code
        order (they only grow until ``keep`` renumbers them)."""
        main, recent = self._runs()
        blob, offsets = pack_strings(list(self.codes))
        arrays: dict[str, Saved] = {
            "owners": (main[1], self.main_token),
            "values": (main[2], self.main_token),
            "recent_owners": (recent[1], None),
            "recent_values": (recent[2], None),
            "codes_blob": (blob, self.codes_token),
            "codes_offsets": (offsets, self.codes_token),
        }
        if self.kind == "list":
            arrays["docnos"] = (main[0], self.main_token)
            arrays["recent_docnos"] = (recent[0], None)
        return {"main_token": self.main_token, "codes_token": self.codes_token}, arrays

    @classmethod
    def restored(
        cls, kind: str, spec: dict[str, Any], arrays: dict[str, np.ndarray], size: int
    ) -> Column:
        """The column saved by ``payload`` (or by an earlier sleuth: one run, the codes in
        ``spec``); ValueError when its arrays are inconsistent (of another dtype or shape,
        docnos outside ``size``, values unsorted, unknown codes)."""
        column = cls(kind)
        if "codes" in spec:
            codes = list(spec["codes"])
        else:
            blob, offsets = arrays["codes_blob"], arrays["codes_offsets"]
            if offsets.dtype != np.int64 or offsets.ndim != 1 or int(offsets[-1]) != blob.size:
                raise ValueError("the string codes are inconsistent")
            codes = unpack_strings(blob, offsets)
        if not all(isinstance(text, str) for text in codes) or len(set(codes)) != len(codes):
            raise ValueError(f"the string codes of a {kind} column are not distinct strings")
        runs = [column._checked(codes, arrays, "", size)]
        runs.append(
            column._checked(codes, arrays, "recent_", size)
            if "recent_values" in arrays
            else column._empty()
        )
        column.codes = {text: i for i, text in enumerate(codes)}
        column._data = (runs[0], runs[1])
        column.main_token = str(spec.get("main_token", column.main_token))
        column.codes_token = str(spec.get("codes_token", column.codes_token))
        return column

    def _checked(
        self, codes: list[str], arrays: dict[str, np.ndarray], prefix: str, size: int
    ) -> Run:
        """One saved run, checked."""
        kind = self.kind
        owners, values = arrays[f"{prefix}owners"], arrays[f"{prefix}values"]
        docnos = arrays[f"{prefix}docnos"] if kind == "list" else owners
        dtype = _DTYPES.get(kind, np.int32)
        in_range = all(
            a.size == 0 or 0 <= int(a.min()) <= int(a.max()) < size for a in (owners, docnos)
        )
        ok = (
            owners.ndim == values.ndim == docnos.ndim == 1
            and owners.shape == values.shape
            and owners.dtype == docnos.dtype == np.int64
            and values.dtype == dtype
            and in_range
            and bool((values[1:] >= values[:-1]).all())
            and (kind not in ("str", "list") or values.size == 0 or int(values.max()) < len(codes))
        )
        if not ok:
            raise ValueError(f"the arrays of a {kind} column are inconsistent")
        return docnos, owners, values


def _ranges(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """``int64[sum(hi - lo)]``: the positions ``lo[i]..hi[i] - 1`` of every run, in order,
    without a Python loop over the runs (``in`` with many values is one gather)."""
    lengths = np.maximum(hi - lo, 0)
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(0, np.int64)
    ends = np.cumsum(lengths)
    shift = np.repeat(lo - (ends - lengths), lengths)  # each run's start minus its place
    return np.arange(total, dtype=np.int64) + shift


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
        self.add_many([docno], [attributes], types)

    def add_many(
        self, docnos: list[int], attributes: list[dict[str, Any]], types: dict[str, str]
    ) -> None:
        """Add items: ``attributes[i]`` of ``docnos[i]`` (types of new names from ``types``),
        gathered per attribute so each column takes its values in one call."""
        self.add_columns(np.asarray(docnos, np.int64), self.by_name(docnos, attributes), types)

    @staticmethod
    def by_name(
        docnos: list[int], attributes: Sequence[Mapping[str, Any]]
    ) -> dict[str, tuple[list[int], list[Any]]]:
        """Items' attributes gathered per name: (docnos, values) of the items that have it."""
        by_name: dict[str, tuple[list[int], list[Any]]] = {}
        for docno, values in zip(docnos, attributes):
            for name, value in values.items():
                owners, found = by_name.setdefault(name, ([], []))
                owners.append(docno)
                found.append(value)
        return by_name

    def add_columns(
        self,
        docnos: np.ndarray,
        by_name: dict[str, tuple[list[int], list[Any]]],
        types: dict[str, str],
    ) -> None:
        """Add items ``docnos: int64[m]`` whose attributes are ``by_name`` (per name, the
        docnos that have it and their values; types of new names from ``types``)."""
        if not docnos.size:
            return
        self._ensure(int(docnos.max()))
        self._live_count += int(np.unique(docnos[~self.live[docnos]]).size)
        self.live[docnos] = True
        for name, (owners, found) in by_name.items():
            column = self.columns.get(name)
            if column is None:
                kind = types[name]
                self.types[name] = kind
                column = self.columns[name] = Column(kind)
            column.set_many(owners, found)

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
    def count(self) -> int:
        """How many docnos are live."""
        return self._live_count

    @property
    def nbytes(self) -> int:
        """Memory held by the columns (not counting the string code tables)."""
        return sum(column.nbytes for column in self.columns.values())

    def payload(self) -> tuple[dict[str, Any], dict[str, Saved]]:
        """Manifest entries and arrays with their tokens that ``restored`` reads back (arrays
        are named by the column's position: attribute names are any text)."""
        columns: list[dict[str, Any]] = []
        arrays: dict[str, Saved] = {"live": (self.live[: self.capacity], None)}
        for i, (name, column) in enumerate(self.columns.items()):
            spec, mine = column.payload()
            columns.append({"name": name, "kind": column.kind, **spec})
            arrays.update({f"c{i}_{key}": value for key, value in mine.items()})
        return {"columns": columns, "dead": self._dead}, arrays

    @classmethod
    def restored(cls, manifest: dict[str, Any], arrays: dict[str, np.ndarray]) -> AttributeTable:
        """The table saved by ``payload``; ValueError (or KeyError, TypeError) when the file
        does not hold a consistent one."""
        live = arrays["live"]
        if live.dtype != np.bool_ or live.ndim != 1 or live.size == 0:
            raise ValueError("the live mask is not a bool vector")
        specs = manifest["columns"]
        table = cls({spec["name"]: spec["kind"] for spec in specs})
        if len(table.columns) != len(specs) or any(k not in _KINDS for k in table.types.values()):
            raise ValueError("the columns are not distinct attributes of known kinds")
        table.live, table.capacity = live, live.size
        table._live_count = int(np.count_nonzero(live))
        table._dead = int(manifest["dead"])
        for i, spec in enumerate(specs):
            prefix = f"c{i}_"
            mine = {
                key[len(prefix) :]: value for key, value in arrays.items() if key.startswith(prefix)
            }
            table.columns[spec["name"]] = Column.restored(spec["kind"], spec, mine, live.size)
        return table
