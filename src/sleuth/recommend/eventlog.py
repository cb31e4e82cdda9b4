"""The collection's event log in memory, as integer-coded arrays caught up from the store.

The store's ``events`` table is the source of truth; this is derived from it the way the indexes
are from the change log: ``catch_up`` reads the events recorded after the last one it holds, a
chunk at a time (``Store.iter_event_rows``), and interns users, items and kinds as integer codes,
so ten million events are four arrays (~200 MB), not ten million ``Event`` objects. The learned
sources are fitted on ``interactions()``; a user's history (``history``) is read from here, in
time order, through a by-user index over the log rebuilt at each fit, plus a scan of the events
recorded since (a short array compare).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from sleuth.recommend.interactions import Interactions
from sleuth.store.events import Coded, EventRows
from sleuth.types import Event

__all__ = ["HISTORY", "EventLog"]

HISTORY = 1000  # the newest events of a user that a request reads
MIN_UNINDEXED = 100_000  # events past the by-user index before it is rebuilt (and 1/5 of it)


class _Events(Protocol):
    def iter_event_rows(self, after: int = 0) -> Iterator[tuple[int, EventRows]]: ...


@dataclass(frozen=True)
class _Columns:
    """One consistent view of the log: codes and times of its first ``len(users)`` events."""

    users: np.ndarray  # int32[n]
    items: np.ndarray  # int32[n]
    kinds: np.ndarray  # int16[n]
    ts: np.ndarray  # float64[n]


@dataclass(frozen=True)
class _ByUser:
    """Positions of the first ``size`` events sorted by (user, time, arrival); user ``u``'s are
    ``order[starts[u]:starts[u + 1]]``."""

    size: int
    order: np.ndarray
    starts: np.ndarray


class _Codes:
    """Strings numbered 0, 1, 2… in order of first sight."""

    def __init__(self) -> None:
        self.code: dict[str, int] = {}
        self._ids: list[str] = []

    def intern(self, values: Coded) -> np.ndarray:
        """int32[n]: the codes of a chunk's values (new ones numbered on)."""
        code = self.code
        ours = np.fromiter((code.setdefault(v, len(code)) for v in values.ids), np.int32)
        return ours[values.codes] if ours.size else np.zeros(0, np.int32)

    @property
    def ids(self) -> list[str]:
        if len(self._ids) != len(self.code):
            self._ids = list(self.code)
        return self._ids


class EventLog:
    """Every recorded event as codes (see the module). Thread-safe: readers take a snapshot."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.seq = 0  # the last event held
        self.users, self.items, self.kinds = _Codes(), _Codes(), _Codes()
        empty = np.zeros(0, np.int32)
        self._cols = _Columns(empty, empty, empty.astype(np.int16), np.zeros(0, np.float64))
        self._by_user = _ByUser(0, np.zeros(0, np.int64), np.zeros(1, np.int64))

    def __len__(self) -> int:
        return int(self._cols.users.size)

    def catch_up(self, store: _Events) -> int:
        """Read the events recorded since the last call; returns how many the log holds."""
        with self._lock:
            parts = []
            for last, rows in store.iter_event_rows(self.seq):
                parts.append(
                    _Columns(
                        self.users.intern(rows.users),
                        self.items.intern(rows.items),
                        self.kinds.intern(rows.kinds).astype(np.int16),
                        rows.ts,
                    )
                )
                self.seq = last
            if parts:
                old = self._cols
                self._cols = _Columns(
                    *(
                        np.concatenate([getattr(old, f), *(getattr(p, f) for p in parts)])
                        for f in ("users", "items", "kinds", "ts")
                    )
                )
            return len(self)

    def interactions(self, weights: Mapping[str, float]) -> Interactions:
        """The log as ``Interactions`` (users and items numbered in sorted id order, as
        ``Interactions.from_events`` numbers them; ``weights`` by event kind), and the by-user
        index rebuilt over it."""
        with self._lock:
            cols, users, items = self._cols, self.users.ids, self.items.ids
            kinds = self.kinds.ids
        self._index(cols)
        user_rank, item_rank = _sorted_codes(users), _sorted_codes(items)
        by_kind = np.array([weights.get(k, 1.0) for k in kinds] or [1.0], np.float32)
        return Interactions(
            sorted(users),
            sorted(items),
            user_rank[cols.users],
            item_rank[cols.items],
            by_kind[cols.kinds],
            cols.ts,
        )

    def history(self, user: str, limit: int = HISTORY) -> list[Event]:
        """The user's newest ``limit`` events, oldest first (ties in time in order of arrival)."""
        code = self.users.code.get(user)
        if code is None:
            return []
        with self._lock:
            cols, item_ids, kind_ids = self._cols, self.items.ids, self.kinds.ids
        index = self._by_user
        if cols.users.size - index.size > max(MIN_UNINDEXED, index.size // 5):
            index = self._index(cols)
        if code + 1 < index.starts.size:
            mine = index.order[index.starts[code] : index.starts[code + 1]]
        else:  # a user first seen after the index was built
            mine = np.zeros(0, np.int64)
        recent = np.flatnonzero(cols.users[index.size :] == code) + index.size
        if recent.size:
            mine = np.concatenate([mine, recent])
            mine = mine[np.lexsort((mine, cols.ts[mine]))]
        mine = mine[-limit:]
        return [
            Event(user=user, item=item_ids[i], kind=kind_ids[k], ts=t)
            for i, k, t in zip(
                cols.items[mine].tolist(), cols.kinds[mine].tolist(), cols.ts[mine].tolist()
            )
        ]

    def _index(self, cols: _Columns) -> _ByUser:
        order = np.lexsort((cols.ts, cols.users))
        n_users = int(cols.users.max()) + 1 if cols.users.size else 0
        starts = np.searchsorted(cols.users[order], np.arange(n_users + 1))
        index = _ByUser(int(cols.users.size), order, starts)
        self._by_user = index
        return index


def _sorted_codes(ids: list[str]) -> np.ndarray:
    """int64[len(ids)]: each code's position in the sorted ids."""
    rank = np.empty(len(ids), np.int64)
    rank[np.array(sorted(range(len(ids)), key=ids.__getitem__), np.int64)] = np.arange(len(ids))
    return rank
