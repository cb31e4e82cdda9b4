"""Recommendations on a sharded collection: events live with the shard of their user (by the
same hash items route by), the learned sources are fitted over every shard's events, and a
request runs the one ``RecommendService`` of ``sleuth.recommend`` on the coordinator, over a
view whose ids, masks and vectors are the shards' (global docnos ``d * S + s``, as searches
number them).

- **The events.** The coordinator's ``EventLog`` catches up from every shard's log (``_Events``:
  one cursor per shard). A user's events all sit on one shard, in the order recorded there,
  and ``Interactions`` sorts by (user, time, arrival), so the fit sees what one collection
  holding the same events sees: the same histories, the same tables.
- **The fit.** Locally by default (``Fitted``, as on one collection: every learned source);
  ``refit(ray=True)`` fits co-visitation and popularity by the Ray Data group-by of
  ``sleuth.distributed.fits`` over the shards' event tables (one part per shard), the other
  learned sources locally as before. The fitted tables are held once, by the coordinator that
  fuses every request: each shard's items are reached through it, so no shard needs a copy.
- **A request.** The user's mask is the shards' masks interleaved; popularity and co-visit
  candidates map to docnos on their items' shards; content searches every shard's dense index
  with the user's profile inside that mask and merges the lists (``gather.merge``). Fusion and
  diversity run once, on the merged lists: exact for popularity, co-visit, EASE, content and
  item-to-item (``similar``), as long as each shard's dense search is exact (flat: below the
  IVF threshold of ``DenseConfig``); above it, content is each shard's approximation.
- **Not on shards:** the sequential model (``train`` is not available on a sharded
  collection; asking for ``sequential`` is an ``InvalidInput``), search-click events (the
  learned ranker's training log).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, cast

import numpy as np

from sleuth.config import RecommendConfig
from sleuth.errors import InvalidInput
from sleuth.recommend.registry import Fitted
from sleuth.recommend.service import CollectionView, Recommended, RecommendService
from sleuth.recommend.source import Ranked
from sleuth.shards.gather import docnos_of, mask_of, merge, split
from sleuth.shards.group import Call, ShardGroup
from sleuth.store.events import EventRows
from sleuth.types import Candidates

__all__ = ["NOT_ON_SHARDS", "ShardedRecs"]

NOT_ON_SHARDS = ("sequential",)  # sources a sharded collection cannot serve
RAY_FITTED = ("co-visit", "popularity")  # what the Ray group-by fits


class _Events:
    """Every shard's event log as one sequence, for one ``EventLog`` to catch up from: each
    call reads what each shard recorded after its cursor (one scatter, before anything is
    handed out, so a failed shard loses nothing), numbering the chunks on."""

    def __init__(self, group: ShardGroup) -> None:
        self.group = group
        self.cursors = [0] * group.size
        self.total = 0

    def iter_event_rows(self, after: int = 0) -> Iterator[tuple[int, EventRows]]:
        found = self.group.scatter("event_rows", [((c,), {}) for c in self.cursors])
        for shard, chunks in enumerate(found):
            for last, rows in chunks:
                self.total += len(rows)
                self.cursors[shard] = last
                yield self.total, rows


class _Items:
    """The catalog side of one request: global docnos of ids, filter masks, vectors and
    dense searches, each asked of the shards. Vectors are read in one scatter for the ids of
    the last ``docnos_of`` (what the content source asks for next), one by one otherwise."""

    def __init__(self, group: ShardGroup) -> None:
        self.group = group
        self.shards = group.size
        self._vectors: dict[int, np.ndarray | None] = {}
        self._last: set[int] = set()

    def docnos_of(self, ids: Sequence[str]) -> dict[str, int]:
        out = docnos_of(self.group, ids)
        self._last = set(out.values())
        return out

    def vector_of(self, docno: int) -> np.ndarray | None:
        if docno not in self._vectors:
            batch = self._last if docno in self._last else {docno}
            self._read([d for d in batch if d not in self._vectors])
        return self._vectors.get(docno)

    def _read(self, docnos: list[int]) -> None:
        parts = split(docnos, self.shards)
        found = self.group.scatter("vectors_by_docno", [((p,), {}) for p in parts])
        for s, (part, vectors) in enumerate(zip(parts, found)):
            for d, v in zip(part, vectors):
                self._vectors[d * self.shards + s] = v

    def mask(self, where: dict[str, Any] | None) -> np.ndarray:
        return mask_of(self.group, where)

    def search_batch(self, queries: np.ndarray, k: int, mask: np.ndarray | None) -> Candidates:
        calls: list[Call] = [
            ((queries, k, None if mask is None else mask[s :: self.shards]), {})
            for s in range(self.shards)
        ]
        return merge(self.group.scatter("dense", calls), k)


@dataclasses.dataclass(frozen=True)
class _Store:
    """What the service reads of a store: the merged event log and the items' docnos."""

    events: _Events
    items: _Items

    def iter_event_rows(self, after: int = 0) -> Iterator[tuple[int, EventRows]]:
        return self.events.iter_event_rows(after)

    def docnos_of(self, ids: Sequence[str]) -> dict[str, int]:
        return self.items.docnos_of(ids)


class _Service(RecommendService):
    """The service of one collection, fitting co-visitation and popularity with Ray once
    ``ray`` is set (the others as before); everything else as ``RecommendService``."""

    def __init__(self, config: RecommendConfig, models: Path, group: ShardGroup) -> None:
        super().__init__(config, models)
        self.group = group
        self.ray: str | None = None  # "": a local or joined cluster; else its address

    def use_ray(self, address: str | None) -> None:
        """Fit co-visitation and popularity with Ray from now on (at the next fit)."""
        with self._fit_lock:
            self.ray = address or ""
            rest = {n: (0.0 if n in RAY_FITTED else w) for n, w in self.config.sources.items()}
            self._learned = Fitted(dataclasses.replace(self.config, sources=rest))

    def fitted(self, store: Any) -> Fitted | None:
        with self._fit_lock:
            if self._learned.stale(self.log.catch_up(store)):
                self._fit()
            return self._learned if self._learned.data is not None else None

    def refit(self, store: Any) -> int:
        """Fit now, on every event recorded so far; how many that is."""
        with self._fit_lock:
            n = self.log.catch_up(store)
            if n:
                self._fit()
            return n

    def _fit(self) -> None:
        self._learned.fit(self.log.interactions(self.config.event_weights))
        if self.ray is not None:
            self._learned.sources.update(self._fit_on_ray())

    def _fit_on_ray(self) -> dict[str, Any]:
        from sleuth.distributed.fits import fit_events

        wanted = [n for n in RAY_FITTED if self.config.sources.get(n, 0.0) > 0]
        if not wanted:
            return {}
        tables = fit_events(
            self.group.scatter("event_table", ((), {})),
            event_weights=self.config.event_weights,
            half_life_days=self.config.popularity_half_life_days,
            address=self.ray or None,
        )
        return {n: s for n, s in tables.sources().items() if n in wanted}


class ShardedRecs:
    """``record``'s reading side and ``recommend``/``similar`` of a sharded collection."""

    def __init__(self, group: ShardGroup, config: RecommendConfig, models: Path) -> None:
        self.events = _Events(group)
        self.service = _Service(config, models, group)
        self.group = group

    def refit(self, *, ray: bool = False, address: str | None = None) -> int:
        """Fit the learned sources now (with Ray when ``ray``: from now on co-visitation and
        popularity are fitted by the group-by); how many events they were fitted on."""
        if ray:
            self.service.use_ray(address)
        return self.service.refit(self.events)

    def _view(self) -> CollectionView:
        items = _Items(self.group)
        return CollectionView(cast(Any, _Store(self.events, items)), items, items.mask)

    @staticmethod
    def check_sources(weights: Mapping[str, float]) -> None:
        """A request's own ``sources=`` may not ask for what shards lack (the configured
        weights may: an untrained source is left out, as on one collection)."""
        asked = [n for n in NOT_ON_SHARDS if weights.get(n, 0.0) > 0]
        if asked:
            raise InvalidInput(
                f"the {asked[0]} source is not available on a sharded collection (it is "
                "trained on one collection's events); ask for co-visit, ease, content, "
                "multi-interest or popularity",
                source=asked[0],
            )

    def recommend_batch(
        self, users: Sequence[str], k: int, weights: Mapping[str, float], **options: Any
    ) -> Recommended:
        return self.service.recommend_batch(self._view(), users, k, weights=weights, **options)

    def similar(self, item_id: str, k: int, where: dict[str, Any] | None) -> Ranked:
        return self.service.similar(self._view(), item_id, k, where)
