"""Durability of the index saves: a SIGKILL while the BM25 and attribute folders are being
saved (rows appended, small parts rewritten, the manifest replaced) leaves the previous save
whole, so the collection reopens with every acknowledged batch, nothing partial, and no index
to rebuild."""

from __future__ import annotations

import random
import subprocess
import sys
import time
import warnings
from pathlib import Path

import sleuth
from support import sigkill

BATCH = 400

# Each batch adds items and deletes one item of the batch before (an in-place change of the
# saved live masks), then saves the indexes: the test aims its kill inside that save.
WRITER = r"""
import sys
import time
import sleuth

path, first, batches, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
col = sleuth.open(path, encoder="hashing")
for b in range(first, first + batches):
    col.add([{"id": f"b{b}-{i}", "text": f"tok{b}x{i} words every item shares", "batch": b,
              "tags": [f"t{b}", "all"]} for i in range(size)])
    if b:
        col.delete([f"b{b - 1}-0"])
    print(f"committed {b}", flush=True)
    print("saving", flush=True)
    started = time.perf_counter()
    col.save()
    print(f"saved {time.perf_counter() - started:.4f}", flush=True)
"""


def run_and_kill(path: Path, first: int, rng: random.Random) -> int:
    """Start a writer at batch ``first``, SIGKILL it at a random point of a save after a few
    commits; returns the last batch it reported committed."""
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path), str(first), "40", str(BATCH)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    wanted = first + rng.randint(1, 3)
    committed, save_times = first - 1, []
    try:
        for line in proc.stdout:
            word, *rest = line.split()
            if word == "saved":
                save_times.append(float(rest[0]))
            elif word == "committed":
                committed = int(rest[0])
            elif word == "saving" and committed >= wanted and save_times:
                time.sleep(rng.uniform(0.0, 1.0) * min(save_times))
                break
        assert committed >= wanted, "the writer stopped before it was killed"
    finally:
        tail = sigkill(proc)
    for line in tail:
        word, *rest = line.split()
        if word == "committed":
            committed = max(committed, int(rest[0]))
    return committed


def test_sigkill_during_a_segment_save_keeps_every_acknowledged_batch(tmp_path: Path) -> None:
    path = tmp_path / "col"
    sleuth.open(path, encoder="hashing").close()
    rng = random.Random(7)
    present = 0
    for _ in range(4):
        committed = run_and_kill(path, present, rng)
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            col = sleuth.open(path, encoder="hashing")
        with col:
            rebuilt = [str(w.message) for w in seen if "rebuilding" in str(w.message)]
            assert rebuilt == [], rebuilt  # the files the kill left are whole
            present = max(b for b in range(committed + 2) if col.store.docnos_of([f"b{b}-1"])) + 1
            assert committed + 1 <= present <= committed + 2
            # every batch whole, minus the one item each later batch deleted
            assert col.count() == present * BATCH - (present - 1)
            info = col.info()["indexes"]
            assert info["bm25"]["live"] == info["dense"]["live"] == col.count()
            for b in rng.sample(range(present), min(3, present)):
                i = rng.randrange(1, BATCH)
                assert [h.id for h in col.search(f"tok{b}x{i}", mode="lexical")] == [f"b{b}-{i}"]
                hits = col.search("shares", k=1000, where={"batch": b}, mode="lexical")
                assert len(hits) == BATCH - (b < present - 1)
                tagged = col.search("shares", k=1000, where={"tags": f"t{b}"}, mode="lexical")
                assert {h.id for h in tagged} == {h.id for h in hits}
            assert col.search(f"tok{present}x1", mode="lexical") == []
