"""The column by column write (items that all bring their vector in one array) stores what the
row by row write stores, byte for byte, answers the same searches, counts the same upserts and
raises the same errors, writing nothing."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

import sleuth
from sleuth.errors import Conflict, InvalidInput
from sleuth.store import Store
from sleuth.types import Item

DIM = 16


def catalog(n: int, seed: int = 0) -> list[dict[str, Any]]:
    rng = np.random.default_rng(seed)
    words = ["alpha", "beta", "gamma", "delta", "épée", "straße", "naïve", "x", "the", "running"]
    out: list[dict[str, Any]] = []
    for i in range(n):
        item: dict[str, Any] = {
            "id": f"item-{i}",
            "title": " ".join(rng.choice(words, 3)),
            "text": " ".join(rng.choice(words, 8)) + (' "quoted" \\ back' if i % 7 == 0 else ""),
            "category": f"cat{i % 5}",
            "price": float(rng.integers(100, 10000)) / 100,
            "stock": int(rng.integers(0, 50)),
            "tags": [f"t{j}" for j in rng.choice(12, 2, replace=False)],
            "new": bool(i % 2),
            "date": f"2024-0{1 + i % 9}-1{i % 9}",
        }
        if i % 4 == 0:
            del item["price"]  # absent on some items
        if i % 6 == 0:
            item["title"] = None  # a null text field is left out
        out.append(item)
    return out


def vectors(n: int, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, DIM)).astype(np.float32)


def as_items(rows: list[dict[str, Any]]) -> list[Item]:
    """The same items as ``Item``s: the row by row path (the column one takes plain dicts)."""
    text = ("title", "text")
    return [
        Item(
            id=r["id"],
            fields={k: v for k, v in r.items() if k in text and v is not None},
            attributes={k: v for k, v in r.items() if k not in (*text, "id")},
        )
        for r in rows
    ]


def no_row_write(*args: Any, **kwargs: Any) -> None:
    raise AssertionError("this write should have gone column by column")


def stored(path: Path) -> list[tuple[Any, ...]]:
    with sqlite3.connect(path / "sleuth.sqlite") as con:
        return con.execute(
            "SELECT docno, id, fields, attrs, hash, vrow FROM items ORDER BY docno"
        ).fetchall()


def answers(col: sleuth.Collection, queries: np.ndarray) -> list[list[tuple[str, float]]]:
    out = []
    for i, q in enumerate(queries):
        for kwargs in (
            {"mode": "lexical", "query": "alpha running"},
            {"mode": "dense", "vector": q},
            {"mode": "hybrid", "query": "gamma épée", "vector": q},
            {"mode": "dense", "vector": q, "where": {"tags": f"t{i % 12}"}},
            {"mode": "dense", "vector": q, "where": {"price": {"gte": 20, "lte": 60}}},
        ):
            hits = col.search(k=5, **kwargs)
            out.append([(h.id, round(h.score, 5)) for h in hits])
    return out


@pytest.mark.parametrize("form", ["dicts", "table"])
def test_column_write_stores_and_answers_what_the_row_write_does(
    tmp_path: Path, form: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows, given = catalog(300), vectors(300)
    queries = vectors(6, seed=7)
    results = {}
    for way in ("rows", form):
        path = tmp_path / way
        if way != "rows":  # the column way, not the row by row one
            monkeypatch.setattr(Store, "write", no_row_write)
        with sleuth.open(path, encoder="none", dim=DIM) as col:
            items: Any = as_items(rows) if way == "rows" else rows
            if way == "table":
                keys = dict.fromkeys(k for r in rows for k in r)  # from_pylist reads row 0's
                items = pa.table({k: [r.get(k) for r in rows] for k in keys})
            first = col.add(
                items[:200] if way != "table" else items.slice(0, 200), vectors=given[:200]
            )
            rest = items[200:] if way != "table" else items.slice(200)
            second = col.upsert(rest, vectors=given[200:])
            results[way] = (first, second, answers(col, queries), col.get("item-6"))
        results[way] = (*results[way], stored(path))
    assert results["rows"][0] == results[form][0]
    assert results["rows"][1] == results[form][1]
    assert results["rows"][2] == results[form][2]
    assert results["rows"][3] == results[form][3]
    assert results["rows"][4] == results[form][4]  # the stored rows, byte for byte


def test_column_upserts_count_unchanged_and_updated_as_the_row_path(tmp_path: Path) -> None:
    rows, given = catalog(50), vectors(50)
    counts = {}
    for way in ("rows", "dicts"):
        path = tmp_path / way
        with sleuth.open(path, encoder="none", dim=DIM) as col:
            col.add(rows if way == "dicts" else as_items(rows), vectors=given)
            changed = [dict(r) for r in rows[:20]]
            for r in changed[:5]:
                r["stock"] = 999  # attributes only: the vector row is kept
            again = given[:20].copy()
            again[5:10] += 1.0  # the vector only
            items: Any = changed if way == "dicts" else as_items(changed)
            result = col.upsert(items, vectors=again)
            counts[way] = (result.added, result.updated, result.unchanged, col.count())
            top = col.search(vector=again[7], k=1, mode="dense")[0]
            assert top.id == "item-7"
            assert col.get("item-2").attributes["stock"] == 999
        counts[way] = (*counts[way], stored(path))
    assert counts["rows"] == counts["dicts"]
    assert counts["dicts"][:4] == (0, 10, 10, 50)


def error_of(path: Path, rows: Any, given: np.ndarray, *, add: bool = True) -> str:
    with sleuth.open(path, encoder="none", dim=DIM) as col:
        col.add([{"id": "seed", "category": "c", "stock": 1}], vectors=vectors(1))
        before = stored(path)
        with pytest.raises((InvalidInput, Conflict)) as info:
            (col.add if add else col.upsert)(rows, vectors=given)
        assert stored(path) == before, "nothing of a bad batch is written"
        assert col.count() == 1
    return str(info.value)


@pytest.mark.parametrize(
    "spoil",
    [
        "nan_vector",
        "bad_date",
        "type_clash",
        "duplicate",
        "exists",
        "long_string",
        "control_id",
        "int_id",
        "reserved_name",
    ],
)
def test_a_bad_batch_gets_the_row_paths_error_and_writes_nothing(
    tmp_path: Path, spoil: str
) -> None:
    rows, given = catalog(40), vectors(40)
    if spoil == "nan_vector":
        given[17, 3] = np.nan
    elif spoil == "bad_date":
        rows[9]["date"] = "2024-02-30"
    elif spoil == "type_clash":
        rows[3]["stock"] = "many"  # a string in a number column
    elif spoil == "duplicate":
        rows[30]["id"] = rows[2]["id"]
    elif spoil == "exists":
        rows[11]["id"] = "seed"
    elif spoil == "long_string":
        rows[5]["category"] = "c" * 5000
    elif spoil == "control_id":
        rows[8]["id"] = "a\tb"
    elif spoil == "int_id":
        rows[8]["id"] = 8
    else:
        rows[4]["and"] = 1
    bulk = error_of(tmp_path / "bulk", rows, given)
    one_by_one = error_of(tmp_path / "rows", tuple(rows), given)  # a tuple goes row by row
    assert bulk == one_by_one
    assert ("item" in bulk) or ("id" in bulk)


def test_a_column_clashing_with_the_stored_type_names_the_first_item(tmp_path: Path) -> None:
    rows, given = catalog(10), vectors(10)
    for r in rows:
        r["category"] = 5  # the collection stores category as str
    bulk = error_of(tmp_path / "bulk", rows, given)
    single = error_of(tmp_path / "rows", tuple(rows), given)
    assert bulk == single
    assert "item 'item-0'" in bulk and "category" in bulk


def test_a_column_write_after_another_handles_write_catches_up_on_both(tmp_path: Path) -> None:
    rows, given = catalog(60), vectors(60)
    path = tmp_path / "col"
    with sleuth.open(path, encoder="none", dim=DIM) as first, sleuth.open(path) as second:
        first.add(rows[:20], vectors=given[:20])
        second.add(rows[20:], vectors=given[20:])  # its indexes had not seen the first write
        for col in (first, second):
            assert col.count() == 60
            for i in (3, 45):
                assert col.search(vector=given[i], k=1, mode="dense")[0].id == f"item-{i}"
            assert len(col.search("alpha", k=100, mode="lexical")) == len(
                [r for r in rows if "alpha" in f"{r['title']} {r['text']}"]
            )
