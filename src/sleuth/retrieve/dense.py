"""Dense candidates: the query vector against the items' vectors (exact or HNSW), in the
default space or a named one (whose metric turns the index's scores into its own: the
negative distance for l2, ``sleuth.spaces.Metric``)."""

from __future__ import annotations

import numpy as np

from sleuth.indexes.dense import DenseIndex
from sleuth.retrieve.base import QueryBatch, Retriever
from sleuth.spaces import Metric
from sleuth.types import Candidates

__all__ = ["DenseRetriever"]


class DenseRetriever(Retriever):
    name = "dense"

    def __init__(self, index: DenseIndex, metric: Metric | None = None) -> None:
        self.index = index
        self.metric = metric

    @property
    def size(self) -> int:
        return len(self.index)

    def search_batch(self, queries: QueryBatch, k: int, mask: np.ndarray | None) -> Candidates:
        if self.metric is None:
            return self.index.search_batch(queries.vectors, k, mask)
        found = self.index.search_batch(queries.vectors, k, mask)
        return Candidates(found.docnos, self.metric.scores(found.scores))
