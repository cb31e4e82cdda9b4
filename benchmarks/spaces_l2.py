"""Recall@10 of an l2 named space above the exact threshold (the float32 IVF by faiss
``METRIC_L2``, rescored) against numpy brute force, next to the inner-product trick in the same
run: a ``dot`` space holding each vector with one more coordinate, ``-|x|^2 / 2``, and queries
with a 1 there: ``q.x - |x|^2 / 2 = (|q|^2 - |q - x|^2) / 2`` ranks exactly as the l2 distance.

Data: seeded clustered float32 vectors (``--clusters`` centres of lengths 1 to 5, noise around
them), not normalized; queries are held-out points of the same mixture. Through the public
API: ``add(items, vectors={...})``, ``search(vector=..., space=..., mode="dense")``.

    python benchmarks/spaces_l2.py                  # 100k items, dim 64
    python benchmarks/spaces_l2.py --n 20000 --queries 100
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import machine_info, print_table, summary_row, write_result

import sleuth
from sleuth import CollectionConfig, SpaceConfig

NAME = "spaces_l2"
K = 10


def clustered(n: int, dim: int, clusters: int, rng: np.random.Generator) -> np.ndarray:
    centres = rng.standard_normal((clusters, dim)) * rng.uniform(1, 5, (clusters, 1))
    centres /= np.sqrt(dim)
    x = centres[rng.integers(0, clusters, n)] + 0.3 * rng.standard_normal((n, dim)) / np.sqrt(dim)
    return x.astype(np.float32)


def brute(docs: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """Rows of the K nearest by squared Euclidean distance, in float64."""
    x, q = docs.astype(np.float64), queries.astype(np.float64)
    d = (q**2).sum(1)[:, None] - 2 * q @ x.T + (x**2).sum(1)[None, :]
    return np.argsort(d, axis=1, kind="stable")[:, :K]


def recall(got: list[list[int]], truth: np.ndarray) -> float:
    return float(np.mean([len(set(g) & set(t.tolist())) / K for g, t in zip(got, truth)]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--dim", type=int, default=64)
    ap.add_argument("--clusters", type=int, default=200)
    ap.add_argument("--queries", type=int, default=200)
    args = ap.parse_args()
    started = time.perf_counter()
    rng = np.random.default_rng(7)
    mixed = clustered(args.n + args.queries, args.dim, args.clusters, rng)
    docs, queries = mixed[: args.n], mixed[args.n :]
    half_squares = -0.5 * (docs.astype(np.float64) ** 2).sum(1)
    trick = np.hstack([docs, half_squares.astype(np.float32)[:, None]])  # the trick's rows
    truth = brute(docs, queries)
    spaces = {
        "geo": SpaceConfig(dim=args.dim, metric="l2"),
        "trick": SpaceConfig(dim=args.dim + 1, metric="dot"),
    }
    folder = Path(tempfile.mkdtemp(prefix="spaces_l2-"))
    results: dict[str, dict[str, float | str]] = {}
    try:
        config = CollectionConfig(spaces=spaces)
        col = sleuth.open(folder / "col", encoder="none", dim=8, config=config)
        items = [{"id": f"i{i}"} for i in range(args.n)]
        default = rng.standard_normal((args.n, 8)).astype(np.float32)  # the default space's
        t0 = time.perf_counter()
        col.add(items, vectors={"default": default, "geo": docs, "trick": trick})
        add_s = time.perf_counter() - t0
        kinds = {name: col.info()["indexes"][f"dense-{name}"]["kind"] for name in spaces}
        one = np.ones((args.queries, 1), np.float32)
        for name, qs in (("geo", queries), ("trick", np.hstack([queries, one]))):
            got, times = [], []
            for q in qs:
                t = time.perf_counter()
                hits = col.search(vector=q, k=K, space=name, mode="dense")
                times.append(time.perf_counter() - t)
                got.append([int(h.id[1:]) for h in hits])
            results[name] = {
                "index": kinds[name],
                "recall@10": recall(got, truth),
                "median_ms": 1000 * float(np.median(times)),
            }
        col.close()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    geo, peer = results["geo"], results["trick"]
    print_table(
        f"l2 space vs the inner-product trick, {args.n} items, dim {args.dim} (add {add_s:.1f} s)",
        ["space", "index", "recall@10", "median ms"],
        [[k, v["index"], v["recall@10"], v["median_ms"]] for k, v in results.items()],
    )
    write_result(
        NAME,
        peer="the inner-product trick (dot space over [x, -|x|^2/2], queries [q, 1]); truth: numpy",
        parameters=vars(args),
        results={"add_s": add_s, **results},
        summary=[
            summary_row(
                "recall@10",
                float(geo["recall@10"]),
                float(peer["recall@10"]),
                higher_is_better=True,
            ),
            summary_row(
                "median search ms",
                float(geo["median_ms"]),
                float(peer["median_ms"]),
                higher_is_better=False,
            ),
        ],
        started=started,
        machine=machine_info(),
    )


if __name__ == "__main__":
    main()
