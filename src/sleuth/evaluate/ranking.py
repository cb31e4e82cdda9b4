"""Top-10 metrics of recommendation lists, shared by the harness, its baselines and the peers
in ``benchmarks/recs.py``: HR@10, NDCG@10, catalog coverage and intra-list diversity (mean
pairwise 1 - cosine between the items of a list, item vectors being their training user sets)."""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from sleuth.recommend.interactions import Interactions

__all__ = ["K", "list_metrics", "ranking_metrics", "top_of"]

K = 10


def top_of(scores: np.ndarray, k: int = K) -> np.ndarray:
    """``int64[users, k]``: the best ``k`` item codes of each row of ``scores``, best first;
    -1 where a row has fewer than ``k`` finite scores."""
    if scores.shape[1] <= k:  # argpartition needs more than k columns; padding is never listed
        scores = np.pad(scores, ((0, 0), (0, k + 1 - scores.shape[1])), constant_values=-np.inf)
    top = np.argpartition(-scores, k, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(scores, top, 1), axis=1, kind="stable")
    top = np.take_along_axis(top, order, 1)
    return np.where(np.isfinite(np.take_along_axis(scores, top, 1)), top, -1)


def ranking_metrics(
    scores: np.ndarray, train: Interactions, users: np.ndarray, targets: np.ndarray
) -> dict[str, Any]:
    """Metrics of full score matrices (``float32[users, items]``, seen items at -inf)."""
    return list_metrics(top_of(scores), train, targets)


def list_metrics(top: np.ndarray, train: Interactions, targets: np.ndarray) -> dict[str, Any]:
    """Metrics of ``top: int64[users, K]`` item codes (-1 padded) against ``targets: [users]``."""
    hit = (top == targets[:, None]) & (top >= 0)
    found = hit.any(1)
    rank = hit.argmax(1)
    vectors = train.matrix().T.tocsr()
    norms = np.sqrt(np.asarray(vectors.multiply(vectors).sum(1)).ravel()).clip(1e-9)
    unit = sp.diags(1 / norms) @ vectors
    sample = top[:: max(1, top.shape[0] // 500)]  # diversity on up to ~500 lists
    diversity = []
    for row in sample:
        row = row[row >= 0]
        if row.size < 2:
            continue
        v = unit[row]
        sim = (v @ v.T).toarray()
        diversity.append(1 - (sim.sum() - np.trace(sim)) / (row.size * (row.size - 1)))
    listed = np.unique(top[top >= 0])
    return {
        "hr@10": round(float(found.mean()), 4),
        "ndcg@10": round(float((found / np.log2(rank + 2)).mean()), 4),
        "coverage": round(listed.size / train.n_items, 4),
        "diversity": round(float(np.mean(diversity)) if diversity else 0.0, 4),
    }
