"""Candidate sources learned from interactions. Each is fitted on ``Interactions`` and scores
every item for a list of user histories (read at request time, so a new event counts at once);
the ``Source`` contract is in ``source.py``.

- ``Popularity``: weighted counts with an optional half-life: the cold-user fallback.
- ``ItemKNN``: cosine between items' user sets; a user's score sums their items' neighbours.
- ``EASE``: Steck's closed-form item-item model (one l2-regularized inverse of the item Gram
  matrix); quadratic memory in the items, so only for catalogs up to ``max_items``.
- ``CoVisit``: windowed, weighted co-occurrence in time order (item b within ``window`` events
  after item a), scored from the user's most recent items with a recency decay: the sequential
  signal that dominates next-item prediction.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp

from sleuth.errors import InvalidInput
from sleuth.recommend.interactions import History, Interactions
from sleuth.recommend.source import Source, top_positive

__all__ = ["EASE", "CoVisit", "ItemKNN", "Popularity"]

FIT_CHUNK = 1 << 20  # sorted events whose pairs are counted at once


class Popularity(Source):
    name = "popularity"
    cold = True

    def __init__(self, half_life_days: float | None = None) -> None:
        self.half_life_days = half_life_days

    def fit(self, data: Interactions) -> Popularity:
        w = data.weights.astype(np.float64)
        counts = np.bincount(data.items, w, minlength=data.n_items)
        decayed = None
        if self.half_life_days and data.ts.size:
            age_days = (data.ts.max() - data.ts) / 86400.0
            decayed = np.bincount(
                data.items, w * 0.5 ** (age_days / self.half_life_days), minlength=data.n_items
            )
        return self.fit_counts(data.item_ids, counts, decayed)

    def fit_counts(
        self, item_ids: Sequence[str], counts: np.ndarray, decayed: np.ndarray | None = None
    ) -> Popularity:
        """Fit from each item's summed event weights (``float64[n_items]``, items in
        ``item_ids`` order) and, with a half-life, its summed decayed weights: what ``fit``
        counts, or a distributed group-by (``sleuth.distributed.fit_events``)."""
        self._learn_ids(item_ids)
        if decayed is not None:
            # All-time counts break ties where old events decayed to nothing.
            counts = decayed + 1e-9 * counts / max(counts.max(initial=0.0), 1.0)
        self.counts = np.asarray(counts).astype(np.float32)
        ranked = np.argsort(-self.counts, kind="stable")
        self.ranked = ranked[self.counts[ranked] > 0]  # the best first, equal counts by code
        return self

    def tops(
        self, coded: Sequence[History], depth: int, *, exclude_seen: bool
    ) -> list[tuple[list[str], np.ndarray] | None]:
        """The same for every user but their seen items: a prefix of the ranking."""
        out: list[tuple[list[str], np.ndarray] | None] = []
        for history in coded:
            seen = history.items if exclude_seen else np.zeros(0, np.int64)
            head = self.ranked[: depth + np.unique(seen).size]
            head = head[~np.isin(head, seen)][:depth]
            out.append(([self.item_ids[i] for i in head.tolist()], self.counts[head]))
        return out

    def score(self, histories: Sequence[History]) -> np.ndarray:
        return np.tile(self.counts, (len(histories), 1))


class ItemKNN(Source):
    name = "item-knn"

    def fit(self, data: Interactions) -> ItemKNN:
        self._learn_items(data)
        x = data.matrix()
        gram = (x.T @ x).tocsr().astype(np.float32)
        norms = np.sqrt(gram.diagonal()).clip(1e-9)
        sim = sp.diags(1 / norms) @ gram @ sp.diags(1 / norms)
        sim.setdiag(0)
        sim.eliminate_zeros()
        self.sim = sim.tocsr()
        return self

    def score(self, histories: Sequence[History]) -> np.ndarray:
        return np.asarray((self._profile(histories) @ self.sim).todense(), np.float32)


class EASE(Source):
    name = "ease"

    def __init__(self, l2: float = 100.0, max_items: int = 20_000) -> None:
        self.l2 = l2
        self.max_items = max_items

    def fit(self, data: Interactions) -> EASE:
        if data.n_items > self.max_items:
            raise InvalidInput(
                f"EASE needs an items × items dense matrix: {data.n_items} items is over its "
                f"limit of {self.max_items}; use item-knn or co-visit for this catalog",
                items=data.n_items,
                limit=self.max_items,
            )
        self._learn_items(data)
        x = data.matrix()
        gram = (x.T @ x).toarray().astype(np.float64)
        gram[np.diag_indices_from(gram)] += self.l2
        p = np.linalg.inv(gram)
        b = -p / np.diag(p)
        np.fill_diagonal(b, 0.0)
        self.b = b.astype(np.float32)
        return self

    def score(self, histories: Sequence[History]) -> np.ndarray:
        return np.asarray(self._profile(histories) @ self.b, np.float32)


class CoVisit(Source):
    name = "co-visit"

    def __init__(
        self, window: int = 3, decay: float = 0.5, recent: int = 5, recency: float = 0.6
    ) -> None:
        self.window, self.decay, self.recent, self.recency = window, decay, recent, recency

    def fit(self, data: Interactions) -> CoVisit:
        n = data.n_items
        t = sp.csr_matrix((n, n), dtype=np.float32)
        for start in range(0, len(data), FIT_CHUNK):  # bounded memory at any number of events
            t = t + self._pairs(data, start, min(start + FIT_CHUNK, len(data)))
        return self.fit_pairs(data.item_ids, t)

    def fit_pairs(self, item_ids: Sequence[str], t: sp.csr_matrix) -> CoVisit:
        """Fit from the weighted pair counts (items × items, in ``item_ids`` order: ``t[a, b]``
        sums ``decay ** (gap - 1)`` over b coming ``gap <= window`` events after a in a
        user's history): what ``fit`` counts, or a distributed group-by
        (``sleuth.distributed.fit_events``)."""
        self._learn_ids(item_ids)
        self.both = (t + t.T).tocsr().astype(np.float32)  # either order, for item-to-item
        degree = np.asarray(self.both.sum(1)).ravel()
        self.degree = np.sqrt(degree + 1.0).astype(np.float32)
        t = sp.diags(1.0 / (np.asarray(t.sum(1)).ravel() + 1.0)) @ t
        self.t = t.tocsr().astype(np.float32)
        return self

    def _pairs(self, data: Interactions, start: int, stop: int) -> sp.csr_matrix:
        """items × items: the weighted pairs (a, b) with a at a sorted position in
        ``[start, stop)`` and b up to ``window`` events later in the same user's history."""
        users, items = data.users, data.items
        rows, cols, vals = [], [], []
        for gap in range(1, self.window + 1):
            end = min(stop, users.size - gap)
            if end <= start:
                continue
            ok = users[start:end] == users[start + gap : end + gap]
            rows.append(items[start:end][ok])
            cols.append(items[start + gap : end + gap][ok])
            vals.append(np.full(int(ok.sum()), self.decay ** (gap - 1), np.float32))
        n = data.n_items
        if not rows:
            return sp.csr_matrix((n, n), dtype=np.float32)
        pairs = sp.csr_matrix(
            (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n)
        )
        pairs.sum_duplicates()
        return pairs

    def neighbours(self, item: int) -> np.ndarray:
        """Co-visitation of ``item`` with every item, either order, cosine-normalized so that
        rare items do not win on a single shared user."""
        row = np.asarray(self.both[item].todense(), np.float32).ravel()
        return row / (self.degree * self.degree[item])

    def tops(
        self, coded: Sequence[History], depth: int, *, exclude_seen: bool
    ) -> list[tuple[list[str], np.ndarray] | None]:
        """From the sparse product of the recent items and the transitions: a request costs
        the neighbours of a few items, not a pass over every item."""
        scores = self._recent(coded) @ self.t
        out: list[tuple[list[str], np.ndarray] | None] = []
        for row, history in enumerate(coded):
            if history.items.size == 0:
                out.append(None)
                continue
            lo, hi = scores.indptr[row], scores.indptr[row + 1]
            items, values = scores.indices[lo:hi], scores.data[lo:hi].copy()
            if exclude_seen:
                values[np.isin(items, history.items)] = -np.inf
            order = items.argsort(kind="stable")  # equal scores by code, as over every item
            items, values = items[order], values[order]
            best = top_positive(values, depth)
            out.append(([self.item_ids[i] for i in items[best].tolist()], values[best]))
        return out

    def score(self, histories: Sequence[History]) -> np.ndarray:
        return np.asarray((self._recent(histories) @ self.t).todense(), np.float32)

    def _recent(self, histories: Sequence[History]) -> sp.csr_matrix:
        """users × items: each user's ``recent`` newest items, weighted by ``recency``."""
        rows, cols, vals = [], [], []
        for r, h in enumerate(histories):
            last = h.items[-self.recent :][::-1]
            rows.append(np.full(last.size, r))
            cols.append(last)
            vals.append(self.recency ** np.arange(last.size, dtype=np.float32))
        n = len(histories)
        recent = sp.csr_matrix(
            (
                np.concatenate(vals) if vals else [],
                (np.concatenate(rows) if rows else [], np.concatenate(cols) if cols else []),
            ),
            shape=(n, self.n_items),
        )
        return recent
