"""Events as integer-coded arrays, grouped by user in time order: what every model learns from."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from sleuth.types import Event

__all__ = ["History", "Interactions"]


@dataclass(frozen=True)
class History:
    """One user's items (codes) in time order, with each event's weight and time."""

    items: np.ndarray  # int64[n]
    weights: np.ndarray  # float32[n]
    ts: np.ndarray  # float64[n]


class Interactions:
    """Events sorted by (user, time, arrival), users and items numbered 0..n-1.

    ``starts[u]:starts[u+1]`` is user ``u``'s slice of ``items``, ``weights`` and ``ts``.
    """

    def __init__(
        self,
        user_ids: Sequence[str],
        item_ids: Sequence[str],
        users: np.ndarray,
        items: np.ndarray,
        weights: np.ndarray,
        ts: np.ndarray,
    ) -> None:
        order = np.lexsort((np.arange(users.size), ts, users))
        self.order = order  # sorted event i is event order[i] of the arrays given
        self.user_ids = list(user_ids)
        self.item_ids = list(item_ids)
        self.item_index = {item: i for i, item in enumerate(self.item_ids)}
        self.user_index = {user: u for u, user in enumerate(self.user_ids)}
        self.users = users[order].astype(np.int64)
        self.items = items[order].astype(np.int64)
        self.weights = weights[order].astype(np.float32)
        self.ts = ts[order].astype(np.float64)
        self.starts = np.searchsorted(self.users, np.arange(len(self.user_ids) + 1))

    @classmethod
    def from_events(
        cls, events: Sequence[Event], weights: Mapping[str, float] | None = None
    ) -> Interactions:
        """``weights`` by event kind (1.0 for a kind not listed); events without ``ts`` keep
        their order of arrival."""
        user_ids = sorted({e.user for e in events})
        item_ids = sorted({e.item for e in events})
        uidx = {u: i for i, u in enumerate(user_ids)}
        iidx = {t: i for i, t in enumerate(item_ids)}
        weights = weights or {}
        return cls(
            user_ids,
            item_ids,
            np.fromiter((uidx[e.user] for e in events), np.int64, len(events)),
            np.fromiter((iidx[e.item] for e in events), np.int64, len(events)),
            np.fromiter((weights.get(e.kind, 1.0) for e in events), np.float32, len(events)),
            np.fromiter(
                (e.ts if e.ts is not None else float(i) for i, e in enumerate(events)),
                np.float64,
                len(events),
            ),
        )

    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    def __len__(self) -> int:
        return int(self.items.size)

    def history(self, user: int) -> History:
        s, e = self.starts[user], self.starts[user + 1]
        return History(self.items[s:e], self.weights[s:e], self.ts[s:e])

    def histories(self) -> list[History]:
        return [self.history(u) for u in range(self.n_users)]

    def matrix(self, *, binary: bool = True) -> sp.csr_matrix:
        """users × items; summed weights, or 1 where the user touched the item."""
        data = np.ones(self.items.size, np.float32) if binary else self.weights
        m = sp.csr_matrix((data, (self.users, self.items)), shape=(self.n_users, self.n_items))
        m.sum_duplicates()
        if binary:
            m.data[:] = 1.0
        return m

    def subset(self, keep: np.ndarray) -> Interactions:
        """The same numbering, fewer events (``keep``: a mask over the sorted events)."""
        return Interactions(
            self.user_ids,
            self.item_ids,
            self.users[keep],
            self.items[keep],
            self.weights[keep],
            self.ts[keep],
        )

    def leave_last_out(self, n: int = 1) -> tuple[Interactions, np.ndarray, np.ndarray]:
        """Hold out each user's last ``n`` events: (the rest, the users with enough history,
        their held-out items [users, n] in time order)."""
        lengths = np.diff(self.starts)
        users = np.flatnonzero(lengths > n)
        keep = np.ones(self.items.size, bool)
        held = np.empty((users.size, n), np.int64)
        for j in range(n):
            pos = self.starts[users + 1] - n + j
            keep[pos] = False
            held[:, j] = self.items[pos]
        return self.subset(keep), users, held
