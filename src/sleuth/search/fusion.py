"""The hybrid fusion stage: each query's lexical and dense lists fused as the request's
``FusionConfig`` says (``sleuth.fuse.fuse_hybrid``). With ``trust`` (the default) the dense
weight starts from the collection's learned one (``Context.trust``, ``sleuth.search.trust``)
and moves per query with how much of the query its best lexical hit matches
(``sleuth.fuse.trust``); the adaptive balance reads the query terms' IDF. Both read the
lexical retriever."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from sleuth.fuse import fuse_hybrid
from sleuth.fuse.trust import lexical_match
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
        if config.trust and ctx.trust is not None:
            config = replace(config, alpha=ctx.trust.alpha)
        out = []
        for i in range(len(queries)):
            text = queries.texts[i]
            docnos, scores = fuse_hybrid(
                lists["lexical"][i],
                lists["dense"][i],
                config,
                term_idf=lexical.term_idf(text) if config.adaptive else None,
                n_docs=lexical.n_docs,
                match=match(lexical, text, lists["lexical"][i]) if config.trust else 1.0,
            )
            out.append((docnos[:n], scores[:n]))
        return out


def match(lexical: TermStatistics, text: str, found: Ranked) -> float:
    """How much of ``text`` its best lexical hit (of ``found``) matches (``lexical_match``)."""
    top = float(found[1][0]) if found[1].size else 0.0
    return lexical_match(top, float(lexical.term_idf(text).sum()), lexical.k1)
