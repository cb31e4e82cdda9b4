"""Vectors in item files and on the command line: JSONL/CSV ``"vector"``, a Parquet vector
column read as one array, ``sleuth add --encoder none --dim N`` and ``--vectors file.npy``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import sleuth
from sleuth.errors import InvalidInput
from sleuth.io import read_csv, read_items, read_jsonl, read_parquet

SLEUTH = [sys.executable, "-m", "sleuth.cli"]
DIM = 4


def run(*args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200"}
    done = subprocess.run([*SLEUTH, *args], capture_output=True, text=True, env=env, timeout=300)
    assert (done.returncode == 0) == ok, done.stderr
    return done


def vectors(n: int) -> np.ndarray:
    return np.random.default_rng(n).standard_normal((n, DIM)).astype(np.float32)


def parquet(path: Path, n: int, **columns: object) -> Path:
    table = pa.table(
        {
            "id": [f"p{i}" for i in range(n)],
            "title": [f"title {i}" if i % 2 else None for i in range(n)],
            "price": [float(i) for i in range(n)],
            **columns,
        }
    )
    pq.write_table(table, path)
    return path


def test_a_parquet_vector_column_is_one_array(tmp_path: Path) -> None:
    want = vectors(20)
    path = parquet(
        tmp_path / "items.parquet", 20, vector=pa.array(list(want), pa.list_(pa.float32()))
    )
    items, got = read_parquet(path)
    assert got is not None and got.dtype == np.float32 and got.shape == (20, DIM)
    assert np.array_equal(got, want)
    assert items[0].fields == {} and items[1].fields == {"title": "title 1"}
    assert items[3].attributes == {"price": 3.0} and items[0].vector is None
    fixed = parquet(
        tmp_path / "fixed.parquet",
        20,
        vector=pa.FixedSizeListArray.from_arrays(pa.array(want.ravel()), DIM),
    )
    assert np.array_equal(read_parquet(fixed)[1], want)  # type: ignore[arg-type]
    # read_items attaches each row, checked and of unit length
    rows = read_items(path)
    assert np.allclose(rows[5].vector, want[5] / np.linalg.norm(want[5]))  # type: ignore[arg-type]
    col = sleuth.open(tmp_path / "c", encoder="none", dim=DIM)
    items, got = read_parquet(path)
    assert col.add(items, vectors=got).added == 20
    assert col.search(vector=want[9].tolist(), k=1, mode="dense")[0].id == "p9"


@pytest.mark.parametrize(
    ("vector", "says"),
    [
        (
            pa.array([[1.0] * DIM, [1.0] * 3], pa.list_(pa.float32())),
            "row 1: the vector has 3 numbers",
        ),
        (pa.array([[1.0] * DIM, None], pa.list_(pa.float32())), "row 1: the vector is null"),
        (
            pa.array([[1.0] * DIM, [1.0, None, 1.0, 1.0]], pa.list_(pa.float32())),
            "row 1: the vector holds a null",
        ),
        (pa.array(["a", "b"]), "list of numbers"),
        (pa.array([["a"] * DIM, ["b"] * DIM]), "list of numbers"),
    ],
)
def test_a_bad_parquet_vector_column_names_the_row(
    tmp_path: Path, vector: pa.Array, says: str
) -> None:
    path = parquet(tmp_path / "bad.parquet", 2, vector=vector)
    with pytest.raises(InvalidInput, match=says) as err:
        read_parquet(path)
    assert str(path) in err.value.message


def test_a_parquet_file_without_vectors_needs_text(tmp_path: Path) -> None:
    path = parquet(tmp_path / "t.parquet", 3)
    with pytest.raises(InvalidInput, match=r"row 0: .*has no text"):
        read_parquet(path)
    (tmp_path / "junk.parquet").write_text("not parquet")
    with pytest.raises(InvalidInput, match="not a readable Parquet file"):
        read_parquet(tmp_path / "junk.parquet")


def test_jsonl_and_csv_items_carry_their_vector(tmp_path: Path) -> None:
    jsonl = tmp_path / "items.jsonl"
    jsonl.write_text(
        json.dumps({"id": "a", "vector": [1, 0, 0, 0]})
        + "\n"
        + json.dumps({"id": "b", "title": "t"})
        + "\n"
    )
    items = read_jsonl(jsonl)
    assert items[0].vector is not None and items[0].vector.tolist() == [1.0, 0.0, 0.0, 0.0]
    assert items[1].vector is None
    csv = tmp_path / "items.csv"
    csv.write_text('id,title,vector\na,x,"[0, 3, 4, 0]"\n')
    assert read_csv(csv)[0].vector.tolist() == pytest.approx([0.0, 0.6, 0.8, 0.0])  # type: ignore[union-attr]
    csv.write_text('id,title,vector\na,x,"[0, 3, nope]"\n')
    with pytest.raises(InvalidInput, match=r"items.csv:2: the vector cell"):
        read_csv(csv)
    jsonl.write_text(json.dumps({"id": "a", "vector": [1, "x"]}) + "\n")
    with pytest.raises(InvalidInput, match=r"items.jsonl:1: item 'a': vector\[1\] is str"):
        read_jsonl(jsonl)


def test_cli_adds_parquet_and_npy_vectors_to_a_collection_without_encoder(tmp_path: Path) -> None:
    want = vectors(30)
    path = parquet(
        tmp_path / "items.parquet", 30, vector=pa.array(list(want), pa.list_(pa.float32()))
    )
    col_path = tmp_path / "col"
    done = run("add", str(col_path), str(path), "--encoder", "none", "--dim", str(DIM))
    assert "added 30" in done.stderr
    np.save(tmp_path / "more.npy", vectors(5))
    more = tmp_path / "more.jsonl"
    more.write_text("".join(json.dumps({"id": f"m{i}", "kind": "more"}) + "\n" for i in range(5)))
    assert (
        "added 5"
        in run("add", str(col_path), str(more), "--vectors", str(tmp_path / "more.npy")).stderr
    )
    with sleuth.open(col_path) as col:
        assert col.count() == 35 and col.encoder.id == "none:4"
        assert np.allclose(col.vectors(["m2"])[0], vectors(5)[2] / np.linalg.norm(vectors(5)[2]))
    found = run(
        "search",
        str(col_path),
        "--vector",
        json.dumps(want[7].tolist()),
        "--mode",
        "dense",
        "--json",
    )
    assert json.loads(found.stdout)[0]["id"] == "p7"
    assert (
        "reads the query text"
        in run("search", str(col_path), "--vector", "[1, 0, 0, 0]", ok=False).stderr
    )
    assert "not a JSON array" in run("search", str(col_path), "--vector", "[1, 0", ok=False).stderr
    # a wrong-sized array is refused with nothing written
    np.save(tmp_path / "short.npy", vectors(4))
    bad = run("add", str(col_path), str(more), "--vectors", str(tmp_path / "short.npy"), ok=False)
    assert "shape [5, 4]" in bad.stderr
    missing = run(
        "add", str(col_path), str(more), "--vectors", str(tmp_path / "nope.npy"), ok=False
    )
    assert "nope.npy" in missing.stderr
    # a new collection that is not created: nothing left behind
    npy = str(tmp_path / "more.npy")
    new = run(
        "add", str(tmp_path / "new"), str(more), "--encoder", "none", "--vectors", npy, ok=False
    )
    assert "needs the dimension" in new.stderr and not (tmp_path / "new").exists()


def test_cli_parquet_integer_ids_and_a_bad_row_named_by_the_file(tmp_path: Path) -> None:
    want = vectors(12)
    path = tmp_path / "ints.parquet"
    columns = {
        "id": pa.array(range(12), pa.int64()),  # read as strings, as read_parquet reads them
        "title": [f"title {i}" for i in range(12)],
        "vector": pa.array(list(want), pa.list_(pa.float32())),
    }
    pq.write_table(pa.table(columns), path)
    col_path = tmp_path / "col"
    added = run("add", str(col_path), str(path), "--encoder", "none", "--dim", str(DIM))
    assert "added 12" in added.stderr
    with sleuth.open(col_path) as col:
        assert col.get("7").fields["title"] == "title 7"
    bad = tmp_path / "bad.parquet"
    pq.write_table(pa.table({**columns, "id": [f"n{i}" for i in range(11)] + ["x\ty"]}), bad)
    failed = run("add", str(col_path), str(bad), ok=False)
    assert "bad.parquet:row 11" in failed.stderr
    with sleuth.open(col_path) as col:
        assert col.count() == 12
