"""Fuse several ranked lists of one query into one list. Pure functions on arrays.

A list is ``(docnos: int64[n], scores: float32[n])`` sorted best first. The output is sorted
by fused score, ties broken by docno, so the result does not depend on the order of the lists.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["rrf", "weighted_sum"]

Ranked = tuple[np.ndarray, np.ndarray]


def _union(lists: Sequence[Ranked]) -> np.ndarray:
    return np.unique(np.concatenate([d for d, _ in lists])) if lists else np.zeros(0, np.int64)


def _sorted(docnos: np.ndarray, fused: np.ndarray) -> Ranked:
    # Sort on the float32 scores returned: sums that differ only in float64 rounding (lists
    # added in another order) are ties, broken by docno, not by that rounding noise.
    scores = fused.astype(np.float32)
    order = np.lexsort((docnos, -scores))
    return docnos[order], scores[order]


def rrf(lists: Sequence[Ranked], *, k: int = 60, weights: Sequence[float] | None = None) -> Ranked:
    """Reciprocal rank fusion: sum of ``w / (k + rank)``, ranks starting at 1.

    >>> d, s = rrf([(np.array([1, 2]), np.array([9., 8.])), (np.array([2]), np.array([5.]))], k=0)
    >>> d.tolist(), s.round(3).tolist()
    ([2, 1], [1.5, 1.0])
    """
    weights = weights or [1.0] * len(lists)
    docnos = _union(lists)
    fused = np.zeros(docnos.shape[0], np.float64)
    for (d, _), w in zip(lists, weights):
        pos = np.searchsorted(docnos, d)
        fused[pos] += w / (k + np.arange(1, d.shape[0] + 1))
    return _sorted(docnos, fused)


def weighted_sum(
    lists: Sequence[Ranked],
    weights: Sequence[float],
    *,
    missing: Sequence[float | None] | None = None,
) -> Ranked:
    """Sum of ``w * normalized score``. A document missing from a list ranked below all it
    returned, so it gets the list's lowest score, or 0 if that is lower (min-max lists: 0),
    unless ``missing`` gives that list's value for them (see ``normalize_among``).

    >>> a = (np.array([1, 2, 3]), np.array([1.0, 0.5, 0.0]))
    >>> b = (np.array([3, 2]), np.array([1.0, 0.0]))
    >>> d, s = weighted_sum([a, b], [0.5, 0.5])
    >>> d.tolist(), s.tolist()
    ([1, 3, 2], [0.5, 0.5, 0.25])
    """
    docnos = _union(lists)
    fused = np.zeros(docnos.shape[0], np.float64)
    for i, ((d, s), w) in enumerate(zip(lists, weights)):
        if d.shape[0] == 0:
            continue
        given = missing[i] if missing is not None else None
        column = np.full(docnos.shape[0], min(float(s.min()), 0.0) if given is None else given)
        column[np.searchsorted(docnos, d)] = s
        fused += w * column
    return _sorted(docnos, fused)
