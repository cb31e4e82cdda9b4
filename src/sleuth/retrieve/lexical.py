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

    @property
    def size(self) -> int:
        return len(self.index)

    @property
    def n_docs(self) -> int:
        """The live items BM25's statistics count (the adaptive fusion reads it)."""
        return len(self.index)

    def term_idf(self, text: str) -> np.ndarray:
        """``float32[t]``: the IDF of each of ``text``'s terms the collection knows (repeats
        kept), as BM25 scores them."""
        return self.index.idf()[self.index.query_terms(text)]

    def search_batch(self, queries: QueryBatch, k: int, mask: np.ndarray | None) -> Candidates:
        return self.index.search_batch(queries.texts, k, mask)
