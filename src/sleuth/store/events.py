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
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from sleuth.store.event_batch import EventBatch
from sleuth.types import Event

__all__ = ["Coded", "EventRows", "EventTables"]

READ_CHUNK = 1 << 20  # events read at once (a seq range)
SEP = "\x1f"  # joins a chunk's values in SQLite; a value holding it is read row by row
# One row per chunk: each column's values joined in SQLite's C code, so no Python object is
# made per event (reading 1M rows as tuples, unpacking and interning them took ~12 s here);
# times as 17 significant digits, which round-trip a float64 exactly.
_JOINED = (
    "SELECT count(*), group_concat(user, char(31)), group_concat(item, char(31)), "
    "group_concat(kind, char(31)), group_concat(printf('%!.17g', ts), char(31)) "
    "FROM (SELECT user, item, kind, ts FROM events WHERE seq > ? AND seq <= ? ORDER BY seq)"
)


@dataclass(frozen=True)
class Coded:
    """Strings as codes into a list of the distinct ones (``ids[codes[i]]`` is value i)."""

    codes: np.ndarray  # int32[n]
    ids: list[str]


@dataclass(frozen=True)
class EventRows:
    """The events recorded in a range of sequence numbers, oldest first."""

    users: Coded
    items: Coded
    kinds: Coded
    ts: np.ndarray  # float64[n]

    def __len__(self) -> int:
        return int(self.ts.size)


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

    def last_event_seq(self) -> int:
        found = self._reader.execute("SELECT max(seq) FROM events").fetchone()[0]
        return 0 if found is None else int(found)

    def event_rows(self, after: int, upto: int) -> EventRows:
        """The events with ``after < seq <= upto``, oldest first."""
        n, *joined = self._reader.execute(_JOINED, (after, upto)).fetchone()
        if n == 0:
            none = Coded(np.zeros(0, np.int32), [])
            return EventRows(none, none, none, np.zeros(0, np.float64))
        columns = [_split(text, n) for text in joined]
        if any(c is None for c in columns):
            return self._event_rows_one_by_one(after, upto)
        users, items, kinds, ts = columns
        return EventRows(
            _encode(users), _encode(items), _encode(kinds), np.asarray(ts.cast("float64"))
        )

    def _event_rows_one_by_one(self, after: int, upto: int) -> EventRows:
        rows = self._reader.execute(
            "SELECT user, item, kind, ts FROM events WHERE seq > ? AND seq <= ? ORDER BY seq",
            (after, upto),
        ).fetchall()
        users, items, kinds, ts = zip(*rows)
        return EventRows(_intern(users), _intern(items), _intern(kinds), np.array(ts, np.float64))

    def iter_event_rows(self, after: int = 0) -> Iterator[tuple[int, EventRows]]:
        """Every event recorded after ``after`` (up to the last one now), ``READ_CHUNK``
        sequence numbers at a time: (the chunk's last sequence number, its events)."""
        end = self.last_event_seq()
        while after < end:
            upto = min(after + READ_CHUNK, end)
            yield upto, self.event_rows(after, upto)
            after = upto

    def events(self) -> list[Event]:
        """Every event, in the order recorded (what training reads)."""
        rows = self._reader.execute(
            "SELECT user, item, kind, value, ts, event_id FROM events ORDER BY seq"
        ).fetchall()
        return [
            Event(user=r[0], item=r[1], kind=r[2], value=r[3], ts=r[4], event_id=r[5]) for r in rows
        ]


def _split(text: str, n: int) -> Any:
    """The ``n`` values ``SEP`` joined, as a pyarrow array; None if there are more (a value
    held ``SEP``)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    values = pc.split_pattern(pa.array([text], pa.large_string()), SEP).flatten()
    return values if len(values) == n else None


def _encode(values: Any) -> Coded:
    encoded = values.dictionary_encode()
    codes = np.asarray(encoded.indices, np.int32)
    return Coded(codes, encoded.dictionary.to_pylist())


def _intern(values: Sequence[str]) -> Coded:
    code: dict[str, int] = {}
    codes = np.fromiter((code.setdefault(v, len(code)) for v in values), np.int32, len(values))
    return Coded(codes, list(code))
