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
FSYNC_DELAY = 0.025  # seconds each fsync of the dense save takes in the writer (a slow disk)

# The writer wraps ``DenseIndex.save`` (not ``col.save``, which saves the attribute table and
# BM25 first) in the words ``kill_writer`` aims at: "writing" just before the dense files are
# written, "written SECONDS" after. That save takes ~2 ms here, about what it takes the test
# to read "writing" and wake up, so most kills landed after it; a slow fsync (during the dense
# save only) stretches it to ~100 ms, and the kill lands between its steps: vectors appended
# but not counted, codes too, the new index file written aside, renamed before stale files
# are removed. (A save after a kill that left bytes past the counted rows writes new files:
# more fsyncs, a longer save; a kill timed from it alone may miss a shorter one, and the round
# is retried.)
WRITER = r"""
import os
import sys
import time
import numpy as np
import sleuth
from sleuth.indexes.dense import DenseIndex

path, first, batch, dim = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
delay = float(sys.argv[5])
real_fsync, real_save, slow = os.fsync, DenseIndex.save, False

def fsync(fd):
    if slow:
        time.sleep(delay)
    real_fsync(fd)

def save(self, path):
    global slow
    print("writing", flush=True)
    started, slow = time.perf_counter(), True
    try:
        real_save(self, path)
    finally:
        slow = False
    print(f"written {time.perf_counter() - started}", flush=True)

os.fsync, DenseIndex.save = fsync, save
col = sleuth.open(path)
for b in range(first, first + 50):
    vectors = np.random.default_rng(b).standard_normal((batch, dim)).astype(np.float32)
    col.add([{"id": f"b{b}-{i}", "batch": b} for i in range(batch)], vectors=vectors)
    print(f"committed {b}", flush=True)
    col.save()
"""


def expected(b: int) -> np.ndarray:
    v = np.random.default_rng(b).standard_normal((BATCH, DIM)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def batch_ids(b: int) -> list[str]:
    return [f"b{b}-{i}" for i in range(BATCH)]


def test_sigkill_during_a_dense_save_keeps_whole_batches(tmp_path: Path) -> None:
    path = tmp_path / "col"
    config = sleuth.CollectionConfig(
        encoder="none", dim=DIM, dense=sleuth.DenseConfig(exact_threshold=BATCH)
    )
    with sleuth.open(path, config=config) as col:
        # batch 0 saved: the writers' saves append to the files (a first save writes them
        # anew: a longer save, whose time would aim the kill past the shorter ones)
        col.add([{"id": i, "batch": 0} for i in batch_ids(0)], vectors=expected(0))
        col.save()
    rng = random.Random(3131)
    present = 1  # batches in the store
    last_lines: list[str] = []
    for _ in range(8):
        if len(last_lines) >= 4 and last_lines.count("writing") >= 3:
            break  # later rounds only retry kills that missed the dense save
        cmd = [sys.executable, "-c", WRITER, str(path), str(present), str(BATCH), str(DIM),
               str(FSYNC_DELAY)]  # fmt: skip
        committed, last = kill_writer(cmd, present, rng, aim="write")
        last_lines.append(last)  # "writing": killed inside the dense save
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # a damaged index file would be rebuilt, with a warning
            col = sleuth.open(path)
        with col:
            count = col.count()
            assert count % BATCH == 0, f"a partial batch: {count} items"
            present = count // BATCH
            # every reported batch is there; at most one more (killed after its commit,
            # before it could print)
            assert committed + 1 <= present <= committed + 2
            found = col.store.docnos_of([i for b in range(present) for i in batch_ids(b)])
            assert len(found) == count
            assert not col.store.docnos_of(batch_ids(present))
            dense = col.info()["indexes"]["dense"]
            assert dense["kind"] == "ivf" and dense["live"] == count
            for b in range(present):  # a vector of each batch, from the vector file
                i = rng.randrange(BATCH)
                hit = col.search(vector=expected(b)[i], k=1, mode="dense")[0]
                assert hit.id == f"b{b}-{i}" and hit.attributes == {"batch": b}
                assert abs(hit.score - 1.0) < 1e-5
    assert last_lines.count("writing") >= 3, f"too few kills inside a dense save: {last_lines}"
    files = sorted(p.name for p in (path / "index").iterdir())
    assert sum(name.endswith(".f32") for name in files) <= 2  # stale files are removed
