"""Diversity: maximal marginal relevance (MMR) over a ranked list's item vectors."""

from __future__ import annotations

from typing import Protocol

import numpy as np

__all__ = ["mmr"]


class _Vectors(Protocol):
    def vector_of(self, docno: int) -> np.ndarray | None: ...


def mmr(
    vectors: _Vectors, docnos: np.ndarray, scores: np.ndarray, k: int, diversity: float
) -> tuple[np.ndarray, np.ndarray]:
    """Pick, one at a time, the item maximizing ``(1 - diversity) * relevance - diversity *
    max similarity to the items picked`` (relevance: the scores min-max scaled); items without
    a vector are left out."""
    found = [vectors.vector_of(int(d)) for d in docnos]
    keep = [i for i, v in enumerate(found) if v is not None]
    if not keep:
        return docnos[:k], scores[:k]
    docnos, scores = docnos[keep], scores[keep]
    v = np.stack([x for x in found if x is not None])
    rel = (scores - scores.min()) / (np.ptp(scores) or 1.0)
    sim = v @ v.T
    picked: list[int] = []
    closest = np.full(len(keep), -np.inf)
    for _ in range(min(k, len(keep))):
        gain = (1 - diversity) * rel - (diversity * closest if picked else 0.0)
        gain[picked] = -np.inf
        best = int(np.argmax(gain))
        picked.append(best)
        closest = np.maximum(closest, sim[best])
    return docnos[picked], scores[picked]
