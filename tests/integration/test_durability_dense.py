"""A writer killed with SIGKILL while it saves the dense index (appending to its vector and
IVF code files, then replacing the index file): the collection reopens with every
acknowledged batch, loads the saved index (no rebuild), and nothing partial; a crash that left
bytes past the counted rows does not leak into the rows of the next save."""

from __future__ import annotations

import random
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np

import sleuth
from support import sigkill

BATCH, DIM = 400, 64

WRITER = r"""
import sys
import numpy as np
import sleuth

path, first, batch, dim = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
col = sleuth.open(path)
for b in range(first, first + 50):
    vectors = np.random.default_rng(b).standard_normal((batch, dim)).astype(np.float32)
    col.add([{"id": f"b{b}-{i}", "batch": b} for i in range(batch)], vectors=vectors)
    print(f"committed {b}", flush=True)
    print(f"saving {b}", flush=True)
    col.save()
    print(f"saved {b}", flush=True)
"""


def expected(b: int) -> np.ndarray:
    v = np.random.default_rng(b).standard_normal((BATCH, DIM)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


class Progress:
    """What the writer reported: the last batch committed, and how long its saves took."""

    def __init__(self, committed: int) -> None:
        self.committed, self.saves, self._started = committed, [0.0], 0.0

    def read(self, line: str) -> int | None:
        """Take one line; the batch number when it says a save starts."""
        word, number = line.split()
        if word == "committed":
            self.committed = max(self.committed, int(number))
        elif word == "saved":
            self.saves.append(time.monotonic() - self._started)
        elif word == "saving":
            self._started = time.monotonic()
            return int(number)
        return None


def run_and_kill(path: Path, first: int, rng: random.Random) -> int:
    """Start a writer at batch ``first`` and SIGKILL it just after it starts a save (within
    a save's duration, measured on the saves before); returns the last batch committed."""
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path), str(first), str(BATCH), str(DIM)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    wanted = first + rng.randint(2, 4)
    progress = Progress(first - 1)
    try:
        for line in proc.stdout:
            saving = progress.read(line)
            if saving is not None and saving >= wanted:
                time.sleep(rng.uniform(0.0, 1.0) * max(progress.saves))
                break
        assert progress.committed >= wanted, "the writer stopped before it was killed"
    finally:
        for line in sigkill(proc):
            progress.read(line)
    return progress.committed


def test_sigkill_during_a_dense_save_keeps_whole_batches(tmp_path: Path) -> None:
    path = tmp_path / "col"
    config = sleuth.CollectionConfig(
        encoder="none", dim=DIM, dense=sleuth.DenseConfig(exact_threshold=BATCH)
    )
    sleuth.open(path, config=config).close()
    rng = random.Random(3131)
    present = 0
    for _ in range(4):
        committed = run_and_kill(path, present, rng)
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
