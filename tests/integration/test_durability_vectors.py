"""A bulk ingest of precomputed vectors killed with SIGKILL: the collection reopens with every
acknowledged batch, each item with its own vector (and its named space's, when it has one),
and nothing of the batch that was cut."""

from __future__ import annotations

import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import sleuth
from support import kill_writer

BATCH, DIM = 2000, 32

WRITER = r"""
import subprocess
import sys
import numpy as np
import sleuth

path, first, batch, dim = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
col = sleuth.open(path)
for b in range(first, first + 50):
    vectors = np.random.default_rng(b).standard_normal((batch, dim)).astype(np.float32)
    if col.config.spaces:  # the named space "img" (dot): the raw vectors, doubled
        vectors = {"default": vectors, "img": 2 * vectors}
    print(f"start {b}", flush=True)
    col.add([{"id": f"b{b}-{i}", "batch": b} for i in range(batch)], vectors=vectors)
    print(f"committed {b}", flush=True)
"""


def raw(b: int) -> np.ndarray:
    return np.random.default_rng(b).standard_normal((BATCH, DIM)).astype(np.float32)


def expected(b: int) -> np.ndarray:
    v = raw(b)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def run_and_kill(path: Path, first: int, rng: random.Random) -> int:
    """Start a writer at batch ``first``, SIGKILL it at a random point of a later batch;
    returns the last batch it reported committed."""
    cmd = [sys.executable, "-c", WRITER, str(path), str(first), str(BATCH), str(DIM)]
    return kill_writer(cmd, first, rng)[0]


@pytest.mark.parametrize("spaces", [None, {"img": {"dim": DIM, "metric": "dot"}}])
def test_sigkill_during_a_bulk_vector_ingest_keeps_whole_batches(
    tmp_path: Path, spaces: dict[str, dict[str, object]] | None
) -> None:
    path = tmp_path / "col"
    sleuth.open(path, encoder="none", dim=DIM, spaces=spaces).close()
    rng = random.Random(1212)
    present = 0
    for _ in range(3):
        committed = run_and_kill(path, present, rng)
        with sleuth.open(path) as col:
            count = col.count()
            assert count % BATCH == 0, f"a partial batch: {count} items"
            present = count // BATCH
            assert committed + 1 <= present <= committed + 2
            assert col.info()["indexes"]["dense"]["live"] == count
            if spaces:
                assert col.info()["indexes"]["dense-img"]["live"] == count
            assert not col.store.docnos_of([f"b{present}-{i}" for i in range(BATCH)])
            for b in rng.sample(range(present), 2):
                i = rng.randrange(BATCH)
                want = expected(b)[i]
                assert np.allclose(col.vectors([f"b{b}-{i}"])[0], want, atol=1e-6)
                hit = col.search(vector=want, k=1, mode="dense")[0]
                assert hit.id == f"b{b}-{i}" and hit.attributes == {"batch": b}
                if spaces:
                    doubled = 2 * raw(b)[i]
                    assert np.allclose(col.vectors([hit.id], space="img")[0], doubled, atol=1e-6)


# Killed between the vector file's fsync and the commit that names those rows (the one window
# the random kills above reach only sometimes): batch 3's vectors are on disk, its rows not.
KILL_AFTER_FILE = r"""
import os, signal, sys
import numpy as np
import sleuth
from sleuth.store.vectorlog import VectorLog

real_append = VectorLog.append
calls = []
def append(self, con, matrix):
    start = real_append(self, con, matrix)
    calls.append(start)
    if len(calls) == 4:
        os.kill(os.getpid(), signal.SIGKILL)
    return start
VectorLog.append = append
col = sleuth.open(sys.argv[1])
for b in range(4):
    vectors = np.random.default_rng(b).standard_normal((2000, 32)).astype(np.float32)
    col.add([{"id": f"b{b}-{i}", "batch": b} for i in range(2000)], vectors=vectors)
"""


def test_a_kill_after_the_vector_file_and_before_the_commit(tmp_path: Path) -> None:
    path = tmp_path / "col"
    sleuth.open(path, encoder="none", dim=DIM).close()
    proc = subprocess.run([sys.executable, "-c", KILL_AFTER_FILE, str(path)], check=False)
    assert proc.returncode == -9
    file = path / "sleuth.sqlite-vectors"
    assert file.stat().st_size == 4 * BATCH * DIM * 4  # batch 3's rows reached the file
    with sleuth.open(path) as col:
        assert col.count() == 3 * BATCH and not col.store.docnos_of(["b3-0"])
        assert np.allclose(col.vectors(["b2-7"])[0], expected(2)[7], atol=1e-6)
        # the next write cuts the rows no commit named and puts its own there
        col.add([{"id": f"c-{i}"} for i in range(BATCH)], vectors=raw(9))
        assert file.stat().st_size == 4 * BATCH * DIM * 4
        assert np.allclose(col.vectors(["c-5"])[0], expected(9)[5], atol=1e-6)
    with sleuth.open(path) as col:  # the indexes rebuilt from the store's file alone
        col.rebuild()
        assert np.allclose(
            col.vectors(["c-5", "b0-1"]), [expected(9)[5], expected(0)[1]], atol=1e-6
        )
        assert col.search(vector=expected(9)[5], k=1, mode="dense")[0].id == "c-5"


def test_a_vector_file_cut_short_is_reported_not_read_past(tmp_path: Path) -> None:
    path = tmp_path / "col"
    with sleuth.open(path, encoder="none", dim=DIM) as col:
        col.add([{"id": f"a{i}"} for i in range(BATCH)], vectors=raw(0))
    file = path / "sleuth.sqlite-vectors"
    with open(file, "r+b") as fh:
        fh.truncate(file.stat().st_size // 2)
    problems = [p for p in sleuth.store.diagnose(path) if p.kind == "vector"]
    assert len(problems) == 1 and "sleuth.sqlite-vectors holds 1000 vectors" in problems[0].message
    with sleuth.open(path) as col, pytest.raises(sleuth.CorruptIndex, match=r"sqlite-vectors"):
        col.rebuild()  # reads every vector from the store


def test_the_vector_file_grows_only_by_vectors_not_stored_yet(tmp_path: Path) -> None:
    path = tmp_path / "col"
    file = path / "sleuth.sqlite-vectors"
    v = raw(3)[:4]
    v[1] = v[0]  # two items, one vector: one row
    items = [{"id": f"s{i}", "n": i} for i in range(4)]
    with sleuth.open(path, encoder="none", dim=DIM) as col:
        col.add(items, vectors=v)
        assert file.stat().st_size == 3 * DIM * 4
        assert col.upsert(items, vectors=v).unchanged == 4  # nothing to write
        # a new version with the same vector keeps its row; a new vector takes one
        col.upsert([{"id": "s2", "n": 20}], vectors=v[2:3])
        assert file.stat().st_size == 3 * DIM * 4
        col.upsert([{"id": "s3", "n": 3}], vectors=raw(4)[:1])
        assert file.stat().st_size == 4 * DIM * 4
    with sleuth.open(path) as col:
        col.rebuild()  # every vector read back from the file
        want = expected(3)[:4]
        got = col.vectors(["s0", "s1", "s2", "s3"])
        assert np.allclose(got[:3], [want[0], want[0], want[2]], atol=1e-6)
        assert np.allclose(got[3], expected(4)[0], atol=1e-6)
        assert col.get("s2").attributes == {"n": 20}
