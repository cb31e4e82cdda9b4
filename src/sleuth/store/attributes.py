"""Attributes held in memory as columns indexed by docno, so filters become numpy masks."""

from __future__ import annotations

from typing import Any

import numpy as np

from sleuth.types import to_timestamp

__all__ = ["AttributeTable", "Column"]


class Column:
    """One attribute. ``values`` by docno: float64 (NaN = missing) for number/datetime,
    int8 (-1 = missing) for bool, int32 codes (-1 = missing) for str, and for lists an
    object array of frozensets of codes (None = missing)."""

    def __init__(self, kind: str, capacity: int) -> None:
        self.kind = kind
        self.codes: dict[str, int] = {}
        if kind in ("number", "datetime"):
            self.values: np.ndarray = np.full(capacity, np.nan)
        elif kind == "bool":
            self.values = np.full(capacity, -1, np.int8)
        elif kind == "str":
            self.values = np.full(capacity, -1, np.int32)
        else:
            self.values = np.full(capacity, None, object)

    def grow(self, capacity: int) -> None:
        old = self.values
        fresh = Column(self.kind, capacity).values
        fresh[: old.shape[0]] = old
        self.values = fresh

    def code(self, text: str) -> int:
        """The code of a string, or -2 when it was never stored (matches nothing)."""
        return self.codes.get(text, -2)

    def set(self, docno: int, value: Any) -> None:
        if self.kind == "number":
            self.values[docno] = float(value)
        elif self.kind == "datetime":
            self.values[docno] = to_timestamp(value)
        elif self.kind == "bool":
            self.values[docno] = int(value)
        elif self.kind == "str":
            self.values[docno] = self.codes.setdefault(str(value), len(self.codes))
        else:
            self.values[docno] = frozenset(self.codes.setdefault(v, len(self.codes)) for v in value)

    def clear(self, docno: int) -> None:
        if self.kind in ("number", "datetime"):
            self.values[docno] = np.nan
        elif self.kind in ("bool", "str"):
            self.values[docno] = -1
        else:
            self.values[docno] = None

    def present(self) -> np.ndarray:
        if self.kind in ("number", "datetime"):
            return ~np.isnan(self.values)
        if self.kind in ("bool", "str"):
            return self.values >= 0
        return np.array([v is not None for v in self.values], bool)


class AttributeTable:
    """Columns for every attribute plus the ``live`` mask of current docnos."""

    def __init__(self, types: dict[str, str]) -> None:
        self.capacity = 1024
        self.live = np.zeros(self.capacity, bool)
        self.types = dict(types)
        self.columns = {name: Column(kind, self.capacity) for name, kind in types.items()}

    def _ensure(self, docno: int) -> None:
        if docno < self.capacity:
            return
        capacity = self.capacity
        while capacity <= docno:
            capacity *= 2
        live = np.zeros(capacity, bool)
        live[: self.capacity] = self.live
        self.live = live
        for column in self.columns.values():
            column.grow(capacity)
        self.capacity = capacity

    def add(self, docno: int, attributes: dict[str, Any], types: dict[str, str]) -> None:
        self._ensure(docno)
        self.live[docno] = True
        for name, value in attributes.items():
            column = self.columns.get(name)
            if column is None:
                kind = types[name]
                self.types[name] = kind
                column = self.columns[name] = Column(kind, self.capacity)
            column.set(docno, value)

    def remove(self, docno: int) -> None:
        if docno >= self.capacity:
            return
        self.live[docno] = False
        for column in self.columns.values():
            column.clear(docno)
