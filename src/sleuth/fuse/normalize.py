"""Per-list score normalization (scores of one query's candidates from one retriever)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = ["NORMALIZERS", "minmax", "normalize_among", "zscore"]


def minmax(scores: np.ndarray) -> np.ndarray:
    """Map to [0, 1]; a list of equal scores maps to all ones.

    >>> minmax(np.array([3.0, 2.0, 1.0])).tolist()
    [1.0, 0.5, 0.0]
    """
    if scores.size == 0:
        return scores.astype(np.float32)
    lo, hi = float(scores.min()), float(scores.max())
    if hi - lo < 1e-12:
        return np.ones_like(scores, np.float32)
    return ((scores - lo) / (hi - lo)).astype(np.float32)


def zscore(scores: np.ndarray) -> np.ndarray:
    """Subtract the mean, divide by the standard deviation; a flat list maps to all ones.

    A flat list (one candidate, or equal scores) says nothing about order, but its candidates
    were retrieved: ones keep them above the documents the list did not return (which
    ``weighted_sum`` scores 0). Zeros would tie them, and a query's only lexical match would
    get no lexical credit at all.

    >>> zscore(np.array([3.0, 2.0, 1.0])).astype(float).round(3).tolist()
    [1.225, 0.0, -1.225]
    """
    if scores.size == 0:
        return scores.astype(np.float32)
    sd = float(scores.std())
    if sd < 1e-12:
        return np.ones_like(scores, np.float32)
    return ((scores - scores.mean()) / sd).astype(np.float32)


NORMALIZERS: dict[str, Callable[[np.ndarray], np.ndarray]] = {"minmax": minmax, "zscore": zscore}


def normalize_among(
    norm: Callable[[np.ndarray], np.ndarray], scores: np.ndarray, size: int
) -> tuple[np.ndarray, float]:
    """``norm`` of a list that a retriever cut short because the other documents scored 0
    (BM25 returns only the documents that match a query term): normalized as if the list had
    ``size`` entries, padded with zeros. Returns the normalized ``scores`` and the value of a
    zero, which is what a document the list did not return should get.

    Normalized alone, a query's only lexical match would be a flat list (z-score 1) however
    far its score stands above the documents that match nothing; among ``size`` candidates, as
    the dense list has, it stands out as it should.

    >>> z, missing = normalize_among(zscore, np.array([2.0]), 4)
    >>> round(float(z[0]), 3), round(missing, 3)
    (1.732, -0.577)
    """
    n = scores.size
    if n == 0 or n >= size:
        out = norm(scores)
        return out, min(float(out.min()), 0.0) if n else 0.0
    padded = norm(np.concatenate([scores, np.zeros(size - n, scores.dtype)]))
    return padded[:n], float(padded[n])
