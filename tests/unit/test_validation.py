"""Validate fully, then commit: every value a client sends is checked to the depth the engine
later uses it (calendar-valid dates in range, numbers that fit float64, UTF-8 text, bounded
lengths and attribute names) before anything is written, and a rejected write leaves the
collection exactly as it was: it opens, searches, answers ``info()``, equals its rebuild."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import sleuth
from sleuth.catalog import Engine
from sleuth.store.schema import MAX_ATTRIBUTE_NAMES
from sleuth.types import parse_event
from sleuth.values import (
    MAX_ATTR_LIST,
    MAX_ATTR_STRING,
    MAX_NAME_LENGTH,
    MAX_TEXT_CHARS,
    MAX_TIMESTAMP,
    MIN_TIMESTAMP,
    parse_datetime,
    to_timestamp,
)
from support import N_ITEMS, live_server, make_item, unique_token

BAD_DATES = [
    ("2024-02-30", "day is out of range"),
    ("2023-02-29", "day is out of range"),  # not a leap year
    ("2024-13-01", "month must be in 1..12"),
    ("2024-01-01T25:00", "hour must be in 0..23"),
    ("2024-01-01T23:60", "minute must be in 0..59"),
    ("0000-01-01", "year 0 is out of range"),
    ("0001-01-01", "out of range"),  # an offset could take it below year 1
    ("9999-12-31T00:00Z", "out of range"),
    ("2024-01-01T00:00+99:99", "not a valid date-time"),
    ("2024-01-01T00:00-24:00", "not a valid date-time"),
]


@pytest.mark.parametrize(("text", "reason"), BAD_DATES)
def test_impossible_dates_are_invalid_input(text: str, reason: str) -> None:
    with pytest.raises(sleuth.InvalidInput, match=reason) as err:
        to_timestamp(text)
    assert "allowed" in str(err.value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-02-29", dt.datetime(2024, 2, 29, tzinfo=dt.UTC)),
        ("2024-02-29T12:30:15.25Z", dt.datetime(2024, 2, 29, 12, 30, 15, 250000, tzinfo=dt.UTC)),
        ("2024-01-01T10:00+0530", dt.datetime(2024, 1, 1, 4, 30, tzinfo=dt.UTC)),
        ("0001-01-02T00:00+23:59", dt.datetime(1, 1, 1, 0, 1, tzinfo=dt.UTC)),  # the edges:
        ("9999-12-30T23:59-23:59", dt.datetime(9999, 12, 31, 23, 58, tzinfo=dt.UTC)),  # in UTC
    ],
)
def test_valid_dates_convert_to_the_right_instant(text: str, expected: dt.datetime) -> None:
    assert parse_datetime(text) == expected
    assert to_timestamp(text) == expected.timestamp()


def test_datetime_objects_get_the_same_checks() -> None:
    odd = dt.timezone(dt.timedelta(seconds=30))  # its isoformat() would not read back
    with pytest.raises(sleuth.InvalidInput, match="whole minutes"):
        to_timestamp(dt.datetime(2024, 1, 1, tzinfo=odd))
    with pytest.raises(sleuth.InvalidInput, match="out of range"):
        to_timestamp(dt.datetime(1, 1, 1, 12))
    assert to_timestamp(dt.datetime(2024, 1, 1)) == to_timestamp("2024-01-01T00:00:00Z")


def test_non_ascii_digits_and_trailing_newlines_are_plain_strings() -> None:
    with pytest.raises(sleuth.InvalidInput, match="is not an ISO 8601"):
        to_timestamp("2024-01-01\n")
    with pytest.raises(sleuth.InvalidInput, match="is not an ISO 8601"):
        to_timestamp("２０２４-01-01")


def _snapshot(col: sleuth.Collection) -> tuple[int, int, list[str]]:
    hits = col.search(unique_token(3), mode="lexical")
    return col.count(), col.info()["seq"], [h.id for h in hits]


def assert_untouched(col: sleuth.Collection, before: tuple[int, int, list[str]]) -> None:
    """Nothing was committed, and the collection still works, also opened afresh."""
    assert _snapshot(col) == before
    col.close()
    again = sleuth.open(col.path)
    try:
        assert _snapshot(again) == before
        hits = again.search("catalog entry", k=5, where={"released": {"gte": "2020-01-10"}})
        assert hits and all(h.attributes["released"] >= "2020-01-10" for h in hits)
        again.delete([make_item(0)["id"]])  # delete and rebuild work too
        again.rebuild()
        assert again.count() == N_ITEMS - 1
    finally:
        again.close()


BAD_VALUES: list[tuple[dict[str, Any], str]] = [
    *(({"released": text}, "attribute 'released'") for text, _ in BAD_DATES[:6]),
    ({"d": "2024-02-30"}, r"attribute 'd'.*allowed: dates from 0001-01-02 to 9999-12-30"),
    ({"price": 2**53 + 1}, r"attribute 'price' is out of range.*2\*\*53"),
    ({"price": -(10**400)}, "attribute 'price' is out of range"),
    ({"n": 10**400}, "attribute 'n' is out of range"),
    ({"note": "x\ud800"}, "attribute 'note' is not valid Unicode text"),
    ({"tags": ["ok", "\udfff"]}, r"attribute 'tags': list element .* not valid Unicode"),
    ({"text": "broken \ud83d text"}, "text field 'text' is not valid Unicode"),
    ({"fi\ud800eld": "x"}, "field name .* is not valid Unicode"),
    ({"id": "a\ud800"}, "item id .* is not valid Unicode"),
    ({"note": "x" * (MAX_ATTR_STRING + 1)}, f"the maximum is {MAX_ATTR_STRING}"),
    ({"tags": ["t"] * (MAX_ATTR_LIST + 1)}, f"the maximum is {MAX_ATTR_LIST}"),
    ({"tags": ["t" * (MAX_ATTR_STRING + 1)]}, f"the maximum is {MAX_ATTR_STRING}"),
    ({"n" * (MAX_NAME_LENGTH + 1): 1}, f"the maximum is {MAX_NAME_LENGTH}"),
    ({"text": "w " * (MAX_TEXT_CHARS // 2 + 1)}, f"the maximum per item is {MAX_TEXT_CHARS}"),
]


@pytest.mark.parametrize(("change", "message"), BAD_VALUES)
def test_a_rejected_item_commits_nothing(
    col: sleuth.Collection, change: dict[str, Any], message: str
) -> None:
    before = _snapshot(col)
    bad = {**make_item(401), **change}
    with pytest.raises(sleuth.InvalidInput, match=message) as err:
        col.upsert([make_item(400), bad])
    assert str(err.value).startswith("item 1:")
    assert_untouched(col, before)


def test_datetime_objects_and_edge_dates_are_stored_and_filtered(col: sleuth.Collection) -> None:
    col.upsert(
        [
            {**make_item(400), "released": "0001-01-02"},
            {**make_item(401), "released": dt.datetime(9999, 12, 30, 23, 0, tzinfo=dt.UTC)},
        ]
    )
    early = col.search("catalog", k=100, where={"released": {"lt": "1000-01-01"}})
    late = col.search("catalog", k=100, where={"released": {"gt": "9999-01-01T00:00Z"}})
    assert [h.id for h in early] == [make_item(400)["id"]]
    assert [h.id for h in late] == [make_item(401)["id"]]


BAD_EVENTS: list[tuple[dict[str, Any], str]] = [
    ({"ts": "2024-02-30"}, "event ts must be epoch seconds or an ISO 8601 date-time"),
    ({"ts": 1e300}, r"event ts 1e\+300 is out of range"),
    ({"ts": 10**400}, "event ts must be epoch seconds"),
    ({"value": 10**400}, "event value is out of range"),
    ({"value": 2**60}, r"within \+-2\*\*53"),
    ({"user": "u\ud800"}, "event user .* not valid Unicode"),
    ({"item": "\udc00"}, "event item .* not valid Unicode"),
    ({"event_id": "e\ud800"}, "event_id .* not valid Unicode"),
    ({"user": 10**2000}, "event user must be a string, got int"),
]


@pytest.mark.parametrize(("change", "message"), BAD_EVENTS)
def test_a_rejected_event_records_nothing(
    col: sleuth.Collection, change: dict[str, Any], message: str
) -> None:
    col.record([{"user": "u1", "item": make_item(1)["id"], "kind": "view"}])
    events = col.store.event_count()
    bad = {"user": "u1", "item": make_item(2)["id"], "kind": "view", **change}
    with pytest.raises(sleuth.InvalidInput, match=message) as err:
        col.record([{"user": "u2", "item": make_item(3)["id"]}, bad])
    assert str(err.value).startswith("event 1:")
    assert col.store.event_count() == events
    assert col.recommend("u1", k=3)  # recommendations still work


def test_event_kinds_need_utf8_even_without_a_kind_list() -> None:
    with pytest.raises(sleuth.InvalidInput, match=r"event kind .* not valid Unicode"):
        parse_event({"user": "u", "item": "i", "kind": "v\ud800"})


@pytest.mark.parametrize(
    ("where", "message"),
    [
        ({"released": {"gte": "2024-02-30"}}, "filter value for attribute 'released'.*day"),
        ({"released": "0000-01-01"}, "year 0 is out of range"),
        ({"price": {"lt": 10**400}}, "filter value for attribute 'price' is out of range"),
        ({"color": "r\ud800"}, "filter value for attribute 'color' is not valid Unicode"),
        ({"tags": {"in": ["\udfff"]}}, "filter value for attribute 'tags' is not valid Unicode"),
    ],
)
def test_bad_filter_values_are_invalid_input(
    col: sleuth.Collection, where: dict[str, Any], message: str
) -> None:
    with pytest.raises(sleuth.InvalidInput, match=message):
        col.search("catalog", where=where)


def test_a_date_shaped_string_filters_a_str_attribute_as_text(col: sleuth.Collection) -> None:
    # "color" is str: a date-shaped value there is a string, whether or not it is a real date
    assert col.search("catalog", where={"color": "2024-02-30"}) == []


def test_queries_and_ids_must_be_utf8(col: sleuth.Collection) -> None:
    with pytest.raises(sleuth.InvalidInput, match="the query is not valid Unicode"):
        col.search("catalog \ud800")
    with pytest.raises(sleuth.InvalidInput, match=r"item id .* not valid Unicode"):
        col.get("x\ud800")
    with pytest.raises(sleuth.InvalidInput, match=r"item id .* not valid Unicode"):
        col.delete(["x\ud800"], missing_ok=True)
    assert col.count() == N_ITEMS


def test_attribute_names_per_collection_are_limited(tmp_path: Path) -> None:
    col = sleuth.open(tmp_path / "c", encoder="hashing")
    try:
        first = {"id": "a", "text": "x", **{f"a{i}": i for i in range(MAX_ATTRIBUTE_NAMES - 1)}}
        col.add([first])
        before = (col.count(), col.info()["seq"], len(col.info()["attributes"]))
        too_many = [{"id": "b", "text": "y", "b1": 1}, {"id": "c", "text": "z", "b2": 2}]
        with pytest.raises(sleuth.InvalidInput, match=f"the limit is {MAX_ATTRIBUTE_NAMES}"):
            col.add(too_many)
        assert (col.count(), col.info()["seq"], len(col.info()["attributes"])) == before
        col.add([{"id": "b", "text": "y", "b1": 1, "a5": 7}])  # the last name still fits
        assert [h.id for h in col.search("y", where={"a5": 7})] == ["b"]
        col.delete(["a", "b"])  # names outlive their items: still counted
        with pytest.raises(sleuth.InvalidInput, match="Names of deleted items still count"):
            col.add([{"id": "c", "text": "z", "b2": 2}])
    finally:
        col.close()


def test_lone_surrogates_anywhere_in_a_request_are_a_422_not_a_500(tmp_path: Path) -> None:
    """Raw JSON escapes, as a hostile client sends them: every error names the field, and the
    error answer itself encodes (a surrogate echoed in it would break the response)."""
    engine = Engine(tmp_path / "data", default_encoder="hashing")
    engine.create("docs").add([make_item(1)])
    bodies = [
        ("/collections/docs/search", r'{"query": "x", "where": {"\ud800": 1}}', "filter key"),
        ("/collections/docs/search", r'{"query": "x", "where": {"color": {"\ud800": 1}}}', "op"),
        ("/collections/docs/items", r'{"items": [{"id": "a\ud800", "text": "x"}]}', ".id"),
        ("/collections/docs/items", r'{"items": [{"text": "x", "\ud800": 1}]}', ""),
        ("/collections/docs/events", r'{"events": [{"user": "u", "item": "i", "\udc00": 1}]}', ""),
        ("/collections", r'{"name": "n", "config": {"\ud800": 1}}', "config"),
    ]
    with live_server(engine) as url, httpx.Client(base_url=url, timeout=30) as client:
        for path, body, message in bodies:
            response = client.post(path, content=body, headers={"content-type": "application/json"})
            assert response.status_code == 422, (body, response.text)
            assert message in response.json()["error"]["message"], body
        assert [
            h["id"]
            for h in client.post(
                "/collections/docs/search", json={"query": unique_token(1), "mode": "lexical"}
            ).json()["hits"]
        ] == [make_item(1)["id"]]
    assert not (tmp_path / "data" / "n").exists()


DIGITS = st.text("0123456789", min_size=2, max_size=2)
DATE_SHAPED = st.builds(
    lambda y, m, d, h, mi, off: f"{y}-{m}-{d}" + (f"T{h}:{mi}{off}" if h else ""),
    st.text("0123456789", min_size=4, max_size=4),
    DIGITS,
    DIGITS,
    st.one_of(st.none(), DIGITS),
    DIGITS,
    st.one_of(
        st.just(""),
        st.just("Z"),
        st.builds(lambda s, a, b: f"{s}{a}:{b}", st.sampled_from("+-"), DIGITS, DIGITS),
    ),
)


@settings(max_examples=500, deadline=None)
@given(text=DATE_SHAPED)
@example(text="0001-01-02T00:00+23:59")  # the earliest and latest instants allowed
@example(text="9999-12-30T23:59-23:59")
def test_a_date_shaped_string_is_a_timestamp_in_range_or_invalid_input(text: str) -> None:
    """Whatever the digits: never an OverflowError or a bare ValueError, never out of range."""
    try:
        seconds = to_timestamp(text)
    except sleuth.InvalidInput as exc:
        assert "allowed" in str(exc)
    else:
        assert MIN_TIMESTAMP <= seconds <= MAX_TIMESTAMP
        parsed = parse_datetime(text)
        assert parse_datetime(parsed.isoformat()) == parsed  # what is stored reads back


@settings(max_examples=300, deadline=None)
@given(
    when=st.datetimes(dt.datetime(1, 1, 2), dt.datetime(9999, 12, 30, 23, 59)),
    minutes=st.integers(-(24 * 60 - 1), 24 * 60 - 1),
)
def test_every_date_time_in_the_documented_range_is_accepted(
    when: dt.datetime, minutes: int
) -> None:
    aware = when.replace(tzinfo=dt.timezone(dt.timedelta(minutes=minutes)))
    assert to_timestamp(aware.isoformat()) == aware.timestamp()
