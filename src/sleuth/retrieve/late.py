"""Late-interaction retrieval: MUVERA candidates reranked by exact MaxSim, and the exact
brute-force MaxSim reference.

``LateInteraction`` turns texts into the token vectors the collection stores (encoder →
``TokenPipeline`` → optional pooling) and token sets into MUVERA fixed-dimensional encodings;
the two retrievers read a ``TokenIndex`` and the dense index of document FDEs.
"""

from __future__ import annotations

import numpy as np

from sleuth._blas import one_blas_thread
from sleuth.config import LateConfig
from sleuth.encoders import Encoder
from sleuth.encoders.tokens import TokenPipeline, Tokens
from sleuth.indexes.dense import DenseIndex
from sleuth.indexes.muvera import Muvera
from sleuth.indexes.tokens import TokenIndex
from sleuth.retrieve.base import QueryBatch, Retriever
from sleuth.types import Candidates

__all__ = ["LateInteraction", "MaxSimRetriever", "MuveraRetriever", "rerank"]


class LateInteraction:
    """The collection's token-vector recipe (fixed by its ``LateConfig``)."""

    def __init__(self, config: LateConfig, encoder: Encoder) -> None:
        self.config = config
        self.pipeline = TokenPipeline(config, encoder.dim)
        self.dim = self.pipeline.dim
        self.muvera = Muvera(config.muvera, self.dim)

    def documents(self, tokens: list[Tokens]) -> list[np.ndarray]:
        """What is stored per item: ``float32[n_i, dim]`` kept, projected, unit, pooled."""
        out = [self.pipeline(t) for t in tokens]
        if self.config.pool_factor > 1:
            from sleuth.indexes.pooling import pool_tokens

            with one_blas_thread():  # small clusterings (see sleuth._blas)
                out = [pool_tokens(x, self.config.pool_factor) if len(x) > 1 else x for x in out]
        return out

    def queries(self, tokens: list[Tokens]) -> list[np.ndarray]:
        return [self.pipeline(t) for t in tokens]

    def fde(self, documents: list[np.ndarray]) -> np.ndarray:
        """``float32[n, fde_dim]`` document encodings (an empty set encodes to zeros)."""
        if not documents:
            return np.zeros((0, self.muvera.fde_dim), np.float32)
        return self.muvera.encode_documents(documents)


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
