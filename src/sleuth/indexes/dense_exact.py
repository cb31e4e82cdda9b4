"""Exact scoring for the dense index: the top ``k`` of a score matrix (ties broken by column, so
that an answer does not depend on how the rows were laid out), of the rows a filter allows, and
of candidates rescored at full precision. By the index's metric: "ip", inner products, or "l2",
negative squared Euclidean distances (higher is nearer either way)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import numpy as np

from sleuth._blas import one_blas_thread
from sleuth.indexes.vectorfile import FullVectors

__all__ = ["exact_rows", "exact_top_k", "rescore", "scores_of"]


def scores_of(queries: np.ndarray, matrix: np.ndarray, metric: str) -> np.ndarray:
    """``float32[nq, n]``: each query's score against each row of ``matrix`` (``-||q - x||^2``
    for l2, from one product: ``2 q.x - ||x||^2 - ||q||^2``)."""
    scores = queries @ matrix.T
    if metric == "l2":
        scores *= 2
        scores -= np.einsum("nd,nd->n", matrix, matrix)[None, :]
        scores -= np.einsum("qd,qd->q", queries, queries)[:, None]
    return scores


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


def exact_rows(
    queries: np.ndarray,
    k: int,
    allowed: np.ndarray,
    n_allowed: int,
    take: Callable[[np.ndarray], np.ndarray],
    matrix: np.ndarray | None,
    metric: str,
) -> tuple[np.ndarray, np.ndarray]:
    """The top ``k`` rows among the ``allowed`` ones (``bool[n_rows]``, ``n_allowed`` set),
    every one of them scored, padded to ``k`` with -1 / -inf. ``take(rows)``: their vectors;
    ``matrix``: every row's, scanned whole when most are allowed (None: never).
    """
    # a small batch is a thin product: one BLAS thread (see sleuth._blas)
    with one_blas_thread() if queries.shape[0] < 32 else contextlib.nullcontext():
        subset: np.ndarray | None = None
        if matrix is None or n_allowed < allowed.shape[0] // 2:
            subset = np.flatnonzero(allowed)
            scores = scores_of(queries, take(subset), metric)
        else:
            scores = scores_of(queries, matrix, metric)
            scores[:, ~allowed] = -np.inf
    idx, vals = exact_top_k(scores, min(k, n_allowed))
    if subset is not None:
        idx = subset[idx]
    pad = k - idx.shape[1]
    return (
        np.pad(idx, ((0, 0), (0, pad)), constant_values=-1),
        np.pad(vals, ((0, 0), (0, pad)), constant_values=-np.inf),
    )


def rescore(
    queries: np.ndarray, rows: np.ndarray, k: int, full: FullVectors, metric: str
) -> tuple[np.ndarray, np.ndarray]:
    """The top ``k`` of the candidate ``rows`` (``int64[nq, m]``, -1 padded) by their
    full-precision score; equal scores in row order."""
    found = rows >= 0
    safe = np.where(found, rows, 0)
    vectors = full.rows(safe.ravel()).reshape(*rows.shape, full.dim)
    if metric == "l2":  # the difference, not the expansion: no cancellation among close rows
        scores = -np.square(queries[:, None, :] - vectors).sum(-1, dtype=np.float32)
    else:
        scores = np.einsum("qd,qkd->qk", queries, vectors)
    scores[~found] = -np.inf
    order = np.lexsort((np.where(found, rows, np.iinfo(np.int64).max), -scores), axis=1)
    order = order[:, :k]
    return np.take_along_axis(rows, order, 1), np.take_along_axis(scores, order, 1)
