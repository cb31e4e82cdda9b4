"""BM25 candidates over the items' text fields."""

from __future__ import annotations

import numpy as np

from sleuth.indexes.bm25 import BM25Index
from sleuth.retrieve.base import QueryBatch, Retriever
from sleuth.types import Candidates

__all__ = ["LexicalRetriever"]


class LexicalRetriever(Retriever):
    name = "lexical"

    def __init__(self, index: BM25Index) -> None:
        self.index = index

    def retrieve(self, queries: QueryBatch, k: int, docno_mask: np.ndarray | None) -> Candidates:
        return self.index.search_batch(queries.texts, k, docno_mask)
