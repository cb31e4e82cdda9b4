"""BM25 throughput: sleuth's ``BM25Index`` against raw ``bm25s`` (numba backend), one thread.

Both sides do the same work per query: tokenize (lowercase, ``\\w\\w+``, English stopwords,
Snowball stemming) and score the top 10. Measured: batch queries/s (all queries in one call),
one-query-at-a-time queries/s, index build time, and how far the two top-10 lists agree.

    python benchmarks/lexical.py                     # SciFact (all 1,109 queries) and Cranfield
    python benchmarks/lexical.py --queries test      # only the queries with test judgements
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("NUMBA_NUM_THREADS", "1")  # single thread, before numba is imported

import numpy as np
from _common import (
    compare,
    machine_info,
    print_table,
    ratio,
    require_data,
    summary_row,
    write_result,
)

NAME = "lexical"
K = 10
TARGET = 0.8  # sleuth q/s >= 0.8 x bm25s q/s


def load(folder: Path, which: str) -> tuple[list[str], list[str]]:
    """Document texts (title + " " + text, as the engine joins them) and query texts."""
    from sleuth.io.readers import read_beir

    data = read_beir(folder)
    texts = [
        " ".join(item.fields[f] for f in ("title", "text") if item.fields.get(f))
        for item in data.corpus
    ]
    if which == "test":
        return texts, list(data.queries.values())
    with open(folder / "queries.jsonl", encoding="utf-8") as fh:
        queries = [json.loads(line)["text"] for line in fh if line.strip()]
    return texts, queries


class Bm25sSide:
    """Raw bm25s as its README shows it, tokenization included in every call."""

    def __init__(self) -> None:
        import bm25s
        import Stemmer

        self.bm25s = bm25s
        self.stemmer = Stemmer.Stemmer("english")
        self.backend = "numba"
        try:
            import numba  # noqa: F401
        except ImportError:
            self.backend = "numpy"
        self.model: Any = None

    def build(self, texts: list[str]) -> None:
        tokens = self.bm25s.tokenize(texts, stopwords="en", stemmer=self.stemmer,
                                     show_progress=False)
        model = self.bm25s.BM25(backend=self.backend)
        model.index(tokens, show_progress=False)
        self.model = model

    def search(self, queries: list[str]) -> tuple[np.ndarray, np.ndarray]:
        tokens = self.bm25s.tokenize(queries, stopwords="en", stemmer=self.stemmer,
                                     show_progress=False)
        docs, scores = self.model.retrieve(tokens, k=K, n_threads=1, show_progress=False)
        return np.asarray(docs), np.asarray(scores)

    def empty_queries(self, queries: list[str]) -> list[int]:
        """Queries left with no token after stopwords: they crash bm25s's numba path."""
        tokens = self.bm25s.tokenize(queries, stopwords="en", stemmer=self.stemmer,
                                     show_progress=False, return_ids=False)
        return [i for i, t in enumerate(tokens) if not [w for w in t if w]]


class SleuthSide:
    def __init__(self) -> None:
        from sleuth.config import BM25Config
        from sleuth.indexes.bm25 import BM25Index

        self.make = lambda: BM25Index(BM25Config())
        self.index: Any = None

    def build(self, texts: list[str]) -> None:
        index = self.make()
        index.add(np.arange(len(texts), dtype=np.int64), texts)
        self.index = index

    def search(self, queries: list[str]) -> tuple[np.ndarray, np.ndarray]:
        cands = self.index.search_batch(queries, K)
        return cands.docnos, cands.scores


def agreement(a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray]) -> dict[str, Any]:
    """Top-10 agreement that tolerates ties: overlap of the id sets, identical ranked lists, and
    the largest difference between the rank-sorted score lists (zero when only ties reorder)."""
    (ids_a, sc_a), (ids_b, sc_b) = a, b
    overlaps, same = [], 0
    for row_a, row_b in zip(ids_a.tolist(), ids_b.tolist(), strict=True):
        set_a, set_b = {d for d in row_a if d >= 0}, {d for d in row_b if d >= 0}
        overlaps.append(len(set_a & set_b) / max(len(set_a | set_b), 1) if set_a | set_b else 1.0)
        same += row_a == row_b
    finite = np.isfinite(sc_a) & np.isfinite(sc_b) & (ids_a >= 0) & (ids_b >= 0)
    diff = np.abs(np.sort(sc_a, 1) - np.sort(sc_b, 1))[finite]
    return {
        "mean_jaccard_at_10": float(np.mean(overlaps)),
        "queries_with_same_set": int(sum(o == 1.0 for o in overlaps)),
        "queries_with_identical_ranking": int(same),
        "queries": len(overlaps),
        "max_abs_score_diff": float(diff.max()) if diff.size else 0.0,
    }


def bench_dataset(name: str, folder: Path, args: argparse.Namespace) -> dict[str, Any]:
    texts, queries = load(folder, args.queries)
    peer, mine = Bm25sSide(), SleuthSide()
    empty = peer.empty_queries(queries)
    dropped = set(empty)
    queries = [q for i, q in enumerate(queries) if i not in dropped]
    print(f"\n{name}: {len(texts):,} documents, {len(queries):,} queries "
          f"({len(empty)} all-stopword queries left out), bm25s backend {peer.backend}")

    build = compare({"sleuth": lambda: mine.build(texts), "bm25s": lambda: peer.build(texts)},
                    repeat=args.repeat, warmup=1, n=len(texts))

    passes = args.passes
    batch = compare(
        {
            "sleuth": lambda: [mine.search(queries) for _ in range(passes)],
            "bm25s": lambda: [peer.search(queries) for _ in range(passes)],
        },
        repeat=args.repeat, warmup=1, n=len(queries) * passes,
    )
    single = compare(
        {
            "sleuth": lambda: [mine.search([q]) for q in queries],
            "bm25s": lambda: [peer.search([q]) for q in queries],
        },
        repeat=args.repeat, warmup=1, n=len(queries),
    )
    agree = agreement(mine.search(queries), peer.search(queries))
    return {
        "documents": len(texts),
        "queries": len(queries),
        "all_stopword_queries_left_out": len(empty),
        "bm25s_backend": peer.backend,
        "build": {k: v.to_dict("docs") for k, v in build.items()},
        "batch": {k: v.to_dict("queries") for k, v in batch.items()},
        "single": {k: v.to_dict("queries") for k, v in single.items()},
        "ratio": {
            "batch_qps": ratio(batch["sleuth"].rate, batch["bm25s"].rate),
            "single_qps": ratio(single["sleuth"].rate, single["bm25s"].rate),
            "build_time": ratio(build["sleuth"].median, build["bm25s"].median),
        },
        "agreement": agree,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=["scifact", "cranfield"])
    parser.add_argument("--queries", choices=["all", "test"], default="all",
                        help="all queries of queries.jsonl (default) or those judged in test")
    parser.add_argument("--repeat", type=int, default=7, help="timed runs per measurement (>= 5)")
    parser.add_argument("--passes", type=int, default=10,
                        help="batch calls per timed run, so a run lasts long enough to time")
    args = parser.parse_args()
    if args.repeat < 5:
        parser.error("--repeat must be at least 5")
    folders = {name: require_data("beir", name) for name in args.datasets}
    machine, started = machine_info(), time.perf_counter()

    results = {name: bench_dataset(name, folder, args) for name, folder in folders.items()}

    rows, summary = [], []
    for name, r in results.items():
        for mode, label in (("batch", "batch q/s"), ("single", "1-query q/s")):
            s = r[mode]["sleuth"]["median_queries_per_s"]
            p = r[mode]["bm25s"]["median_queries_per_s"]
            rows.append([f"{name} {label}", s, p, ratio(s, p)])
            summary.append(summary_row(f"{name} BM25 {label}", s, p, higher_is_better=True,
                                       target=TARGET if mode == "batch" else None, unit="q/s"))
        s, p = r["build"]["sleuth"]["median_s"], r["build"]["bm25s"]["median_s"]
        rows.append([f"{name} build s", s, p, ratio(s, p)])
        summary.append(summary_row(f"{name} BM25 build", s, p, higher_is_better=False, unit="s"))
    print_table("BM25, one thread: sleuth vs bm25s (medians)",
                ["measure", "sleuth", "bm25s", "sleuth/bm25s"], rows)
    print_table(
        "Top-10 agreement",
        ["dataset", "mean Jaccard@10", "same set", "same ranking", "queries", "max |Δscore|"],
        [[n, r["agreement"]["mean_jaccard_at_10"], r["agreement"]["queries_with_same_set"],
          r["agreement"]["queries_with_identical_ranking"], r["agreement"]["queries"],
          r["agreement"]["max_abs_score_diff"]] for n, r in results.items()],
    )
    write_result(
        NAME, peer="bm25s (numba backend, n_threads=1, PyStemmer english, stopwords en)",
        parameters={"k": K, "queries": args.queries, "repeat": args.repeat,
                    "batch_passes_per_run": args.passes, "threads": 1,
                    "target": f"sleuth batch q/s >= {TARGET} x bm25s"},
        results=results, summary=summary, machine=machine, started=started,
        notes=["Tokenization is inside every timed call on both sides.",
               "Runs of sleuth and bm25s alternate (ABBA) within one process."],
    )


if __name__ == "__main__":
    main()
