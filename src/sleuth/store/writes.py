"""One batch of item writes inside the store's transaction, a few statements for the whole batch.

The items the batch names are looked up in chunks, docnos and change-log sequence numbers are
handed out here (as SQLite's AUTOINCREMENT would: after the largest ever used), and the rows
go in with ``executemany``: no statement per item. The rows written come back as
``StoredItem``s, exactly as reading them from the table would give them (JSON round trip:
sorted keys, datetimes as ISO strings), so the indexes' catch-up does not read them again.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sleuth.errors import Conflict, InvalidInput
from sleuth.store.rows import StoredItem
from sleuth.store.schema import MAX_ATTRIBUTE_NAMES, check_types
from sleuth.types import Item, plain_attributes
from sleuth.vectors import is_vector_key

__all__ = ["WriteResult", "Written", "delete_rows", "write_batch"]


@dataclass(frozen=True)
class WriteResult:
    added: int
    updated: int
    unchanged: int
    deleted: int
    seq: int


@dataclass(frozen=True)
class Written:
    """What one batch did, and the item versions it added (their vectors are the store's)."""

    result: WriteResult
    rows: list[StoredItem]


def write_batch(
    con: sqlite3.Connection,
    upserts: Sequence[tuple[Item, str]],
    deletes: Sequence[str],
    *,
    must_be_new: bool,
    spaces: Sequence[dict[str, bytes]] | None = None,
    place: Callable[[list[str]], dict[str, int]] | None = None,
) -> Written:
    """Write ``upserts`` (items with distinct ids and their vector keys) and ``deletes`` with
    ``con`` inside an open transaction; raises (and the caller rolls back) on a conflict.
    ``spaces``: per upsert, its vectors in named spaces (space name to float32 bytes), part of
    what makes it changed (None: the collection has no named space). ``place``: given the
    keys of the given vectors the new item versions need, writes them to the vector file and
    returns their rows by key (None: the write brought no vector)."""
    schema = dict(con.execute("SELECT name, type FROM attributes").fetchall())
    changed = check_types([item for item, _ in upserts], schema)
    _check_names(schema, changed)
    con.executemany("INSERT OR REPLACE INTO attributes (name, type) VALUES (?, ?)", changed.items())
    existing = _rows_of(con, [item.id for item, _ in upserts], "docno, fields, attrs, hash, vrow")
    if must_be_new:
        taken = next((item.id for item, _ in upserts if item.id in existing), None)
        if taken is not None:
            raise Conflict(f"item {taken!r} already exists; use upsert() to replace it", id=taken)
    gone = _rows_of(con, list(dict.fromkeys(deletes)), "docno")
    changes: list[tuple[str, int]] = [("del", row[0]) for row in gone.values()]
    next_docno = _next(con, "items", "docno")
    new_rows: list[tuple[int, str, str, str, str]] = []
    space_rows: list[tuple[int, str, bytes]] = []
    made: list[Item] = []
    kept: dict[str, int] = {}  # given vectors' rows that new versions of their items keep
    updated = unchanged = 0
    for i, (item, key) in enumerate(upserts):
        named = spaces[i] if spaces is not None else {}
        fields = dict(sorted(item.fields.items()))
        attributes = dict(sorted(plain_attributes(item.attributes).items()))
        fields_json = json.dumps(fields, ensure_ascii=False)
        attrs_json = json.dumps(attributes, ensure_ascii=False)
        row = existing.get(item.id)
        if row is not None:
            # the key is the text's content hash or the given vector's digest: a changed
            # vector alone is an update
            same = row[1] == fields_json and row[2] == attrs_json and row[3] == key
            if same and (spaces is None or _space_rows(con, row[0]) == named):
                unchanged += 1
                continue
            changes.append(("del", row[0]))
            updated += 1
            if row[3] == key and row[4] is not None:
                kept[key] = row[4]  # the same given vector: its row in the file serves again
        new_rows.append((next_docno, item.id, fields_json, attrs_json, key))
        space_rows.extend((next_docno, name, blob) for name, blob in named.items())
        made.append(Item(id=item.id, fields=fields, attributes=attributes))
        changes.append(("add", next_docno))
        next_docno += 1
    keys = [r[4] for r in new_rows]
    need = [key for key in dict.fromkeys(filter(is_vector_key, keys)) if key not in kept]
    at = kept if place is None else {**kept, **place(need)}
    vrows = [at.get(key) for key in keys]
    written = [StoredItem(r[0], item, r[4], v) for r, item, v in zip(new_rows, made, vrows)]
    _delete(con, [docno for op, docno in changes if op == "del"])
    con.executemany(
        "INSERT INTO items (docno, id, fields, attrs, hash, vrow) VALUES (?, ?, ?, ?, ?, ?)",
        [(*row, v) for row, v in zip(new_rows, vrows)],
    )
    con.executemany("INSERT INTO space_vectors (docno, space, vector) VALUES (?, ?, ?)", space_rows)
    seq = _log(con, changes)
    added = len(new_rows) - updated
    return Written(WriteResult(added, updated, unchanged, len(gone), seq), written)


def delete_rows(con: sqlite3.Connection, docnos: Sequence[int]) -> None:
    """Delete these item rows and log each deletion (inside an open transaction)."""
    _delete(con, docnos)
    _log(con, [("del", d) for d in docnos])


def _delete(con: sqlite3.Connection, docnos: Sequence[int]) -> None:
    """The item rows and their vectors in named spaces."""
    con.executemany("DELETE FROM items WHERE docno = ?", [(d,) for d in docnos])
    con.executemany("DELETE FROM space_vectors WHERE docno = ?", [(d,) for d in docnos])


def _space_rows(con: sqlite3.Connection, docno: int) -> dict[str, bytes]:
    rows = con.execute("SELECT space, vector FROM space_vectors WHERE docno = ?", (docno,))
    return dict(rows.fetchall())


def _log(con: sqlite3.Connection, changes: list[tuple[str, int]]) -> int:
    """Append ``(op, docno)`` changes to the change log; the sequence number it leads to."""
    first = _next(con, "changes", "seq")
    con.executemany(
        "INSERT INTO changes (seq, op, docno) VALUES (?, ?, ?)",
        ((first + i, op, docno) for i, (op, docno) in enumerate(changes)),
    )
    return first + len(changes) - 1


def _check_names(schema: dict[str, str], changed: dict[str, str]) -> None:
    names = len(schema) + sum(name not in schema for name in changed)
    if names > MAX_ATTRIBUTE_NAMES:
        new = sorted(set(changed) - set(schema))
        raise InvalidInput(
            f"this write would give the collection {names} attribute names; the limit is "
            f"{MAX_ATTRIBUTE_NAMES} per collection (it has {len(schema)}; new here: "
            f"{', '.join(map(repr, new[:5]))}{', ...' if len(new) > 5 else ''}). "
            "Names of deleted items still count; nothing was written",
            limit=MAX_ATTRIBUTE_NAMES,
            attributes=len(schema),
            new=len(new),
        )


def _rows_of(con: sqlite3.Connection, ids: list[str], columns: str) -> dict[str, tuple[Any, ...]]:
    """The stored rows (``columns``) of these ids, by id."""
    out: dict[str, tuple[Any, ...]] = {}
    for chunk in _chunks(ids, 500):
        marks = ",".join("?" * len(chunk))
        for row in con.execute(f"SELECT id, {columns} FROM items WHERE id IN ({marks})", chunk):
            out[row[0]] = row[1:]
    return out


def _next(con: sqlite3.Connection, table: str, key: str) -> int:
    """The number AUTOINCREMENT would give the next row of ``table``: one past the largest
    ever used (deleted rows' numbers included), so docnos and sequence numbers never repeat."""
    seq = con.execute("SELECT seq FROM sqlite_sequence WHERE name = ?", (table,)).fetchone()
    largest = con.execute(f"SELECT max({key}) FROM {table}").fetchone()[0]
    return max(0 if seq is None else int(seq[0]), int(largest or 0)) + 1


def _chunks(values: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]
