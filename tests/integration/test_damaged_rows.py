"""Rows the engine cannot use, planted directly in SQLite (as older code or a hand edit could
leave them): open, search, info, delete and rebuild keep working, the bad rows are reported
and left out, every healthy row stays searchable, and ``repair`` clears what it safely can."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import sleuth
from sleuth.config import CollectionConfig, LateConfig, MuveraConfig
from support import CATALOG, item_id, unique_token

# id -> (fields, attrs) as stored text; each text holds a token found nowhere else
BAD = {
    "bad-json": ('{"text": "zx900q"', "{}"),
    "fields-list": ('["zx901q"]', "{}"),
    "fields-number": ('{"text": 5, "title": "zx902q"}', "{}"),
    "attrs-json": ('{"text": "zx903q"}', "{color: red}"),
    "attrs-list": ('{"text": "zx904q"}', "[1, 2]"),
    "wrong-type": ('{"text": "zx905q"}', '{"color": 5}'),
    "bad-date": ('{"text": "zx906q"}', '{"released": "2024-02-30"}'),
    "unknown-attr": ('{"text": "zx907q"}', '{"nowhere": "x"}'),
    "nan-price": ('{"text": "zx908q"}', '{"price": NaN}'),
}
TOKEN = {name: f"zx9{i:02d}q" for i, name in enumerate(BAD)}
# damaged in place, without a change-log entry: the saved indexes still hold its old version
IN_PLACE = item_id(10)
# healthy items whose cached vector is damaged: encoded again from the text
VECTOR_DAMAGED = {"short-vector": "zx950q", "nan-vector": "zx951q"}
DAMAGED = {*BAD, IN_PLACE}


def plant(folder: Path, encoder_id: str, dim: int) -> None:
    con = sqlite3.connect(folder / "sleuth.sqlite", isolation_level=None)
    con.execute("BEGIN")
    rows = [(i, fields, attrs, f"hash-{i}") for i, (fields, attrs) in BAD.items()]
    rows += [(i, json.dumps({"text": t}), "{}", f"hash-{i}") for i, t in VECTOR_DAMAGED.items()]
    for row in rows:
        cur = con.execute("INSERT INTO items (id, fields, attrs, hash) VALUES (?, ?, ?, ?)", row)
        con.execute("INSERT INTO changes (op, docno) VALUES ('add', ?)", (cur.lastrowid,))
    blobs = {"short-vector": b"\0" * 7, "nan-vector": np.full(dim, np.nan, np.float32).tobytes()}
    con.executemany(
        "INSERT INTO vectors (encoder, hash, vector) VALUES (?, ?, ?)",
        [(encoder_id, f"hash-{i}", blob) for i, blob in blobs.items()],
    )
    con.execute("INSERT INTO changes (op, docno) VALUES ('add', 987654)")  # no such row
    con.execute('UPDATE items SET attrs = \'{"released": "2024-13-01"}\' WHERE id = ?', (IN_PLACE,))
    con.execute("COMMIT")
    con.close()


@pytest.fixture(params=[False, True], ids=["plain", "late"])
def damaged(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    late = LateConfig(enabled=True, muvera=MuveraConfig(k_sim=3, d_proj=16, r_reps=8))
    config = CollectionConfig(late=late) if request.param else None
    folder = tmp_path / "c"
    with sleuth.open(folder, encoder="hashing", config=config) as col:
        col.add(CATALOG)
        encoder_id, dim = col.encoder.id, col.dim
    plant(folder, encoder_id, dim)
    with pytest.warns(UserWarning, match="is damaged and left out"):
        col = sleuth.open(folder, encoder="hashing")
    yield col
    col.close()


def healthy_ids() -> list[str]:
    return [item["id"] for item in CATALOG if item["id"] != IN_PLACE]


def assert_healthy_rows_searchable(col: sleuth.Collection) -> None:
    for i, item in enumerate(CATALOG):
        if item["id"] == IN_PLACE:
            continue
        assert col.search(unique_token(i), k=1, mode="lexical")[0].id == item["id"]
    for name, token in VECTOR_DAMAGED.items():
        assert col.search(token, k=1, mode="lexical")[0].id == name
        assert col.search(token, k=1, mode="dense")[0].id == name  # encoded again
        assert col.search(token, k=1)[0].id == name


def assert_damaged_left_out(col: sleuth.Collection, damaged: set[str]) -> None:
    queries = [TOKEN[name] for name in BAD] + [unique_token(10)]
    for mode in ("lexical", "dense", "hybrid"):
        for hits in col.search_batch(queries, k=len(CATALOG) + 20, mode=mode):
            assert not damaged & {h.id for h in hits}, mode
            assert all(np.isfinite(h.score) for h in hits)
    assert not damaged & {h.id for h in col.similar(item_id(1), k=50)}


def problem_ids(col: sleuth.Collection) -> dict[str, str]:
    found = col.info()["problems"]
    assert all(p["kind"] == "damaged-row" and p["fix"] for p in found)
    return {p["details"]["id"]: p["message"] for p in found}


def test_open_search_and_info_survive_damaged_rows(damaged: sleuth.Collection) -> None:
    assert_healthy_rows_searchable(damaged)
    assert_damaged_left_out(damaged, DAMAGED)
    reported = problem_ids(damaged)
    assert set(reported) == DAMAGED  # the in-place one was met when a search fetched it
    assert "not valid JSON" in reported["bad-json"]
    assert "is number but the collection stores str" in reported["wrong-type"]
    assert "'2024-02-30' is not a valid date-time" in reported["bad-date"]
    assert "missing from the attributes table" in reported["unknown-attr"]
    assert "not an object" in reported["attrs-list"]
    with pytest.raises(sleuth.NotFound, match="is damaged and left out"):
        damaged.get("bad-date")
    assert damaged.get(item_id(3)).id == item_id(3)


def test_filters_and_recommendations_survive_damaged_rows(damaged: sleuth.Collection) -> None:
    red = damaged.search("catalog entry", k=100, where={"color": "red"}, mode="lexical")
    assert {h.id for h in red} == {
        i for i in healthy_ids() if CATALOG[int(i[-3:])]["color"] == "red"
    }
    damaged.record([{"user": "u", "item": item_id(2)}, {"user": "u", "item": "bad-date"}])
    recs = damaged.recommend("u", k=20)
    assert recs and not DAMAGED & {h.id for h in recs}


def test_delete_upsert_and_rebuild_survive_damaged_rows(damaged: sleuth.Collection) -> None:
    assert damaged.delete(["bad-json", item_id(4)]) == 2
    fixed = {"id": "bad-date", "text": "zx906q repaired", "released": "2024-02-28"}
    damaged.upsert([fixed])
    assert damaged.search("zx906q", k=1, mode="lexical")[0].id == "bad-date"
    damaged.rebuild()
    still = DAMAGED - {"bad-json", "bad-date"}
    assert set(problem_ids(damaged)) == still
    assert damaged.count() == len(CATALOG) + len(BAD) + len(VECTOR_DAMAGED) - 2
    assert damaged.search(unique_token(4), k=1, mode="lexical") == []
    assert_damaged_left_out(damaged, still)
    for i in (1, 2, 59):
        assert damaged.search(unique_token(i), k=1, mode="lexical")[0].id == item_id(i)


def test_check_finds_everything_and_repair_clears_what_it_safely_can(
    damaged: sleuth.Collection,
) -> None:
    kinds = [p.kind for p in damaged.check()]
    assert sorted(kinds) == sorted(["damaged-row"] * len(DAMAGED) + ["vector", "change-log"])
    report = damaged.repair()
    assert {r["id"] for r in report["damaged_rows"]} == DAMAGED
    assert "quarantine" not in report  # rows stay unless asked
    assert [p.kind for p in damaged.check()] == ["damaged-row"] * len(DAMAGED)
    before = damaged.count()
    report = damaged.repair(drop_bad_rows=True)
    copy = damaged.path / report["quarantine"]
    kept = [json.loads(line) for line in copy.read_text().splitlines()]
    assert {r["id"] for r in kept} == DAMAGED
    assert {r["attrs"] for r in kept if r["id"] == "bad-date"} == {BAD["bad-date"][1]}
    assert damaged.check() == [] and damaged.info()["problems"] == []
    assert damaged.count() == before - len(DAMAGED)
    assert_healthy_rows_searchable(damaged)
