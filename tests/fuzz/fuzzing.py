"""What the fuzz tests share: hypothesis settings, generators of items, events, filters and
input files, and the check that a collection is still whole.

The plain-Python reference of the filter language is in ``filter_reference.py``.

The generators come in two kinds. ``valid_*`` build inputs the engine must accept, so a test can
demand success and compare the result with a reference. ``hostile_*`` mix in every way an input
can be wrong; a test then accepts a success that matches the reference or a clear
``InvalidInput``, and nothing else.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import re
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

import sleuth
from sleuth.errors import InvalidInput
from sleuth.types import ID_CONTROL_CHARS, attr_type_of
from support import CATALOG, COLORS, EPOCH, TOPIC_NAMES

ENCODER = "hashing:64"  # small vectors: the fuzz tests exercise inputs, not ranking quality


def fuzz(examples: int) -> settings:
    """Settings for one fuzz test: ``examples`` cases (times ``$SLEUTH_FUZZ_SCALE``, default 1,
    for a longer hunt than CI's), no per-case deadline (CI machines vary).

    Fixtures are module-scoped and every case leaves them as it found them, which hypothesis
    cannot see, hence the suppressed health check.
    """
    return settings(
        max_examples=examples * int(os.environ.get("SLEUTH_FUZZ_SCALE", "1")),
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )


# -- text ----------------------------------------------------------------------------------

# Odd but valid Unicode: combining marks, right-to-left, zero-width joiners, emoji, NUL and
# other controls, CJK; no surrogates (a lone surrogate is not text: the refusal tests send them).
ODD = st.sampled_from(
    ["\u0301", "\u202e", "\u200d", "\ufeff", "\x00", "\x1b", "\u2028", "😀", "漢", "ß", "İ", "\t"]
)
TEXT_CHARS = st.one_of(st.characters(codec="utf-8"), ODD)
texts = st.text(TEXT_CHARS, min_size=1, max_size=40).filter(lambda s: s.strip() != "")
_ID_CONTROL = re.compile(f"[{ID_CONTROL_CHARS}]")  # an id has none (the tests of refusals do)
ids = st.text(TEXT_CHARS, min_size=1, max_size=30).filter(
    lambda s: s == s.strip() and s != "" and not _ID_CONTROL.search(s)
)


# -- items ---------------------------------------------------------------------------------

# A name's prefix fixes its type, so names never clash in type within a batch or with the
# catalog (whose names have no underscore).
_PREFIX = {"s_": "str", "n_": "number", "b_": "bool", "l_": "list", "d_": "datetime"}


def _offsets() -> st.SearchStrategy[dt.tzinfo | None]:
    minutes = st.integers(-(23 * 60 + 59), 23 * 60 + 59)
    return st.none() | st.just(dt.UTC) | minutes.map(lambda m: dt.timezone(dt.timedelta(minutes=m)))


def iso_dates() -> st.SearchStrategy[str]:
    """Valid ISO 8601 strings of the forms the engine documents (date, minutes, seconds,
    microseconds; naive, Z or an offset), years 1900 to 2200."""
    moments = st.datetimes(dt.datetime(1900, 1, 2), dt.datetime(2200, 12, 30), timezones=_offsets())
    return st.one_of(
        moments.map(lambda d: d.date().isoformat()),
        moments.map(lambda d: d.isoformat(timespec="minutes")),
        moments.map(lambda d: d.isoformat(timespec="seconds").replace("+00:00", "Z")),
        moments.map(lambda d: d.isoformat(timespec="microseconds")),
    )


plain_strings = st.text(TEXT_CHARS, min_size=0, max_size=20).filter(
    lambda s: attr_type_of(s) == "str"
)
_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "str": plain_strings,
    "number": st.integers(-(2**53), 2**53) | st.floats(allow_nan=False, allow_infinity=False),
    "bool": st.booleans(),
    "list": st.lists(plain_strings, max_size=4),
    "datetime": iso_dates(),
}
attr_names = st.builds(
    lambda prefix, rest: prefix + rest,
    st.sampled_from(sorted(_PREFIX)),
    st.text(st.characters(codec="utf-8"), max_size=8),
)


@st.composite
def valid_items(draw: st.DrawFn, id_strategy: st.SearchStrategy[str] = ids) -> dict[str, Any]:
    """An item the engine must accept: an id, a non-blank text, typed attributes."""
    item: dict[str, Any] = {"id": draw(id_strategy), "text": draw(texts)}
    if draw(st.booleans()):
        item["title"] = draw(st.text(TEXT_CHARS, max_size=20))
    for name in draw(st.lists(attr_names, max_size=4, unique=True)):
        item[name] = draw(_VALUES[_PREFIX[name[:2]]])
    return item


def valid_batches(max_size: int = 4) -> st.SearchStrategy[list[dict[str, Any]]]:
    return st.lists(valid_items(), min_size=1, max_size=max_size, unique_by=lambda i: i["id"])


# JSON-like values of every shape, for fields that may hold anything.
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(TEXT_CHARS, max_size=10),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=6,
)


@st.composite
def hostile_items(draw: st.DrawFn) -> Any:
    """A valid item with one thing possibly broken: the id, a text field, a name or a value."""
    item = draw(valid_items())
    damage = draw(
        st.sampled_from(["none", "id", "no id", "text", "no text", "name", "value", "shape"])
    )
    if damage == "id":
        item["id"] = draw(st.sampled_from(["", " a", "a ", "x" * 513, 5, None, ["a"], True]))
    elif damage == "no id":
        del item["id"]
    elif damage == "text":
        item["text"] = draw(json_values.filter(lambda v: not isinstance(v, str)))
    elif damage == "no text":
        item["text"] = draw(st.sampled_from(["", "  ", "\n\t", None]))
        item.pop("title", None)
    elif damage == "name":
        item[draw(st.sampled_from(["", "and", "or", "not"]))] = "x"
    elif damage == "value":
        item["v_" + draw(st.text(max_size=3))] = draw(
            st.sampled_from([{"a": 1}, [1, 2], ["a", 1], [None], math.nan, math.inf, -math.inf])
        )
    elif damage == "shape":
        return draw(json_values.filter(lambda v: not isinstance(v, dict)))
    return item


def expected_readback(item: dict[str, Any]) -> dict[str, Any]:
    """What ``get(id).to_dict()`` must return for a written item: absent values dropped."""
    return {k: v for k, v in item.items() if v is not None}


# Lines a JSONL item file must refuse, each for another reason.
BAD_LINES = [
    '{"id": "a", "text": ',  # truncated
    "[1, 2]",  # not an object
    '"just a string"',
    '{"text": "no id"}',
    '{"id": "a", "text": 5}',
    '{"id": "a", "text": "x", "n": ' + "9" * 5000 + "}",  # more digits than Python parses
    '{"id": "a", "text": "x", "n": ' + "[" * 5000 + "]" * 5000 + "}",  # nested too deep
    '{"id": "a", "text": "x", "n": NaN}',
    "{'id': 'a'}",
]


# -- events --------------------------------------------------------------------------------

KINDS = ("view", "click", "like", "cart", "purchase", "rating")
epoch_seconds = st.floats(0, 4e9, allow_nan=False) | st.integers(0, 4_000_000_000)


@st.composite
def valid_events(draw: st.DrawFn) -> dict[str, Any]:
    event: dict[str, Any] = {"user": draw(ids), "item": draw(ids)}
    if draw(st.booleans()):
        event["kind"] = draw(st.sampled_from(KINDS))
    if draw(st.booleans()):
        event["value"] = draw(st.floats(-1e6, 1e6, allow_nan=False))
    if draw(st.booleans()):
        event["ts"] = draw(epoch_seconds | iso_dates())
    return event


# -- filters over the catalog, and their reference -----------------------------------------

CATALOG_TYPES = {
    "color": "str",
    "note": "str",
    "price": "number",
    "in_stock": "bool",
    "tags": "list",
    "released": "datetime",
}
_WORDS = [*TOPIC_NAMES, "even", "odd", "sale", "nothing"]
_filter_values: dict[str, st.SearchStrategy[Any]] = {
    "color": st.sampled_from([*COLORS, "purple", ""]),
    "note": st.sampled_from(["remark 0", "remark 7", "remark 8", "x"]),
    "price": st.sampled_from([i * 1.5 for i in range(0, 62, 7)])
    | st.integers(-5, 100)
    | st.floats(-10, 100, allow_nan=False),
    "in_stock": st.booleans(),
    "tags": st.sampled_from(_WORDS),
    "released": st.integers(-3, 64).map(
        lambda d: (EPOCH + dt.timedelta(days=d, hours=d % 5)).isoformat()
    )
    | st.integers(-3, 64).map(lambda d: (EPOCH + dt.timedelta(days=d)).date().isoformat()),
}
OPERATORS_BY_TYPE = {
    "str": ("eq", "ne", "in", "nin", "exists"),
    "bool": ("eq", "ne", "exists"),
    "number": ("eq", "ne", "in", "nin", "gt", "gte", "lt", "lte", "exists"),
    "datetime": ("eq", "ne", "in", "nin", "gt", "gte", "lt", "lte", "exists"),
    "list": ("eq", "ne", "in", "nin", "exists"),
}
_ANY_OP = ("eq", "ne", "in", "nin", "gt", "gte", "lt", "lte", "exists", "like", "")


@st.composite
def _condition(draw: st.DrawFn, hostile: bool) -> dict[str, Any]:
    name = draw(st.sampled_from(sorted(CATALOG_TYPES) + (["nope", "id"] if hostile else [])))
    kind = CATALOG_TYPES.get(name, "str")
    values = _filter_values.get(name, st.just("x"))
    if hostile and draw(st.integers(0, 3)) == 0:
        values = json_values
    ops = _ANY_OP if hostile else OPERATORS_BY_TYPE[kind]
    spec: dict[str, Any] = {}
    for op in draw(st.lists(st.sampled_from(ops), min_size=1, max_size=2, unique=True)):
        if op == "exists":
            spec[op] = draw(st.booleans() if not hostile else json_values)
        elif op in ("in", "nin"):
            spec[op] = draw(st.lists(values, min_size=0 if hostile else 1, max_size=3))
        else:
            spec[op] = draw(values)
    if not hostile and list(spec) == ["eq"] and draw(st.booleans()):
        return {name: spec["eq"]}  # the equality shorthand
    return {name: spec}


def filters(hostile: bool = False) -> st.SearchStrategy[Any]:
    leaf = _condition(hostile)
    tree = st.recursive(
        leaf,
        lambda inner: st.one_of(
            st.builds(lambda a: {"and": a}, st.lists(inner, min_size=1, max_size=3)),
            st.builds(lambda a: {"or": a}, st.lists(inner, min_size=1, max_size=3)),
            st.builds(lambda a: {"not": a}, inner),
            st.builds(lambda a, b: {**a, **b}, inner, inner),
        ),
        max_leaves=5,
    )
    if not hostile:
        return tree
    broken = st.sampled_from([{}, "color", 3, {"and": []}, {"or": {}}, {"not": []}, {"color": {}}])
    return st.one_of(tree, broken, st.builds(lambda a: {"and": [a, {}]}, tree))


# -- files -------------------------------------------------------------------------------

ENCODINGS = ("utf-8", "utf-8-sig", "utf-16", "utf-16-le-bom", "utf-32")
encodings = st.sampled_from(ENCODINGS)
newlines = st.sampled_from(["\n", "\r\n"])


def encode(text: str, encoding: str) -> bytes:
    if encoding == "utf-16-le-bom":  # what Windows tools write: a BOM, then little-endian
        return b"\xff\xfe" + text.encode("utf-16-le")
    return text.encode(encoding)


def assert_located(error: InvalidInput | None, path: Path, line: int) -> None:
    assert error is not None, f"expected an error at {path.name}:{line}"
    assert error.message.startswith(f"{path}:{line}: "), error.message
    assert error.details["line"] == line and "\n" not in error.message


# -- collections ---------------------------------------------------------------------------


@contextmanager
def fresh_collection(items: list[dict[str, Any]] | None = None, **options: Any) -> Iterator[Path]:
    """A new collection folder in a temporary directory holding ``items`` (default: a slice of
    the catalog); yields its path, the collection closed."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "col"
        with sleuth.open(path, encoder=options.pop("encoder", ENCODER), **options) as col:
            col.add(CATALOG[:12] if items is None else items)
        yield path


PROBES = ("telescope orbit", "recipe butter", "boat", "zx003q catalog", "nothing matches this")


def state(col: sleuth.Collection) -> tuple[int, int]:
    """What an error must leave unchanged: the item count and the change-log sequence."""
    return col.count(), int(col.info()["seq"])


def assert_whole(path: Path, probes: tuple[str, ...] = PROBES) -> None:
    """The collection at ``path`` opens, answers every mode, and equals its own rebuild."""
    with sleuth.open(path) as col:
        before = _answers(col, probes)
        col.rebuild()
        assert _answers(col, probes) == before
    with sleuth.open(path) as col:  # and what was rebuilt is what opens next time
        assert _answers(col, probes) == before


def _answers(col: sleuth.Collection, probes: tuple[str, ...]) -> list[list[str]]:
    out = []
    for query in probes:
        for mode in ("lexical", "dense", "hybrid"):
            hits = col.search(query, k=10, mode=mode)
            assert all(math.isfinite(h.score) for h in hits), [h.score for h in hits]
            out.append([h.id for h in hits])
    return out


def raises_invalid(call: Callable[[], Any]) -> InvalidInput | None:
    """``call``'s ``InvalidInput``, or None when it succeeded; anything else propagates."""
    try:
        call()
    except InvalidInput as exc:
        return exc
    return None
