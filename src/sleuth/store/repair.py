"""``sleuth repair``: do what can be done safely for a damaged collection.

Derived state is rebuilt (index files; cached vectors of the wrong size are forgotten and
encoded again; change-log entries for rows that are gone get their ``del``). Damaged item rows
are user data: by default they stay where they are — already left out of every index and
result, and replaced by an ``upsert`` of the same id — because a damaged row may still be
fixable by hand (e.g. a date of 2024-02-30) and a delete cannot be undone. With
``drop_bad_rows=True`` they are copied as stored to ``quarantine/rows-<time>.jsonl`` in the
collection folder (written and synced first), then deleted.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sqlite3
import warnings
from contextlib import closing
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sleuth.errors import InvalidCollection
from sleuth.store.diagnose import FATAL, bad_vector_hashes, dangling_changes, diagnose
from sleuth.store.writes import delete_rows

if TYPE_CHECKING:
    from sleuth.store.sqlite import Store

__all__ = ["repair", "repair_store"]


def repair(path: str | Path, *, drop_bad_rows: bool = False) -> dict[str, Any]:
    """Repair the collection at ``path`` (see the module doc); ``InvalidCollection`` when it
    cannot be opened at all (the message says what is wrong and what can be done)."""
    folder = Path(path)
    fatal = [p for p in diagnose(folder) if p.kind in FATAL]
    if fatal:
        raise InvalidCollection(
            f"cannot repair {folder.name}: {fatal[0].message}; {fatal[0].fix}",
            problem=fatal[0].to_dict(),
        )
    from sleuth.opening import open_collection

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the damage it warns of is what this reports
        col = open_collection(folder)
        with col:
            return col.repair(drop_bad_rows=drop_bad_rows)


def repair_store(store: Store, encoder_id: str, dim: int, *, drop_bad_rows: bool) -> dict[str, Any]:
    """The store's part of a repair (the caller holds the collection's writer locks, and
    rebuilds the indexes afterwards)."""
    done: list[str] = []
    with closing(sqlite3.connect(store.path)) as con:
        bad_vectors = bad_vector_hashes(con, encoder_id, dim)
        dangling = dangling_changes(con)
    with store._transaction() as tx:
        tx.executemany(
            "DELETE FROM vectors WHERE encoder = ? AND hash = ?",
            [(encoder_id, h) for h in bad_vectors],
        )
        tx.executemany(
            "INSERT INTO changes (op, docno) VALUES ('del', ?)", [(d,) for d in dangling]
        )
    if bad_vectors:
        done.append(f"forgot {len(bad_vectors)} damaged cached vectors (encoded again)")
    if dangling:
        done.append(f"closed {len(dangling)} change-log entries of rows that are gone")
    damaged = store.scan_damaged()
    report: dict[str, Any] = {"done": done, "damaged_rows": [d.to_dict() for d in damaged]}
    if damaged and drop_bad_rows:
        copy = _quarantine(store, [d.docno for d in damaged])
        with store._transaction() as tx:
            delete_rows(tx, [d.docno for d in damaged])
        done.append(f"deleted {len(damaged)} damaged rows, copied first to {copy}")
        report["quarantine"] = copy
    return report


def _quarantine(store: Store, docnos: list[int]) -> str:
    """Copy the rows as stored to a new JSONL file; its path relative to the collection."""
    rows = []
    with closing(sqlite3.connect(store.path)) as con:
        for start in range(0, len(docnos), 500):
            chunk = docnos[start : start + 500]
            marks = ",".join("?" * len(chunk))
            rows += con.execute(
                f"SELECT docno, id, fields, attrs, hash FROM items WHERE docno IN ({marks})", chunk
            ).fetchall()
    folder = store.path.parent / "quarantine"
    folder.mkdir(exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")
    path = folder / f"rows-{stamp}.jsonl"
    keys = ("docno", "id", "fields", "attrs", "hash")
    with open(path, "x", encoding="utf-8") as fh:
        for row in rows:  # fields/attrs stay the text they were: they may not be JSON
            values = [v if isinstance(v, int | str | None) else repr(v) for v in row]
            fh.write(json.dumps(dict(zip(keys, values)), ensure_ascii=False) + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    return str(path.relative_to(store.path.parent))
