"""MUVERA candidates: the query's fixed-dimensional encoding (FDE) against the items' FDEs
finds ``rerank_depth`` candidates, and exact MaxSim over their token vectors ranks them."""

from __future__ import annotations

import numpy as np

from sleuth.encoders.late import LateInteraction
from sleuth.indexes.dense import DenseIndex
from sleuth.indexes.tokens import TokenIndex
from sleuth.retrieve.base import QueryBatch, Retriever
from sleuth.types import Candidates

__all__ = ["MuveraRetriever"]


class MuveraRetriever(Retriever):
    name = "muvera"

    def __init__(self, late: LateInteraction, fde: DenseIndex, tokens: TokenIndex) -> None:
        self.late, self.fde, self.tokens = late, fde, tokens

    @property
    def size(self) -> int:
        return len(self.fde)

    def search_batch(self, queries: QueryBatch, k: int, mask: np.ndarray | None) -> Candidates:
        qs = self.late.queries(queries.tokens)
        depth = max(k, self.late.config.rerank_depth)
        found = self.fde.search_batch(self.late.muvera.encode_queries(qs), depth, mask)
        out = Candidates.empty(len(qs), k)
        for i, query in enumerate(qs):
            docnos, scores = self.tokens.rerank(query, found.row(i)[0])
            n = min(k, docnos.size)
            out.docnos[i, :n], out.scores[i, :n] = docnos[:n], scores[:n]
        return out
