"""A writer killed with SIGKILL while it saves the dense index (appending to its vector and
IVF code files, then replacing the index file): the collection reopens with every
acknowledged batch, loads the saved index (no rebuild), and nothing partial; a crash that left
bytes past the counted rows does not leak into the rows of the next save."""

from __future__ import annotations

import random
import sys
import warnings
from pathlib import Path

import numpy as np

import sleuth
from support import kill_writer

BATCH, DIM = 400, 64

WRITER = r"""
import sys
import time
import numpy as np
import sleuth

path, first, batch, dim = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
col = sleuth.open(path)
for b in range(first, first + 50):
    vectors = np.random.default_rng(b).standard_normal((batch, dim)).astype(np.float32)
    col.add([{"id": f"b{b}-{i}", "batch": b} for i in range(batch)], vectors=vectors)
    print(f"committed {b}", flush=True)
    print("writing", flush=True)  # kill_writer's word for the span it aims at: here a save
    started = time.perf_counter()
    col.save()
    print(f"written {time.perf_counter() - started}", flush=True)
"""


def expected(b: int) -> np.ndarray:
    v = np.random.default_rng(b).standard_normal((BATCH, DIM)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_sigkill_during_a_dense_save_keeps_whole_batches(tmp_path: Path) -> None:
    path = tmp_path / "col"
    config = sleuth.CollectionConfig(
        encoder="none", dim=DIM, dense=sleuth.DenseConfig(exact_threshold=BATCH)
    )
    sleuth.open(path, config=config).close()
    rng = random.Random(3131)
    present = 0
    for _ in range(4):
        cmd = [sys.executable, "-c", WRITER, str(path), str(present), str(BATCH), str(DIM)]
        committed, last = kill_writer(cmd, present, rng, aim="write")
        assert last == "writing"  # killed inside a save
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # a damaged index file would be rebuilt, with a warning
            col = sleuth.open(path)
        with col:
            count = col.count()
            assert count % BATCH == 0, f"a partial batch: {count} items"
            present = count // BATCH
            assert committed + 1 <= present <= committed + 2
            dense = col.info()["indexes"]["dense"]
            assert dense["kind"] == "ivf" and dense["live"] == count
            for b in rng.sample(range(present), 3):
                i = rng.randrange(BATCH)
                want = expected(b)[i]
                hit = col.search(vector=want, k=1, mode="dense")[0]
                assert hit.id == f"b{b}-{i}" and hit.attributes == {"batch": b}
                assert abs(hit.score - 1.0) < 1e-5  # its own vector, from the vector file
    files = sorted(p.name for p in (path / "index").iterdir())
    assert sum(name.endswith(".f32") for name in files) <= 2  # stale files are removed
