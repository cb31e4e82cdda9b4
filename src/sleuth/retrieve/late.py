"""Late-interaction retrieval: MUVERA candidates reranked by exact MaxSim, and the exact
brute-force MaxSim reference.

The two retrievers read a ``TokenIndex`` and the dense index of document FDEs, with the
collection's token recipe (``sleuth.encoders.late.LateInteraction``).
"""

from __future__ import annotations

import numpy as np

from sleuth.encoders.late import LateInteraction
from sleuth.indexes.dense import DenseIndex
from sleuth.indexes.tokens import TokenIndex
from sleuth.retrieve.base import QueryBatch, Retriever
from sleuth.types import Candidates

__all__ = ["MaxSimRetriever", "MuveraRetriever", "rerank"]


def rerank(
    tokens: TokenIndex, queries: list[np.ndarray], candidates: list[np.ndarray], k: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Exact MaxSim over each query's candidate docnos; the top ``k`` per query."""
    out = []
    for query, docnos in zip(queries, candidates):
        ds, scores = tokens.rerank(query, docnos)
        out.append((ds[:k], scores[:k]))
    return out


def _as_candidates(rows: list[tuple[np.ndarray, np.ndarray]], k: int) -> Candidates:
    out = Candidates.empty(len(rows), k)
    for i, (ds, scores) in enumerate(rows):
        out.docnos[i, : ds.size] = ds
        out.scores[i, : ds.size] = scores
    return out


class MuveraRetriever(Retriever):
    """FDE inner product over the dense index finds ``depth`` candidates; MaxSim ranks them."""

    name = "muvera"

    def __init__(self, late: LateInteraction, fde: DenseIndex, tokens: TokenIndex) -> None:
        self.late, self.fde, self.tokens = late, fde, tokens

    def retrieve(self, queries: QueryBatch, k: int, docno_mask: np.ndarray | None) -> Candidates:
        qs = self.late.queries(queries.tokens)
        encoded = self.late.muvera.encode_queries(qs)
        depth = max(k, self.late.config.rerank_depth)
        found = self.fde.search_batch(encoded, depth, docno_mask)
        cands = [found.row(i)[0] for i in range(len(qs))]
        return _as_candidates(rerank(self.tokens, qs, cands, k), k)


class MaxSimRetriever(Retriever):
    """Brute-force MaxSim over every item: exact, slow, the reference for evaluation."""

    name = "maxsim-exact"

    def __init__(self, late: LateInteraction, tokens: TokenIndex) -> None:
        self.late, self.tokens = late, tokens

    def retrieve(self, queries: QueryBatch, k: int, docno_mask: np.ndarray | None) -> Candidates:
        return self.tokens.search_batch(self.late.queries(queries.tokens), k, docno_mask)
