"""Multi-interest retrieval: a user with two tastes gets both, in proportion."""

from __future__ import annotations

import numpy as np

from sleuth.recommend.interactions import History, Interactions
from sleuth.recommend.multi_interest import MultiInterest, interest_mixture
from sleuth.types import Event


def test_mixture_is_smoothed_and_sums_to_one() -> None:
    mix = interest_mixture(np.array([0, 0, 1]), np.ones(3), 4, smoothing=1.0)
    assert abs(mix.sum() - 1) < 1e-12
    assert mix[0] > mix[1] > mix[2] == mix[3] > 0


def test_a_user_with_two_tastes_is_served_both() -> None:
    rng = np.random.default_rng(0)
    centers = np.eye(4, 16, dtype=np.float32) * 5  # four well separated groups of 30 items
    vectors = np.concatenate([c + rng.normal(0, 0.3, (30, 16)) for c in centers]).astype(np.float32)
    events = [Event(user="x", item=str(i), ts=float(i)) for i in range(120)]
    data = Interactions.from_events(events)
    order = np.array([int(i) for i in data.item_ids])  # codes follow sorted string ids
    model = MultiInterest(n_clusters=4, max_interests=3, vectors=vectors[order]).fit(data)
    group = order // 30
    # 6 items of group 0, 3 of group 2: twice as much of the first taste
    liked = np.concatenate([np.flatnonzero(group == 0)[:6], np.flatnonzero(group == 2)[:3]])
    history = History(liked, np.ones(liked.size, np.float32), np.arange(liked.size, dtype=float))
    scores = model.score([history])[0]
    scores[liked] = -np.inf
    top = np.argsort(-scores)[:9]
    counts = np.bincount(group[top], minlength=4)
    assert counts[0] > counts[2] > 0 and counts[1] == counts[3] == 0
    # a single averaged query would land between the groups and favour neither cleanly
    assert len(model.interests(history)) == 2
