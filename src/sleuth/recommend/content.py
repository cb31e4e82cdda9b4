"""The content source: items near a user's recency-weighted profile of item vectors.

It needs no co-occurrence, so it is what a cold or long-tail item is found through: an item
nobody has interacted with yet still has a text, hence a vector.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import cast

import numpy as np

from sleuth.errors import InvalidInput
from sleuth.recommend.interactions import History, Interactions
from sleuth.recommend.source import Batch, Ranked, Source

__all__ = ["HORIZON", "RECENCY", "Content", "recency_profile"]

RECENCY = 0.9  # each older event counts this much less than the one after it
HORIZON = 50  # only the newest events shape the profile
OVERFETCH = 4  # unfiltered, a history of up to this many times the depth is fetched past


def recency_profile(vectors: np.ndarray, weights: np.ndarray) -> np.ndarray | None:
    """The unit-length weighted mean of ``vectors: float32[n, d]`` (in time order, oldest first),
    each also decayed by ``RECENCY`` per newer event; None for an empty or zero profile."""
    vectors, weights = vectors[-HORIZON:], np.asarray(weights, np.float64)[-HORIZON:]
    if not len(vectors):
        return None
    decay = RECENCY ** np.arange(len(vectors))[::-1]
    profile = (vectors * (weights * decay)[:, None]).sum(0)
    norm = float(np.linalg.norm(profile))
    return (profile / norm).astype(np.float32) if norm > 0 else None


class Content(Source):
    """Served, it reads the item vectors of the catalog's dense index at request time: the
    profile of the user's newest events, searched inside the user's mask, so an item nobody
    has touched is found too. To ``score`` the fitted items, ``vectors`` maps item ids to their
    (text) vectors; an item without one scores lowest and adds nothing to a profile."""

    name = "content"

    def __init__(self, vectors: Mapping[str, np.ndarray] | None = None) -> None:
        if vectors is not None and not vectors:
            raise InvalidInput("the content source needs item vectors; none were given")
        self.vectors = vectors

    def fit(self, data: Interactions) -> Content:
        self._learn_items(data)
        if self.vectors is None:
            return self
        dim = len(next(iter(self.vectors.values())))
        self.unit = np.zeros((data.n_items, dim), np.float32)
        self.known = np.zeros(data.n_items, bool)
        for code, item in enumerate(data.item_ids):
            v = self.vectors.get(item)
            if v is not None:
                self.unit[code] = v / max(float(np.linalg.norm(v)), 1e-12)
                self.known[code] = True
        return self

    def candidates(self, batch: Batch) -> list[Ranked | None]:
        catalog, kinds = batch.catalog, batch.event_weights
        found = catalog.docnos_of(sorted({e.item for h in batch.histories for e in h[-HORIZON:]}))
        out: list[Ranked | None] = []
        for history, mask in zip(batch.histories, batch.masks):
            picked, weights = [], []
            for event in history[-HORIZON:]:
                docno = found.get(event.item)
                vector = None if docno is None else catalog.vector_of(docno)
                if vector is not None:
                    picked.append(vector)
                    weights.append(kinds.get(event.kind, 1.0))
            profile = recency_profile(np.stack(picked), np.array(weights)) if picked else None
            out.append(None if profile is None else _nearest(batch, profile, mask, len(history)))
        return out

    def score(self, histories: Sequence[History]) -> np.ndarray:
        if self.vectors is None:
            raise InvalidInput("Content.score needs item vectors: give them as Content(vectors)")
        out = np.full((len(histories), self.n_items), -1.0, np.float32)
        for row, history in enumerate(histories):
            known = self.known[history.items]
            profile = recency_profile(self.unit[history.items[known]], history.weights[known])
            if profile is not None:
                out[row] = self.unit @ profile
        out[:, ~self.known] = -2.0
        return out


def _nearest(batch: Batch, profile: np.ndarray, mask: np.ndarray, seen: int) -> Ranked:
    """The ``depth`` items nearest ``profile`` that pass ``mask``. Without a ``where`` filter
    the mask clears only items the index does not hold (deleted) and the user's ``seen``
    ones, so the search runs unfiltered for ``depth + seen`` and the mask is read at those
    few: the same items, without turning a catalog-wide mask into index rows (at 1M items
    that took most of a request)."""
    catalog, depth = batch.catalog, batch.depth
    if batch.filtered or seen > OVERFETCH * depth:
        return cast(Ranked, catalog.search_batch(profile[None, :], depth, mask).row(0))
    docnos, scores = catalog.search_batch(profile[None, :], depth + seen, None).row(0)
    inside = docnos < mask.size
    keep = np.flatnonzero(inside & mask[np.where(inside, docnos, 0)])[:depth]
    return docnos[keep], scores[keep]
