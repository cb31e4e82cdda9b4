"""Fuzzing the Python API: items, events, filters and queries of every shape.

Each case is a success that matches a reference (an item reads back as written, a filter selects
what the plain-Python reference selects, a record counts the events sent) or an
``InvalidInput`` that leaves the count and the change-log sequence unchanged; and the collection
still opens, searches and equals its own rebuild afterwards.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from filter_reference import NotAFilter, reference_filter
from fuzzing import (
    ENCODER,
    assert_whole,
    expected_readback,
    filters,
    fresh_collection,
    fuzz,
    hostile_items,
    json_values,
    raises_invalid,
    state,
    valid_batches,
    valid_events,
)
from hypothesis import given
from hypothesis import strategies as st

import sleuth
from sleuth.config import CollectionConfig, LateConfig
from sleuth.search import LATE_MODES, MODES
from support import CATALOG


@pytest.fixture(scope="module")
def catalog_col(tmp_path_factory: pytest.TempPathFactory) -> Iterator[sleuth.Collection]:
    """The whole catalog, only read from (filters and queries)."""
    col = sleuth.open(tmp_path_factory.mktemp("fuzz") / "col", encoder=ENCODER)
    col.add(CATALOG)
    yield col
    col.close()


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A collection that write cases add to (each case under ids of its own)."""
    with fresh_collection() as path:
        yield path


# -- items ---------------------------------------------------------------------------------


@fuzz(40)
@given(batch=valid_batches(), upsert=st.booleans())
def test_valid_items_read_back_as_written(scratch: Path, batch: list[Any], upsert: bool) -> None:
    with sleuth.open(scratch) as col:
        for item in batch:  # earlier cases may have written the same ids
            col.delete([item["id"]], missing_ok=True)
        count = col.count()
        result = (col.upsert if upsert else col.add)(batch)
        assert (result.added, col.count()) == (len(batch), count + len(batch))
        for item in batch:
            assert col.get(item["id"]).to_dict() == expected_readback(item)
    assert_whole(scratch)


@fuzz(40)
@given(batch=st.lists(hostile_items(), min_size=1, max_size=3))
def test_hostile_items_are_written_whole_or_not_at_all(scratch: Path, batch: list[Any]) -> None:
    with sleuth.open(scratch) as col:
        for item in batch:
            if isinstance(item, dict) and isinstance(item.get("id"), str):
                col.delete([item["id"]], missing_ok=True)
        before = state(col)
        error = raises_invalid(lambda: col.upsert(batch))
        if error is not None:
            assert state(col) == before, error.message
            assert error.message and "\n" not in error.message
        else:
            # Accepted: then each item (the last of a repeated id) reads back as sent.
            last = {item["id"]: item for item in batch}
            for item_id, item in last.items():
                assert col.get(item_id).to_dict() == expected_readback(item)
    assert_whole(scratch)


@fuzz(15)
@given(
    date=st.sampled_from(
        [
            "2024-02-30",
            "2024-13-01",
            "2024-01-01T25:00",
            "0000-01-01",
            "2024-01-01T10:00+99:99",
            "2023-02-29",
            "2024-04-31T00:00:00Z",
            "9999-12-31T23:59+23:59",
            "0001-01-01T00:00-23:59",
        ]
    )
)
def test_impossible_dates_are_refused_before_commit(date: str) -> None:
    with fresh_collection() as path:
        with sleuth.open(path) as col:
            before = state(col)
            error = raises_invalid(lambda: col.upsert([{"id": "a", "text": "x", "d": date}]))
            assert error is not None and state(col) == before
        assert_whole(path)


@fuzz(15)
@given(
    item=st.sampled_from(
        [
            {"id": "a\ud800", "text": "x"},
            {"id": "a", "text": "x\udfff"},
            {"id": "a", "text": "x", "s": "\ud83d"},
            {"id": "a", "text": "x", "l": ["\udc00"]},
            {"id": "a", "text": "x", "n": 10**400},
            {"id": "a", "text": "x", "n": -(2**1100)},
        ]
    )
)
def test_unstorable_values_are_refused_before_commit(item: dict[str, Any]) -> None:
    with fresh_collection() as path:
        with sleuth.open(path) as col:
            before = state(col)
            error = raises_invalid(lambda: col.upsert([item]))
            assert error is not None and state(col) == before
        assert_whole(path)


# -- events --------------------------------------------------------------------------------


_batches = itertools.count()


@fuzz(25)
@given(
    events=st.lists(valid_events(), min_size=1, max_size=5),
    broken=st.one_of(
        st.none(),
        st.sampled_from(
            [
                {"user": "", "item": "a"},
                {"user": "u"},
                {"user": "u", "item": "a", "kind": "zap"},
                {"user": "u", "item": "a", "value": "5"},
                {"user": "u", "item": "a", "value": True},
                {"user": "u", "item": "a", "ts": "yesterday"},
                {"user": "u", "item": "a", "x": 1},
                {"user": "u" * 513, "item": "a"},
                {"user": "u", "item": "a", "event_id": ""},
            ]
        ),
        json_values,
    ),
    at=st.integers(0, 5),
)
def test_events_are_recorded_all_or_none(
    scratch: Path, events: list[Any], broken: Any, at: int
) -> None:
    # Unique event ids make an accidental partial commit visible: a retry would see duplicates.
    tag = next(_batches)
    events = [{**e, "event_id": f"{tag}-{i}"} for i, e in enumerate(events)]
    with sleuth.open(scratch) as col:
        if broken is not None:
            batch = [*events[:at], broken, *events[at:]]
            error = raises_invalid(lambda: col.record(batch))
            assert error is not None, broken
            assert error.details.get("index") == min(at, len(events))
        result = col.record(events)
        assert (result.recorded, result.duplicates) == (len(events), 0)
        assert col.record(events).duplicates == len(events)  # and now they are durable
        for user in {e["user"] for e in events}:
            assert all(math.isfinite(h.score) for h in col.recommend(user, 5))
    assert_whole(scratch)


# -- filters -------------------------------------------------------------------------------


@fuzz(150)
@given(where=filters(hostile=False) | filters(hostile=True))
def test_filters_select_what_the_reference_selects(
    catalog_col: sleuth.Collection, where: Any
) -> None:
    try:
        keep = reference_filter(where) if where != {} else lambda item: True  # {}: no filter
        wanted: set[str] | None = {i["id"] for i in CATALOG if keep(i)}
    except NotAFilter:
        wanted = None
    for mode in ("lexical", "dense", "hybrid"):
        search = lambda: catalog_col.search("catalog entry", k=1000, mode=mode, where=where)  # noqa: B023, E731
        if wanted is None:
            assert raises_invalid(search) is not None, where
        else:
            assert {h.id for h in search()} == wanted, (mode, where)


@pytest.mark.parametrize("where", [[], "", 0, False])
def test_a_where_that_is_no_object_is_refused(catalog_col: sleuth.Collection, where: Any) -> None:
    assert raises_invalid(lambda: catalog_col.search("catalog", where=where)) is not None


@pytest.mark.parametrize("where", [{"price": {"gt": 10**400}}, {"price": {"in": [1, -(10**400)]}}])
def test_a_huge_number_in_a_filter_is_refused(catalog_col: sleuth.Collection, where: Any) -> None:
    assert raises_invalid(lambda: catalog_col.search("catalog", where=where)) is not None


# -- queries -------------------------------------------------------------------------------


@fuzz(100)
@given(
    query=st.text(max_size=200) | st.sampled_from(["", " ", "the of and", "zx003q", "*" * 5000]),
    k=st.integers(-2, 1200),
    mode=st.sampled_from([*MODES, "LEXICAL", "", "bm25"]),
    explain=st.booleans(),
)
def test_queries_answer_or_refuse_clearly(
    catalog_col: sleuth.Collection, query: str, k: int, mode: str, explain: bool
) -> None:
    try:
        hits = catalog_col.search(query, k=k, mode=mode, explain=explain)
    except sleuth.InvalidInput as exc:
        assert exc.message
        return
    assert 1 <= k <= 1000 and mode in ("lexical", "dense", "hybrid"), (k, mode)
    assert len(hits) <= k and len({h.id for h in hits}) == len(hits)
    assert all(math.isfinite(h.score) for h in hits)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    for hit in hits:
        assert catalog_col.get(hit.id).to_dict() == expected_readback(
            next(i for i in CATALOG if i["id"] == hit.id)
        )


@pytest.fixture(scope="module")
def late_col(tmp_path_factory: pytest.TempPathFactory) -> Iterator[sleuth.Collection]:
    config = CollectionConfig(late=LateConfig(enabled=True))
    col = sleuth.open(tmp_path_factory.mktemp("late") / "col", encoder=ENCODER, config=config)
    col.add(CATALOG[:20])
    yield col
    col.close()


@fuzz(50)
@given(
    query=st.text(max_size=60) | st.sampled_from(["telescope orbit", "zx003q", "the", "!!!"]),
    k=st.integers(1, 40),
    mode=st.sampled_from(LATE_MODES),
    where=st.none() | filters(hostile=False),
)
def test_late_interaction_modes_answer_inside_the_filter(
    late_col: sleuth.Collection, query: str, k: int, mode: str, where: Any
) -> None:
    try:
        hits = late_col.search(query, k=k, mode=mode, where=where)
    except sleuth.InvalidInput as exc:  # only for a query without a single token
        assert not re.search(r"\w\w", query), exc.message
        return
    allowed = {i["id"] for i in CATALOG[:20] if where is None or reference_filter(where)(i)}
    assert len(hits) <= k and {h.id for h in hits} <= allowed
    assert all(math.isfinite(h.score) for h in hits), [h.score for h in hits]
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


@pytest.mark.parametrize("mode", ["hybrid+maxsim", "muvera"])
@pytest.mark.parametrize("text", ["!!!", "\u200d"])
def test_an_item_without_tokens_keeps_late_scores_finite(mode: str, text: str) -> None:
    config = CollectionConfig(late=LateConfig(enabled=True))
    with fresh_collection(config=config) as path, sleuth.open(path) as col:
        col.add([{"id": "no-tokens", "text": text}])
        hits = col.search("telescope orbit", k=20, mode=mode)
        assert hits and all(math.isfinite(h.score) for h in hits), [h.score for h in hits]
