"""Dense candidates: the query vector against the items' vectors (exact or HNSW)."""

from __future__ import annotations

import numpy as np

from sleuth.indexes.dense import DenseIndex
from sleuth.retrieve.base import QueryBatch, Retriever
from sleuth.types import Candidates

__all__ = ["DenseRetriever"]


class DenseRetriever(Retriever):
    name = "dense"

    def __init__(self, index: DenseIndex) -> None:
        self.index = index

    @property
    def size(self) -> int:
        return len(self.index)

    def search_batch(self, queries: QueryBatch, k: int, mask: np.ndarray | None) -> Candidates:
        return self.index.search_batch(queries.vectors, k, mask)
