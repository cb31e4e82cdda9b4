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

    def idf_mass(self, text: str) -> tuple[float, float]:
        """The summed IDF of ``text``'s terms the collection knows, and of all its terms (one
        no item holds counts at the IDF of a term of document frequency 0): how much of the
        query the collection can match at all (the calibration reads it)."""
        known = float(self.term_idf(text).sum())
        unknown = len(self.index.analyzer(text)) - self.index.query_terms(text).size
        n = float(len(self.index))
        return known, known + unknown * float(np.log1p((n + 0.5) / 0.5))

    def search_batch(self, queries: QueryBatch, k: int, mask: np.ndarray | None) -> Candidates:
        return self.index.search_batch(queries.texts, k, mask)
