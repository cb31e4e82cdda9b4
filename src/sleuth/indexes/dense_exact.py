"""The exact top ``k`` of a score matrix, ties broken by column, so that an exact answer does not
depend on how the rows were laid out (the dense index's exact scans and its fallbacks)."""

from __future__ import annotations

import numpy as np

__all__ = ["exact_top_k"]


def exact_top_k(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Column indices and values of the k largest entries per row, best first; equal scores
    in column order, so the answer does not depend on how the rows were laid out.

    ``scores: float32[nq, n]`` -> ``(int64[nq, min(k, n)], float32[nq, min(k, n)])``.
    """
    n = scores.shape[1]
    m = min(k, n)
    if m == 0:
        return np.zeros((scores.shape[0], 0), np.int64), np.zeros((scores.shape[0], 0), np.float32)
    part = (
        np.argpartition(-scores, m - 1, axis=1)[:, :m]
        if m < n
        else np.tile(np.arange(n), (scores.shape[0], 1))
    )
    vals = np.take_along_axis(scores, part, 1)
    if m < n:  # equal scores cut at the k-th place: keep the lowest columns, as a sort would
        last = vals.min(axis=1, keepdims=True)
        cut = np.flatnonzero((scores == last).sum(1) > (vals == last).sum(1))
        for i in cut:
            above = np.flatnonzero(scores[i] > last[i])
            ties = np.flatnonzero(scores[i] == last[i])[: m - above.size]
            part[i] = np.concatenate([above, ties])
            vals[i] = scores[i, part[i]]
    order = np.lexsort((part, -vals), axis=1)  # best first; equal scores by column
    return np.take_along_axis(part, order, 1), np.take_along_axis(vals, order, 1)
