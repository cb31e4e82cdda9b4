"""The contract of a candidate source, and the batch of users every source is asked about.

A source is fitted on ``Interactions`` (``fit``), scores every fitted item for user histories
(``score``: the learning and evaluation view), and serves ``candidates`` for a ``Batch``: each
user's best ``depth`` docnos inside that user's mask (the serving view). The default
``candidates`` scores the batch as matrices; a source that searches an index instead (content,
the trained sequential model) overrides it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

import numpy as np
import scipy.sparse as sp

from sleuth.recommend.interactions import History, Interactions
from sleuth.types import Event

__all__ = ["CHUNK", "Batch", "Catalog", "Ranked", "Source", "in_mask", "top_positive"]

Ranked = tuple[np.ndarray, np.ndarray]  # docnos int64[n], scores float64[n], best first
CHUNK = 512  # users scored at once: CHUNK x items float32 per source


class Catalog(Protocol):
    """What sources read of a collection at request time: ids to docnos, and its dense index."""

    def docnos_of(self, ids: Sequence[str]) -> dict[str, int]: ...
    def vector_of(self, docno: int) -> np.ndarray | None: ...
    def search_batch(self, queries: np.ndarray, k: int, mask: np.ndarray | None) -> Any: ...


@dataclass(frozen=True)
class Batch:
    """The users of one request. ``masks[u]``: bool[docnos], what may be recommended to user
    ``u`` (filters and catalog, and the user's seen items already cleared when
    ``exclude_seen``)."""

    histories: Sequence[Sequence[Event]]  # each user's events, oldest first
    masks: Sequence[np.ndarray]
    depth: int
    exclude_seen: bool
    event_weights: Mapping[str, float]
    catalog: Catalog
    filtered: bool = True  # a ``where`` filter shaped the masks (not only the catalog, seen)


class Source:
    """``name``: what ``RecommendConfig.sources`` weighs it by. ``cold``: it also serves users
    without a history it knows (popularity)."""

    name: ClassVar[str]
    cold: ClassVar[bool] = False
    n_items = 0
    item_ids: Sequence[str] = ()
    item_index: Mapping[str, int] = {}

    def fit(self, data: Interactions) -> Source:
        raise NotImplementedError

    def score(self, histories: Sequence[History]) -> np.ndarray:
        """float32[len(histories), n_items]; higher is better."""
        raise NotImplementedError

    def candidates(self, batch: Batch) -> list[Ranked | None]:
        """Per user: the best ``depth`` fitted items with a positive score (seen ones left out
        when ``exclude_seen``) that pass the user's mask; None when the source has nothing to
        say about that user (no history it knows)."""
        coded = [self.history(events, batch.event_weights) for events in batch.histories]
        tops = self.tops(coded, batch.depth, exclude_seen=batch.exclude_seen)
        found = batch.catalog.docnos_of(sorted({i for t in tops if t for i in t[0]}))
        return [None if t is None else in_mask(t, found, m) for t, m in zip(tops, batch.masks)]

    def tops(
        self, coded: Sequence[History], depth: int, *, exclude_seen: bool
    ) -> list[tuple[list[str], np.ndarray] | None]:
        """Per history: the ids and scores of the best ``depth`` positive-scored items (seen
        ones left out when ``exclude_seen``), None when the source says nothing about it. By
        default from ``score``, a chunk of users at a time; a source whose scores are sparse
        overrides it so that a request does not cost a pass over every item."""
        tops: list[tuple[list[str], np.ndarray] | None] = []
        for start in range(0, len(coded), CHUNK):
            chunk = coded[start : start + CHUNK]
            scores = self.score(chunk)
            for row, history in enumerate(chunk):
                if not self.cold and history.items.size == 0:
                    tops.append(None)
                    continue
                if exclude_seen:
                    scores[row, history.items] = -np.inf
                tops.append(self.best(scores[row], depth))
        return tops

    def history(self, events: Sequence[Event], weights: Mapping[str, float]) -> History:
        """The events as a history over the fitted items (items new since the fit left out)."""
        index = self.item_index
        known = [e for e in events if e.item in index]
        return History(
            np.array([index[e.item] for e in known], np.int64),
            np.array([weights.get(e.kind, 1.0) for e in known], np.float32),
            np.array([e.ts or 0.0 for e in known], np.float64),
        )

    def _learn_items(self, data: Interactions) -> None:
        """Called by ``fit``: the item numbering scores are given in."""
        self.n_items, self.item_ids, self.item_index = data.n_items, data.item_ids, data.item_index

    def _learn_ids(self, item_ids: Sequence[str]) -> None:
        """``_learn_items`` from the ids alone (a fit from counts made elsewhere)."""
        self.item_ids = list(item_ids)
        self.n_items = len(self.item_ids)
        self.item_index = {item: i for i, item in enumerate(self.item_ids)}

    def best(self, scores: np.ndarray, depth: int) -> tuple[list[str], np.ndarray]:
        """The item ids of the best ``depth`` positive ``scores: [n_items]``, and their scores."""
        order = top_positive(scores, depth)
        return [self.item_ids[i] for i in order], scores[order]

    def _profile(self, histories: Sequence[History]) -> sp.csr_matrix:
        """Binary users × items matrix of the histories."""
        rows = np.repeat(np.arange(len(histories)), [h.items.size for h in histories])
        cols = np.concatenate([h.items for h in histories]) if histories else np.zeros(0, int)
        m = sp.csr_matrix(
            (np.ones(cols.size, np.float32), (rows, cols)), shape=(len(histories), self.n_items)
        )
        m.sum_duplicates()
        m.data[:] = 1.0
        return m


def top_positive(scores: np.ndarray, depth: int) -> np.ndarray:
    """int64[<= depth]: the positions of the best ``depth`` positive scores, best first."""
    useful = np.flatnonzero(scores > 0)
    if useful.size > depth:
        useful = useful[np.argpartition(-scores[useful], depth - 1)[:depth]]
    return useful[np.argsort(-scores[useful], kind="stable")]


def in_mask(
    candidates: tuple[Sequence[str], np.ndarray], found: Mapping[str, int], mask: np.ndarray
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
