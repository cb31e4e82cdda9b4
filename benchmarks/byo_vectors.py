"""Bulk ingest with precomputed vectors: ``col.add(items, vectors=np.load(npy, mmap_mode="r"))``
into a fresh ``encoder="none"`` collection, at two sizes 10x apart (items/s, and the ratio of
the two: a cost that does not grow with the collection keeps it near 1).

Items: an id, a category of 100 values, a price; vectors: seeded Gaussian float32 of ``--dim``
(384, MiniLM's), saved once as ``.npy`` and memory-mapped as a user holding millions would.
Two dense settings: the default (faiss HNSW built once over 20,000 items, so its graph build is
in the figure) and ``exact_threshold`` above the size (no graph: the store, checks and the
other indexes alone). The peer is raw faiss building the same HNSW graph over the same vectors,
what sleuth's HNSW setting pays at the least.

    python benchmarks/byo_vectors.py                      # 10k and 100k items
    python benchmarks/byo_vectors.py --sizes 10000 --runs 1
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import faiss
import numpy as np
from _common import machine_info, print_table, summary_row, write_result

import sleuth

NAME = "byo_vectors"


def items_of(n: int) -> list[dict[str, Any]]:
    return [{"id": f"it{i}", "category": f"c{i % 100}", "price": float(i % 997)} for i in range(n)]


def sleuth_add(folder: Path, npy: Path, n: int, dim: int, exact: bool) -> float:
    """Seconds of ``add`` alone (the collection is opened before and closed after)."""
    dense = sleuth.DenseConfig(exact_threshold=n + 1) if exact else sleuth.DenseConfig()
    config = sleuth.CollectionConfig(encoder="none", dim=dim, dense=dense)
    col = sleuth.open(folder, config=config)
    items = items_of(n)
    vectors = np.load(npy, mmap_mode="r")
    start = time.perf_counter()
    result = col.add(items, vectors=vectors, progress=False)
    took = time.perf_counter() - start
    assert result.added == n and col.count() == n
    col.close()
    shutil.rmtree(folder)
    return took


def faiss_add(npy: Path, n: int, dim: int) -> float:
    """The same HNSW graph (sleuth's defaults: M 32, efConstruction 200) built by faiss."""
    vectors = np.ascontiguousarray(np.load(npy), np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    start = time.perf_counter()
    index = faiss.IndexHNSWFlat(dim, 32, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = 200
    index.add(vectors)
    return time.perf_counter() - start


def summarize(results: dict[str, Any], sizes: list[str]) -> list[dict[str, Any]]:
    """The README rows: items/s per size, with HNSW against faiss building the same graph."""
    out = []
    for n in sizes:
        r = results[n]
        out.append(summary_row(f"col.add items/s, {int(n):,} items, HNSW (peer: faiss HNSW add)",
                               r["hnsw"]["items_per_s"], r["faiss"]["items_per_s"],
                               higher_is_better=True))
        out.append(summary_row(f"col.add items/s, {int(n):,} items, exact (no graph)",
                               r["exact"]["items_per_s"], None, higher_is_better=True))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--runs", type=int, default=3, help="runs per size and setting")
    args = parser.parse_args()
    started = time.perf_counter()
    results: dict[str, Any] = {}
    work = Path(tempfile.mkdtemp(prefix="byo-"))
    try:
        for n in args.sizes:
            npy = work / f"v{n}.npy"
            np.save(npy, np.random.default_rng(n).standard_normal((n, args.dim), np.float32))
            runs: dict[str, list[float]] = {"hnsw": [], "exact": [], "faiss": []}
            for r in range(args.runs):  # interleaved, so a slow patch hits every setting
                runs["hnsw"].append(sleuth_add(work / f"c{r}h", npy, n, args.dim, exact=False))
                runs["exact"].append(sleuth_add(work / f"c{r}e", npy, n, args.dim, exact=True))
                runs["faiss"].append(faiss_add(npy, n, args.dim))
            results[str(n)] = {
                name: {"seconds": times, "items_per_s": n / float(np.median(times))}
                for name, times in runs.items()
            }
            npy.unlink()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    rows = []
    sizes = [str(n) for n in args.sizes]
    for name in ("hnsw", "exact", "faiss"):
        rates = [results[n][name]["items_per_s"] for n in sizes]
        growth = rates[-1] / rates[0] if len(rates) > 1 else None
        rows.append([name, *[round(r) for r in rates], growth and round(growth, 2)])
    for n in sizes:
        hnsw, peer = results[n]["hnsw"]["items_per_s"], results[n]["faiss"]["items_per_s"]
        results[n]["sleuth_vs_faiss_hnsw"] = hnsw / peer
    summary = summarize(results, sizes)
    print_table(
        f"col.add with precomputed vectors (dim {args.dim}, median of {args.runs})",
        ["setting", *[f"{n} items/s" for n in sizes], "ratio last/first"],
        rows,
    )
    write_result(
        NAME,
        peer="faiss IndexHNSWFlat.add (same vectors, M 32, efConstruction 200)",
        parameters=vars(args),
        results=results,
        summary=summary,
        started=started,
        machine=machine_info(),
    )


if __name__ == "__main__":
    main()
