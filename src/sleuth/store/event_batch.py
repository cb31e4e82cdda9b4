"""A batch of events to record, held as columns, and the check that makes one.

Recording millions of events cannot afford an ``Event`` object and a per-field check for each
(that alone was ~7 µs an event): ``parse_event_batch`` checks a whole batch column by column
(types by set, lengths by ``max``, Unicode by one encode, times by numpy), and only when some
column fails does it walk the events one by one with ``parse_event``, whose error names the
event, the field and what is allowed: the messages are the same either way.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from sleuth.errors import InvalidInput
from sleuth.types import _EVENT_KEYS, MAX_USER_LENGTH, Event, parse_event
from sleuth.values import MAX_EXACT_INT, MAX_TIMESTAMP, MIN_TIMESTAMP

__all__ = ["EventBatch", "parse_event_batch"]

_KEYS = frozenset(_EVENT_KEYS)
_NUMBER = {int, float}


@dataclass(frozen=True)
class EventBatch:
    """Checked events, one list per field (aligned); ``ts`` is float64[n], every event has one."""

    users: list[str]
    items: list[str]
    kinds: list[str]
    values: list[float | None]
    ts: np.ndarray
    event_ids: list[str | None]

    def __len__(self) -> int:
        return len(self.users)

    def rows(self) -> Iterable[tuple[Any, ...]]:
        """(event_id, user, item, kind, value, ts) per event: the ``events`` table's columns."""
        return zip(
            self.event_ids, self.users, self.items, self.kinds, self.values, self.ts.tolist()
        )

    @classmethod
    def of(cls, events: Sequence[Event], now: float) -> EventBatch:
        return cls(
            [e.user for e in events],
            [e.item for e in events],
            [e.kind for e in events],
            [e.value for e in events],
            np.array([now if e.ts is None else e.ts for e in events], np.float64),
            [e.event_id for e in events],
        )


def parse_event_batch(events: Any, kinds: Mapping[str, float] | None) -> EventBatch:
    """Events to record (dicts or ``Event`` objects), each checked as ``parse_event`` does
    (``kinds``: the allowed kinds; None: any); one without a time happened now. A bad event is
    an ``InvalidInput`` naming its position (``index``)."""
    if isinstance(events, str | bytes | dict) or not isinstance(events, Iterable):
        raise InvalidInput(f"events must be a list of event objects, got {type(events).__name__}")
    raw = events if isinstance(events, list) else list(events)
    now = time.time()
    fast = _columns(raw, kinds, now)
    if fast is not None:
        return fast
    parsed = []
    for i, one in enumerate(raw):
        try:
            parsed.append(parse_event(one, kinds))
        except InvalidInput as exc:
            raise InvalidInput(f"event {i}: {exc.message}", index=i, **exc.details) from None
    return EventBatch.of(parsed, now)


def _columns(raw: list[Any], kinds: Mapping[str, float] | None, now: float) -> EventBatch | None:
    """The batch checked column by column, or None when some event needs the slow path (it is
    bad, or unusual: an ISO time, an integer id, a Mapping that is not a dict)."""
    if all(type(e) is Event for e in raw):
        cols = [[getattr(e, k) for e in raw] for k in _EVENT_KEYS]
    elif all(type(e) is dict and e.keys() <= _KEYS for e in raw):
        cols = [[e.get(k) for e in raw] for k in _EVENT_KEYS]
        cols[2] = [e.get("kind", "view") for e in raw]
    else:
        return None
    users, items, kind, values, ts, ids = cols
    if not (_names(users) and _names(items) and _kinds(kind, kinds)):
        return None
    present = {type(v) for v in ids} - {type(None)}
    if present and (present != {str} or not _names([v for v in ids if v is not None])):
        return None
    numbers = [v for v in values if v is not None]
    if not _finite(numbers):
        return None
    if int in {type(v) for v in numbers}:
        values = [None if v is None else float(v) for v in values]
    if not {type(t) for t in ts} <= {*_NUMBER, type(None)}:
        return None
    try:
        times = np.array([now if t is None else t for t in ts], np.float64)
    except OverflowError:  # an integer too large for a float64: the slow path names it
        return None
    if times.size and not (times.min() >= MIN_TIMESTAMP and times.max() <= MAX_TIMESTAMP):
        return None
    return EventBatch(users, items, kind, values, times, ids)


def _names(values: list[Any]) -> bool:
    """All are non-blank strings of at most ``MAX_USER_LENGTH`` characters UTF-8 can encode."""
    if not values:
        return True
    if {type(v) for v in values} != {str}:
        return False
    if min(map(len, values)) == 0 or max(map(len, values)) > MAX_USER_LENGTH:
        return False
    if any(v.isspace() for v in values):
        return False
    try:
        "".join(values).encode("utf-8")  # a lone surrogate fails here
    except UnicodeEncodeError:
        return False
    return True


def _kinds(values: list[Any], allowed: Mapping[str, float] | None) -> bool:
    """All are allowed kinds (any string UTF-8 can encode, up to ``MAX_USER_LENGTH``
    characters, when ``allowed`` is None)."""
    if allowed is not None:
        return set(values) <= allowed.keys()
    distinct = set(values)
    if not distinct:
        return True
    if {type(v) for v in distinct} != {str} or max(map(len, distinct)) > MAX_USER_LENGTH:
        return False
    try:
        "".join(distinct).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _finite(numbers: list[Any]) -> bool:
    """All are finite floats or integers within +-2**53 (bools are not numbers)."""
    if not numbers:
        return True
    if not {type(v) for v in numbers} <= _NUMBER:
        return False
    if any(type(v) is int and abs(v) > MAX_EXACT_INT for v in numbers):
        return False
    return bool(np.isfinite(np.array(numbers, np.float64)).all())
