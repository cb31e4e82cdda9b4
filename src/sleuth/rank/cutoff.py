"""Where a result list ends: at a probability of relevance (``min_relevance``), where the
expected F1 of the list is highest (``cutoff="auto"``), or where the score curve jumps
(``cutoff="autocut"``, the score-curve jump detection of Weaviate's autocut, kept as the
baseline)."""

from __future__ import annotations

import numpy as np

__all__ = ["CUTOFFS", "autocut", "best_f1_length", "relevant_length"]

CUTOFFS = ("auto", "autocut")


def relevant_length(probabilities: np.ndarray, min_relevance: float) -> int:
    """How many of the list (best first) to keep so that every kept hit has probability at
    least ``min_relevance``: the hits up to the last one that still reaches it would keep a
    low one in the middle, so the list stops at the first that does not."""
    below = np.flatnonzero(np.asarray(probabilities) < min_relevance)
    return int(below[0]) if below.size else len(probabilities)


def best_f1_length(probabilities: np.ndarray) -> int:
    """The list length (at least 1) with the highest expected F1, given each hit's
    probability of relevance: F1 at length m is about ``2 * sum(p[:m]) / (m + R)`` with
    ``R = sum(p)`` the expected number of relevant hits (those below the list are taken as
    none). It never empties a list (chosen on SciFact's train queries: an empty list, when
    nothing is likely, cost F1 there); ``min_relevance`` is what drops every hit of a query
    the collection cannot answer."""
    p = np.asarray(probabilities, np.float64)
    if p.size == 0:
        return 0
    m = np.arange(1, p.size + 1)
    f1 = 2 * np.cumsum(p) / (m + p.sum())
    return int(np.argmax(f1)) + 1


def autocut(scores: np.ndarray, jumps: int = 1) -> int:
    """Weaviate's autocut: scale the scores (best first) to run from 0 at the first to 1 at
    the last, subtract the straight line between them, and cut before the ``jumps``-th local
    maximum of that difference (a step in the curve); the whole list when it has none."""
    y = np.asarray(scores, np.float64)
    n = y.size
    if n <= 1:
        return n
    span = y[-1] - y[0]
    if span == 0:
        return n
    diff = (y - y[0]) / span - np.arange(n) / (n - 1)
    found = 0
    for i in range(1, n):
        after = diff[i + 1] if i + 1 < n else diff[i - 2] if i >= 2 else -np.inf
        if diff[i] > diff[i - 1] and diff[i] > after:
            found += 1
            if found >= jumps:
                return i
    return n
