"""The learned ranker (mode ``ranked``, LightGBM LambdaMART) against the fusions it reorders,
in the same run, on the same collections:

- SciFact: trained on its 809 train queries (hyperparameters by cross-validation over those
  only: ``tune=True``), scored on the 300 test queries; against hybrid (the default fusion)
  and RRF (``FusionConfig(method="rrf")``).
- Cranfield: 5-fold cross-validation over its queries (each fold's ranker tuned on the other
  four folds only), against hybrid and RRF over all queries.
- From simulated clicks (``sleuth.rank.simulate``: a position-based user over SciFact's train
  qrels, shown the hybrid top 10 lightly shuffled): the ranker trained from N sessions alone
  (two logs per N, default hyperparameters), scored on the test queries, as a share of the
  judgment-trained ranker's gain over hybrid; the click model's propensities against the
  simulated user's; the ceiling of any labelling of such a log (the simulator's own judgments
  of exactly the pairs it showed); and a log shown from a wider, more shuffled list.
- Training time, and the latency ranked adds to hybrid (p50, p95 per query, interleaved).

Builds nothing new: it copies the cached MiniLM SciFact collection (benchmarks/.cache/
scifact-minilm) and the Cranfield eval collection of ``benchmarks/quality.py``, so that training
writes its ranker and search log into a copy.
Writes results/ranker.json.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import time
from collections.abc import Iterator
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
SESSIONS = (1_000, 3_000, 10_000, 30_000, 100_000)
LOG_SEEDS = (7, 11)  # two simulated logs per point: one log's figure varies by +-0.01
CEILING_SESSIONS = 30_000
EXPLORE = {"rank_depth": 30, "shuffle": 4.0}  # a log with more exploration: one more point
RRF = FusionConfig(method="rrf")


@contextlib.contextmanager
def private_copy(path: Any, name: str) -> Iterator[sleuth.Collection]:
    """A copy of an eval collection (training writes into the collection folder), named for
    this process so that runs side by side never share one, and deleted after."""
    dest = CACHE_DIR / f"{name}-{os.getpid()}"
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(path, dest, ignore=shutil.ignore_patterns("write.lock", "ranker"))
    try:
        with sleuth.open(dest) as col:
            yield col
    finally:
        shutil.rmtree(dest, ignore_errors=True)


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
        # -- from simulated clicks alone (default hyperparameters: a log has no judgments) --
        shown = col.search_batch(list(train.queries.values()), k=20, mode="hybrid")
        rankings = {q: [h.id for h in hits] for q, hits in zip(train.queries, shown)}
        out["clicks"] = click_curve(col, train, test, rankings, base["hybrid"], ranked, rows)
        out["clicks_ceiling"] = shown_ceiling(col, train, test, rankings, base["hybrid"], ranked)
        rows.append(["scifact", f"ranked from perfect labels of what {CEILING_SESSIONS:,} "
                     "sessions showed", out["clicks_ceiling"]["ndcg@10"]])
        # the same number of sessions, shown from a wider, more shuffled list (exploration)
        wide = col.search_batch(list(train.queries.values()), k=EXPLORE["rank_depth"],
                                mode="hybrid")
        ranks = {q: [h.id for h in hits] for q, hits in zip(train.queries, wide)}
        explored = simulate_sessions(train.queries, ranks, train.qrels, CEILING_SESSIONS,
                                     shuffle=EXPLORE["shuffle"], seed=8)
        with private_copy(CACHE_DIR / "scifact-minilm", "ranker-scifact-explore") as other:
            record(other, explored)
            other.train_ranker()
            value = ndcg(test.qrels, run_of(other, test.queries, "ranked"))
        gain = ranked - base["hybrid"]
        out["clicks_explored"] = {"sessions": CEILING_SESSIONS, **EXPLORE, "ndcg@10": value,
                                  "share_of_gain": share_of(value, base["hybrid"], gain)}
        rows.append(["scifact", f"ranked from {CEILING_SESSIONS:,} sessions, explored", value])
        best = out["clicks"][-1]
        summary.append(summary_row(
            f"SciFact gain from {best['sessions']:,} simulated sessions / from judgments "
            f"(mean of {len(LOG_SEEDS)} logs)",
            best["share_of_gain"], 1.0, higher_is_better=True, target=0.8, target_on="value"))
    return out


def share_of(value: float, hybrid: float, gain: float) -> float | None:
    return round((value - hybrid) / gain, 3) if gain > 0 else None


def record(col: sleuth.Collection, events: list[dict[str, Any]]) -> None:
    for at in range(0, len(events), 5_000):
        col.record(events[at:at + 5_000])


def click_curve(col: sleuth.Collection, train: Any, test: Any, rankings: dict[str, list[str]],
                hybrid: float, ranked: float, rows: list[list[Any]]) -> list[dict[str, Any]]:
    """Per number of sessions, per simulated log (seed): the ranker trained from the log alone,
    scored on the test queries; its share of the judgment-trained ranker's gain; the click
    model's propensities against the simulated user's."""
    true_theta = [round(1.0 / (k + 1), 4) for k in range(10)]  # simulate_sessions' eta = 1
    per_seed: dict[int, list[dict[str, Any]]] = {}
    for seed in LOG_SEEDS:
        events = simulate_sessions(train.queries, rankings, train.qrels, max(SESSIONS),
                                   seed=seed)
        with private_copy(CACHE_DIR / "scifact-minilm", f"ranker-scifact-clicks-{seed}") as log:
            recorded = 0
            for n in SESSIONS:
                record(log, events[recorded:n])
                recorded = n
                start = time.perf_counter()
                manifest = log.train_ranker()
                took = time.perf_counter() - start
                value = ndcg(test.qrels, run_of(log, test.queries, "ranked"))
                per_seed.setdefault(n, []).append(
                    {"seed": seed, "ndcg@10": value, "train_seconds": round(took, 1),
                     "log": manifest["trained_from"]})
                print(f"  log {seed}, {n:>7,} sessions: nDCG@10 {value:.4f}", flush=True)
    curve = []
    for n, runs in per_seed.items():
        value = round(float(np.mean([r["ndcg@10"] for r in runs])), 4)
        curve.append({"sessions": n, "ndcg@10": value,
                      "share_of_gain": share_of(value, hybrid, ranked - hybrid),
                      "per_log": runs, "true_propensities": true_theta})
        rows.append(["scifact", f"ranked from {n:,} simulated sessions "
                     f"(mean of {len(runs)} logs)", value])
    return curve


def shown_ceiling(col: sleuth.Collection, train: Any, test: Any, rankings: dict[str, list[str]],
                  hybrid: float, ranked: float) -> dict[str, Any]:
    """What any labelling of a log could reach: the ranker trained on the simulator's own
    judgments of exactly the (query, item) pairs a log of ``CEILING_SESSIONS`` showed."""
    events = simulate_sessions(train.queries, rankings, train.qrels, CEILING_SESSIONS,
                               seed=LOG_SEEDS[0])
    qid_of = {text: q for q, text in train.queries.items()}
    seen: dict[str, set[str]] = {}
    for e in events:
        seen.setdefault(qid_of[e["query"]], set()).update(e["shown"])
    qrels = {q: {d: g for d, g in judged.items() if d in seen.get(q, ())}
             for q, judged in train.qrels.items()}
    qrels = {q: judged for q, judged in qrels.items() if judged}
    with private_copy(CACHE_DIR / "scifact-minilm", "ranker-scifact-ceiling") as other:
        other.train_ranker(qrels, train.queries)
        value = ndcg(test.qrels, run_of(other, test.queries, "ranked"))
    return {"sessions": CEILING_SESSIONS, "ndcg@10": value,
            "share_of_gain": share_of(value, hybrid, ranked - hybrid),
            "relevant_shown": sum(len(j) for j in qrels.values()),
            "relevant": sum(1 for j in train.qrels.values() for g in j.values() if g > 0)}


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
