"""The learned ranker (mode ``ranked``, LightGBM LambdaMART) against the fusions it reorders,
in the same run, on the same collections:

- SciFact: trained on its 809 train queries (hyperparameters by cross-validation over those
  only: ``tune=True``), scored on the 300 test queries; against hybrid (the default fusion)
  and RRF (``FusionConfig(method="rrf")``).
- Cranfield: 5-fold cross-validation over its queries (each fold's ranker tuned on the other
  four folds only), against hybrid and RRF over all queries.
- From simulated clicks (``sleuth.rank.simulate``: a position-based user over SciFact's train
  qrels, shown the hybrid top 10 lightly shuffled): the ranker trained from N sessions alone,
  scored on the test queries, as a share of the judgment-trained ranker's gain over hybrid.
- Training time, and the latency ranked adds to hybrid (p50, p95 per query, interleaved).

Builds nothing new: it copies the cached MiniLM SciFact collection (benchmarks/.cache/
scifact-minilm) and the Cranfield eval collection of ``benchmarks/quality.py``, so that training
writes its ranker and search log into a copy.
Writes results/ranker.json.
"""

from __future__ import annotations

import shutil
import sys
import time
from typing import Any

import numpy as np
from _common import CACHE_DIR, open_cached, print_table, require_data, summary_row, write_result
from ranx import Qrels, Run, evaluate

import sleuth
from sleuth.config import FusionConfig
from sleuth.evaluate.beir import evaluate_beir
from sleuth.io.readers import read_beir
from sleuth.rank.simulate import simulate_sessions

K = 100
SESSIONS = (1_000, 3_000, 10_000, 30_000)
EXPLORE = {"rank_depth": 30, "shuffle": 4.0}  # a log with more exploration: one more point
RRF = FusionConfig(method="rrf")


def private_copy(path: Any, name: str) -> sleuth.Collection:
    """A copy of an eval collection (training writes into the collection folder)."""
    dest = CACHE_DIR / name
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(path, dest, ignore=shutil.ignore_patterns("write.lock", "ranker"))
    return sleuth.open(dest)


def run_of(col: sleuth.Collection, queries: dict[str, str], mode: str,
           fusion: FusionConfig | None = None) -> dict[str, dict[str, float]]:
    qids = list(queries)
    batch = col.search_batch([queries[q] for q in qids], k=K, mode=mode, fusion=fusion)
    return {q: {h.id: float(h.score) for h in hits} for q, hits in zip(qids, batch)}


def ndcg(qrels: dict[str, dict[str, int]], run: dict[str, dict[str, float]]) -> float:
    return round(float(evaluate(Qrels(qrels), Run(run), "ndcg@10", make_comparable=True)), 4)


def latency(col: sleuth.Collection, texts: list[str]) -> dict[str, dict[str, float]]:
    """Per-query ms of hybrid and ranked, alternating which goes first."""
    times: dict[str, list[float]] = {"hybrid": [], "ranked": []}
    for i, text in enumerate(texts):
        for mode in ("hybrid", "ranked") if i % 2 == 0 else ("ranked", "hybrid"):
            start = time.perf_counter()
            col.search(text, k=10, mode=mode)
            times[mode].append((time.perf_counter() - start) * 1000)
    return {m: {"p50_ms": round(float(np.percentile(t, 50)), 2),
                "p95_ms": round(float(np.percentile(t, 95)), 2)} for m, t in times.items()}


def scifact(summary: list[dict[str, Any]], rows: list[list[Any]]) -> dict[str, Any]:
    path = require_data("beir", "scifact")
    train, test = read_beir(path, split="train"), read_beir(path, split="test")
    open_cached(None, test.corpus).close()  # the shared MiniLM SciFact collection
    out: dict[str, Any] = {}
    with private_copy(CACHE_DIR / "scifact-minilm", "ranker-scifact") as col:
        base = {"hybrid": ndcg(test.qrels, run_of(col, test.queries, "hybrid")),
                "rrf": ndcg(test.qrels, run_of(col, test.queries, "hybrid", RRF))}
        start = time.perf_counter()
        manifest = col.train_ranker(train.qrels, train.queries, tune=True)
        seconds = time.perf_counter() - start
        ranked = ndcg(test.qrels, run_of(col, test.queries, "ranked"))
        lat = latency(col, list(test.queries.values()))
        out["judgments"] = {"ndcg@10": ranked, "baselines": base,
                            "train_seconds": round(seconds, 1),
                            "params": manifest["params"], "tuning": manifest["tuning"],
                            "latency": lat, "trained_from": manifest["trained_from"]}
        rows += [["scifact", "hybrid", base["hybrid"]], ["scifact", "RRF", base["rrf"]],
                 ["scifact", "ranked (809 train queries' qrels)", ranked]]
        summary.append(summary_row("SciFact test nDCG@10, ranked vs hybrid", ranked,
                                   base["hybrid"], higher_is_better=True, target=0.75,
                                   target_on="value"))
        summary.append(summary_row("SciFact added latency p50 ms, ranked vs hybrid",
                                   lat["ranked"]["p50_ms"], lat["hybrid"]["p50_ms"],
                                   higher_is_better=False, unit="ms"))
        summary.append(summary_row("SciFact added latency p95 ms, ranked vs hybrid",
                                   lat["ranked"]["p95_ms"], lat["hybrid"]["p95_ms"],
                                   higher_is_better=False, unit="ms"))
        # -- from simulated clicks, with the judgment run's hyperparameters -----------------
        shown = col.search_batch(list(train.queries.values()), k=20, mode="hybrid")
        rankings = {q: [h.id for h in hits] for q, hits in zip(train.queries, shown)}
        events = simulate_sessions(train.queries, rankings, train.qrels, max(SESSIONS), seed=7)
        gain = ranked - base["hybrid"]
        curve, recorded = [], 0
        for n in SESSIONS:
            for at in range(recorded, n, 5_000):
                col.record(events[at:min(n, at + 5_000)])
            recorded = n
            start = time.perf_counter()
            clicks = col.train_ranker(params=manifest["params"])
            took = time.perf_counter() - start
            value = ndcg(test.qrels, run_of(col, test.queries, "ranked"))
            share = (value - base["hybrid"]) / gain if gain > 0 else None
            curve.append({"sessions": n, "ndcg@10": value, "share_of_gain": share,
                          "train_seconds": round(took, 1), "log": clicks["trained_from"]})
            rows.append(["scifact", f"ranked from {n:,} simulated sessions", value])
            print(f"  {n:>6,} sessions: nDCG@10 {value:.4f} (share of gain {share})", flush=True)
        out["clicks"] = curve
        # the same number of sessions, shown from a wider, more shuffled list (exploration)
        wide = col.search_batch(list(train.queries.values()), k=EXPLORE["rank_depth"],
                                mode="hybrid")
        ranks = {q: [h.id for h in hits] for q, hits in zip(train.queries, wide)}
        explored = simulate_sessions(train.queries, ranks, train.qrels, max(SESSIONS),
                                     shuffle=EXPLORE["shuffle"], seed=8)
        with private_copy(CACHE_DIR / "scifact-minilm", "ranker-scifact-explore") as other:
            for at in range(0, len(explored), 5_000):
                other.record(explored[at:at + 5_000])
            other.train_ranker(params=manifest["params"])
            value = ndcg(test.qrels, run_of(other, test.queries, "ranked"))
        out["clicks_explored"] = {"sessions": max(SESSIONS), **EXPLORE, "ndcg@10": value,
                                  "share_of_gain": ((value - base["hybrid"]) / gain
                                                    if gain > 0 else None)}
        rows.append(["scifact", f"ranked from {max(SESSIONS):,} sessions, explored", value])
        best = curve[-1]
        summary.append(summary_row(
            f"SciFact gain from {best['sessions']:,} simulated sessions / from judgments",
            best["share_of_gain"], 1.0, higher_is_better=True, target=0.8, target_on="value"))
    return out


def cranfield(summary: list[dict[str, Any]], rows: list[list[Any]],
              folds: int = 5) -> dict[str, Any]:
    path = require_data("beir", "cranfield")
    report = evaluate_beir(path, ["hybrid"], cache_dir=CACHE_DIR / "eval")
    data = read_beir(path)
    qids = list(data.queries)
    order = np.random.default_rng(0).permutation(len(qids))
    with private_copy(report["collection"], "ranker-cranfield") as col:
        base = {"hybrid": ndcg(data.qrels, run_of(col, data.queries, "hybrid")),
                "rrf": ndcg(data.qrels, run_of(col, data.queries, "hybrid", RRF))}
        run: dict[str, dict[str, float]] = {}
        seconds = []
        for held in np.array_split(order, folds):
            held_ids = {qids[i] for i in held}
            fit_qrels = {q: r for q, r in data.qrels.items() if q not in held_ids}
            start = time.perf_counter()
            col.train_ranker(fit_qrels, data.queries, tune=True)
            seconds.append(time.perf_counter() - start)
            run.update(run_of(col, {q: data.queries[q] for q in held_ids}, "ranked"))
        ranked = ndcg(data.qrels, run)
    rows += [["cranfield", "hybrid", base["hybrid"]], ["cranfield", "RRF", base["rrf"]],
             ["cranfield", f"ranked ({folds}-fold CV)", ranked]]
    summary.append(summary_row("Cranfield nDCG@10 (5-fold CV), ranked vs hybrid", ranked,
                               base["hybrid"], higher_is_better=True, target=1.0))
    summary.append(summary_row("Cranfield nDCG@10 (5-fold CV), ranked vs RRF", ranked,
                               base["rrf"], higher_is_better=True, target=1.0))
    return {"ndcg@10": ranked, "baselines": base, "folds": folds,
            "train_seconds_per_fold": [round(s, 1) for s in seconds]}


def main() -> None:
    started = time.perf_counter()
    summary: list[dict[str, Any]] = []
    rows: list[list[Any]] = []
    results: dict[str, Any] = {}
    only = sys.argv[1:] or ["scifact", "cranfield"]
    if "cranfield" in only:
        results["cranfield"] = cranfield(summary, rows)
    if "scifact" in only:
        results["scifact"] = scifact(summary, rows)
    print_table("learned ranker", ["dataset", "run", "nDCG@10"], rows)
    name = "ranker" if len(only) == 2 else f"ranker-{only[0]}"  # a partial run: its own file
    write_result(name, peer="sleuth's own hybrid and RRF fusions in the same run",
                 parameters={"k": K, "sessions": list(SESSIONS), "encoder": "minilm"},
                 results=results, summary=summary, started=started,
                 notes=["hyperparameters chosen by cross-validation over training queries "
                        "only (tune=True); test queries are never seen in training"])


if __name__ == "__main__":
    main()
