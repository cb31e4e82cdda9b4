"""Training labels from the search log, corrected for position bias.

A click says more about an item shown first than one shown tenth only because the first is
looked at more. The click model is the position-based model (PBM): a click at position ``k``
needs the user to examine ``k`` (probability ``theta[k]``, the propensity, the same for every
query) and to find the item relevant (``gamma[q, d]``), independently:
``P(click) = theta[k] * gamma[q, d]``. It is fitted by expectation-maximization on the log
itself (Chuklin, Markov and de Rijke, *Click Models for Web Search*, ch. 4; Wang et al.,
WSDM 2018), with no randomized experiment. Why PBM and not the cascade model: inverse
propensity weighting needs one propensity per position, which is exactly PBM's ``theta``; the
cascade model's examination depends on the items above, which a per-position weight cannot
express. What the fit needs: some (query, item) pairs seen at more than one position (the
ranking changed between sessions: new items, a retrained ranker, light exploration); the
manifest reports how many were.

Each (query, item) shown is then judged by a second fit over the same impressions, a
two-level PBM: an item is either relevant (attractiveness ``hi``) or not (``lo``), a share
``pi`` of the shown pairs relevant, ``P(click at k) = theta[k] * (hi or lo)``. EM gives the
three numbers and, per pair, the posterior probability that it is relevant given every
impression it had, each weighed by its propensity: a click at position 10 counts ten times a
click at 1 (``theta``), and an item examined often and never clicked becomes a confident
negative. A posterior of at least one half is grade 1. Why not the pair's own inverse-
propensity-weighted click rate (``clicks / sum(theta)``, thresholded; the previous labels): a
pair seen a few times low down has a rate of 0 or several; the two-level fit pools every pair
to learn what a relevant item's click rate is and what noise is, and so needs far less log.
Measured on SciFact's simulated log (train queries only; ``benchmarks/ranker.py``), labels
against the simulator's qrels, precision/recall: 1,000 sessions 0.99/0.21 (rate) vs 0.74/0.55
(posterior), 3,000 0.93/0.51 vs 0.78/0.72, 30,000 0.95/0.94 vs 0.94/0.95. The fit recovers the
simulated user's click probabilities (0.90 and 0.10: fitted 0.90 and 0.09).

Items of a query's candidates that were never shown are graded 0, as unjudged items are with
judgments (leaving them out of the training lists, or only those the hybrid ranks in its top
20 or 30, measured worse: the model then never sees a deep candidate). What a log cannot
teach: which deep candidate is relevant. The judgment-trained ranker gets about half of its
gain from relevant items the hybrid ranks below 10, and a log of top-10 pages rarely shows
them; on SciFact, perfect labels for every pair 30,000 sessions showed (the simulator's own
qrels) reach 0.752 nDCG@10, 61% of the judgments' gain; these labels reach 0.746 from 30,000
sessions and 0.754 from 100,000.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from sleuth.errors import InvalidInput
from sleuth.store.clicks import SearchEvent, SearchLog

__all__ = ["GRADES", "RELEVANT", "click_training", "fit_pbm", "fit_relevance"]

GRADES = 1  # the top grade: relevant
RELEVANT = 0.5  # the posterior probability of relevance from which a pair is relevant
_ITERATIONS = 200
_TOLERANCE = 1e-7


def fit_pbm(
    positions: np.ndarray, pairs: np.ndarray, clicks: np.ndarray, n_pairs: int
) -> tuple[np.ndarray, np.ndarray, int]:
    """EM fit of the position-based model over impressions (``positions: int64[n]``,
    ``pairs: int64[n]`` the (query, item) of each, ``clicks: bool[n]``). Returns ``theta``
    (``float64[max position + 1]``, relative to the most examined position), ``gamma``
    (``float64[n_pairs]``) and the iterations run."""
    c = clicks.astype(np.float64)
    n_pos = int(positions.max()) + 1 if positions.size else 1
    shown_at = np.maximum(np.bincount(positions, minlength=n_pos), 1)
    shown = np.maximum(np.bincount(pairs, minlength=n_pairs), 1)
    theta = np.full(n_pos, 0.5)
    gamma = np.full(n_pairs, 0.5)
    done = 0
    for done in range(1, _ITERATIONS + 1):  # noqa: B007 (the count is returned)
        t, g = theta[positions], gamma[pairs]
        unclicked = 1.0 - t * g
        seen = c + (1.0 - c) * t * (1.0 - g) / np.maximum(unclicked, 1e-12)
        liked = c + (1.0 - c) * (1.0 - t) * g / np.maximum(unclicked, 1e-12)
        new_theta = np.bincount(positions, seen, n_pos) / shown_at
        new_gamma = np.bincount(pairs, liked, n_pairs) / shown
        change = max(np.abs(new_theta - theta).max(), np.abs(new_gamma - gamma).max())
        theta, gamma = np.clip(new_theta, 1e-6, 1.0), np.clip(new_gamma, 1e-6, 1.0)
        if change < _TOLERANCE:
            break
    return theta / theta.max(), gamma, done  # a log's scale is free: the top examined is 1


def fit_relevance(
    positions: np.ndarray, pairs: np.ndarray, clicks: np.ndarray, n_pairs: int, theta: np.ndarray
) -> tuple[np.ndarray, tuple[float, float, float]]:
    """The two-level PBM (module doc) over the impressions of ``fit_pbm`` given its ``theta``:
    ``float64[n_pairs]`` posterior probability that each pair is relevant, and ``(hi, lo,
    pi)``: the relevant and the other items' click probability when examined, and the share
    of pairs relevant."""
    t = theta[positions]
    c = clicks.astype(np.float64)
    hi, lo, pi = 0.7, 0.05, 0.2  # any start with hi > lo: the labels name the high level
    post = np.zeros(n_pairs)
    for _ in range(_ITERATIONS):
        a = np.log(pi) + _log_likelihood(t, c, pairs, n_pairs, hi)
        b = np.log1p(-pi) + _log_likelihood(t, c, pairs, n_pairs, lo)
        post = 1.0 / (1.0 + np.exp(np.clip(b - a, -50.0, 50.0)))
        weight = post[pairs]
        before = (hi, lo, pi)
        pi = float(np.clip(post.mean(), 1e-4, 1.0 - 1e-4))
        hi = _attractiveness(t, c, weight, hi)
        lo = _attractiveness(t, c, 1.0 - weight, lo)
        if max(abs(x - y) for x, y in zip(before, (hi, lo, pi))) < _TOLERANCE:
            break
    return post, (hi, lo, pi)


def _log_likelihood(
    t: np.ndarray, c: np.ndarray, pairs: np.ndarray, n_pairs: int, level: float
) -> np.ndarray:
    p = np.clip(t * level, 1e-9, 1.0 - 1e-9)
    return np.bincount(pairs, np.where(c > 0, np.log(p), np.log1p(-p)), n_pairs)


def _attractiveness(t: np.ndarray, c: np.ndarray, weight: np.ndarray, level: float) -> float:
    """PBM's M step for one level: expected clicks-if-examined over its (weighted) impressions
    (an unclicked impression may have been examined and not liked, or not examined)."""
    liked = c + (1.0 - c) * (1.0 - t) * level / np.maximum(1.0 - t * level, 1e-12)
    return float(np.clip((weight * liked).sum() / max(weight.sum(), 1e-9), 1e-4, 1.0 - 1e-4))


def click_training(store: Any) -> tuple[dict[str, str], Any, dict[str, Any], dict[str, Any]]:
    """From the recorded search events: the queries (keyed by their text), ``grades(query,
    docnos)``, what the manifest says of the log and the fit, and the grades by docno."""
    events = SearchLog(store).events()
    if not events:
        raise InvalidInput(
            'no search events recorded: record {"kind": "search", "query", "shown", "clicked"} '
            "events, or train from judgments (qrels and queries)"
        )
    if not any(e.clicked for e in events):
        raise InvalidInput(f"the {len(events)} search events hold no click: nothing to learn")
    return _labels(events, store.docnos_of)


def _labels(
    events: list[SearchEvent], docnos_of: Any
) -> tuple[dict[str, str], Any, dict[str, Any], dict[str, Any]]:
    keys: dict[tuple[str, str], int] = {}
    positions, pairs, clicks = [], [], []
    for event in events:
        clicked = set(event.clicked)
        for k, item in enumerate(event.shown):
            pairs.append(keys.setdefault((event.query, item), len(keys)))
            positions.append(k)
            clicks.append(k in clicked)
    pos = np.asarray(positions, np.int64)
    pair = np.asarray(pairs, np.int64)
    click = np.asarray(clicks, np.float64)
    theta, _, iterations = fit_pbm(pos, pair, click, len(keys))
    posterior, (hi, lo, share) = fit_relevance(pos, pair, click, len(keys), theta)
    grades = np.where(posterior >= RELEVANT, GRADES, 0).astype(np.int32)
    placed = np.unique(pair * (int(pos.max()) + 1) + pos) // (int(pos.max()) + 1)
    moved = int((np.bincount(placed, minlength=len(keys)) > 1).sum())  # seen at 2+ positions
    known = docnos_of(sorted({item for _, item in keys}))
    by_query: dict[str, dict[int, int]] = {}
    for (query, item), index in keys.items():
        if item in known:  # an item deleted since it was shown teaches nothing now
            by_query.setdefault(query, {})[known[item]] = int(grades[index])
    if not any(g > 0 for judged in by_query.values() for g in judged.values()):
        raise InvalidInput(
            "no item of the search log that is in the collection was clicked often enough, "
            "for the times it was seen, to count as relevant: record more search events"
        )
    source = {
        "source": "clicks",
        "click_model": "position-based (EM), two-level relevance",
        "sessions": len(events),
        "clicks": int(click.sum()),
        "pairs_shown": len(keys),
        "pairs_at_several_positions": moved,
        "em_iterations": iterations,
        "relevance_model": {
            "click_if_relevant": round(hi, 4),
            "click_otherwise": round(lo, 4),
            "share_relevant": round(share, 4),
            "pairs_relevant": int(grades.sum()),
        },
        "propensities": [round(float(t), 4) for t in theta[:20]],
    }

    def grade(query: str, docnos: np.ndarray) -> np.ndarray:
        judged: Mapping[int, int] = by_query.get(query, {})
        return np.fromiter((judged.get(int(d), 0) for d in docnos), np.int32, docnos.size)

    return {q: q for q in by_query}, grade, source, by_query
