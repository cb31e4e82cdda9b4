"""Named vector spaces through files, the command line and HTTP: JSONL ``"vectors"``, CSV
``vectors.<space>`` and ``vectors`` cells, Parquet ``vectors.<space>`` columns and a struct
column (nulls: no vector there), ``sleuth create --space``, ``sleuth add --vectors
NAME=FILE.npy``, ``sleuth search --space``, and the HTTP create, write and search bodies."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import sleuth
from sleuth.catalog import Engine
from sleuth.errors import InvalidInput
from sleuth.io import read_csv, read_items, read_parquet
from support import live_server

SLEUTH = [sys.executable, "-m", "sleuth.cli"]
SPACES = {"geo": {"dim": 2, "metric": "l2"}, "img": {"dim": 3, "metric": "dot"}}


def run(*args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200"}
    done = subprocess.run([*SLEUTH, *args], capture_output=True, text=True, env=env, timeout=300)
    assert (done.returncode == 0) == ok, done.stderr
    return done


def as_lists(item: sleuth.Item) -> dict[str, list[float]]:
    return {name: np.asarray(v).tolist() for name, v in item.vectors.items()}


def test_jsonl_csv_and_parquet_items_carry_named_vectors(tmp_path: Path) -> None:
    jsonl = tmp_path / "items.jsonl"
    jsonl.write_text(
        '{"id": "a", "title": "x", "vectors": {"geo": [1, 2], "img": [1, 0, 0]}}\n'
        '{"id": "b", "title": "y"}\n'
    )
    csv = tmp_path / "items.csv"
    csv.write_text('id,title,vectors.geo,vectors\na,x,"[1, 2]","{""img"": [1, 0, 0]}"\nb,y,,\n')
    table = pa.table(
        {
            "id": ["a", "b", "c"],
            "title": ["x", "y", "z"],
            "vectors.geo": pa.array([[1, 2], None, [5, 6]], pa.list_(pa.float32())),
            "vectors": pa.array(
                [{"img": [1.0, 0, 0]}, {"img": None}, None],
                pa.struct([("img", pa.list_(pa.float64()))]),
            ),
        }
    )
    pq.write_table(table, tmp_path / "items.parquet")
    want = {"geo": [1.0, 2.0], "img": [1.0, 0.0, 0.0]}
    for items in (read_items(jsonl), read_csv(csv), read_parquet(tmp_path / "items.parquet")[0]):
        assert as_lists(items[0]) == want and as_lists(items[1]) == {}
    assert as_lists(read_items(tmp_path / "items.parquet")[2]) == {"geo": [5.0, 6.0]}
    bad = pa.table(
        {"id": ["a", "b", "c"], "vectors.geo": pa.array([None, [1, 2], [3]], pa.list_(pa.int64()))}
    )
    pq.write_table(bad, tmp_path / "bad.parquet")
    with pytest.raises(InvalidInput, match=r"bad.parquet:row 2: the vector has 1 numbers, row 1's"):
        read_parquet(tmp_path / "bad.parquet")
    csv.write_text('id,title,vectors.geo\na,x,"[1, 2"\n')
    with pytest.raises(InvalidInput, match=r"items.csv:2: the vector cell"):
        read_csv(csv)
    # what a collection makes of them: the same vectors, whichever file
    col = sleuth.open(tmp_path / "c", encoder="hashing:16", spaces=SPACES)
    col.add(read_items(tmp_path / "items.parquet"))
    assert col.info()["spaces"]["geo"]["items"] == 2 and col.info()["spaces"]["img"]["items"] == 1
    hits = col.search(vector=[5, 5], space="geo", k=2, mode="dense")
    assert [h.id for h in hits] == ["c", "a"]
    assert hits[0].score == pytest.approx(-1.0, abs=1e-5)


def test_the_command_line_creates_spaces_adds_their_vectors_and_searches_them(
    tmp_path: Path,
) -> None:
    col = tmp_path / "col"
    run(
        "create", str(col), "--encoder", "hashing:16", "--space", "geo:2:l2", "--space", "img:3:dot"
    )
    items = tmp_path / "items.jsonl"
    items.write_text(
        "".join(
            json.dumps({"id": f"i{n}", "title": f"word{n}", "vectors": {"geo": [n, 0]}}) + "\n"
            for n in range(4)
        )
    )
    img = np.arange(12, dtype=np.float32).reshape(4, 3)
    np.save(tmp_path / "img.npy", img)
    run("add", str(col), str(items), "--vectors", f"img={tmp_path / 'img.npy'}")
    found = run(
        "search",
        str(col),
        "--vector",
        "[2.2, 0]",
        "--space",
        "geo",
        "--mode",
        "dense",
        "-k",
        "2",
        "--json",
    )
    hits = json.loads(found.stdout)
    assert [h["id"] for h in hits] == ["i2", "i3"]
    assert hits[0]["score"] == pytest.approx(-0.2, abs=1e-5)
    top = json.loads(
        run(
            "search",
            str(col),
            "--vector",
            "[0, 0, 1]",
            "--space",
            "img",
            "--mode",
            "dense",
            "-k",
            "1",
            "--json",
        ).stdout
    )
    assert top[0]["id"] == "i3"  # the largest dot product with [0, 0, 1]: 11
    assert top[0]["score"] == pytest.approx(11.0)
    info = json.loads(run("info", str(col)).stdout)
    assert info["spaces"]["img"] == {"dim": 3, "metric": "dot", "items": 4}
    bad = run(
        "search", str(col), "--vector", "[1, 1]", "--space", "audio", "--mode", "dense", ok=False
    )
    assert "space 'audio' is not a vector space of this collection" in bad.stderr
    np.save(tmp_path / "wrong.npy", img[:, :2])
    wrong = run("add", str(col), str(items), "--vectors", f"img={tmp_path / 'wrong.npy'}", ok=False)
    assert "shape [4, 3]" in wrong.stderr
    twice = run("add", str(col), str(items), "--vectors", f"geo={tmp_path / 'wrong.npy'}", ok=False)
    assert "give each item's vector one way" in twice.stderr
    for spec in ("geo", "geo:x", "geo:2:cos", "default:2"):
        assert "error:" in run("create", str(tmp_path / "other"), "--space", spec, ok=False).stderr
    assert not (tmp_path / "other").exists()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    engine = Engine(tmp_path_factory.mktemp("data"), default_encoder="hashing")
    with live_server(engine) as url, httpx.Client(base_url=url, timeout=30) as client:
        made = client.post("/collections", json={"name": "s", "spaces": SPACES})
        assert made.status_code == 201, made.text
        assert made.json()["spaces"]["geo"] == {"dim": 2, "metric": "l2", "items": 0}
        items = [
            {"id": "x", "title": "east", "vectors": {"geo": [1, 0], "img": [1, 2, 3]}},
            {"id": "y", "title": "north", "vectors": {"geo": [0, 1]}},
            {"id": "z", "title": "nowhere"},
        ]
        written = client.post("/collections/s/items", json={"items": items})
        assert written.status_code == 200 and written.json()["added"] == 3, written.text
        yield client


def test_http_searches_a_named_space_and_refuses_what_it_lacks(served: httpx.Client) -> None:
    dense = served.post(
        "/collections/s/search",
        json={"vector": [0.1, 0.9], "space": "geo", "mode": "dense", "k": 5},
    )
    assert dense.status_code == 200, dense.text
    hits = dense.json()["hits"]
    assert [h["id"] for h in hits] == ["y", "x"]
    assert hits[0]["score"] == pytest.approx(-np.sqrt(0.02), abs=1e-5)
    hybrid = served.post(
        "/collections/s/search", json={"query": "east", "vector": [1, 1, 1], "space": "img"}
    )
    assert hybrid.status_code == 200 and hybrid.json()["hits"][0]["id"] == "x"
    for body, says in [
        ({"query": "east", "space": "geo"}, "space needs vector"),
        ({"vector": [1, 0], "space": "audio", "mode": "dense"}, "not a vector space"),
        ({"vector": [1, 0, 0], "space": "geo", "mode": "dense"}, "takes vectors of 2"),
    ]:
        answer = served.post("/collections/s/search", json=body)
        assert answer.status_code in (400, 422) and says in answer.text, answer.text
    bad = served.post(
        "/collections/s/items",
        json={"items": [{"id": "w", "title": "t", "vectors": {"img": [1, 2]}}]},
    )
    assert bad.status_code in (400, 422) and "'w'" in bad.text and "takes vectors of 3" in bad.text
    unknown = served.post(
        "/collections/s/items",
        json={"items": [{"id": "w", "title": "t", "vectors": {"audio": [1]}}]},
    )
    assert unknown.status_code in (400, 422) and "not one of this collection's" in unknown.text
    assert served.get("/collections/s").json()["items"] == 3
    created = served.post(
        "/collections",
        json={"name": "t", "config": {"spaces": {"img": {"dim": 4, "metric": "cosine"}}}},
    )
    assert created.status_code == 201 and created.json()["spaces"]["img"]["dim"] == 4
    refused = served.post("/collections", json={"name": "u", "spaces": {"img": {"dim": 0}}})
    assert refused.status_code == 422
