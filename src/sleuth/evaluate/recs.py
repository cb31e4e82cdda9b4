"""``sleuth eval recs``: leave-one-out evaluation of the recommendation sources on an events file.

Each user's last interaction (by time) is the test item and the one before it the validation
item. Every source ranks **all** items (no sampled negatives), with the user's training items
excluded. Hyperparameters (and the fusion weight) are chosen on the validation items; the test
figures come from a refit on everything but the test items. Popularity and item-kNN (cosine),
the usual baselines, run in the same call. ``split="time"`` instead holds out, for each user
active after the global 90th-percentile time, their first event after it.

Metrics: HR@10, NDCG@10, catalog coverage (share of items in any top-10 list), intra-list
diversity (mean pairwise 1 - cosine between the items of a list, item vectors being their
training user sets) and training time.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from sleuth.errors import InvalidInput
from sleuth.io.events import read_events
from sleuth.progress import progress_bar
from sleuth.recommend.interactions import Interactions
from sleuth.recommend.multi_interest import MultiInterest
from sleuth.recommend.sources import EASE, CoVisit, ItemKNN, Popularity, Source

__all__ = ["SPLITS", "evaluate_recs", "ranking_metrics"]

SPLITS = ("loo", "time")
K = 10
CHUNK = 2048

# Candidate settings per source, tried on the validation items.
GRID: dict[str, list[Callable[[], Source]]] = {
    "popularity": [Popularity],
    "item-knn": [ItemKNN],
    "ease": [partial(EASE, l2=l2) for l2 in (50.0, 100.0, 300.0)],
    "co-visit": [partial(CoVisit, window=w, recent=r) for w in (2, 3, 5) for r in (3, 5)],
    # One setting (8 clusters, 3 interests: best of 8/16/32 x 1/3 on ML-100K validation).
    "multi-interest": [partial(MultiInterest, n_clusters=8, max_interests=3)],
}
FUSED = ("co-visit", "ease")
FUSION_WEIGHTS = (0.5, 0.6, 0.7, 0.8, 0.9)


def evaluate_recs(
    path: str | Path,
    *,
    format: str = "auto",
    split: str = "loo",
    progress: bool | None = None,
) -> dict[str, Any]:
    """Evaluate every source (and the fused best pair) on the events at ``path``."""
    if split not in SPLITS:
        raise InvalidInput(f"unknown split {split!r}; allowed: {', '.join(SPLITS)}")
    events = read_events(path, format=format)
    data = Interactions.from_events(events)
    if split == "loo":
        tune_train, users, held = data.leave_last_out(2)
        val = held[:, 0]
        test_train, test_users, test_held = data.leave_last_out(1)
        keep = np.isin(test_users, users)
        test_users, test = test_users[keep], test_held[keep, 0]
    else:
        tune_train, users, val = _time_split(data, 0.8)
        test_train, test_users, test = _time_split(data, 0.9)
    if users.size == 0 or test_users.size == 0:
        raise InvalidInput(f"{path}: too few events per user to hold any out")
    sources = [n for n in GRID if n != "ease" or data.n_items <= EASE().max_items]
    runs: dict[str, Any] = {}
    scores: dict[str, np.ndarray] = {}
    with progress_bar("evaluating", len(sources) + 1, progress) as advance:
        for name in sources:
            best = _tune(GRID[name], tune_train, users, val)
            source = best()
            t = time.perf_counter()
            source.fit(test_train)
            train_s = time.perf_counter() - t
            scores[name] = _scores(source, test_train, test_users)
            runs[name] = ranking_metrics(scores[name], test_train, test_users, test)
            runs[name]["train_s"] = round(train_s, 3)
            runs[name]["params"] = _params(source)
            advance(1)
        fused = [n for n in FUSED if n in scores]
        if len(fused) == 2:
            a, b = fused
            weight = _tune_fusion(GRID[a], GRID[b], tune_train, users, val)
            name = f"fused({a}+{b})"
            runs[name] = ranking_metrics(
                _fuse(scores[a], scores[b], weight), test_train, test_users, test
            )
            runs[name]["train_s"] = round(runs[a]["train_s"] + runs[b]["train_s"], 3)
            runs[name]["params"] = {"weight": {a: weight, b: round(1 - weight, 2)}}
        advance(1)
    return {
        "dataset": Path(path).name if Path(path).is_dir() else Path(path).parent.name,
        "users": data.n_users,
        "items": data.n_items,
        "events": len(data),
        "split": split,
        "evaluated_users": int(test_users.size),
        "runs": runs,
    }


def _time_split(data: Interactions, quantile: float) -> tuple[Interactions, np.ndarray, np.ndarray]:
    cut = float(np.quantile(data.ts, quantile))
    before = data.ts <= cut
    train = data.subset(before)
    after = ~before
    users, first = np.unique(data.users[after], return_index=True)
    targets = data.items[after][first]
    known = np.diff(train.starts)[users] > 0  # users with some history before the cut
    return train, users[known], targets[known]


def _tune(
    grid: Sequence[Callable[[], Source]], train: Interactions, users: np.ndarray, val: np.ndarray
) -> Callable[[], Source]:
    if len(grid) == 1:
        return grid[0]
    results = []
    for make in grid:
        s = make().fit(train)
        results.append(ranking_metrics(_scores(s, train, users), train, users, val)["ndcg@10"])
    return grid[int(np.argmax(results))]


def _tune_fusion(
    grid_a: Sequence[Callable[[], Source]],
    grid_b: Sequence[Callable[[], Source]],
    train: Interactions,
    users: np.ndarray,
    val: np.ndarray,
) -> float:
    a = _scores(_tune(grid_a, train, users, val)().fit(train), train, users)
    b = _scores(_tune(grid_b, train, users, val)().fit(train), train, users)
    ndcg = [ranking_metrics(_fuse(a, b, w), train, users, val)["ndcg@10"] for w in FUSION_WEIGHTS]
    return FUSION_WEIGHTS[int(np.argmax(ndcg))]


def _scores(source: Source, train: Interactions, users: np.ndarray) -> np.ndarray:
    """Scores of every item for ``users``, training items excluded (-inf)."""
    out = np.empty((users.size, train.n_items), np.float32)
    for start in range(0, users.size, CHUNK):
        chunk = users[start : start + CHUNK]
        out[start : start + chunk.size] = source.score([train.history(u) for u in chunk])
    seen = train.matrix()[users]
    out[seen.nonzero()] = -np.inf
    return out


def _zscore(scores: np.ndarray) -> np.ndarray:
    finite = np.where(np.isfinite(scores), scores, np.nan)
    mean = np.nanmean(finite, axis=1, keepdims=True)
    std = np.nanstd(finite, axis=1, keepdims=True)
    return (scores - mean) / np.where(std > 0, std, 1.0)


def _fuse(a: np.ndarray, b: np.ndarray, weight: float) -> np.ndarray:
    return weight * _zscore(a) + (1 - weight) * _zscore(b)


def ranking_metrics(
    scores: np.ndarray, train: Interactions, users: np.ndarray, targets: np.ndarray
) -> dict[str, Any]:
    top = np.argpartition(-scores, K, axis=1)[:, :K]
    order = np.argsort(-np.take_along_axis(scores, top, 1), axis=1, kind="stable")
    top = np.take_along_axis(top, order, 1)
    hit = top == targets[:, None]
    found = hit.any(1)
    rank = hit.argmax(1)
    vectors = train.matrix().T.tocsr()
    norms = np.sqrt(np.asarray(vectors.multiply(vectors).sum(1)).ravel()).clip(1e-9)
    unit = sp.diags(1 / norms) @ vectors
    sample = top[:: max(1, top.shape[0] // 500)]  # diversity on up to ~500 lists
    diversity = []
    for row in sample:
        v = unit[row]
        sim = (v @ v.T).toarray()
        diversity.append(1 - (sim.sum() - np.trace(sim)) / (K * (K - 1)))
    return {
        "hr@10": round(float(found.mean()), 4),
        "ndcg@10": round(float((found / np.log2(rank + 2)).mean()), 4),
        "coverage": round(np.unique(top).size / train.n_items, 4),
        "diversity": round(float(np.mean(diversity)), 4),
    }


def _params(source: Source) -> dict[str, Any]:
    return {k: v for k, v in vars(source).items() if isinstance(v, int | float) and k != "n_items"}
