"""Format 1 → 2, in place, on open: the vectors items brought move from the database's vectors
table to the vector file (``sleuth.store.vectorlog``).

One write transaction does all of it: the ``items.vrow`` column, the vectors appended to the
file (fsynced before the commit, as every write's), the rows pointed at them, the blobs
deleted and the format version raised. A kill before the commit leaves format 1 as it was (the
file's rows are named by nothing and cut by the next write); after it, format 2 whole. Another
process opening meanwhile waits for the write lock, then finds the upgrade done.
"""

from __future__ import annotations

import json
import sqlite3
from typing import TYPE_CHECKING

import numpy as np

from sleuth.vectors import is_vector_key

if TYPE_CHECKING:
    from sleuth.store.sqlite import Store

__all__ = ["CHUNK", "upgrade"]

CHUNK = 20_000  # vectors read and appended at a time


def upgrade(store: Store, to_version: int) -> bool:
    """Upgrade ``store`` (format 1) to ``to_version``; False if it was not format 1 once the
    write lock was held (another process upgraded it)."""
    with store._transaction() as con:
        row = con.execute("SELECT value FROM meta WHERE key = 'format_version'").fetchone()
        if row is None or json.loads(row[0]) != 1:
            return False
        columns = {r[1] for r in con.execute("PRAGMA table_info(items)")}
        if "vrow" not in columns:
            con.execute("ALTER TABLE items ADD COLUMN vrow INTEGER")
        encoder = con.execute("SELECT value FROM meta WHERE key = 'encoder_id'").fetchone()[0]
        _move_given(store, con, json.loads(encoder))
        version = json.dumps(to_version)
        con.execute("UPDATE meta SET value = ? WHERE key = 'format_version'", (version,))
    return True


def _move_given(store: Store, con: sqlite3.Connection, encoder: str) -> None:
    """Every live item's given vector (a blob of the right size and finite values) into the
    file, in docno order; items with a damaged blob keep none (as format 1 read them: the
    vector is missing, a ``CorruptIndex`` naming the item when an index needs it)."""
    log = store.vector_log
    items = con.execute(
        "SELECT docno, hash FROM items WHERE hash LIKE 'v:%' ORDER BY docno"
    ).fetchall()
    for begin in range(0, len(items), CHUNK):
        chunk = [(d, h) for d, h in items[begin : begin + CHUNK] if is_vector_key(h)]
        blobs = store.vectors(encoder, [h for _, h in chunk], log.dim)  # usable ones
        good = [(d, h) for d, h in chunk if h in blobs]
        if not good:
            continue
        start = log.append(con, np.stack([blobs[h] for _, h in good]))
        log.set_rows(con, start + len(good))
        con.executemany(
            "UPDATE items SET vrow = ? WHERE docno = ?",
            [(start + i, d) for i, (d, _) in enumerate(good)],
        )
    # every given vector's blob: moved, or of an item version that is gone (or unusable)
    con.execute("DELETE FROM vectors WHERE hash LIKE 'v:%'")
