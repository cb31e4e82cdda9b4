"""Multi-interest retrieval in the manner of kNN-Embed (Pinterest, 2022).

Item embeddings are clustered (k-means); a user is a smoothed mixture over the clusters their
history falls in (recent and heavier events count more); each interest is queried with the mean
of the user's items in it, and the final list takes from each interest in proportion to its
weight, so a user with several tastes sees all of them instead of only the dominant one.

The embeddings are given (e.g. the catalog's dense vectors) or, by default, learned from the
interactions themselves: a truncated SVD of the item-user matrix.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import svds

from sleuth.recommend.interactions import History, Interactions
from sleuth.recommend.source import Source

__all__ = ["MultiInterest", "interest_mixture"]


def interest_mixture(
    clusters: np.ndarray, weights: np.ndarray, n_clusters: int, smoothing: float
) -> np.ndarray:
    """The smoothed share of each cluster in a history: ``(w_c + a / C) / (sum w + a)``."""
    counts = np.bincount(clusters, weights, minlength=n_clusters)
    return (counts + smoothing / n_clusters) / (counts.sum() + smoothing)


class MultiInterest(Source):
    name = "multi-interest"

    def __init__(
        self,
        *,
        n_clusters: int = 16,
        max_interests: int = 4,
        smoothing: float = 1.0,
        recency: float = 0.97,
        dim: int = 64,
        vectors: np.ndarray | None = None,
        seed: int = 0,
    ) -> None:
        self.n_clusters, self.max_interests = n_clusters, max_interests
        self.smoothing, self.recency, self.dim, self.seed = smoothing, recency, dim, seed
        self.vectors = vectors

    def fit(self, data: Interactions) -> MultiInterest:
        import faiss

        self._learn_items(data)
        vectors = self.vectors if self.vectors is not None else self._svd(data)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        self.unit = np.ascontiguousarray(vectors / np.where(norms > 0, norms, 1.0), np.float32)
        k = max(1, min(self.n_clusters, data.n_items // 4))
        kmeans = faiss.Kmeans(self.unit.shape[1], k, niter=20, seed=self.seed, spherical=True)
        kmeans.train(self.unit)
        self.k = k
        self.assign = kmeans.index.search(self.unit, 1)[1].ravel()
        return self

    def _svd(self, data: Interactions) -> np.ndarray:
        x = data.matrix().T.astype(np.float64)  # items × users
        rank = max(1, min(self.dim, min(x.shape) - 1))
        u, s, _ = svds(sp.csr_matrix(x), k=rank, random_state=self.seed)
        return (u * np.sqrt(s)).astype(np.float32)

    def interests(self, history: History) -> list[tuple[int, float, np.ndarray]]:
        """(cluster, weight, query vector) of the user's strongest interests."""
        if history.items.size == 0:
            return []
        age = np.arange(history.items.size)[::-1]
        w = history.weights.astype(np.float64) * self.recency**age
        clusters = self.assign[history.items]
        mixture = interest_mixture(clusters, w, self.k, self.smoothing)
        present = np.unique(clusters)
        top = present[np.argsort(-mixture[present])][: self.max_interests]
        share = mixture[top] / mixture[top].sum()
        out = []
        for c, weight in zip(top.tolist(), share.tolist()):
            mine = clusters == c
            q = np.average(self.unit[history.items[mine]], axis=0, weights=w[mine])
            out.append((c, weight, q / max(float(np.linalg.norm(q)), 1e-9)))
        return out

    def score(self, histories: Sequence[History]) -> np.ndarray:
        """Each interest ranks the items by similarity to its query; an item at rank ``r`` of
        interest ``c`` scores ``share_c / (r + 1)``, and the best interest counts, so the top
        of the merged list holds each interest in proportion to its share."""
        out = np.zeros((len(histories), self.n_items), np.float32)
        ranks = np.empty(self.n_items, np.float32)
        for row, history in enumerate(histories):
            for _, share, q in self.interests(history):
                order = np.argsort(-(self.unit @ q))
                ranks[order] = np.arange(1, self.n_items + 1)
                np.maximum(out[row], share / ranks, out=out[row])
        return out
