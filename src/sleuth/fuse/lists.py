"""Fusion of named ranked lists with per-list weights: normalize each, then the weighted sum.
Search (hybrid+maxsim), similar and recommend all rank their union this way."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from sleuth.fuse.combine import Ranked, weighted_sum
from sleuth.fuse.normalize import NORMALIZERS

__all__ = ["fuse_lists"]


def fuse_lists(
    lists: Mapping[str, Ranked],
    weights: Mapping[str, float],
    k: int,
    *,
    normalization: str = "zscore",
) -> Ranked:
    """The top ``k`` of the union of ``lists`` by ``sum(weights[name] * normalized score)``; a
    list that is empty, or whose weight is 0 or missing, takes no part.

    >>> a = (np.array([1, 2]), np.array([2.0, 1.0]))
    >>> b = (np.array([2, 3]), np.array([5.0, 1.0]))
    >>> fuse_lists({"a": a, "b": b}, {"a": 1.0, "b": 2.0}, 2)[0].tolist()
    [2, 1]
    """
    used = [(name, lst) for name, lst in lists.items() if lst[0].size and weights.get(name)]
    if not used:
        return np.zeros(0, np.int64), np.zeros(0, np.float32)
    norm = NORMALIZERS[normalization]
    docnos, scores = weighted_sum(
        [(d, norm(s)) for _, (d, s) in used], [float(weights[n]) for n, _ in used]
    )
    return docnos[:k], scores[:k]
