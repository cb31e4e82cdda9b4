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

from sleuth.encoders import get_encoder
from sleuth.errors import InvalidInput
from sleuth.io.events import read_events
from sleuth.io.movielens import MOVIE_FILES
from sleuth.io.readers import read_items
from sleuth.progress import progress_bar
from sleuth.recommend.content import Content
from sleuth.recommend.interactions import Interactions
from sleuth.recommend.multi_interest import MultiInterest
from sleuth.recommend.sources import EASE, CoVisit, ItemKNN, Popularity, Source

__all__ = ["DEFAULT_SOURCES", "SOURCES", "SPLITS", "evaluate_recs", "ranking_metrics"]

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
    # Early stopping on the validation items replaces a grid (best of dim 64/128, dropout
    # 0.2/0.5 on ML-100K validation); ~4 minutes on ML-100K, hence not a default source.
    "sasrec": [lambda: _sasrec(dim=128, max_len=50, dropout=0.5, patience=20)],
}
SOURCES = (*GRID, "content")
DEFAULT_SOURCES = ("popularity", "item-knn", "ease", "co-visit", "multi-interest")
FUSED = ("co-visit", "ease")  # the fused pair; the other sources below join it if they help
JOINERS = ("sasrec", "content", "multi-interest")
FUSION_WEIGHTS = (0.5, 0.6, 0.7, 0.8, 0.9)
JOIN_WEIGHTS = (0.0, 0.1, 0.2, 0.3, 0.5, 0.8)


def evaluate_recs(
    path: str | Path,
    *,
    format: str = "auto",
    split: str = "loo",
    sources: Sequence[str] = DEFAULT_SOURCES,
    items: str | Path | None = None,
    encoder: str = "minilm",
    progress: bool | None = None,
) -> dict[str, Any]:
    """Evaluate ``sources`` (any of ``SOURCES``; popularity and item-kNN always run) and their
    fusion on the events at ``path``. The "content" source needs item texts: ``items`` (a
    MovieLens folder or any items file; the events' MovieLens folder by default), encoded with
    ``encoder``."""
    if split not in SPLITS:
        raise InvalidInput(f"unknown split {split!r}; allowed: {', '.join(SPLITS)}")
    unknown = [s for s in sources if s not in SOURCES]
    if unknown:
        raise InvalidInput(
            f"unknown source {unknown[0]!r}; allowed: {', '.join(SOURCES)}", sources=unknown
        )
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
    grid = dict(GRID)
    extra_s = 0.0
    if "content" in sources:
        t = time.perf_counter()
        vectors = _item_vectors(path, items, encoder, data.item_ids)
        extra_s = time.perf_counter() - t
        grid["content"] = [partial(Content, vectors)]
    wanted = ("popularity", "item-knn", *sources)
    names = [n for n in grid if n in wanted and (n != "ease" or data.n_items <= EASE().max_items)]
    fusable = [n for n in (*FUSED, *JOINERS) if n in names]
    runs: dict[str, Any] = {}
    test_scores: dict[str, np.ndarray] = {}
    val_scores: dict[str, np.ndarray] = {}
    with progress_bar("evaluating", len(names) + 1, progress) as advance:
        for name in names:
            best, tuned = _tune(grid[name], tune_train, users, val)
            source = best()
            if source.name == "sasrec":
                source.progress = progress  # type: ignore[attr-defined]
            t = time.perf_counter()
            source.fit(test_train)
            train_s = time.perf_counter() - t + (extra_s if name == "content" else 0.0)
            test_scores[name] = _scores(source, test_train, test_users)
            runs[name] = ranking_metrics(test_scores[name], test_train, test_users, test)
            runs[name]["train_s"] = round(train_s, 3)
            runs[name]["params"] = _params(source)
            if name in fusable:
                # SASRec trained on ``test_train`` minus each user's last item, which is exactly
                # ``tune_train`` (the validation item only stopped it early): no second training.
                reuse = source.name == "sasrec" and split == "loo"
                fitted = source if reuse else tuned or best().fit(tune_train)
                val_scores[name] = _scores(fitted, tune_train, users)
            else:
                test_scores.pop(name)
            advance(1)
        if all(n in val_scores for n in FUSED):
            weights = _tune_weights(val_scores, tune_train, users, val)
            joined = {n: w for n, w in weights.items() if w > 0}
            for fused in ({n: weights[n] for n in FUSED}, joined):
                _fused_run(runs, fused, test_scores, test_train, test_users, test)
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


def _sasrec(**options: Any) -> Source:
    from sleuth.recommend.sequential import SASRec  # torch loads only when it is asked for

    return SASRec(**options)


def _item_vectors(
    path: str | Path, items: str | Path | None, encoder: str, item_ids: list[str]
) -> dict[str, np.ndarray]:
    """Vectors of the items' texts (title and the other text fields), keyed by item id."""
    if items is None:
        folder = Path(path) if Path(path).is_dir() else Path(path).parent
        if not any((folder / name).is_file() for name in MOVIE_FILES):
            raise InvalidInput(
                "the content source needs item texts: pass items= (a MovieLens folder, "
                "or a JSONL / CSV / JSON file of items with id and text fields)"
            )
        items = folder
    catalog = {item.id: item for item in read_items(items)}
    known = [i for i in item_ids if i in catalog]
    if not known:
        raise InvalidInput(f"{items}: none of its item ids occur in the events", path=str(items))
    texts = [" ".join(v for v in catalog[i].fields.values() if v) for i in known]
    vectors = get_encoder(encoder).encode(texts).vectors
    return dict(zip(known, vectors))


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
) -> tuple[Callable[[], Source], Source | None]:
    """The best setting on the validation items, and its model fitted on ``train`` (None when
    there was a single setting, so nothing was fitted)."""
    if len(grid) == 1:
        return grid[0], None
    fitted = [make().fit(train) for make in grid]
    ndcg = [ranking_metrics(_scores(s, train, users), train, users, val)["ndcg@10"] for s in fitted]
    best = int(np.argmax(ndcg))
    return grid[best], fitted[best]


def _pair_weights(
    val_scores: dict[str, np.ndarray], train: Interactions, users: np.ndarray, val: np.ndarray
) -> dict[str, float]:
    a, b = FUSED
    ndcg = [
        ranking_metrics(_fuse(val_scores, {a: w, b: 1 - w}), train, users, val)["ndcg@10"]
        for w in FUSION_WEIGHTS
    ]
    w = FUSION_WEIGHTS[int(np.argmax(ndcg))]
    return {a: w, b: round(1 - w, 2)}


def _tune_weights(
    val_scores: dict[str, np.ndarray], train: Interactions, users: np.ndarray, val: np.ndarray
) -> dict[str, float]:
    """The fused pair's weight, then each other source's weight added greedily (kept at 0
    when it does not help on the validation items)."""
    weights = _pair_weights(val_scores, train, users, val)
    for name in JOINERS:
        if name not in val_scores:
            continue
        ndcg = [
            ranking_metrics(_fuse(val_scores, {**weights, name: w}), train, users, val)["ndcg@10"]
            for w in JOIN_WEIGHTS
        ]
        weights[name] = JOIN_WEIGHTS[int(np.argmax(ndcg))]
    return weights


def _fused_run(
    runs: dict[str, Any],
    weights: dict[str, float],
    scores: dict[str, np.ndarray],
    train: Interactions,
    users: np.ndarray,
    targets: np.ndarray,
) -> None:
    name = f"fused({'+'.join(weights)})"
    runs[name] = ranking_metrics(_fuse(scores, weights), train, users, targets)
    runs[name]["train_s"] = round(sum(runs[n]["train_s"] for n in weights), 3)
    runs[name]["params"] = {"weight": weights}


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


def _fuse(scores: dict[str, np.ndarray], weights: dict[str, float]) -> np.ndarray:
    used = [n for n, w in weights.items() if w > 0]
    return sum(weights[n] * _zscore(scores[n]) for n in used)  # type: ignore[return-value]


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
