"""A bulk ingest of precomputed vectors killed with SIGKILL: the collection reopens with every
acknowledged batch, each item with its own vector (and its named space's, when it has one),
and nothing of the batch that was cut."""

from __future__ import annotations

import random
import sys
from pathlib import Path

import numpy as np
import pytest

import sleuth
from support import kill_writer

BATCH, DIM = 2000, 32

WRITER = r"""
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
