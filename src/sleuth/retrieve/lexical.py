"""BM25 candidates over the items' text fields."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

from sleuth.indexes.bm25 import BM25Index
from sleuth.indexes.bm25_stats import BM25Stats
from sleuth.retrieve.base import QueryBatch, Retriever
from sleuth.types import Candidates

__all__ = ["LexicalRetriever", "TermStatistics"]


@runtime_checkable
class TermStatistics(Protocol):
    """What the hybrid fusion's adaptive balance and the calibration read of the lexical
    retriever: the lexical retriever of a collection, or of a sharded one (summed stats)."""

    @property
    def n_docs(self) -> int: ...

    @property
    def k1(self) -> float: ...

    def term_idf(self, text: str) -> np.ndarray: ...

    def idf_mass(self, text: str) -> tuple[float, float]: ...


class LexicalRetriever(Retriever):
    """``stats``: score with these statistics instead of the index's own (a shard of a sharded
    collection scores with the sums over every shard, ``sleuth.shards``)."""

    name = "lexical"

    def __init__(self, index: BM25Index, stats: BM25Stats | None = None) -> None:
        self.index = index
        self.stats = stats

    @property
    def size(self) -> int:
        return len(self.index)

    @property
    def n_docs(self) -> int:
        """The live items BM25's statistics count (the adaptive fusion reads it)."""
        return len(self.index)

    @property
    def k1(self) -> float:
        """BM25's term-frequency saturation (the fusion's trust reads it)."""
        return self.index.config.k1

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
        return self.index.search_batch(queries.texts, k, mask, self.stats)
