"""A bulk write of checked columns (``sleuth.store.columns``) inside the store's transaction.

The same rows, change log and vector file rows as ``sleuth.store.writes`` would write for
these items, with no Python object per item: the rows go in by ``executemany`` from the
columns, the change log gets the batch's deletions and then its additions, and the write hands
the index set a ``BulkRows``, the new item versions as columns (docnos, texts, vectors,
attributes), which the indexes take as arrays.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from sleuth.errors import Conflict, InvalidInput
from sleuth.store.columns import ItemColumns, loads_fields
from sleuth.store.rows import StoredItem
from sleuth.store.writes import WriteResult, _check_names, _delete, _next, _rows_of
from sleuth.types import Item, attr_type_of

__all__ = ["BulkRows", "BulkWritten", "write_columns"]


@dataclass(frozen=True)
class BulkRows:
    """The item versions one bulk write added, as columns: ``docnos: int64[m]`` (ascending),
    ``positions: int64[m]`` their rows in the batch, the batch's columns, ``vectors:
    float32[n, dim]`` (unit rows, the batch's), each new version's key and vector file row,
    the docnos the write removed (``int64[r]``), and the change-log sequence numbers it
    wrote, ``first..last``."""

    docnos: np.ndarray
    positions: np.ndarray
    columns: ItemColumns
    matrix: np.ndarray
    keys: list[str]
    vrows: list[int | None]
    removed: np.ndarray
    first: int
    last: int

    def __len__(self) -> int:
        return int(self.docnos.size)

    @property
    def vectors(self) -> np.ndarray:
        return self.matrix[self.positions]

    def texts(self, text_fields: Sequence[str]) -> list[str]:
        texts = self.columns.texts(text_fields)
        return [texts[p] for p in self.positions.tolist()]

    def attribute_values(self) -> dict[str, tuple[list[int], list[Any]]]:
        """Each attribute's (docnos, values) over the new versions that have it."""
        out: dict[str, tuple[list[int], list[Any]]] = {}
        docnos = self.docnos.tolist()
        whole = len(docnos) == len(self.columns)  # every row of the batch is new
        positions = self.positions.tolist()
        for name, column in self.columns.attributes.items():
            values = column.values if whole else [column.values[p] for p in positions]
            if None not in values:
                out[name] = (docnos, values)
                continue
            pairs = [(d, v) for d, v in zip(docnos, values) if v is not None]
            if pairs:
                owners, found = zip(*pairs)
                out[name] = (list(owners), list(found))
        return out

    def stored(self) -> list[StoredItem]:
        """The new versions as the row path's ``StoredItem``s (for what takes items one by
        one), as reading them from the table would give them."""
        fields, attrs = self.columns.fields_json(), self.columns.attrs_json()
        ids = self.columns.ids
        return [
            StoredItem(
                d,
                Item(id=ids[p], fields=loads_fields(fields[p]), attributes=loads_fields(attrs[p])),
                key,
                vrow,
            )
            for d, p, key, vrow in zip(
                self.docnos.tolist(), self.positions.tolist(), self.keys, self.vrows
            )
        ]


@dataclass(frozen=True)
class BulkWritten:
    result: WriteResult
    rows: BulkRows


def write_columns(
    con: sqlite3.Connection,
    columns: ItemColumns,
    keys: list[str],
    matrix: np.ndarray,
    *,
    must_be_new: bool,
    place: Callable[[list[str]], dict[str, int]],
) -> BulkWritten:
    """Write the batch (``keys[i]``: row ``i``'s given vector key) with ``con`` inside an
    open transaction, as ``write_batch`` would; ``place`` writes the vectors of the keys it
    is given to the vector file and returns their rows."""
    schema = dict(con.execute("SELECT name, type FROM attributes").fetchall())
    changed = _check_types(columns, schema)
    _check_names(schema, changed)
    con.executemany("INSERT OR REPLACE INTO attributes (name, type) VALUES (?, ?)", changed.items())
    ids = columns.ids
    existing = _rows_of(con, ids, "docno, fields, attrs, hash, vrow")
    if must_be_new and existing:
        taken = next(i for i in ids if i in existing)
        raise Conflict(f"item {taken!r} already exists; use upsert() to replace it", id=taken)
    fields, attrs = columns.fields_json(), columns.attrs_json()
    positions = list(range(len(ids)))
    removed: list[int] = []
    kept: dict[str, int] = {}
    unchanged = 0
    if existing:
        positions = []
        for i, item_id in enumerate(ids):
            row = existing.get(item_id)
            if row is not None:
                if row[1] == fields[i] and row[2] == attrs[i] and row[3] == keys[i]:
                    unchanged += 1
                    continue
                removed.append(row[0])
                if row[3] == keys[i] and row[4] is not None:
                    kept[keys[i]] = row[4]
            positions.append(i)
    first_docno = _next(con, "items", "docno")
    docnos = np.arange(first_docno, first_docno + len(positions), dtype=np.int64)
    new_keys = [keys[p] for p in positions]
    need = [key for key in dict.fromkeys(new_keys) if key not in kept]
    at = {**kept, **place(need)}
    vrows: list[int | None] = [at[key] for key in new_keys]
    _delete(con, removed)
    con.executemany(
        "INSERT INTO items (docno, id, fields, attrs, hash, vrow) VALUES (?, ?, ?, ?, ?, ?)",
        zip(
            docnos.tolist(),
            (ids[p] for p in positions),
            (fields[p] for p in positions),
            (attrs[p] for p in positions),
            new_keys,
            vrows,
        ),
    )
    first = _next(con, "changes", "seq")
    ops = ["del"] * len(removed) + ["add"] * len(positions)
    con.executemany(
        "INSERT INTO changes (seq, op, docno) VALUES (?, ?, ?)",
        zip(range(first, first + len(ops)), ops, [*removed, *docnos.tolist()]),
    )
    last = first + len(ops) - 1
    updated = len(removed)
    result = WriteResult(len(positions) - updated, updated, unchanged, 0, last)
    rows = BulkRows(
        docnos,
        np.asarray(positions, np.int64),
        columns,
        matrix,
        new_keys,
        vrows,
        np.asarray(removed, np.int64),
        first,
        last,
    )
    return BulkWritten(result, rows)


def _check_types(columns: ItemColumns, schema: dict[str, str]) -> dict[str, str]:
    """``check_types`` a column at a time: the types to write (new or widened), or the row
    path's error naming the first item whose value does not fit the stored type."""
    changed: dict[str, str] = {}
    for name, column in columns.attributes.items():
        known, kind = schema.get(name), column.kind
        if known is None or (known == "datetime" and kind == "str"):
            changed[name] = kind
        elif known != kind and not (known == "str" and kind == "datetime"):
            i = next(column.present())
            got = attr_type_of(column.values[i])
            raise InvalidInput(
                f"item {columns.ids[i]!r}: attribute {name!r} is {got} but the collection "
                f"stores {known} values under that name",
                id=columns.ids[i],
                attribute=name,
                expected=known,
                got=got,
            )
    return changed
