"""MaxSim rerank: exact late-interaction scores of each query's candidates (their token
vectors), blended with the score they came with (``LateConfig.rerank_weight``)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from sleuth.errors import InvalidInput
from sleuth.fuse import fuse_lists
from sleuth.rank.base import Ranker, Ranking, Sources
from sleuth.timing import ms_since as _ms

if TYPE_CHECKING:  # the token index scores with this package's kernels: no runtime import
    from collections.abc import Mapping, Sequence

    from sleuth.encoders.late import LateInteraction
    from sleuth.indexes.tokens import TokenIndex
    from sleuth.retrieve.base import QueryBatch, Ranked

__all__ = ["MaxSimRanker"]

# What ``explain`` says of a candidate MaxSim could not score (see fuse_lists: a missing item
# counts as the list's lowest score, so it keeps its fused rank among its peers).
NO_ITEM_TOKENS = "not scored: the item has no token vectors; ranked by its fused score"
NO_QUERY_TOKENS = "not scored: the query has no token vectors; ranked by the fused score"


class MaxSimRanker(Ranker):
    name = "maxsim"

    def __init__(self, late: LateInteraction, tokens: TokenIndex) -> None:
        self.late, self.tokens = late, tokens

    @classmethod
    def build(cls, sources: Sources) -> MaxSimRanker:
        tokens = sources.index("tokens")
        if sources.late is None or tokens is None:
            raise InvalidInput("this collection has no token vectors")
        return cls(sources.late, tokens)

    def depth(self, k: int) -> int:
        return max(k, self.late.config.rerank_depth)

    def rank(
        self,
        queries: QueryBatch,
        candidates: list[Ranked],
        k: int,
        lists: Mapping[str, Sequence[Ranked]] | None = None,
    ) -> Ranking:
        start = time.perf_counter()
        qs = self.late.queries(queries.tokens)
        timings = {"query_tokens_ms": _ms(start)}
        start = time.perf_counter()
        weight = self.late.config.rerank_weight
        weights = {"candidates": 1.0 - weight, "maxsim": weight}
        scores, ordered = [], []
        for query, given in zip(qs, candidates):
            scored = self.tokens.rerank(query, given[0])
            scores.append(scored)
            if weight >= 1.0:  # MaxSim's own scores
                ordered.append((scored[0][:k], scored[1][:k]))
            else:  # a candidate without token vectors takes the lowest MaxSim of the list
                ordered.append(fuse_lists({"candidates": given, "maxsim": scored}, weights, k))
        timings["maxsim_ms"] = _ms(start)
        unscored = [NO_ITEM_TOKENS if s[0].size else NO_QUERY_TOKENS for s in scores]
        return Ranking(ordered, scores, unscored, timings)
