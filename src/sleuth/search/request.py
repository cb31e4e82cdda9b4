"""One search request as a collection and a sharded collection both serve it: checked once
(``check_request``), its plan run against a ``Context`` (``outcome``), its final list made
(``finish``), then its hits built (``hits``). Only the ``Context`` differs: a collection's
indexes, or the retrievers gathering every shard's lists (``sleuth.shards.gather``)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from sleuth.config import FusionConfig
from sleuth.errors import InvalidInput
from sleuth.limits import MAX_K, SearchArgs, check_final, check_search
from sleuth.rank.calibrate import Calibrator
from sleuth.rank.cross import CrossStage, check_rerank
from sleuth.search.final import Final, Served, finish
from sleuth.search.hits import Hits, Trace, build_hits
from sleuth.search.plan import Context, Outcome, Plan
from sleuth.search.plans import plan_for
from sleuth.spaces import SpaceConfig
from sleuth.store import StoredItem

__all__ = ["Request", "check_request"]

Fetch = Callable[[list[int]], Mapping[int, StoredItem]]


@dataclass(frozen=True)
class Request:
    """A checked request: its queries (``args``), mode and ``plan``, ``k``, final list,
    ``explain``, and the ``trace`` it fills."""

    args: SearchArgs
    mode: str
    plan: Plan
    k: int
    final: Final
    explain: bool
    trace: Trace

    def outcome(self, ctx: Context, mask: np.ndarray | None) -> Outcome:
        """The plan's outcome among the items ``mask`` keeps (None: all; a sharded context
        filters inside its retrievers)."""
        trace = self.trace
        trace.stage("filter", trace.start)
        depth = self.final.depth(self.k, MAX_K)
        return self.plan.run(ctx, self.args.texts, depth, mask, trace, self.args.given)

    def finish(
        self, ctx: Context, outcome: Outcome, calibrator: Calibrator | None, fetch: Fetch
    ) -> Served:
        """The final lists of ``outcome`` (``sleuth.search.final``)."""
        return finish(
            ctx, self.args.texts, outcome, self.k, self.final, calibrator, fetch, self.trace
        )

    def hits(self, fetch: Fetch, outcome: Outcome, served: Served) -> list[Hits]:
        lists, features = (outcome.lists, outcome.features) if self.explain else (None, None)
        return build_hits(
            fetch,
            served.results,
            self.trace,
            lists,
            outcome.unscored,
            served.probabilities,
            features=features,
        )


def check_request(
    queries: Sequence[str] | None,
    k: int,
    *,
    spaces: Mapping[str, SpaceConfig],
    default: tuple[int, str],
    late: bool,
    vectors: Any = None,
    space: str | None = None,
    mode: str = "hybrid",
    explain: bool = False,
    fusion: FusionConfig | None = None,
    min_relevance: float | None = None,
    cutoff: str | None = None,
    diversity: float = 0.0,
    max_per: dict[str, int] | None = None,
    rerank: Any = None,
) -> Request:
    """``search_batch``'s arguments checked (``spaces``, ``default``: the collection's named
    spaces, and its default space's dimension and encoder id; ``late``: it has late
    interaction), with the plan of ``mode`` (and ``rerank``'s cross-encoder after its rankers:
    ``sleuth.rank.cross``)."""
    args = check_search(queries, vectors, k, space, fusion, spaces, default)
    plan = plan_for(mode, late=late)
    cross = check_rerank(rerank)
    if cross is not None:
        if args.texts is None:
            raise InvalidInput("rerank reads the query text: give queries, not only vectors")
        plan = replace(plan, rankers=(*plan.rankers, CrossStage(cross)))
    final = check_final(min_relevance, cutoff, diversity, max_per, args.space and args.space[0])
    trace = Trace(mode=mode, k=k, queries=args.n)
    return Request(args, mode, plan, k, final, explain, trace)
