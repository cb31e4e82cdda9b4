"""Every source ``recommend`` serves, by the name ``RecommendConfig.sources`` weighs it by: the
one place a new source goes (a ``Source`` subclass, see ``source.py``, and one entry here).

- ``LEARNED``: fitted on the collection's events, again once they have grown (``Fitted``); only
  those whose configured weight is > 0 are fitted, as a fit costs time and memory. A maker
  returns None where its source does not apply (EASE over its item limit, multi-interest on a
  handful of items).
- ``READY``: nothing to fit; the source reads the catalog at request time (content).
- ``TRAINED``: learned by ``Collection.train`` and loaded from ``models/`` (SASRec).

``ORDER`` is the order the service asks them in (and explain lists them in).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from sleuth.config import RecommendConfig
from sleuth.recommend.content import Content
from sleuth.recommend.interactions import Interactions
from sleuth.recommend.multi_interest import MultiInterest
from sleuth.recommend.source import Source
from sleuth.recommend.sources import EASE, CoVisit, Popularity

__all__ = ["LEARNED", "ORDER", "READY", "TRAINED", "Fitted"]

Maker = Callable[[RecommendConfig, Interactions], Source | None]

LEARNED: dict[str, Maker] = {
    "co-visit": lambda config, data: CoVisit(window=5, recent=5).fit(data),
    "ease": lambda config, data: (
        EASE(l2=100.0).fit(data) if data.n_items <= EASE().max_items else None
    ),
    "multi-interest": lambda config, data: (
        MultiInterest(n_clusters=8, max_interests=3).fit(data) if data.n_items >= 8 else None
    ),
    "popularity": lambda config, data: Popularity(config.popularity_half_life_days).fit(data),
}
READY: dict[str, Callable[[], Source]] = {"content": Content}
TRAINED = ("sequential",)
ORDER = (*LEARNED, *TRAINED, *READY)


class Fitted:
    """The learned sources of one collection, fitted on every event recorded so far and
    refitted once the events have grown by ``RecommendConfig.refit_growth``. Between fits a
    user's own history is read per request, so a new event counts at once."""

    def __init__(self, config: RecommendConfig) -> None:
        self.config = config
        self.data: Interactions | None = None
        self.sources: dict[str, Source] = {}
        self.fitted_events = 0

    def stale(self, n_events: int) -> bool:
        if self.data is None:
            return n_events > 0
        return n_events > self.fitted_events * (1 + self.config.refit_growth)

    def fit(self, data: Interactions) -> None:
        """Fit the wanted sources on ``data`` (every event recorded so far)."""
        wanted = {name for name, w in self.config.sources.items() if w > 0}
        sources = {}
        for name, make in LEARNED.items():
            source = make(self.config, data) if name in wanted else None
            if source is not None:
                sources[name] = source
        self.data, self.sources, self.fitted_events = data, sources, len(data)

    def neighbours(self, item: str, depth: int) -> tuple[list[str], np.ndarray] | None:
        """Items most often next to ``item`` in user histories, either way in time."""
        covisit = self.sources.get("co-visit")
        if not isinstance(covisit, CoVisit) or item not in covisit.item_index:
            return None
        i = covisit.item_index[item]
        scores = covisit.neighbours(i)
        scores[i] = -np.inf
        return covisit.best(scores, depth)
