"""A column by column bulk ingest (Arrow tables of items with text and attributes, their vectors
in one array) killed with SIGKILL, inside its write transaction or anywhere in a batch: the
collection reopens with every acknowledged batch, searchable by text, vector and attribute,
and nothing of the batch that was cut."""

from __future__ import annotations

import random
import sys
from pathlib import Path

import numpy as np
import pytest

import sleuth
from support import kill_writer, timed_write

BATCH, DIM = 3000, 16

WRITER = (
    r"""
import sys
import time
import numpy as np
import pyarrow as pa
import sleuth

path, first, batch, dim = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
col = sleuth.open(path)
"""
    + timed_write("write_columns")
    + r"""
for b in range(first, first + 50):
    table = pa.table({
        "id": [f"b{b}-{i}" for i in range(batch)],
        "title": [f"batch{b} item{i}" for i in range(batch)],
        "batch": [b] * batch,
        "tags": [[f"t{b}", f"u{i % 7}"] for i in range(batch)],
    })
    vectors = np.random.default_rng(b).standard_normal((batch, dim)).astype(np.float32)
    col.add(table, vectors=vectors)
    print(f"committed {b}", flush=True)
"""
)


@pytest.mark.parametrize("aim", ["batch", "write"])
def test_sigkill_during_a_column_ingest_keeps_whole_batches(tmp_path: Path, aim: str) -> None:
    path = tmp_path / "col"
    sleuth.open(path, encoder="none", dim=DIM).close()
    rng = random.Random(4242)
    present = 0
    for _ in range(2):
        cmd = [sys.executable, "-c", WRITER, str(path), str(present), str(BATCH), str(DIM)]
        committed, _ = kill_writer(cmd, present, rng, aim=aim)
        with sleuth.open(path) as col:
            count = col.count()
            assert count % BATCH == 0, f"a partial batch: {count} items"
            present = count // BATCH
            assert committed + 1 <= present <= committed + 2
            info = col.info()["indexes"]
            assert info["dense"]["live"] == info["bm25"]["live"] == count
            assert not col.store.docnos_of([f"b{present}-{i}" for i in range(BATCH)])
            for b in rng.sample(range(present), 2):
                i = rng.randrange(BATCH)
                raw = np.random.default_rng(b).standard_normal((BATCH, DIM)).astype(np.float32)
                want = raw[i] / np.linalg.norm(raw[i])
                assert np.allclose(col.vectors([f"b{b}-{i}"])[0], want, atol=1e-6)
                hit = col.search(vector=want, k=1, mode="dense")[0]
                assert hit.id == f"b{b}-{i}" and hit.attributes["batch"] == b
                found = col.search(f"batch{b} item{i}", k=1, mode="lexical")[0]
                assert found.id == f"b{b}-{i}"
                where = {"tags": f"t{b}", "batch": b}
                tagged = col.search(vector=want, k=1000, mode="dense", where=where)
                assert len(tagged) == 1000 and {h.attributes["batch"] for h in tagged} == {b}
