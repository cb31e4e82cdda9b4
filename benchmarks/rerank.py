"""The cross-encoder reranker (``Collection.train_reranker``, ``rerank="trained"``) against the
lists it reorders, in the same run, through ``search_batch``:

- SciFact: the learned ranker and the reranker trained on the 809 train queries (the reranker
  holds a seeded fifth of them out to choose its depth and blend: never a test query), scored
  on the 300 test queries: hybrid, ranked, reranked (hybrid + cross-encoder), ranked+reranked.
- Cranfield (``cranfield`` argument): 3-fold cross-validation over its queries, each fold's
  reranker trained on the other two folds with a capped budget.
- Training time, and the latency the reranker adds to hybrid (p50, p95 per query,
  interleaved).

Copies the cached MiniLM SciFact collection (benchmarks/.cache/scifact-minilm) into
``$SLEUTH_SCRATCH`` (default: the cache folder) so that training writes into the copy.
torch runs on one thread (other jobs share the cores). Writes results/rerank.json.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from _common import CACHE_DIR, open_cached, print_table, require_data, summary_row, write_result
from ranker import ndcg  # the learned ranker's benchmark: one nDCG for both

import sleuth
from sleuth.io.readers import read_beir

K = 100
MINUTES = float(os.environ.get("RERANK_MINUTES", "20"))  # training budget per model
SCRATCH = Path(os.environ.get("SLEUTH_SCRATCH", CACHE_DIR))
LATENCY_QUERIES = 30


def private_copy(path: Path, name: str) -> sleuth.Collection:
    dest = SCRATCH / name
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(path, dest, ignore=shutil.ignore_patterns("write.lock", "ranker"))
    return sleuth.open(dest)


def run_of(
    col: sleuth.Collection, queries: dict[str, str], mode: str, rerank: Any = None
) -> dict[str, dict[str, float]]:
    qids = list(queries)
    batch = col.search_batch([queries[q] for q in qids], k=K, mode=mode, rerank=rerank)
    return {q: {h.id: float(h.score) for h in hits} for q, hits in zip(qids, batch)}


def latency(col: sleuth.Collection, texts: list[str]) -> dict[str, dict[str, float]]:
    """Per-query ms of hybrid and hybrid + the reranker, alternating which goes first."""
    runs = {"hybrid": None, "reranked": "trained"}
    times: dict[str, list[float]] = {name: [] for name in runs}
    for i, text in enumerate(texts):
        for name in runs if i % 2 == 0 else reversed(list(runs)):
            start = time.perf_counter()
            col.search(text, k=10, mode="hybrid", rerank=runs[name])
            times[name].append((time.perf_counter() - start) * 1000)
    return {
        m: {
            "p50_ms": round(float(np.percentile(t, 50)), 2),
            "p95_ms": round(float(np.percentile(t, 95)), 2),
        }
        for m, t in times.items()
    }


def scifact(
    summary: list[dict[str, Any]], rows: list[list[Any]], out: dict[str, Any], save: Any
) -> None:
    path = require_data("beir", "scifact")
    train, test = read_beir(path, split="train"), read_beir(path, split="test")
    open_cached(None, test.corpus).close()  # the shared MiniLM SciFact collection
    with private_copy(CACHE_DIR / "scifact-minilm", "rerank-scifact") as col:
        res: dict[str, Any] = {"hybrid": ndcg(test.qrels, run_of(col, test.queries, "hybrid"))}
        start = time.perf_counter()
        col.train_ranker(train.qrels, train.queries)
        res["ranker_train_seconds"] = round(time.perf_counter() - start, 1)
        res["ranked"] = ndcg(test.qrels, run_of(col, test.queries, "ranked"))
        out["scifact"] = res
        save()
        print(f"  hybrid {res['hybrid']}, ranked {res['ranked']}", flush=True)
        start = time.perf_counter()
        manifest = col.train_reranker(train.qrels, train.queries, minutes=MINUTES, progress=True)
        res["reranker_train_seconds"] = round(time.perf_counter() - start, 1)
        res["reranker"] = {k: manifest[k] for k in ("params", "trained_from", "training", "serve")}
        save()
        print(
            f"  reranker trained in {res['reranker_train_seconds']} s; serve "
            f"{manifest['serve']['depth']} / {manifest['serve']['weight']}",
            flush=True,
        )
        res["reranked"] = ndcg(test.qrels, run_of(col, test.queries, "hybrid", "trained"))
        save()
        print(f"  reranked {res['reranked']}", flush=True)
        res["ranked+reranked"] = ndcg(test.qrels, run_of(col, test.queries, "ranked", "trained"))
        save()
        print(f"  ranked+reranked {res['ranked+reranked']}", flush=True)
        texts = list(test.queries.values())[:LATENCY_QUERIES]
        res["latency"] = latency(col, texts)
        save()
    lat = res["latency"]
    rows += [
        ["scifact", name, res[name]] for name in ("hybrid", "ranked", "reranked", "ranked+reranked")
    ]
    summary.append(
        summary_row(
            "SciFact test nDCG@10, reranked vs hybrid",
            res["reranked"],
            res["hybrid"],
            higher_is_better=True,
            target=1.0,
        )
    )
    summary.append(
        summary_row(
            "SciFact test nDCG@10, ranked+reranked vs ranked",
            res["ranked+reranked"],
            res["ranked"],
            higher_is_better=True,
            target=1.0,
        )
    )
    summary.append(
        summary_row(
            "SciFact added latency p50 ms, reranked vs hybrid",
            lat["reranked"]["p50_ms"],
            lat["hybrid"]["p50_ms"],
            higher_is_better=False,
            unit="ms",
        )
    )
    summary.append(
        summary_row(
            "SciFact added latency p95 ms, reranked vs hybrid",
            lat["reranked"]["p95_ms"],
            lat["hybrid"]["p95_ms"],
            higher_is_better=False,
            unit="ms",
        )
    )


def cranfield(
    summary: list[dict[str, Any]],
    rows: list[list[Any]],
    out: dict[str, Any],
    save: Any,
    folds: int = 3,
) -> None:
    from sleuth.evaluate.beir import evaluate_beir

    path = require_data("beir", "cranfield")
    report = evaluate_beir(path, ["hybrid"], cache_dir=CACHE_DIR / "eval")
    data = read_beir(path)
    qids = [q for q in data.queries if q in data.qrels]
    order = np.random.default_rng(0).permutation(len(qids))
    budget = MINUTES / folds
    with private_copy(Path(report["collection"]), "rerank-cranfield") as col:
        runs: dict[str, dict[str, dict[str, float]]] = {"hybrid": {}, "reranked": {}}
        seconds = []
        for held in np.array_split(order, folds):
            held_ids = {qids[i] for i in held}
            fit = {q: r for q, r in data.qrels.items() if q not in held_ids}
            start = time.perf_counter()
            col.train_reranker(fit, data.queries, minutes=budget, progress=True)
            seconds.append(round(time.perf_counter() - start, 1))
            part = {q: data.queries[q] for q in held_ids}
            runs["hybrid"].update(run_of(col, part, "hybrid"))
            runs["reranked"].update(run_of(col, part, "hybrid", "trained"))
        res = {name: ndcg(data.qrels, run) for name, run in runs.items()}
        out["cranfield"] = {
            **res,
            "folds": folds,
            "minutes_per_fold": budget,
            "train_seconds_per_fold": seconds,
        }
        save()
    rows += [["cranfield", f"{name} ({folds}-fold CV)", value] for name, value in res.items()]
    summary.append(
        summary_row(
            f"Cranfield nDCG@10 ({folds}-fold CV), reranked vs hybrid",
            res["reranked"],
            res["hybrid"],
            higher_is_better=True,
            target=1.0,
        )
    )


def main() -> None:
    torch.set_num_threads(1)
    started = time.perf_counter()
    summary: list[dict[str, Any]] = []
    rows: list[list[Any]] = []
    results: dict[str, Any] = {}
    only = sys.argv[1:] or ["scifact", "cranfield"]
    name = "rerank" if len(only) == 2 else f"rerank-{only[0]}"  # a partial run: its own file

    def save() -> None:
        write_result(
            name,
            peer="sleuth's own hybrid and learned ranker in the same run",
            parameters={"k": K, "encoder": "minilm", "minutes": MINUTES, "torch_threads": 1},
            results=results,
            summary=summary,
            started=started,
            notes=[
                "the reranker's depth and blend are chosen on train queries it "
                "held out of training; test queries are never seen in training"
            ],
        )

    if "scifact" in only:
        scifact(summary, rows, results, save)
    if "cranfield" in only:
        cranfield(summary, rows, results, save)
    print_table("cross-encoder reranker", ["dataset", "run", "nDCG@10"], rows)
    save()


if __name__ == "__main__":
    main()
