"""The stdlib demo corpus: valid, unique, balanced under a limit, and built without imports."""

from __future__ import annotations

import sys
from collections import Counter
from typing import Any

import pytest

from sleuth.demo import KINDS, MAX_TEXT_CHARS, MIN_DOC_CHARS, stdlib_items
from sleuth.errors import InvalidInput
from sleuth.types import parse_item

Items = list[dict[str, Any]]


@pytest.fixture(scope="module")
def built() -> tuple[Items, set[str], set[str]]:
    before = set(sys.modules)
    items = stdlib_items(limit=None)
    return items, before, set(sys.modules)


@pytest.fixture(scope="module")
def items(built: tuple[Items, set[str], set[str]]) -> Items:
    return built[0]


def test_no_documented_module_was_imported(built: tuple[Items, set[str], set[str]]) -> None:
    items, before, after = built
    assert "antigravity" not in after and "this" not in after
    documented = {i["id"] for i in items if i["kind"] == "module"}
    assert len(documented) > 100
    imported = (after - before) & documented
    assert imported <= {"pydoc_data", "pydoc_data.topics"}, sorted(imported)


def test_ids_unique_and_every_item_parses(items: Items) -> None:
    ids = [i["id"] for i in items]
    assert len(ids) == len(set(ids))
    for raw in items:
        item = parse_item(raw, ("title", "text"))
        assert set(item.attributes) == {"module", "kind", "lines", "deprecated", "tags"}


def test_all_kinds_present_and_shapes(items: Items) -> None:
    kinds = Counter(i["kind"] for i in items)
    assert set(kinds) == set(KINDS)
    assert all(MIN_DOC_CHARS <= len(i["text"]) <= MAX_TEXT_CHARS + 2 for i in items)
    assert all(isinstance(i["lines"], int) and i["lines"] >= 1 for i in items)
    assert {True, False} <= {i["deprecated"] for i in items}
    assert any("async" in i["tags"] for i in items)


def test_known_entries(items: Items) -> None:
    by_id = {i["id"]: i for i in items}
    dumps = by_id["json.dumps"]
    assert dumps["kind"] == "function" and dumps["module"] == "json"
    assert dumps["title"].startswith("json.dumps(obj, *, skipkeys=False")
    assert "JSON" in dumps["text"]
    assert by_id["topic:for"]["kind"] == "topic"
    assert by_id["email.mime.text"]["module"] == "email"
    # names are where things are defined, not where they are re-exported
    assert by_id["json.decoder.JSONDecoder"]["title"] == "class json.decoder.JSONDecoder(object)"
    assert by_id["os.path.join"]["title"] == "os.path.join(a, *p)"  # posixpath, as users call it


def test_private_and_skipped_code_is_left_out(items: Items) -> None:
    for item in items:
        if item["kind"] == "topic":
            continue
        parts = item["id"].split(".")
        assert not any(p.startswith("_") for p in parts), item["id"]
        assert parts[0] not in {"test", "idlelib", "lib2to3", "tkinter", "turtledemo"}, item["id"]


def test_methods_drop_self(items: Items) -> None:
    methods = [i for i in items if i["kind"] == "method" and "property" not in i["tags"]]
    assert methods
    assert not [i["title"] for i in methods if "(self" in i["title"]]
    classmethods = [i for i in methods if "classmethod" in i["tags"]]
    assert classmethods
    assert not [i["title"] for i in classmethods if "(cls" in i["title"]]


def test_limit_is_balanced_deterministic_and_ordered(items: Items) -> None:
    limited = stdlib_items(limit=600)
    assert len(limited) == 600
    assert limited == stdlib_items(limit=600)
    kinds = Counter(i["kind"] for i in limited)
    full_kinds = Counter(i["kind"] for i in items)
    assert kinds["topic"] == full_kinds["topic"] and kinds["module"] == full_kinds["module"]
    rest = [kinds[k] for k in ("class", "function", "method")]
    assert min(rest) > 0 and max(rest) - min(rest) <= 1
    position = {i["id"]: n for n, i in enumerate(items)}
    assert [position[i["id"]] for i in limited] == sorted(position[i["id"]] for i in limited)


def test_bad_limit_is_invalid_input() -> None:
    with pytest.raises(InvalidInput):
        stdlib_items(limit=-1)
    assert stdlib_items(limit=0) == []
