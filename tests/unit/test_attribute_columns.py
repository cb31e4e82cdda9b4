"""Attribute columns are sparse: their memory follows the live items that have the attribute,
not the item versions ever written nor the items without it (filters stay exact: see the
oracle in test_filters.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

import sleuth
from sleuth.retrieve.filters import compile_filter
from sleuth.store.attributes import AttributeTable

TYPES = {"n": "number", "s": "str", "tags": "list", "rare": "bool"}


def test_memory_does_not_grow_with_deleted_versions() -> None:
    table = AttributeTable(TYPES)
    sizes = []
    for version in range(20_000):  # one item, rewritten: each version a fresh docno
        if version:
            table.remove(version - 1)
        table.add(version, {"n": version, "s": f"v{version}", "tags": [f"t{version}"]}, TYPES)
        if version % 5000 == 4999:
            sizes.append(table.nbytes)
    # 48 bytes per version across the three columns; at most ~1,025 dead ones between
    # compactions, where a column over every docno would hold 20,000 by the end
    assert max(sizes) < 1100 * 48, sizes
    assert len(table.columns["s"].codes) <= 1100  # strings of dead versions are dropped too
    assert np.flatnonzero(compile_filter({"s": "v19999"}, TYPES)(table)).tolist() == [19_999]
    assert np.flatnonzero(compile_filter({"n": {"lt": 19_999}}, TYPES)(table)).size == 0


def test_items_without_an_attribute_cost_it_nothing(tmp_path: Path) -> None:
    col = sleuth.open(tmp_path / "c", encoder="hashing")
    try:
        items = [{"id": f"i{i}", "text": f"word{i}", "n": i} for i in range(5000)]
        items[1234]["rare"] = True
        col.add(items)
        columns = col.info()["attribute_columns"]
        assert columns["rare"] == {"kind": "bool", "bytes": 9}  # one docno, one int8
        assert columns["n"] == {"kind": "number", "bytes": 5000 * 16}  # docno, float64 each
        hits = col.search("word1234", where={"rare": True}, mode="lexical")
        assert [h.id for h in hits] == ["i1234"]
        missing = col.search("word1235", where={"rare": {"exists": False}}, mode="lexical")
        assert [h.id for h in missing] == ["i1235"]
    finally:
        col.close()


def test_many_attribute_names_on_one_item_stay_small(tmp_path: Path) -> None:
    """The issue's case at the allowed limit: an item with many distinct names on a collection
    that already has thousands of items allocates per name what that item holds, not a column
    of every docno."""
    col = sleuth.open(tmp_path / "c", encoder="hashing")
    try:
        col.add([{"id": f"i{i}", "text": "x"} for i in range(5000)])
        col.add([{"id": "wide", "text": "y", **{f"a{i}": i for i in range(900)}}])
        columns = col.info()["attribute_columns"]
        assert len(columns) == 900 and sum(c["bytes"] for c in columns.values()) <= 900 * 16
        assert [h.id for h in col.search("y", where={"a899": 899})] == ["wide"]
    finally:
        col.close()
