"""``Collection``'s recommendations: similar items, recorded events and ``recommend``, over the
one ``RecommendService`` (``sleuth.recommend.service``). A mixin of ``sleuth.engine.Collection``."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sleuth.collection_state import CollectionState
from sleuth.indexes.set import IndexSet
from sleuth.limits import check_k, check_recommend, check_sources
from sleuth.recommend.service import CollectionView
from sleuth.store.clicks import SearchLog, is_search, parse_searches
from sleuth.store.event_batch import parse_event_batch
from sleuth.types import Hit

__all__ = ["CollectionRecs", "RecordResult"]


@dataclass(frozen=True)
class RecordResult:
    recorded: int
    duplicates: int  # events whose event_id was already recorded (retries)


class CollectionRecs(CollectionState):
    """``similar``, ``record``, ``recommend`` and ``recommend_batch`` of ``Collection``."""

    def similar(
        self, item_id: str, k: int = 10, *, where: dict[str, Any] | None = None
    ) -> list[Hit]:
        """Items like ``item_id`` (itself excluded): nearest by dense vector, fused with the
        items most often next to it in user histories once there are events."""
        check_k(k)
        t0 = time.perf_counter()
        self._refresh(wait=False)
        with self._rw.read():
            docnos, scores = self._recs.similar(self._view(self._ix), item_id, k, where)
        return self._hits([(docnos, scores)], None, {}, t0)[0]

    def record(self, events: Iterable[Any]) -> RecordResult:
        """Store interaction events in one transaction (all of them or none). An event whose
        ``event_id`` was already recorded is a retry and is skipped. Events about items not in
        the catalog are kept, and recommended only once the item exists.

        Search events (``kind: "search"``: the query, the ids ``shown``, the ``clicked``
        positions; see ``sleuth.store.clicks``) go to the search log that ``train_ranker``
        learns from; a batch holds search events or item events, not both."""
        if isinstance(events, list | tuple) and any(is_search(e) for e in events):
            searches = parse_searches(events)
            with self._apply, self._writer:
                return RecordResult(*SearchLog(self.store).record(searches))
        batch = parse_event_batch(events, self.config.recommend.event_weights)
        with self._apply, self._writer:
            recorded, duplicates = self.store.record(batch)
        return RecordResult(recorded, duplicates)

    def recommend(
        self,
        user: str,
        k: int = 10,
        *,
        where: dict[str, Any] | None = None,
        exclude_seen: bool = True,
        diversity: float = 0.0,
        explain: bool = False,
        sources: dict[str, float] | None = None,
    ) -> list[Hit]:
        """The ``k`` items ``user`` should see next.

        Candidate sources (weights in ``RecommendConfig.sources``, or ``sources=`` for this
        request): co-visit (items that follow the user's recent items in other histories),
        EASE, content (items near the user's recency-weighted profile of item vectors),
        sequential (SASRec, once trained), multi-interest and time-decayed popularity (all a
        new user gets). Each list is z-scored and the weighted sum ranks the union. ``where``
        filters inside every source; ``exclude_seen`` drops items the user interacted with;
        ``diversity`` in [0, 1] re-ranks by MMR on the item vectors (0: pure relevance).
        """
        return self.recommend_batch(
            [user],
            k,
            where=where,
            exclude_seen=exclude_seen,
            diversity=diversity,
            explain=explain,
            sources=sources,
        )[0]

    def recommend_batch(
        self,
        users: Sequence[str],
        k: int = 10,
        *,
        where: dict[str, Any] | None = None,
        exclude_seen: bool = True,
        diversity: float = 0.0,
        explain: bool = False,
        sources: dict[str, float] | None = None,
    ) -> list[list[Hit]]:
        """``recommend`` for many users at once (the learned sources score them as one matrix
        per chunk): what ``sleuth eval recs`` measures."""
        check_k(k)
        check_recommend(users, diversity, exclude_seen, explain)
        weights = self.config.recommend.sources if sources is None else check_sources(sources)
        t0 = time.perf_counter()
        self._refresh(wait=False)
        with self._rw.read():
            served = self._recs.recommend_batch(
                self._view(self._ix),
                users,
                k,
                where=where,
                exclude_seen=exclude_seen,
                diversity=diversity,
                explain=explain,
                weights=weights,
            )
        return self._hits(served.results, served.per_source, served.timings, t0)

    @contextmanager
    def viewing(self) -> Iterator[CollectionView]:
        """What recommendations read (``CollectionView``), held under the read lock while the
        block runs: a shard's part of a sharded recommend (``sleuth.shards.server``)."""
        self._refresh(wait=False)
        with self._rw.read():
            yield self._view(self._ix)

    def _view(self, ix: IndexSet) -> CollectionView:
        """What recommendations read: the store, the dense index and the filter masks."""
        return CollectionView(self.store, ix.index("dense"), lambda where: self._mask(ix, where))
