"""The learned sources of one collection, fitted on its events.

A fit sees every event recorded so far; it is repeated once the events have grown by
``RecommendConfig.refit_growth``. Between fits a user's own history is read per request, so a
new event changes that user's next recommendations at once.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

import numpy as np

from sleuth.config import RecommendConfig
from sleuth.recommend.interactions import History, Interactions
from sleuth.recommend.multi_interest import MultiInterest
from sleuth.recommend.sources import EASE, CoVisit, Popularity, Source
from sleuth.types import Event

__all__ = ["Candidates", "Recommender"]

Candidates = tuple[list[str], np.ndarray]  # item ids, scores (best first)
CHUNK = 512  # users scored at once: CHUNK x items float32 per source


class Recommender:
    def __init__(self, config: RecommendConfig) -> None:
        self.config = config
        self.data: Interactions | None = None
        self.sources: dict[str, Source] = {}
        self.fitted_events = 0

    def stale(self, n_events: int) -> bool:
        if self.data is None:
            return n_events > 0
        return n_events > self.fitted_events * (1 + self.config.refit_growth)

    def fit(self, events: Sequence[Event]) -> None:
        data = Interactions.from_events(events, self.config.event_weights)
        wanted = {name for name, w in self.config.sources.items() if w > 0}
        sources: dict[str, Source] = {}
        if "co-visit" in wanted:
            sources["co-visit"] = CoVisit(window=5, recent=5).fit(data)
        if "ease" in wanted and data.n_items <= EASE().max_items:
            sources["ease"] = EASE(l2=100.0).fit(data)
        if "multi-interest" in wanted and data.n_items >= 8:
            sources["multi-interest"] = MultiInterest(n_clusters=8, max_interests=3).fit(data)
        if "popularity" in wanted:
            sources["popularity"] = Popularity(self.config.popularity_half_life_days).fit(data)
        self.data, self.sources, self.fitted_events = data, sources, len(events)

    def history(self, events: Sequence[Event]) -> History:
        """The events as a history over the fitted items (items new since the fit left out)."""
        assert self.data is not None
        index, weights = self.data.item_index, self.config.event_weights
        known = [e for e in events if e.item in index]
        return History(
            np.array([index[e.item] for e in known], np.int64),
            np.array([weights.get(e.kind, 1.0) for e in known], np.float32),
            np.array([e.ts or 0.0 for e in known], np.float64),
        )

    def candidates_batch(
        self,
        histories: Sequence[Sequence[Event]],
        depth: int,
        *,
        exclude_seen: bool,
        only: Collection[str] | None = None,
    ) -> list[dict[str, Candidates]]:
        """Each source's best ``depth`` items per user (events oldest first); ``only``: the
        sources wanted (default: every fitted one). Users are scored in chunks, as matrices."""
        out: list[dict[str, Candidates]] = [{} for _ in histories]
        if self.data is None:
            return out
        coded = [self.history(events) for events in histories]
        for name, source in self.sources.items():
            if only is not None and name not in only:
                continue
            for start in range(0, len(coded), CHUNK):
                chunk = coded[start : start + CHUNK]
                scores = source.score(chunk)
                for row, history in enumerate(chunk):
                    if name != "popularity" and history.items.size == 0:
                        continue
                    if exclude_seen:
                        scores[row, history.items] = -np.inf
                    out[start + row][name] = self._top(scores[row], depth)
        return out

    def neighbours(self, item: str, depth: int) -> Candidates | None:
        """Items most often next to ``item`` in user histories, either way in time."""
        covisit = self.sources.get("co-visit")
        if (
            self.data is None
            or not isinstance(covisit, CoVisit)
            or item not in self.data.item_index
        ):
            return None
        i = self.data.item_index[item]
        scores = covisit.neighbours(i)
        scores[i] = -np.inf
        return self._top(scores, depth)

    def _top(self, scores: np.ndarray, depth: int) -> Candidates:
        assert self.data is not None
        useful = np.flatnonzero(scores > 0)
        if useful.size > depth:
            useful = useful[np.argpartition(-scores[useful], depth - 1)[:depth]]
        order = useful[np.argsort(-scores[useful], kind="stable")]
        return [self.data.item_ids[i] for i in order], scores[order]
