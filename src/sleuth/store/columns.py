"""A write's items as columns: checked a column at a time and turned into the store's rows.

A bulk write of items that bring their vectors (``Collection.add(items, vectors=array)``,
items as plain dicts or a pyarrow Table) is parsed here column by column: a column's Python
types are found in one pass, and each distinct string of a column (categories, dates, tags) is
checked once, not once per item. What this path does not take (an ``Item``, a value of another
type, a key it would have to check one item at a time, or any check that fails) makes
``ItemColumns.parse`` return None, and the write goes the row by row way
(``sleuth.types.parse_item``), which raises the very error it always did and writes nothing.

The rows' JSON is built from each column's encoded cells, and is byte for byte what
``json.dumps`` of the row path's sorted dicts gives (so an upsert of an unchanged item is
unchanged, whichever way either write went).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from json.encoder import encode_basestring  # type: ignore[attr-defined]
from typing import Any

import numpy as np

import sleuth.values as bounds
from sleuth.types import ID_CONTROL_CHARS, RESERVED_NAMES
from sleuth.values import looks_like_datetime, parse_datetime
from sleuth.vectors import VECTOR_KEY, VECTORS_KEY

__all__ = ["AttributeColumn", "ItemColumns", "loads_fields", "table_rows"]

_ID_CONTROL = re.compile(f"[{ID_CONTROL_CHARS}]")
_SURROGATE_FREE = "strict"  # str.encode raises on a lone surrogate: UTF-8 cannot hold it


@dataclass(frozen=True)
class AttributeColumn:
    """One attribute over the batch: its kind (as ``attr_type_of`` names it: a column of
    date-time strings and plain ones is "str", as the row path's widening makes it) and each
    row's value (None: the item lacks it)."""

    kind: str
    values: list[Any]

    def present(self) -> Iterator[int]:
        return (i for i, v in enumerate(self.values) if v is not None)


@dataclass(frozen=True)
class ItemColumns:
    """``ids[n]``; text fields by name (``str`` or None per row); attributes by name."""

    ids: list[str]
    fields: dict[str, list[str | None]]
    attributes: dict[str, AttributeColumn]

    def __len__(self) -> int:
        return len(self.ids)

    @classmethod
    def parse(cls, items: Any, text_fields: tuple[str, ...]) -> ItemColumns | None:
        """The items (a list of dicts, a pyarrow Table or RecordBatch) as checked columns, or
        None when they are of a shape this path does not take or fail a check (see the
        module)."""
        columns = _columns(items)
        if columns is None or "id" not in columns:
            return None
        ids = columns.pop("id")
        if not _good_ids(ids):
            return None
        fields: dict[str, list[str | None]] = {}
        attributes: dict[str, AttributeColumn] = {}
        for name, values in columns.items():
            if not _good_name(name):
                return None
            if name in text_fields:
                if not _all_text(values):
                    return None
                fields[name] = values
                continue
            column = _attribute(values)
            if column is None:
                return None
            if any(v is not None for v in values):
                attributes[name] = column
        chars = np.sum([_lengths(v) for v in fields.values()], axis=0)
        if fields and int(np.max(chars)) > bounds.MAX_TEXT_CHARS:
            return None
        return cls(ids, fields, attributes)

    def texts(self, text_fields: Sequence[str]) -> list[str]:
        """What BM25 indexes of each row (``EmbeddingCache.text``): its non-empty text
        fields in the configured order, joined by a space."""
        present = [self.fields[f] for f in text_fields if f in self.fields]
        if not present:
            return [""] * len(self)
        return [" ".join(filter(None, row)) for row in zip(*present)]

    def fields_json(self) -> list[str]:
        return _objects(len(self), {k: _text_cells(v) for k, v in self.fields.items()})

    def attrs_json(self) -> list[str]:
        return _objects(len(self), {k: _cells(c) for k, c in self.attributes.items()})


def _columns(items: Any) -> dict[str, list[Any]] | None:
    """Each key's values (None where a row lacks it), from plain dicts or an Arrow table."""
    try:
        import pyarrow as pa
    except ImportError:  # pragma: no cover (pyarrow is a dependency)
        pa = None
    if pa is not None and isinstance(items, pa.Table | pa.RecordBatch):
        if VECTOR_KEY in items.column_names or any(
            c == VECTORS_KEY or c.startswith(f"{VECTORS_KEY}.") for c in items.column_names
        ):
            return None
        return {name: items.column(name).to_pylist() for name in items.column_names}
    if not isinstance(items, list) or not items or not all(type(r) is dict for r in items):
        return None
    keys = dict.fromkeys(items[0])
    for row in items:
        if row.keys() != keys.keys():
            keys.update(dict.fromkeys(row))
    if VECTOR_KEY in keys or VECTORS_KEY in keys:
        return None
    return {key: [row.get(key) for row in items] for key in keys}


def _good_ids(ids: list[Any]) -> bool:
    if not ids or set(map(type, ids)) != {str}:
        return False
    if len(set(ids)) != len(ids) or min(map(len, ids)) == 0:
        return False
    if max(map(len, ids)) > bounds.MAX_ID_LENGTH:
        return False
    joined = "\x20".join(ids)
    if _ID_CONTROL.search(joined) or not _utf8(joined):
        return False
    return all(i == i.strip() for i in ids)


def _good_name(name: Any) -> bool:
    return (
        isinstance(name, str)
        and bool(name)
        and name not in RESERVED_NAMES
        and len(name) <= bounds.MAX_NAME_LENGTH
        and _utf8(name)
    )


def _utf8(text: str) -> bool:
    try:
        text.encode("utf-8", _SURROGATE_FREE)
    except UnicodeEncodeError:
        return False
    return True


def _all_text(values: list[Any]) -> bool:
    kinds = set(map(type, values))
    if not kinds <= {str, type(None)}:
        return False
    return _utf8("".join(filter(None, values)))


def _lengths(values: list[str | None]) -> np.ndarray:
    """``int64[n]``: each text's characters (0 for None)."""
    return np.fromiter((0 if v is None else len(v) for v in values), np.int64, len(values))


def _attribute(values: list[Any]) -> AttributeColumn | None:
    """The column's kind, or None when a value is of another type or not allowed (too long a
    string, an impossible date, a number a float64 does not hold exactly, ...)."""
    kinds = set(map(type, values)) - {type(None)}
    if not kinds:
        return AttributeColumn("str", values)
    if kinds == {bool}:
        return AttributeColumn("bool", values)
    if kinds <= {int, float}:
        present = [v for v in values if v is not None]
        if int in kinds and max(abs(v) for v in present if type(v) is int) > bounds.MAX_EXACT_INT:
            return None
        if float in kinds and not all(map(math.isfinite, (v for v in present if type(v) is float))):
            return None
        return AttributeColumn("number", values)
    if kinds == {str}:
        distinct = set(values) - {None}
        dates = [v for v in distinct if looks_like_datetime(v)]
        for v in dates:
            try:
                parse_datetime(v)
            except ValueError:
                return None
        if max(map(len, distinct)) > bounds.MAX_ATTR_STRING or not _utf8("".join(distinct)):
            return None
        return AttributeColumn("datetime" if len(dates) == len(distinct) else "str", values)
    if kinds == {list}:
        present = [v for v in values if v is not None]
        if max(map(len, present)) > bounds.MAX_ATTR_LIST:
            return None
        elements = {e for v in present for e in v}
        if any(type(e) is not str for e in elements):
            return None
        if elements and (
            max(map(len, elements)) > bounds.MAX_ATTR_STRING or not _utf8("".join(elements))
        ):
            return None
        return AttributeColumn("list", values)
    return None


def _text_cells(values: list[str | None]) -> list[str | None]:
    return [None if v is None else encode_basestring(v) for v in values]


def _cells(column: AttributeColumn) -> list[str | None]:
    """Each row's value as ``json.dumps`` writes it (None: absent)."""
    values = column.values
    if column.kind in ("str", "datetime"):
        encoded = {v: encode_basestring(v) for v in set(values) - {None}}
        return [None if v is None else encoded[v] for v in values]
    if column.kind == "bool":
        return [None if v is None else "true" if v else "false" for v in values]
    if column.kind == "number":
        return [None if v is None else repr(v) for v in values]
    elements: dict[str, str] = {}
    out: list[str | None] = []
    for value in values:
        if value is None:
            out.append(None)
            continue
        parts = [elements.get(e) or elements.setdefault(e, encode_basestring(e)) for e in value]
        out.append("[" + ", ".join(parts) + "]")
    return out


def _objects(n: int, cells: Mapping[str, list[str | None]]) -> list[str]:
    """Row ``i``'s JSON object of the cells present in row ``i``, keys sorted (as
    ``json.dumps(dict(sorted(...)))``)."""
    names = sorted(cells)
    if not names:
        return ["{}"] * n
    keyed = []
    for name in names:
        key = encode_basestring(name) + ": "
        keyed.append([None if c is None else key + c for c in cells[name]])
    return ["{" + ", ".join(filter(None, row)) + "}" for row in zip(*keyed)]


def loads_fields(text: str) -> dict[str, Any]:
    """A row's JSON back as a dict (what a read of the table gives)."""
    value: dict[str, Any] = json.loads(text)
    return value


def table_rows(items: Any) -> Any:
    """A pyarrow Table's (or RecordBatch's) rows as dicts (what the row by row path reads);
    anything else as is."""
    import pyarrow as pa

    return items.to_pylist() if isinstance(items, pa.Table | pa.RecordBatch) else items
