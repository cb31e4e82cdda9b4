"""The store's side of a migration to another encoder (``sleuth.migrate``): the items whose
vector of an encoder is not cached yet, a batch of vectors stored with the backfill's progress in
one transaction, and dropping an encoder's vectors (mixed into ``Store``)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

import numpy as np

from sleuth.store.rows import StoredItem

__all__ = ["BackfillTables"]


def _put_meta(con: sqlite3.Connection, meta: dict[str, Any]) -> None:
    con.executemany(
        "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
        [(k, json.dumps(v)) for k, v in meta.items()],
    )


class BackfillTables:
    """The backfill methods of ``Store`` (they share its connections and its one write
    transaction at a time)."""

    if TYPE_CHECKING:

        @property
        def _reader(self) -> sqlite3.Connection: ...

        def _transaction(self) -> AbstractContextManager[sqlite3.Connection]: ...

        def _usable(
            self, rows: Iterable[tuple[Any, ...]], types: dict[str, str]
        ) -> list[StoredItem]: ...

        def attribute_types(self) -> dict[str, str]: ...

    def put_backfill(
        self, encoder: str, vectors: dict[str, np.ndarray], meta: dict[str, Any]
    ) -> None:
        """Cache ``vectors`` of ``encoder`` (by key) and store ``meta`` (the backfill's
        progress) in ONE transaction: after a crash the progress never runs ahead of them."""
        with self._transaction() as con:
            con.executemany(
                "INSERT OR IGNORE INTO vectors (encoder, hash, vector) VALUES (?, ?, ?)",
                [
                    (encoder, h, np.ascontiguousarray(v, np.float32).tobytes())
                    for h, v in sorted(vectors.items())
                ],
            )
            _put_meta(con, meta)

    def drop_vectors(self, encoder: str, meta: dict[str, Any]) -> int:
        """Delete every cached vector of ``encoder`` and store ``meta``, in one transaction;
        how many were deleted."""
        with self._transaction() as con:
            deleted = con.execute("DELETE FROM vectors WHERE encoder = ?", (encoder,)).rowcount
            _put_meta(con, meta)
        return int(deleted)

    def without_vector(self, encoder: str, after: int, limit: int) -> list[StoredItem]:
        """Up to ``limit`` usable items after docno ``after``, in docno order, whose key has
        no vector of ``encoder`` cached: what a backfill still has to encode."""
        rows = self._reader.execute(
            "SELECT docno, id, fields, attrs, hash, vrow FROM items WHERE docno > ? AND NOT EXISTS "
            "(SELECT 1 FROM vectors WHERE encoder = ? AND vectors.hash = items.hash) "
            "ORDER BY docno LIMIT ?",
            (after, encoder, limit),
        ).fetchall()
        return self._usable(rows, self.attribute_types())

    def last_docno(self) -> int:
        """The largest docno of a stored item (0 when there is none)."""
        found = self._reader.execute("SELECT max(docno) FROM items").fetchone()[0]
        return 0 if found is None else int(found)

    def count_after(self, docno: int) -> int:
        """How many items have a docno above ``docno``."""
        row = self._reader.execute("SELECT count(*) FROM items WHERE docno > ?", (docno,))
        return int(row.fetchone()[0])

    def given_vector_items(self) -> int:
        """How many items brought their own default-space vector (keys ``v:``)."""
        row = self._reader.execute("SELECT count(*) FROM items WHERE hash LIKE 'v:%'")
        return int(row.fetchone()[0])
