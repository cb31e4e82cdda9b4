"""The hybrid fusion stage: each query's lexical and dense lists fused as the request's
``FusionConfig`` says (``sleuth.fuse.fuse_hybrid``); the adaptive balance reads the query
terms' IDF from the lexical retriever."""

from __future__ import annotations

from collections.abc import Mapping

from sleuth.fuse import fuse_hybrid
from sleuth.retrieve import TermStatistics
from sleuth.retrieve.base import QueryBatch, Ranked
from sleuth.search.plan import Context

__all__ = ["HybridFusion"]


class HybridFusion:
    name = "hybrid"

    def depth(self, n: int, ctx: Context) -> int:
        return max(n, ctx.fusion.depth)

    def fuse(
        self, queries: QueryBatch, lists: Mapping[str, list[Ranked]], n: int, ctx: Context
    ) -> list[Ranked]:
        lexical = ctx.retrievers["lexical"]
        if not isinstance(lexical, TermStatistics):
            raise TypeError(f"the hybrid fusion needs the lexical retriever, got {lexical!r}")
        config = ctx.fusion
        out = []
        for i in range(len(queries)):
            docnos, scores = fuse_hybrid(
                lists["lexical"][i],
                lists["dense"][i],
                config,
                term_idf=lexical.term_idf(queries.texts[i]) if config.adaptive else None,
                n_docs=lexical.n_docs,
            )
            out.append((docnos[:n], scores[:n]))
        return out
