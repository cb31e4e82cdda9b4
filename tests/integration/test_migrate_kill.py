"""A cutover killed with SIGKILL at any moment leaves the old state or the new one, never a
mix: a child switches back and forth (cutover, rollback) until it is killed; the collection
then opens with one encoder, and searches exactly as a collection built with that encoder."""

from __future__ import annotations

import random
import subprocess
import sys
import time
from pathlib import Path

import pytest

import sleuth
from support import CATALOG, assert_same_hits, sigkill

SWITCHER = r"""
import sys
import sleuth

col = sleuth.open(sys.argv[1])
while True:
    phase = col.migration()["phase"]
    print(phase, flush=True)
    col.cutover() if phase == "ready" else col.rollback()
"""
QUERIES = ["telescope orbit", "flour butter", "seed compost", "harbor keel"]


@pytest.mark.slow
def test_a_cutover_killed_at_any_moment_is_old_or_new(tmp_path: Path) -> None:
    path = tmp_path / "col"
    with sleuth.open(path, encoder="hashing:64") as col:
        col.add(CATALOG)
        col.migrate("hashing:96", sample=40, wait=True)
    references = {}
    for encoder in ("hashing:64", "hashing:96"):
        references[encoder] = sleuth.open(tmp_path / encoder.replace(":", "-"), encoder=encoder)
        references[encoder].add(CATALOG)
    rng = random.Random(14)
    for _ in range(5):
        proc = subprocess.Popen(
            [sys.executable, "-c", SWITCHER, str(path)], stdout=subprocess.PIPE, text=True
        )
        assert proc.stdout is not None
        for _ in range(rng.randint(2, 4)):  # a few switches, then somewhere inside the next
            proc.stdout.readline()
        time.sleep(rng.uniform(0.0, 0.3))
        sigkill(proc)
        with sleuth.open(path) as col:
            encoder, phase = col.info()["encoder"], col.migration()["phase"]  # type: ignore[index]
            assert (encoder, phase) in {("hashing:64", "ready"), ("hashing:96", "switched")}
            for mode in ("dense", "hybrid"):
                for query in QUERIES:
                    assert_same_hits(
                        col.search(query, k=8, mode=mode),
                        references[encoder].search(query, k=8, mode=mode),
                    )
    for ref in references.values():
        ref.close()
