"""Recommendation quality on MovieLens-100K: ``sleuth eval recs --sources all`` (leave-one-out
by time, full ranking, seen items excluded; every sleuth run goes through
``Collection.recommend_batch``, so ``default`` is what ``recommend`` serves) against
the peer library ``implicit`` (ALS, BPR and item-item cosine) fitted on the same training
events and scored by the same metric code in the same run.

    python benchmarks/recs.py
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from _common import machine_info, print_table, require_data, summary_row, write_result

NAME = "recs"


def implicit_runs(path: Any) -> dict[str, Any]:
    import implicit
    from threadpoolctl import threadpool_limits

    from sleuth.evaluate.recs import ranking_metrics
    from sleuth.io.events import read_events
    from sleuth.recommend import Interactions

    data = Interactions.from_events(read_events(path))
    train, users, held = data.leave_last_out(1)
    x = train.matrix().tocsr()
    out: dict[str, Any] = {}
    models = {
        "implicit ALS (64 factors)": lambda: implicit.cpu.als.AlternatingLeastSquares(
            factors=64, regularization=0.05, iterations=15, random_state=0
        ),
        "implicit item-item cosine": lambda: implicit.nearest_neighbours.CosineRecommender(K=100),
        "implicit BPR (64 factors)": lambda: implicit.cpu.bpr.BayesianPersonalizedRanking(
            factors=64, iterations=100, random_state=0
        ),
    }
    for name, make in models.items():
        model = make()
        with threadpool_limits(1, "blas"):
            t = time.perf_counter()
            model.fit(x, show_progress=False)
            train_s = time.perf_counter() - t
            ids, scores = model.recommend(
                users, x[users], N=data.n_items, filter_already_liked_items=True
            )
        full = np.full((users.size, data.n_items), -np.inf, np.float32)
        np.put_along_axis(full, np.where(ids >= 0, ids, 0), np.where(ids >= 0, scores, -np.inf), 1)
        out[name] = ranking_metrics(full, train, users, held[:, 0])
        out[name]["train_s"] = round(train_s, 3)
    return out


def main() -> None:
    path = require_data("movielens", "ml-100k")
    machine, started = machine_info(), time.perf_counter()
    from sleuth.evaluate.recs import SOURCES, evaluate_recs

    # every source, SASRec (trained, ~4 min) and content (MiniLM over titles + genres) included
    report = evaluate_recs(path, sources=SOURCES, progress=False)
    peers = implicit_runs(path / "u.data")
    rows = [[name, r["hr@10"], r["ndcg@10"], r["coverage"], r["diversity"], r["train_s"]]
            for name, r in {**report["runs"], **peers}.items()]
    print_table("MovieLens-100K, leave-one-out, full ranking",
                ["source", "HR@10", "NDCG@10", "coverage", "diversity", "train s"], rows)
    best_name, best = max(report["runs"].items(), key=lambda kv: kv[1]["ndcg@10"])
    peer_name, peer = max(peers.items(), key=lambda kv: kv[1]["ndcg@10"])
    knn = report["runs"]["item-knn"]["ndcg@10"]
    served = report["runs"]["default"]
    untrained = report["runs"]["default-untrained"]
    summary = [
        summary_row("NDCG@10 served default, SASRec trained (recommend) vs best implicit",
                    served["ndcg@10"], peer["ndcg@10"], higher_is_better=True),
        summary_row("HR@10 served default, SASRec trained (recommend) vs best implicit",
                    served["hr@10"], peer["hr@10"], higher_is_better=True),
        summary_row("NDCG@10 served default before `sleuth train` vs best implicit",
                    untrained["ndcg@10"], peer["ndcg@10"], higher_is_better=True),
        summary_row("HR@10 served default before `sleuth train` vs best implicit",
                    untrained["hr@10"], peer["hr@10"], higher_is_better=True),
        summary_row(f"NDCG@10 best sleuth ({best_name}) vs best implicit ({peer_name})",
                    best["ndcg@10"], peer["ndcg@10"], higher_is_better=True),
        summary_row("NDCG@10 best sleuth vs item-kNN baseline (target +20%)", best["ndcg@10"],
                    knn, higher_is_better=True, target=1.2),
        summary_row("HR@10 best sleuth vs best implicit", best["hr@10"], peer["hr@10"],
                    higher_is_better=True),
        summary_row("train s, best sleuth (target < 600)", best["train_s"], None,
                    higher_is_better=False, target=600, target_on="value", unit="s"),
    ]
    write_result(
        NAME,
        peer="implicit 0.7 (ALS, BPR, item-item cosine), same split and metric code",
        parameters={
            "dataset": "ml-100k",
            "split": "leave-one-out by time",
            "k": 10,
            "sources": list(SOURCES),
        },
        results={"sleuth": report, "implicit": peers},
        summary=summary,
        started=started,
        machine=machine,
    )


if __name__ == "__main__":
    main()
