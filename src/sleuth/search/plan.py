"""A search plan: the retrievers a mode runs, how their lists become one (fusion), and the
rankers that reorder the result. ``Plan.run`` walks those stages for a batch of queries and
writes each stage's time into the request's ``Trace``.

How many candidates each stage needs flows backwards from ``k``: each ranker asks for its
``depth``, the fusion for its own, and the retrievers fetch that many.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from sleuth.config import FusionConfig
from sleuth.encoders import Encoder
from sleuth.encoders.late import LateInteraction
from sleuth.rank.base import Stage
from sleuth.rank.cross_saved import RerankerState
from sleuth.rank.learned import RankerState
from sleuth.retrieve.base import QueryBatch, Ranked, Retriever
from sleuth.search.hits import Trace
from sleuth.search.trust import FusionTrust
from sleuth.timing import ms_since as _ms

__all__ = ["Context", "Fusion", "Outcome", "Plan"]


@dataclass(frozen=True)
class Context:
    """What a plan reads of a collection, all at one state (taken under its read lock):
    ``retrievers`` by name, ``index(file name)`` for a derived index (None if absent), the
    encoder, the token recipe (None without late interaction), the fusion to use, the trained
    ranker (mode ``ranked``), ``fetch`` (docnos -> stored items, which it reads) and the
    collection's learned trust in its retrievers (None: not fitted; ``fit_fusion``) and its
    trained cross-encoder (``train_reranker``)."""

    retrievers: Mapping[str, Retriever]
    index: Callable[[str], Any]
    encoder: Encoder
    late: LateInteraction | None
    fusion: FusionConfig
    ranker: RankerState
    fetch: Callable[[list[int]], Mapping[int, Any]]
    trust: FusionTrust | None = None
    reranker: RerankerState = field(default_factory=RerankerState)


class Fusion(Protocol):
    """How a plan's retriever lists become one list per query."""

    name: str

    def depth(self, n: int, ctx: Context) -> int:
        """How many candidates per retriever it takes to fuse the top ``n``."""
        ...

    def fuse(
        self, queries: QueryBatch, lists: Mapping[str, list[Ranked]], n: int, ctx: Context
    ) -> list[Ranked]:
        """The top ``n`` per query of the fused lists."""
        ...


@dataclass(frozen=True)
class Outcome:
    """A plan's answer, per query: ``results`` (the served docnos and scores, best first),
    ``lists`` (each stage's list: what explain shows) and ``unscored`` (per ranker: what explain
    says of a hit missing from its list), ``features`` (per ranker that reports them: their
    names and per query the docnos and values it read)."""

    results: list[Ranked]
    lists: dict[str, list[Ranked]]
    unscored: dict[str, list[str]] = field(default_factory=dict)
    features: dict[str, tuple[tuple[str, ...], list[tuple[np.ndarray, np.ndarray]]]] = field(
        default_factory=dict
    )


@dataclass(frozen=True)
class Plan:
    """``retrievers`` by name; ``fusion`` (None: the plan has one retriever, whose list is the
    result); ``rankers``, built for each request from the ``Context``, in the order they run;
    ``late``: it needs late interaction (token vectors); ``trained``: a ranker trained on the
    collection (``Collection.train_ranker``)."""

    retrievers: tuple[str, ...]
    fusion: Fusion | None = None
    rankers: tuple[Stage, ...] = ()
    late: bool = False
    trained: bool = False

    def __post_init__(self) -> None:
        if not self.retrievers or (self.fusion is None and len(self.retrievers) != 1):
            raise ValueError("a plan runs one retriever, or several and a fusion")

    def run(
        self,
        ctx: Context,
        texts: list[str] | None,
        k: int,
        mask: np.ndarray | None,
        trace: Trace,
        vectors: np.ndarray | None = None,
    ) -> Outcome:
        """The top ``k`` per query among the items ``mask`` keeps (None: every live item).
        ``vectors``: the queries' own (``float32[nq, dim]``, unit rows; None: encode
        ``texts``); ``texts`` None: vectors only."""
        rankers = [ranker.build(ctx) for ranker in self.rankers]
        sizes = [k]  # what each ranker hands on; sizes[0] is what the rankers start from
        for ranker in reversed(rankers):
            sizes.insert(0, ranker.depth(sizes[0]))
        depth = self.fusion.depth(sizes[0], ctx) if self.fusion is not None else sizes[0]
        batch = QueryBatch(
            texts,
            ctx.encoder.encode_queries,
            ctx.encoder.encode_query_tokens if ctx.late is not None else None,
            tokens_first=self.late,  # vectors and token vectors in one model pass
            given=vectors,
        )
        lists: dict[str, list[Ranked]] = {}
        for name in self.retrievers:
            found = ctx.retrievers[name].retrieve(batch, depth, mask)
            trace.timings_ms[f"{name}_ms"] = found.ms
            trace.candidates[name] = found.candidates
            lists[name] = found.lists
        if self.fusion is None:
            current = lists[self.retrievers[0]]
        else:
            start = time.perf_counter()
            current = self.fusion.fuse(batch, lists, sizes[0], ctx)
            trace.stage("fuse", start)
            if rankers:  # the fused list is then one the hits' explain shows
                lists[self.fusion.name] = current
        unscored: dict[str, list[str]] = {}
        features = {}
        for ranker, size in zip(rankers, sizes[1:]):
            start = time.perf_counter()
            ranking = ranker.rank(batch, current, size, lists)
            trace.timings_ms.update(ranking.timings_ms)
            trace.timings_ms.setdefault(f"{ranker.name}_ms", _ms(start))
            lists[ranker.name] = ranking.scores
            unscored[ranker.name] = ranking.unscored
            if ranking.features is not None:
                features[ranker.name] = ranking.features
            current = ranking.lists
        return Outcome([(d[:k], s[:k]) for d, s in current], lists, unscored, features)
