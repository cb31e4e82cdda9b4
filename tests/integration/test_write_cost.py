"""A small write costs the same at any size (the CI-sized smoke version of the scale benchmark,
``benchmarks/open_cost.py``): a 100-item upsert and the first search after it, in collections
of n and 10 n items, allocate and write within the issue's 1.5x of each other.

The counters are structural, not wall-clock (the machine is shared): the peak of memory the
write and the search allocate (tracemalloc sees numpy's arrays, so rebuilding an array of every
item or posting shows as an allocation that grows with the collection) and the bytes the process
writes (``wchar`` of ``/proc/self/io``: the database and any index file). Each upsert replaces
a run of 100 consecutive ids, so the database pages it rewrites are as many at both sizes (100
ids spread at random touch up to 100 B-tree pages, fewer in a small table). Medians of several
rounds: the index files are saved whole every tenth of the collection's size in changes, which
one round in many pays (its cost per change does not grow, but that round's does).
"""

from __future__ import annotations

import statistics
import tracemalloc
from pathlib import Path
from typing import Any

import pytest

import sleuth

SMALL, ROUNDS, UPSERT = 1_500, 7, 100
ALLOWED = 1.5
WORDS = [f"w{i}" for i in range(3000)]


def catalog(n: int) -> list[dict[str, Any]]:
    return [
        {
            "id": f"i{i:06d}",
            "title": f"{WORDS[i % 3000]} {WORDS[(i * 7) % 3000]}",
            "text": " ".join(WORDS[(i * j * 31 + j) % 3000] for j in range(1, 25)),
            "category": f"c{i % 50}",
            "price": float(i % 997),
            "tags": [f"t{i % 300}", f"t{(i * 7 + 1) % 300}"],
        }
        for i in range(n)
    ]


def wchar() -> int:
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("wchar:"):
            return int(line.split()[1])
    raise AssertionError("no wchar in /proc/self/io")


def costs(folder: Path, n: int) -> dict[str, float]:
    """Median peak allocation and bytes written of a 100-item upsert and the first search."""
    peaks, written = [], []
    with sleuth.open(folder, encoder="hashing") as col:
        col.add(catalog(n), progress=False)
        col.save()
        for r in range(ROUNDS + 1):
            token, first = f"zqfresh{r}x", (r * 997) % (n - UPSERT)
            batch = [
                {"id": f"i{first + j:06d}", "title": f"{token} new", "text": token,
                 "category": "c1", "price": float(r), "tags": ["t1", "t2"]}
                for j in range(UPSERT)
            ]  # fmt: skip
            before = wchar()
            tracemalloc.start()
            col.upsert(batch, progress=False)
            hits = col.search(token, k=10, where={"tags": {"in": ["t1", "t9"]}})
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
            after = wchar()
            assert hits and token in hits[0].fields["title"]  # the write is seen
            if r:  # the first round warms caches (numba, SQLite pages)
                peaks.append(peak)
                written.append(after - before)
    return {"peak": statistics.median(peaks), "written": statistics.median(written)}


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/io").exists(), reason="needs /proc/self/io (Linux)")
def test_a_small_write_costs_the_same_at_ten_times_the_size(tmp_path: Path) -> None:
    small = costs(tmp_path / "small", SMALL)
    large = costs(tmp_path / "large", 10 * SMALL)
    for what in ("peak", "written"):
        assert large[what] <= ALLOWED * small[what], (what, small, large)
