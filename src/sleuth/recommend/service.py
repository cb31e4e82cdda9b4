"""The one path from users to recommended items: ``Collection.recommend`` serves it and
``sleuth eval recs`` measures it, so the harness's figures are what users get.

For a batch of users (each a history of events, oldest first) every candidate source gives its
best ``depth`` items inside the request's mask (filters, the catalog, seen items), each list is
z-scored and the weighted sum ranks the union (``sleuth.fuse``, as in search); ``diversity``
re-ranks the fused list by MMR on the item vectors.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from sleuth.config import RecommendConfig
from sleuth.recommend.content import HORIZON, recency_profile
from sleuth.recommend.recommender import Recommender
from sleuth.types import Event

__all__ = ["Ranked", "RecommendService", "in_mask", "mmr"]

Ranked = tuple[np.ndarray, np.ndarray]  # docnos int64[n], scores float64[n], best first


class _Store(Protocol):
    def events(self) -> list[Event]: ...
    def event_count(self) -> int: ...
    def docnos_of(self, ids: Sequence[str]) -> dict[str, int]: ...


class _Vectors(Protocol):
    def vector_of(self, docno: int) -> np.ndarray | None: ...
    def search_batch(self, queries: np.ndarray, k: int, mask: np.ndarray | None) -> Any: ...


class RecommendService:
    """The learned sources of one collection (refitted as events grow), its trained sequential
    model (``models/``), and the fusion of every source's candidates."""

    def __init__(self, config: RecommendConfig, models: Path) -> None:
        self.config = config
        self.models = models
        self.recommender = Recommender(config)
        self._fit_lock = threading.Lock()
        self._train_lock = threading.Lock()
        self._sequential: Any = None

    # -- models ------------------------------------------------------------------------------

    def fitted(self, store: _Store) -> Recommender | None:
        """The learned sources, refitted when the events grew enough (one fit at a time)."""
        with self._fit_lock:
            if self.recommender.stale(store.event_count()):
                self.recommender.fit(store.events())
            return self.recommender if self.recommender.data is not None else None

    def sequential(self) -> Any:
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

    # -- serving -----------------------------------------------------------------------------

    def candidates(
        self,
        store: _Store,
        vectors: _Vectors,
        histories: Sequence[Sequence[Event]],
        masks: Sequence[np.ndarray],
        *,
        depth: int,
        weights: Mapping[str, float],
        exclude_seen: bool,
    ) -> list[dict[str, Ranked]]:
        """Each source's best ``depth`` docnos per user, inside that user's mask (which the
        caller has already cleared of the user's seen items when they are excluded)."""
        rec = self.fitted(store)
        wanted = {name for name, w in weights.items() if w > 0}
        learned: list[dict[str, tuple[list[str], np.ndarray]]] = (
            rec.candidates_batch(histories, depth, exclude_seen=exclude_seen, only=wanted)
            if rec is not None
            else [{} for _ in histories]
        )
        sequential = self.sequential() if "sequential" in wanted else None
        if sequential is not None:
            for per_user, history in zip(learned, histories):
                if history:
                    per_user["sequential"] = sequential.candidates(
                        history, depth, exclude_seen=exclude_seen
                    )
        ids = sorted({i for per_user in learned for c in per_user.values() for i in c[0]})
        found = store.docnos_of(ids)
        out = [
            {name: in_mask(c, found, mask) for name, c in per_user.items()}
            for per_user, mask in zip(learned, masks)
        ]
        if "content" in wanted:
            self._content(vectors, store, histories, masks, depth, out)
        return out

    def _content(
        self,
        vectors: _Vectors,
        store: _Store,
        histories: Sequence[Sequence[Event]],
        masks: Sequence[np.ndarray],
        depth: int,
        out: list[dict[str, Ranked]],
    ) -> None:
        """Items near each user's recency-weighted profile of item vectors."""
        kinds = self.config.event_weights
        found = store.docnos_of(sorted({e.item for h in histories for e in h[-HORIZON:]}))
        for history, mask, per_user in zip(histories, masks, out):
            picked, weights = [], []
            for event in history[-HORIZON:]:
                docno = found.get(event.item)
                vector = None if docno is None else vectors.vector_of(docno)
                if vector is not None:
                    picked.append(vector)
                    weights.append(kinds.get(event.kind, 1.0))
            if not picked:
                continue
            profile = recency_profile(np.stack(picked), np.array(weights))
            if profile is not None:
                per_user["content"] = vectors.search_batch(profile[None, :], depth, mask).row(0)


def in_mask(
    candidates: tuple[list[str], np.ndarray], found: Mapping[str, int], mask: np.ndarray
) -> Ranked:
    """Candidate item ids as docnos, keeping those in the catalog that pass ``mask``."""
    ids, scores = candidates
    keep = [
        (found[i], s)
        for i, s in zip(ids, scores.tolist())
        if i in found and found[i] < mask.size and mask[found[i]]
    ]
    return (
        np.array([d for d, _ in keep], np.int64),
        np.array([s for _, s in keep], np.float64),
    )


def mmr(
    vectors: _Vectors, docnos: np.ndarray, scores: np.ndarray, k: int, diversity: float
) -> Ranked:
    """Maximal marginal relevance: pick, one at a time, the item maximizing
    ``(1 - diversity) * relevance - diversity * max similarity to the items picked``."""
    found = [vectors.vector_of(int(d)) for d in docnos]
    keep = [i for i, v in enumerate(found) if v is not None]
    if not keep:
        return docnos[:k], scores[:k]
    docnos, scores = docnos[keep], scores[keep]
    v = np.stack([x for x in found if x is not None])
    rel = (scores - scores.min()) / (np.ptp(scores) or 1.0)
    sim = v @ v.T
    picked: list[int] = []
    closest = np.full(len(keep), -np.inf)
    for _ in range(min(k, len(keep))):
        gain = (1 - diversity) * rel - (diversity * closest if picked else 0.0)
        gain[picked] = -np.inf
        best = int(np.argmax(gain))
        picked.append(best)
        closest = np.maximum(closest, sim[best])
    return docnos[picked], scores[picked]
