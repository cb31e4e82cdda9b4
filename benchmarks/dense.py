"""ANN throughput and recall: sleuth's ``DenseIndex`` (HNSW mode) against raw faiss
``IndexHNSWFlat`` with the same M and efConstruction, one thread each.

The data is synthetic and seeded: a Gaussian mixture (clusters around random centres),
L2-normalized, searched by inner product; queries are fresh draws from the same mixture and
the ground truth is exact. Each library builds its graph once; the efSearch sweep reuses it.

    python benchmarks/dense.py                       # N=100,000, dim 384, 1,000 queries
    python benchmarks/dense.py --n 20000             # quicker
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from typing import Any

import faiss
import numpy as np
from _common import compare, machine_info, print_table, ratio, summary_row, write_result

NAME = "dense"
K = 10
TARGET = 0.8  # sleuth q/s >= 0.8 x faiss q/s at equal recall


def mixture(n: int, dim: int, centres: np.ndarray, spread: float,
            rng: np.random.Generator) -> np.ndarray:
    """``n`` unit vectors: a random centre each plus isotropic noise, normalized (in chunks)."""
    out = np.empty((n, dim), np.float32)
    for start in range(0, n, 20_000):
        m = min(20_000, n - start)
        x = centres[rng.integers(0, centres.shape[0], m)]
        x = x + spread * rng.standard_normal((m, dim), dtype=np.float32)
        out[start : start + m] = x / np.linalg.norm(x, axis=1, keepdims=True)
    return out


def exact_neighbours(base: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    """``int64[nq, k]`` true top-k by inner product (numpy, untimed)."""
    out = np.empty((queries.shape[0], k), np.int64)
    for start in range(0, queries.shape[0], 250):
        scores = queries[start : start + 250] @ base.T
        part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
        order = np.argsort(-np.take_along_axis(scores, part, 1), axis=1)
        out[start : start + 250] = np.take_along_axis(part, order, 1)
    return out


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    hits = sum(len(set(f.tolist()) & set(t.tolist())) for f, t in zip(found, truth, strict=True))
    return hits / truth.size


def equal_recall_rate(target_recall: float, recalls: list[float],
                      rates: list[float]) -> float | None:
    """The peer's q/s at ``target_recall``, interpolated on its recall/log(q/s) curve."""
    order = np.argsort(recalls)
    r, q = np.asarray(recalls)[order], np.log(np.asarray(rates)[order])
    if not r[0] - 1e-9 <= target_recall <= r[-1] + 1e-9:
        return None
    return float(np.exp(np.interp(target_recall, r, q)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--queries", type=int, default=1_000)
    parser.add_argument("--clusters", type=int, default=256)
    parser.add_argument("--spread", type=float, default=1.0,
                        help="noise scale around the centres (centres are standard normal)")
    parser.add_argument("--m", type=int, default=32)
    parser.add_argument("--ef-construction", type=int, default=200)
    parser.add_argument("--ef-search", type=int, nargs="+", default=[16, 32, 64, 128, 256])
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per measurement (>= 5)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.repeat < 5:
        parser.error("--repeat must be at least 5")
    machine, started = machine_info(), time.perf_counter()

    from sleuth.config import DenseConfig
    from sleuth.indexes.dense import DenseIndex

    faiss.omp_set_num_threads(1)
    rng = np.random.default_rng(args.seed)
    centres = rng.standard_normal((args.clusters, args.dim), dtype=np.float32)
    base = mixture(args.n, args.dim, centres, args.spread, rng)
    queries = mixture(args.queries, args.dim, centres, args.spread, rng)
    truth = exact_neighbours(base, queries, K)
    print(f"{args.n:,} x {args.dim} vectors in {args.clusters} clusters, {args.queries:,} queries; "
          f"M={args.m}, efConstruction={args.ef_construction}, 1 thread")

    config = DenseConfig(exact_threshold=min(1_000, args.n), hnsw_m=args.m,
                         ef_construction=args.ef_construction, ef_search=args.ef_search[0])
    t = time.perf_counter()
    mine = DenseIndex(config, args.dim)
    mine.add(np.arange(args.n, dtype=np.int64), base)
    build_sleuth = time.perf_counter() - t
    if mine.hnsw is None:
        raise SystemExit("sleuth's DenseIndex did not switch to HNSW; check exact_threshold")
    print(f"sleuth build: {build_sleuth:.1f} s")

    t = time.perf_counter()
    peer = faiss.IndexHNSWFlat(args.dim, args.m, faiss.METRIC_INNER_PRODUCT)
    peer.hnsw.efConstruction = args.ef_construction
    peer.add(base)
    build_faiss = time.perf_counter() - t
    print(f"faiss build: {build_faiss:.1f} s")

    def sleuth_batch() -> np.ndarray:
        return mine.search_batch(queries, K).docnos

    def faiss_batch() -> np.ndarray:
        return peer.search(queries, K)[1]

    def sleuth_single() -> None:
        for i in range(queries.shape[0]):
            mine.search_batch(queries[i : i + 1], K)

    def faiss_single() -> None:
        for i in range(queries.shape[0]):
            peer.search(queries[i : i + 1], K)

    sweep: list[dict[str, Any]] = []
    for ef in args.ef_search:
        mine.config = dataclasses.replace(config, ef_search=ef)
        peer.hnsw.efSearch = ef
        found_s, found_f = sleuth_batch(), faiss_batch()
        batch = compare({"sleuth": sleuth_batch, "faiss": faiss_batch}, repeat=args.repeat,
                        n=args.queries)
        single = compare({"sleuth": sleuth_single, "faiss": faiss_single}, repeat=args.repeat,
                         n=args.queries)
        point = {
            "ef_search": ef,
            "recall_at_10": {"sleuth": recall(found_s, truth), "faiss": recall(found_f, truth)},
            "identical_result_rows": int((found_s == found_f).all(axis=1).sum()),
            "batch": {k: v.to_dict("queries") for k, v in batch.items()},
            "single": {k: v.to_dict("queries") for k, v in single.items()},
        }
        sweep.append(point)
        print(f"efSearch {ef}: recall {point['recall_at_10']['sleuth']:.4f} / "
              f"{point['recall_at_10']['faiss']:.4f}, batch {batch['sleuth'].rate:,.0f} / "
              f"{batch['faiss'].rate:,.0f} q/s, single {single['sleuth'].rate:,.0f} / "
              f"{single['faiss'].rate:,.0f} q/s")

    rows, summary = [], []
    for mode in ("batch", "single"):
        f_recalls = [p["recall_at_10"]["faiss"] for p in sweep]
        f_rates = [p[mode]["faiss"]["median_queries_per_s"] for p in sweep]
        for p in sweep:
            s_rate, f_rate = p[mode]["sleuth"]["median_queries_per_s"], p[mode]["faiss"][
                "median_queries_per_s"]
            s_recall = p["recall_at_10"]["sleuth"]
            at_recall = equal_recall_rate(s_recall, f_recalls, f_rates)
            p.setdefault("ratio", {})[f"{mode}_qps_same_ef"] = ratio(s_rate, f_rate)
            p["ratio"][f"{mode}_qps_equal_recall"] = ratio(s_rate, at_recall) if at_recall else None
            rows.append([f"{mode} ef={p['ef_search']}", s_recall, p["recall_at_10"]["faiss"],
                         s_rate, f_rate, p["ratio"][f"{mode}_qps_same_ef"],
                         p["ratio"][f"{mode}_qps_equal_recall"]])
            summary.append(summary_row(
                f"HNSW {'batch' if mode == 'batch' else '1-query'} q/s, efSearch {p['ef_search']} "
                f"(recall@10 {s_recall:.3f})",
                s_rate, at_recall if at_recall else f_rate, higher_is_better=True, target=TARGET,
                unit="q/s",
            ))
    summary.append(summary_row("HNSW build (100k)" if args.n == 100_000 else "HNSW build",
                               build_sleuth, build_faiss, higher_is_better=False, unit="s"))
    print_table(
        f"HNSW, {args.n:,} x {args.dim}, 1 thread: sleuth vs faiss (medians of {args.repeat})",
        ["mode", "recall sleuth", "recall faiss", "sleuth q/s", "faiss q/s", "ratio same ef",
         "ratio equal recall"],
        rows,
    )
    print_table("Build (once each)", ["", "sleuth", "faiss", "sleuth/faiss"],
                [["seconds", build_sleuth, build_faiss, ratio(build_sleuth, build_faiss)]])
    write_result(
        NAME, peer=f"faiss IndexHNSWFlat (faiss-cpu {faiss.__version__}), inner product",
        parameters={**{k: v for k, v in vars(args).items()}, "k": K, "threads": 1,
                    "metric": "inner product on unit vectors",
                    "target": f"sleuth q/s >= {TARGET} x faiss at equal recall"},
        results={"build_s": {"sleuth": build_sleuth, "faiss": build_faiss,
                             "ratio": ratio(build_sleuth, build_faiss)},
                 "sweep": sweep},
        summary=summary, machine=machine, started=started,
        notes=[
            "Each graph is built once (one timing, not repeated); the sweep reuses it.",
            "The ratio at equal recall interpolates faiss's q/s on its recall/log(q/s) curve at "
            "sleuth's recall; with identical graphs it equals the ratio at the same efSearch.",
            "sleuth's exact fallback and filtered scans read the HNSW graph's own float32 "
            "storage: each vector is held once in memory.",
        ],
    )


if __name__ == "__main__":
    main()
