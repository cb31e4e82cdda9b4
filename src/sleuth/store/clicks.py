"""The search log: each search event (a query, the ids shown, the positions clicked) in its own
table of the collection's database, ``searches``, made on first use (a collection that never
records one has no such table; older collections open unchanged).

A search event, as ``Collection.record`` takes it::

    {"kind": "search", "query": "vitamin d and bone density", "shown": ["d3", "d9", "d1"],
     "clicked": [1], "user": "u7", "ts": 1764590000, "event_id": "s-0001"}

``clicked``: 0-based positions in ``shown`` (a number or a list; empty: nothing was clicked,
which the click model learns from too). ``user``, ``ts`` and ``event_id`` are optional.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sleuth.errors import InvalidInput
from sleuth.limits import check_query
from sleuth.store.sqlite import Store
from sleuth.types import MAX_USER_LENGTH

__all__ = ["MAX_SHOWN", "SearchEvent", "SearchLog", "is_search", "parse_searches"]

MAX_SHOWN = 1000
_CHUNK = 500  # ids per lookup (SQLite binds at most 999 values)
_KEYS = ("kind", "query", "shown", "clicked", "user", "ts", "event_id")
_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS searches (seq INTEGER PRIMARY KEY AUTOINCREMENT, "
    "event_id TEXT UNIQUE, user TEXT, query TEXT NOT NULL, shown TEXT NOT NULL, "
    "clicked TEXT NOT NULL, ts REAL NOT NULL)"
)


@dataclass(frozen=True)
class SearchEvent:
    """One logged search: ``shown`` item ids, best first, and the ``clicked`` positions."""

    query: str
    shown: tuple[str, ...]
    clicked: tuple[int, ...]
    user: str | None = None
    ts: float | None = None
    event_id: str | None = None


def is_search(raw: Any) -> bool:
    """Whether a raw event is a search event (``kind: "search"``)."""
    return isinstance(raw, Mapping) and raw.get("kind") == "search"


def parse_searches(events: Sequence[Any]) -> list[SearchEvent]:
    """Checked search events; an ``InvalidInput`` names the first bad one and its field."""
    now = time.time()
    return [_parse(raw, i, now) for i, raw in enumerate(events)]


def _parse(raw: Any, i: int, now: float) -> SearchEvent:
    def bad(message: str, name: str) -> InvalidInput:
        return InvalidInput(f"search event {i}: {message}", index=i, field=name)

    if not is_search(raw):
        raise bad(
            "a batch holds search events (objects with kind 'search') or item events, not "
            "both: record them in two calls",
            "kind",
        )
    unknown = [key for key in raw if key not in _KEYS]
    if unknown:
        raise bad(f"unknown field {unknown[0]!r}; allowed: {', '.join(_KEYS)}", unknown[0])
    query = raw.get("query")
    try:
        check_query(query)
    except InvalidInput as exc:
        raise bad(exc.message, "query") from None
    shown = raw.get("shown")
    if not isinstance(shown, list | tuple) or not shown or len(shown) > MAX_SHOWN:
        raise bad(
            f"shown must be the list of item ids shown, best first (1 to {MAX_SHOWN}); "
            "a click means nothing without what was shown",
            "shown",
        )
    if not all(isinstance(s, str) and s for s in shown) or len(set(shown)) != len(shown):
        raise bad("shown must hold distinct, non-empty item ids", "shown")
    clicked = raw.get("clicked", [])
    clicked = [clicked] if isinstance(clicked, int) and not isinstance(clicked, bool) else clicked
    if not isinstance(clicked, list | tuple) or not all(
        isinstance(c, int) and not isinstance(c, bool) and 0 <= c < len(shown) for c in clicked
    ):
        raise bad(f"clicked must be 0-based positions in shown (0 to {len(shown) - 1})", "clicked")
    user, event_id, ts = raw.get("user"), raw.get("event_id"), raw.get("ts", now)
    for name, value in (("user", user), ("event_id", event_id)):
        if value is not None and (
            not isinstance(value, str) or not value or len(value) > MAX_USER_LENGTH
        ):
            raise bad(
                f"{name} must be a non-empty text of at most {MAX_USER_LENGTH} characters", name
            )
    if isinstance(ts, bool) or not isinstance(ts, int | float) or ts != ts:
        raise bad("ts must be epoch seconds", "ts")
    return SearchEvent(query, tuple(shown), tuple(sorted(set(clicked))), user, float(ts), event_id)


def _check_shown(con: Any, events: Sequence[SearchEvent]) -> None:
    shown = sorted({item for e in events for item in e.shown})
    known: set[str] = set()
    for start in range(0, len(shown), _CHUNK):
        chunk = shown[start : start + _CHUNK]
        marks = ",".join("?" * len(chunk))
        known.update(
            r[0] for r in con.execute(f"SELECT id FROM items WHERE id IN ({marks})", chunk)
        )
    if len(known) == len(shown):
        return
    for i, event in enumerate(events):
        missing = [item for item in event.shown if item not in known]
        if missing:
            raise InvalidInput(
                f"search event {i}: shown holds {missing[0]!r} ({len(missing)} such), which is "
                "not in the collection; shown lists the ids this collection returned",
                index=i,
                field="shown",
                id=missing[0],
            )


class SearchLog:
    """The ``searches`` table of a collection's store."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def record(self, events: Sequence[SearchEvent]) -> tuple[int, int]:
        """Append in one transaction; an ``event_id`` already stored is a retry and is
        skipped. An id shown that is not in the collection is an ``InvalidInput`` naming the
        event and the id (what was shown came from this collection), and nothing is written.
        Returns (recorded, duplicates)."""
        rows = [
            (
                e.event_id,
                e.user,
                e.query,
                json.dumps(list(e.shown)),
                json.dumps(list(e.clicked)),
                e.ts,
            )
            for e in events
        ]
        with self.store._transaction() as con:  # the store's one writer: same package
            _check_shown(con, events)
            con.execute(_SCHEMA)
            before = con.total_changes
            con.executemany(
                "INSERT OR IGNORE INTO searches (event_id, user, query, shown, clicked, ts) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                rows,
            )
            recorded = con.total_changes - before
        return recorded, len(rows) - recorded

    def events(self) -> list[SearchEvent]:
        """Every search event, in the order recorded (none when the table was never made)."""
        con = self.store._reader
        if not con.execute(
            "SELECT 1 FROM sqlite_master WHERE type='table' AND name='searches'"
        ).fetchone():
            return []
        rows = con.execute(
            "SELECT query, shown, clicked, user, ts, event_id FROM searches ORDER BY seq"
        ).fetchall()
        return [
            SearchEvent(r[0], tuple(json.loads(r[1])), tuple(json.loads(r[2])), r[3], r[4], r[5])
            for r in rows
        ]

    def count(self) -> int:
        return len(self.events())
