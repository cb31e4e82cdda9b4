"""The one path from users to recommended items: ``Collection.recommend_batch`` serves it and
``sleuth eval recs`` measures it (through that method), so the harness's figures are what
users get.

For a batch of users (each a history of events, oldest first) every wanted source (``registry``)
gives its best ``depth`` items inside the user's mask (filters, the catalog, seen items), each
list is z-scored and the weighted sum ranks the union (``sleuth.fuse.fuse_lists``, as in
search); ``diversity`` re-ranks the fused list by MMR on the item vectors.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from sleuth.config import RecommendConfig
from sleuth.errors import NotFound
from sleuth.fuse import fuse_lists
from sleuth.rank.diversity import mmr
from sleuth.recommend.eventlog import EventLog
from sleuth.recommend.registry import ORDER, READY, Fitted
from sleuth.recommend.source import Batch, Ranked, Source, in_mask
from sleuth.store.events import EventRows
from sleuth.types import Event

if TYPE_CHECKING:  # torch is imported only once a model is trained or loaded
    from sleuth.recommend.trained import TrainedSequential

__all__ = ["SIMILAR_WEIGHTS", "CollectionView", "RecommendService", "Recommended"]

SIMILAR_WEIGHTS = {"content": 0.5, "co-visit": 0.5}


class _Store(Protocol):
    def events(self) -> list[Event]: ...
    def iter_event_rows(self, after: int = 0) -> Iterator[tuple[int, EventRows]]: ...
    def docnos_of(self, ids: Sequence[str]) -> dict[str, int]: ...


class _Vectors(Protocol):
    def vector_of(self, docno: int) -> np.ndarray | None: ...
    def search_batch(self, queries: np.ndarray, k: int, mask: np.ndarray | None) -> Any: ...


@dataclass(frozen=True)
class CollectionView:
    """What the service needs of a collection: its store, its dense index (item vectors) and
    its filter masks (``mask(where)``: bool[docnos], a fresh array the caller may change)."""

    store: _Store
    vectors: _Vectors
    mask: Callable[[dict[str, Any] | None], np.ndarray]

    def docnos_of(self, ids: Sequence[str]) -> dict[str, int]:
        return self.store.docnos_of(ids)

    def vector_of(self, docno: int) -> np.ndarray | None:
        return self.vectors.vector_of(docno)

    def search_batch(self, queries: np.ndarray, k: int, mask: np.ndarray | None) -> Any:
        return self.vectors.search_batch(queries, k, mask)


@dataclass(frozen=True)
class Recommended:
    """Per user the fused top ``k``; per source (for explain) each user's list, or None."""

    results: list[Ranked]
    per_source: dict[str, list[Ranked]] | None
    timings: dict[str, float]


class RecommendService:
    """The learned sources of one collection (refitted as events grow), its trained sequential
    model (``models/``), and the fusion of every source's candidates."""

    def __init__(self, config: RecommendConfig, models: Path) -> None:
        self.config = config
        self.models = models
        self._learned = Fitted(config)
        self.log = EventLog()
        self._fit_lock = threading.Lock()
        self._train_lock = threading.Lock()
        self._sequential: TrainedSequential | None = None

    # -- models ------------------------------------------------------------------------------

    def fitted(self, store: _Store) -> Fitted | None:
        """The learned sources, refitted when the events grew enough (one fit at a time)."""
        with self._fit_lock:
            if self._learned.stale(self.log.catch_up(store)):
                self._learned.fit(self.log.interactions(self.config.event_weights))
            return self._learned if self._learned.data is not None else None

    def sequential(self) -> TrainedSequential | None:
        """The trained sequential source, loaded on first use (None before any training)."""
        if self._sequential is None and (self.models / "sequential.json").exists():
            from sleuth.recommend.trained import TrainedSequential

            self._sequential = TrainedSequential.load(self.models)
        return self._sequential

    def train(self, store: _Store, *, progress: bool | None, **options: Any) -> dict[str, Any]:
        from sleuth.recommend.trained import TrainedSequential

        with self._train_lock:
            trained = TrainedSequential.train(
                self.models,
                store.events(),
                self.config.event_weights,
                previous=self.sequential(),
                progress=progress,
                **options,
            )
            self._sequential = trained
            return dict(trained.meta)

    def sources(self, store: _Store, wanted: set[str]) -> dict[str, Source]:
        """The wanted sources that can serve now, in ``registry.ORDER``."""
        fitted = self.fitted(store)
        learned = fitted.sources if fitted is not None else {}
        out: dict[str, Source] = {}
        for name in ORDER:
            if name not in wanted:
                continue
            source = learned.get(name) or (self.sequential() if name == "sequential" else None)
            if source is None and name in READY:
                source = READY[name]()
            if source is not None:
                out[name] = source
        return out

    # -- serving -----------------------------------------------------------------------------

    def recommend_batch(
        self,
        view: CollectionView,
        users: Sequence[str],
        k: int,
        *,
        where: dict[str, Any] | None,
        exclude_seen: bool,
        diversity: float,
        explain: bool,
        weights: Mapping[str, float],
    ) -> Recommended:
        """``Collection.recommend_batch`` once its arguments are checked (the caller holds the
        read lock on the indexes ``view`` reads)."""
        timings: dict[str, float] = {}
        depth = max(self.config.depth, 5 * k)
        self.log.catch_up(view.store)
        histories = [self.log.history(user) for user in users]
        masks = _masks(view, histories, where, exclude_seen=exclude_seen)
        t = time.perf_counter()
        lists = self.candidates(
            view, histories, masks, depth=depth, weights=weights, filtered=where is not None
        )
        timings["candidates_ms"] = _ms(t)
        t = time.perf_counter()
        results = []
        for per_user in lists:
            docnos, scores = fuse_lists(per_user, weights, depth if diversity else k)
            if diversity and docnos.size:
                docnos, scores = mmr(view, docnos, scores, k, diversity)
            results.append((docnos[:k], scores[:k]))
        timings["fuse_ms"] = _ms(t)
        per_source = None
        if explain:
            empty = (np.zeros(0, np.int64), np.zeros(0, np.float64))
            names = sorted({name for per_user in lists for name in per_user})
            per_source = {n: [per_user.get(n, empty) for per_user in lists] for n in names}
        return Recommended(results, per_source, timings)

    def candidates(
        self,
        view: CollectionView,
        histories: Sequence[Sequence[Event]],
        masks: Sequence[np.ndarray],
        *,
        depth: int,
        weights: Mapping[str, float],
        exclude_seen: bool = True,
        filtered: bool = True,
    ) -> list[dict[str, Ranked]]:
        """Each wanted source's best ``depth`` docnos per user, inside that user's mask (from
        which the user's seen items are already cleared when they are excluded; ``filtered``:
        a ``where`` filter shaped the masks too)."""
        wanted = {name for name, w in weights.items() if w > 0}
        batch = Batch(
            histories, masks, depth, exclude_seen, self.config.event_weights, view, filtered
        )
        out: list[dict[str, Ranked]] = [{} for _ in histories]
        for name, source in self.sources(view.store, wanted).items():
            for per_user, found in zip(out, source.candidates(batch)):
                if found is not None:
                    per_user[name] = found
        return out

    def similar(
        self, view: CollectionView, item_id: str, k: int, where: dict[str, Any] | None
    ) -> Ranked:
        """Items like ``item_id`` (itself excluded): nearest by dense vector, fused with the
        items most often next to it in user histories once there are events."""
        fitted = self.fitted(view.store)
        depth = max(k, self.config.depth)
        docno = view.docnos_of([item_id]).get(item_id)
        vector = None if docno is None else view.vector_of(docno)
        if docno is None or vector is None:
            raise NotFound(f"no item with id {item_id!r}", id=item_id)
        mask = view.mask(where)
        mask[docno] = False
        lists = {"content": view.search_batch(vector[None, :], depth, mask).row(0)}
        covisit = fitted.neighbours(item_id, depth) if fitted is not None else None
        if covisit is not None:
            lists["co-visit"] = in_mask(covisit, view.docnos_of(covisit[0]), mask)
        return fuse_lists(lists, SIMILAR_WEIGHTS, k)


def _masks(
    view: CollectionView,
    histories: Sequence[Sequence[Event]],
    where: dict[str, Any] | None,
    *,
    exclude_seen: bool,
) -> list[np.ndarray]:
    """Each user's mask: the filter's, less the items the user has seen when excluded."""
    base = view.mask(where)
    if not exclude_seen:
        return [base for _ in histories]
    seen = view.docnos_of(sorted({e.item for h in histories for e in h}))
    masks = []
    for history in histories:
        mask = base.copy()
        mask[[d for e in history if (d := seen.get(e.item, mask.size)) < mask.size]] = False
        masks.append(mask)
    return masks


def _ms(start: float) -> float:
    return round((time.perf_counter() - start) * 1000, 3)
