"""The in-memory event log against the store it is derived from, and the batch check of
events against the one-by-one check it stands in for."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import sleuth
from sleuth.config import DEFAULT_EVENT_WEIGHTS
from sleuth.errors import InvalidInput
from sleuth.recommend.eventlog import EventLog
from sleuth.recommend.interactions import Interactions
from sleuth.store import events as stored
from sleuth.store.event_batch import EventBatch, parse_event_batch
from sleuth.types import Event, parse_event

KINDS = list(DEFAULT_EVENT_WEIGHTS)


def some_events(n: int, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    users = ["u1", "u2", "u\x1fodd", "ü3", "u4"]  # one holds the separator the reader joins by
    return [
        {
            "user": rng.choice(users),
            "item": f"i{rng.randrange(30)}",
            "kind": rng.choice(KINDS),
            "ts": float(rng.randrange(50)),  # many ties: arrival order decides
        }
        for _ in range(n)
    ]


def reference_history(events: list[Event], user: str, limit: int) -> list[Event]:
    """What the store's per-user query answered: newest ``limit`` by (ts, seq), oldest first."""
    mine = [(e.ts, seq, e) for seq, e in enumerate(events) if e.user == user]
    return [e for _, _, e in sorted(mine, key=lambda x: (x[0], x[1]))][-limit:]


def plain(events: list[Event]) -> list[tuple[str, str, str, float | None]]:
    return [(e.user, e.item, e.kind, e.ts) for e in events]


@pytest.fixture
def col(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> sleuth.Collection:
    monkeypatch.setattr(stored, "READ_CHUNK", 7)  # many chunks, and chunk edges everywhere
    with sleuth.open(tmp_path / "c", encoder="hashing") as c:
        yield c


def test_the_log_holds_the_store_events_in_order_across_catch_ups(col: sleuth.Collection) -> None:
    log = EventLog()
    for seed in range(3):  # recorded, caught up, recorded again...
        col.record(some_events(40, seed))
        assert log.catch_up(col.store) == col.store.event_count()
        events = col.store.events()
        for user in {e.user for e in events}:
            for limit in (1, 5, 1000):
                got = log.history(user, limit)
                assert plain(got) == plain(reference_history(events, user, limit)), user
    assert log.history("nobody") == []


def test_the_logs_interactions_are_those_of_the_events(col: sleuth.Collection) -> None:
    col.record(some_events(60, 1))
    log = EventLog()
    log.catch_up(col.store)
    got = log.interactions(DEFAULT_EVENT_WEIGHTS)
    want = Interactions.from_events(col.store.events(), DEFAULT_EVENT_WEIGHTS)
    assert got.user_ids == want.user_ids and got.item_ids == want.item_ids
    for name in ("users", "items", "weights", "ts", "starts"):
        np.testing.assert_array_equal(getattr(got, name), getattr(want, name), err_msg=name)


def test_a_user_new_since_the_index_is_found(col: sleuth.Collection) -> None:
    log = EventLog()
    col.record(some_events(20, 2))
    log.catch_up(col.store)
    log.interactions(DEFAULT_EVENT_WEIGHTS)  # builds the by-user index
    col.record([{"user": "late", "item": "i1", "ts": 3.0}, {"user": "u1", "item": "i9"}])
    log.catch_up(col.store)
    assert plain(log.history("late")) == [("late", "i1", "view", 3.0)]
    assert log.history("u1")[-1].item == "i9"  # recorded now: the newest


VALID: list[Any] = [
    {"user": "a", "item": "b"},
    {"user": 7, "item": 8, "kind": "click", "value": 3, "ts": 12},
    {"user": "a", "item": "b", "ts": "2024-05-01T10:00:00Z", "event_id": "e1"},
    Event(user="x", item="y", kind="purchase", value=2.5, ts=1e9, event_id=" "),
    {"user": "a", "item": "b", "value": None, "ts": None, "event_id": None},
]


@pytest.mark.parametrize("events", [VALID, VALID[:1], VALID[3:4], [VALID[0], VALID[4]], []])
def test_the_batch_check_gives_what_the_one_by_one_check_gives(events: list[Any]) -> None:
    got = parse_event_batch(events, DEFAULT_EVENT_WEIGHTS)
    want = EventBatch.of([parse_event(e, DEFAULT_EVENT_WEIGHTS) for e in events], 0.0)
    given = [e.ts if isinstance(e, Event) else e.get("ts") for e in events]
    for name in ("users", "items", "kinds", "values", "event_ids"):
        assert getattr(got, name) == getattr(want, name), name
    for g, w, t in zip(got.ts.tolist(), want.ts.tolist(), given):
        assert g == w if t is not None else g > 0  # a missing time is now


@pytest.mark.parametrize(
    ("bad", "needle"),
    [
        ({"user": "", "item": "b"}, "event user must be a non-empty string"),
        ({"user": "a", "item": "b", "kind": "stare"}, "unknown event kind 'stare'"),
        ({"user": "a", "item": "b", "ts": float("nan")}, "event ts"),
        ({"user": "a", "item": "b", "value": True}, "event value must be a number"),
        ({"user": "a", "item": "\ud800"}, "lone surrogate"),
        ({"user": "a", "item": "b", "when": 1}, "unknown event key"),
        ({"user": "a", "item": "b", "ts": 10**400}, "event ts"),
    ],
)
def test_a_bad_event_is_named_with_its_position(bad: dict[str, Any], needle: str) -> None:
    with pytest.raises(InvalidInput, match="event 2: ") as caught:
        parse_event_batch([VALID[0], VALID[1], bad, VALID[0]], DEFAULT_EVENT_WEIGHTS)
    assert needle in str(caught.value)
