"""Format 1 → 2 on open: the vectors items brought (``tests/fixtures/v1-given``, written by the
format 1 code) move from database blobs to the vector file, in one transaction; a kill at any
point of it leaves format 1 as it was, and the next open upgrades it."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

import sleuth
from sleuth.store import FORMAT_VERSION

FIXTURES = Path(__file__).parents[1] / "fixtures"
sys.path.insert(0, str(FIXTURES))

from build_v1_given import DIM, N, changed, vectors  # noqa: E402


def unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def expected() -> dict[str, np.ndarray]:
    """Every live item's vector, as the format 1 code stored it."""
    out = {f"g{i}": unit(v) for i, v in enumerate(vectors())}
    out["g0"] = unit(changed())
    del out["g2"]
    return out


def database(folder: Path) -> dict[str, object]:
    """What the database says of its format: version, columns of items, blobs of vectors."""
    with sqlite3.connect(folder / "sleuth.sqlite") as con:
        version = con.execute("SELECT value FROM meta WHERE key = 'format_version'").fetchone()
        columns = [r[1] for r in con.execute("PRAGMA table_info(items)")]
        blobs = con.execute("SELECT count(*) FROM vectors").fetchone()[0]
    con.close()
    return {"version": int(version[0]), "vrow": "vrow" in columns, "blobs": blobs}


def copy(tmp_path: Path) -> Path:
    target = tmp_path / "col"
    shutil.copytree(FIXTURES / "v1-given", target)
    return target


def check_upgraded(path: Path) -> None:
    want = expected()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a rebuild of an index warns: the upgrade needs none
        col = sleuth.open(path)
    with col:
        assert col.count() == len(want) == N - 1
        ids = sorted(want)
        assert np.allclose(col.vectors(ids), np.stack([want[i] for i in ids]), atol=1e-6)
        hit = col.search(vector=want["g0"], k=1, mode="dense")[0]
        assert hit.id == "g0"
        assert col.get("g1").attributes == {"n": 100}
    assert database(path) == {"version": FORMAT_VERSION, "vrow": True, "blobs": 0}
    # the file holds the live items' vectors, once each, and nothing past them
    size = (path / "sleuth.sqlite-vectors").stat().st_size
    assert size == len(want) * DIM * 4


def test_a_format_1_collection_with_given_vectors_is_upgraded_on_open(tmp_path: Path) -> None:
    path = copy(tmp_path)
    assert database(path) == {"version": 1, "vrow": False, "blobs": N}
    check_upgraded(path)
    check_upgraded(path)  # a second open finds format 2 and changes nothing
    with sleuth.open(path) as col:  # and writes go on in the new format
        col.upsert([{"id": "g3", "title": "item 3", "n": 3}], vectors=changed()[None] * -1)
        assert col.search(vector=-changed(), k=1, mode="dense")[0].id == "g3"
    with sleuth.open(path) as col:
        assert np.allclose(col.vectors(["g3"])[0], unit(-changed()), atol=1e-6)


# Kill points inside the upgrade's transaction: after the first chunk of vectors reached the
# file (fsynced), and after every statement but the commit.
KILLER = r"""
import os, signal, sys
import sleuth.store.upgrade as up
from sleuth.store.vectorlog import VectorLog

point = sys.argv[2]
up.CHUNK = 10
if point == "after-file":
    real_append = VectorLog.append
    def append(self, con, matrix):
        start = real_append(self, con, matrix)
        os.kill(os.getpid(), signal.SIGKILL)
    VectorLog.append = append
else:
    real_move = up._move_given
    def move(store, con, encoder):
        real_move(store, con, encoder)
        os.kill(os.getpid(), signal.SIGKILL)
    up._move_given = move
import sleuth
sleuth.open(sys.argv[1])
"""


@pytest.mark.parametrize("point", ["after-file", "before-commit"])
def test_a_kill_during_the_upgrade_leaves_format_1_readable(tmp_path: Path, point: str) -> None:
    path = copy(tmp_path)
    proc = subprocess.run([sys.executable, "-c", KILLER, str(path), point], check=False)
    assert proc.returncode == -9
    assert database(path) == {"version": 1, "vrow": False, "blobs": N}  # format 1, whole
    assert (path / "sleuth.sqlite-vectors").stat().st_size > 0  # rows no one refers to
    check_upgraded(path)  # the next open upgrades it and cuts those rows
