"""The events table of a collection's database: appending batches, and reading the log back in
order of arrival, a chunk at a time (``seq`` ranges), so that nothing holds millions of ``Event``
objects.

The table has no index by user: a secondary index in user order takes a random B-tree insert
per event, which at ten million events made recording write most of that index again per batch
(~110,000 events/s at 3M events and falling; ~350,000/s without it). A user's history is read
from the in-memory log the recommender keeps (``sleuth.recommend.eventlog``). Collections
created by earlier versions keep their ``events_by_user`` index; it costs them write speed only.
Other kinds of events (search clicks, say) go in tables of their own beside this one.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from sleuth.store.event_batch import EventBatch
from sleuth.types import Event

__all__ = ["EventRows", "EventTables"]

READ_CHUNK = 200_000


@dataclass(frozen=True)
class EventRows:
    """Consecutive events of the log: ``seq`` int64[n] (increasing), and their fields."""

    seq: np.ndarray
    users: list[str]
    items: list[str]
    kinds: list[str]
    ts: np.ndarray  # float64[n]

    def __len__(self) -> int:
        return int(self.seq.size)


class EventTables:
    """The event methods of ``Store`` (mixed into it: they share its connections and its one
    write transaction at a time)."""

    if TYPE_CHECKING:

        @property
        def _reader(self) -> sqlite3.Connection: ...

        def _transaction(self) -> AbstractContextManager[sqlite3.Connection]: ...

    def record(self, batch: EventBatch) -> tuple[int, int]:
        """Append events in one transaction; one whose ``event_id`` is already stored is a
        retry and is skipped. Returns (recorded, skipped as duplicates)."""
        with self._transaction() as con:
            before = con.total_changes
            con.executemany(
                "INSERT OR IGNORE INTO events (event_id, user, item, kind, value, ts) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                batch.rows(),
            )
            recorded = con.total_changes - before
        return recorded, len(batch) - recorded

    def event_count(self) -> int:
        return int(self._reader.execute("SELECT count(*) FROM events").fetchone()[0])

    def event_rows(self, after: int, limit: int = READ_CHUNK) -> EventRows:
        """At most ``limit`` events recorded after sequence number ``after``, oldest first."""
        rows = self._reader.execute(
            "SELECT seq, user, item, kind, ts FROM events WHERE seq > ? ORDER BY seq LIMIT ?",
            (after, limit),
        ).fetchall()
        if not rows:
            return EventRows(np.zeros(0, np.int64), [], [], [], np.zeros(0, np.float64))
        seq, users, items, kinds, ts = zip(*rows)
        return EventRows(
            np.array(seq, np.int64), list(users), list(items), list(kinds), np.array(ts, np.float64)
        )

    def iter_event_rows(self, after: int = 0) -> Iterator[EventRows]:
        """Every event after ``after``, ``READ_CHUNK`` at a time, in order of arrival."""
        while True:
            chunk = self.event_rows(after)
            if not len(chunk):
                return
            yield chunk
            after = int(chunk.seq[-1])

    def events(self) -> list[Event]:
        """Every event, in the order recorded (what training reads)."""
        rows = self._reader.execute(
            "SELECT user, item, kind, value, ts, event_id FROM events ORDER BY seq"
        ).fetchall()
        return [
            Event(user=r[0], item=r[1], kind=r[2], value=r[3], ts=r[4], event_id=r[5]) for r in rows
        ]
