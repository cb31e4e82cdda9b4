"""The ``where`` language against a plain-Python reference evaluation: filters never leak.

Items with random attributes of every type go into an ``AttributeTable`` (some then deleted);
random filters using every operator and combinator are compiled and evaluated as masks, and
the matched docnos must equal what the reference evaluator computes item by item.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import numpy as np
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from sleuth.errors import InvalidInput
from sleuth.retrieve.filters import MAX_DEPTH, OPERATORS, compile_filter
from sleuth.store.attributes import AttributeTable

TYPES = {"s": "str", "n": "number", "b": "bool", "l": "list", "d": "datetime"}
STRS = ("a", "b", "c")
LIST_WORDS = ("x", "y", "z")
BASE = dt.datetime(2021, 3, 1, 12, 0, tzinfo=dt.UTC)


# -- reference evaluation ---------------------------------------------------------------------


def to_dt(value: Any) -> dt.datetime:
    if isinstance(value, dt.datetime):
        d = value
    else:
        text = value + "T00:00:00" if len(value) == 10 else value
        d = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return d if d.tzinfo is not None else d.replace(tzinfo=dt.UTC)


def norm(kind: str, value: Any) -> Any:
    return to_dt(value) if kind == "datetime" else value


def ref_op(kind: str, present: bool, value: Any, op: str, arg: Any) -> bool:
    if op == "exists":
        return present == arg
    if op == "ne":
        return not ref_op(kind, present, value, "eq", arg)
    if op == "nin":
        return not ref_op(kind, present, value, "in", arg)
    if not present:
        return False
    if kind == "list":
        wanted = [arg] if op == "eq" else arg
        return any(w in value for w in wanted)
    v = norm(kind, value)
    if op == "eq":
        return bool(v == norm(kind, arg))
    if op == "in":
        return any(v == norm(kind, a) for a in arg)
    a = norm(kind, arg)
    return {"gt": v > a, "gte": v >= a, "lt": v < a, "lte": v <= a}[op]


def ref_eval(where: dict[str, Any], item: dict[str, Any]) -> bool:
    for key, spec in where.items():
        if key == "and":
            ok = all(ref_eval(w, item) for w in spec)
        elif key == "or":
            ok = any(ref_eval(w, item) for w in spec)
        elif key == "not":
            ok = not ref_eval(spec, item)
        else:
            ops = spec if isinstance(spec, dict) else {"eq": spec}
            ok = all(
                ref_op(TYPES[key], key in item, item.get(key), op, arg) for op, arg in ops.items()
            )
        if not ok:
            return False
    return True


# -- strategies -------------------------------------------------------------------------------


def iso(draw: st.DrawFn, hours: int) -> Any:
    """A point in time near BASE, written in one of the accepted forms."""
    moment = BASE + dt.timedelta(hours=hours)
    form = draw(st.sampled_from(["z", "offset", "naive", "date", "object"]))
    if form == "z":
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    if form == "offset":
        return moment.astimezone(dt.timezone(dt.timedelta(hours=2))).isoformat()
    if form == "naive":
        return moment.replace(tzinfo=None).isoformat()
    if form == "date":
        return moment.strftime("%Y-%m-%d")
    return moment


NUMBERS = st.one_of(st.integers(-3, 3), st.sampled_from([-1.5, 0.5, 2.5]))


@st.composite
def attribute_value(draw: st.DrawFn, kind: str, *, stored: bool) -> Any:
    if kind == "str":
        return draw(st.sampled_from(STRS if stored else (*STRS, "never")))
    if kind == "number":
        return draw(NUMBERS)
    if kind == "bool":
        return draw(st.booleans())
    if kind == "list":
        if stored:
            return draw(st.lists(st.sampled_from(LIST_WORDS), unique=True, max_size=3))
        return draw(st.sampled_from((*LIST_WORDS, "w")))
    value = iso(draw, draw(st.integers(-48, 48).map(lambda h: h - h % 12)))
    # Stored values are JSON (strings); filters may also use datetime objects.
    return value.isoformat() if stored and isinstance(value, dt.datetime) else value


@st.composite
def item(draw: st.DrawFn, *, full: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, kind in TYPES.items():
        if full or draw(st.booleans()) or draw(st.booleans()):  # present 3 times in 4
            out[name] = draw(attribute_value(kind, stored=True))
    return out


@st.composite
def leaf(draw: st.DrawFn) -> dict[str, Any]:
    name = draw(st.sampled_from(sorted(TYPES)))
    kind = TYPES[name]
    ops = draw(st.lists(st.sampled_from(OPERATORS[kind]), min_size=1, max_size=2, unique=True))
    spec: dict[str, Any] = {}
    for op in ops:
        if op == "exists":
            spec[op] = draw(st.booleans())
        elif op in ("in", "nin"):
            spec[op] = draw(st.lists(attribute_value(kind, stored=False), min_size=1, max_size=3))
        else:
            spec[op] = draw(attribute_value(kind, stored=False))
    if list(spec) == ["eq"] and draw(st.booleans()):
        return {name: spec["eq"]}  # the equality shorthand
    return {name: spec}


def combine(children: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[dict[str, Any]]:
    lists = st.lists(children, min_size=1, max_size=3)
    return st.one_of(
        lists.map(lambda ws: {"and": ws}),
        lists.map(lambda ws: {"or": ws}),
        children.map(lambda w: {"not": w}),
        # several keys in one object: all must hold
        st.tuples(leaf(), children).map(lambda p: {**p[1], **p[0]} if "and" not in p[1] else p[1]),
    )


FILTERS = st.recursive(leaf(), combine, max_leaves=8)


def build_table(
    items: list[dict[str, Any]], dead: list[bool], gap: int, saved: int = 0
) -> AttributeTable:
    """The first ``saved`` items go through a save and a load (the columns' runs as saved),
    the later ones are added after it, then the ``dead`` ones are removed."""
    table = AttributeTable({})
    for i, attrs in enumerate(items[:saved]):
        table.add(i * gap, attrs, TYPES)
    if saved:
        manifest, arrays = table.payload()
        table = AttributeTable.restored(manifest, {name: a for name, (a, _) in arrays.items()})
    for i, attrs in enumerate(items[saved:], start=saved):
        table.add(i * gap, attrs, TYPES)
    for i, is_dead in enumerate(dead):
        if is_dead:
            table.remove(i * gap)
    return table


# -- properties -------------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(
    items=st.lists(item(), max_size=30),
    last=item(full=True),  # so every attribute is known to the table
    data=st.data(),
    where=FILTERS,
    gap=st.integers(1, 3),
)
def test_filters_never_leak(
    items: list[dict[str, Any]],
    last: dict[str, Any],
    data: st.DataObject,
    where: dict[str, Any],
    gap: int,
) -> None:
    items = [*items, last]
    dead = data.draw(st.lists(st.booleans(), min_size=len(items), max_size=len(items)))
    saved = data.draw(st.integers(0, len(items)))
    table = build_table(items, dead, gap, saved)
    assert table.types == TYPES
    mask = compile_filter(where, dict(table.types))(table)
    got = set(np.flatnonzero(mask).tolist())
    expected = {i * gap for i, attrs in enumerate(items) if not dead[i] and ref_eval(where, attrs)}
    event("matches: none" if not expected else "matches: some")
    assert got == expected, where


@pytest.mark.parametrize("kind", sorted(OPERATORS))
def test_every_operator_on_every_type(kind: str) -> None:
    """Each allowed operator on each type, with a hand-picked value, against the reference."""
    all_samples: dict[str, list[Any]] = {
        "str": ["a", "b", "a", "c"],
        "number": [1, 2.5, -3, 7],
        "bool": [True, False, True, False],
        "list": [["x"], ["x", "y"], [], ["z"]],
        "datetime": [
            "2021-03-01T00:00:00Z",
            "2021-03-02",
            "2021-03-01T02:00:00+02:00",
            "2021-03-03T00:00:00",
        ],
    }
    samples = all_samples[kind]
    probe: Any = {
        "str": "a",
        "number": 2.5,
        "bool": True,
        "list": "x",
        "datetime": "2021-03-02T00:00:00+00:00",
    }[kind]
    name = next(n for n, k in TYPES.items() if k == kind)
    items = [{name: v} for v in samples] + [{}]  # the last item lacks the attribute
    table = build_table(items, [False] * len(items), 1)
    types = {name: kind}
    for op in OPERATORS[kind]:
        arg = True if op == "exists" else [probe] if op in ("in", "nin") else probe
        where = {name: {op: arg}}
        got = set(np.flatnonzero(compile_filter(where, types)(table)).tolist())
        expected = {i for i, attrs in enumerate(items) if ref_eval(where, attrs)}
        assert got == expected, where
        # and the hand-checkable part: no operator is vacuous on this data
        assert 0 < len(expected) < len(items) or op in ("exists",), where


def test_ne_and_nin_match_items_without_the_attribute() -> None:
    table = build_table([{"s": "a"}, {"s": "b"}, {}], [False] * 3, 1)
    types = {"s": "str"}
    assert np.flatnonzero(compile_filter({"s": {"ne": "a"}}, types)(table)).tolist() == [1, 2]
    assert np.flatnonzero(compile_filter({"s": {"nin": ["a", "b"]}}, types)(table)).tolist() == [2]
    assert np.flatnonzero(compile_filter({"not": {"s": "a"}}, types)(table)).tolist() == [1, 2]


def test_deleted_items_never_match_even_negated() -> None:
    table = build_table([{"s": "a"}, {"s": "b"}, {"s": "a"}], [False, True, True], 1)
    types = {"s": "str"}
    for where in ({"s": {"ne": "zzz"}}, {"not": {"s": "zzz"}}, {"s": {"exists": True}}):
        assert np.flatnonzero(compile_filter(where, types)(table)).tolist() == [0], where


def test_datetime_compares_instants_across_time_zones() -> None:
    table = build_table([{"d": "2021-03-01T10:00:00+02:00"}], [False], 1)  # 08:00 UTC
    types = {"d": "datetime"}
    assert compile_filter({"d": "2021-03-01T08:00:00Z"}, types)(table)[0]
    assert compile_filter({"d": {"lt": dt.datetime(2021, 3, 1, 9)}}, types)(table)[0]  # naive=UTC
    assert not compile_filter({"d": {"gt": "2021-03-01T09:00:00+00:00"}}, types)(table)[0]


# -- errors -----------------------------------------------------------------------------------


ALL_TYPES = {"s": "str", "n": "number", "b": "bool", "l": "list", "d": "datetime"}


@pytest.mark.parametrize("name", sorted(ALL_TYPES))
def test_unknown_operator_names_the_allowed_ones(name: str) -> None:
    kind = ALL_TYPES[name]
    with pytest.raises(InvalidInput) as err:
        compile_filter({name: {"between": [1, 2]}}, ALL_TYPES)
    msg = str(err.value)
    assert "unknown operator 'between'" in msg
    assert f"allowed: {', '.join(OPERATORS[kind])}" in msg
    assert err.value.details["allowed"] == list(OPERATORS[kind])


@pytest.mark.parametrize(("name", "op"), [("b", "gt"), ("s", "lte"), ("l", "gte")])
def test_operator_not_allowed_on_type(name: str, op: str) -> None:
    kind = ALL_TYPES[name]
    with pytest.raises(InvalidInput) as err:
        compile_filter({name: {op: "a" if kind != "bool" else True}}, ALL_TYPES)
    assert f"not allowed on {kind}" in str(err.value)
    assert ", ".join(OPERATORS[kind]) in str(err.value)


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ({"n": "five"}, "must be number"),
        ({"n": {"gt": True}}, "must be number"),
        ({"b": 1}, "must be bool"),
        ({"s": 3}, "must be str"),
        ({"l": {"in": [1]}}, "must be str"),
        ({"d": "yesterday"}, "must be an ISO 8601 date-time string"),
        ({"d": {"lt": 5}}, "must be an ISO 8601 date-time string"),
    ],
)
def test_type_mismatch_names_the_type(where: dict[str, Any], expected: str) -> None:
    with pytest.raises(InvalidInput, match=re.escape(expected)) as err:
        compile_filter(where, ALL_TYPES)
    name = next(iter(where))
    assert f"attribute {name!r}" in str(err.value)
    assert err.value.details["expected"] == ALL_TYPES[name]


def test_unknown_attribute_lists_known_ones() -> None:
    with pytest.raises(InvalidInput) as err:
        compile_filter({"or": [{"s": "a"}, {"colour": "red"}]}, ALL_TYPES)
    msg = str(err.value)
    assert "unknown attribute 'colour'" in msg
    assert f"known attributes: {', '.join(sorted(ALL_TYPES))}" in msg
    with pytest.raises(InvalidInput, match="none yet"):
        compile_filter({"s": "a"}, {})


def _nested(depth: int) -> dict[str, Any]:
    where: dict[str, Any] = {"s": "a"}
    for _ in range(depth):
        where = {"not": where}
    return where


def test_depth_limit() -> None:
    table = build_table([{"s": "a"}, {"s": "b"}], [False, False], 1)
    ok = compile_filter(_nested(MAX_DEPTH), ALL_TYPES)(table)  # even: same as {"s": "a"}
    assert np.flatnonzero(ok).tolist() == [0]
    with pytest.raises(InvalidInput, match=f"deeper than {MAX_DEPTH}"):
        compile_filter(_nested(MAX_DEPTH + 1), ALL_TYPES)
    deep_and: dict[str, Any] = {"s": "a"}
    for _ in range(MAX_DEPTH + 1):
        deep_and = {"and": [deep_and]}
    with pytest.raises(InvalidInput, match="deeper than"):
        compile_filter(deep_and, ALL_TYPES)


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ({}, "non-empty JSON object"),
        ([{"s": "a"}], "non-empty JSON object"),
        ({"and": []}, "'and' takes a non-empty list"),
        ({"or": {"s": "a"}}, "'or' takes a non-empty list"),
        ({"not": []}, "non-empty JSON object"),
        ({"n": {}}, "has no operator"),
        ({"s": {"in": []}}, "'in' on 's' takes a non-empty list"),
        ({"s": {"nin": "a"}}, "'in' on 's' takes a non-empty list"),
        ({"s": {"exists": "yes"}}, "takes true or false"),
    ],
)
def test_malformed_filters(where: Any, expected: str) -> None:
    with pytest.raises(InvalidInput, match=re.escape(expected)):
        compile_filter(where, ALL_TYPES)
