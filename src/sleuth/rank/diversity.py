"""Diversity: maximal marginal relevance (MMR) over a ranked list's item vectors, and the
intra-list diversity that measures it."""

from __future__ import annotations

from typing import Protocol

import numpy as np

__all__ = ["intra_list_diversity", "mmr"]


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


def intra_list_diversity(vectors: _Vectors, docnos: np.ndarray) -> float | None:
    """The mean pairwise ``1 - cosine`` of the list's item vectors (None below two items with
    a vector): how varied a list is, the figure ``diversity`` trades relevance for."""
    found = [v for v in (vectors.vector_of(int(d)) for d in docnos) if v is not None]
    if len(found) < 2:
        return None
    v = np.stack(found)
    sim = v @ v.T
    n = len(found)
    return float(1.0 - (sim.sum() - np.trace(sim)) / (n * (n - 1)))
