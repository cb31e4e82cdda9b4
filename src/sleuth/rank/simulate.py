"""A simulated searcher over real judgments, to test and measure learning from clicks.

Each session picks a query at random and is shown the top ``shown`` of its ranking, lightly
shuffled (each item's rank plus Gaussian noise of ``shuffle``: the variation between sessions
a live system has, and that the click model needs). The user follows the position-based model:
examines position ``k`` (0-based) with probability ``(1 / (k + 1)) ** eta`` and clicks an
examined item with probability ``click_relevant`` if judged relevant, ``click_other`` if not.

The defaults are the usual PBM setting of the unbiased learning-to-rank literature (Joachims,
Swaminathan and Schnabel, WSDM 2017: examination ``1 / rank``, a tenth of the irrelevant items
examined clicked): ten results a page, as a search page shows. It is the fair test of a
click-trained ranker, and a hard one: a log of top-10 pages never says anything about the
relevant items a ranking puts below them, which judgments do (``sleuth.rank.clicks``).

>>> events = simulate_sessions({"q": "x"}, {"q": ["a", "b"]}, {"q": {"a": 1}}, 3)  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = ["simulate_sessions"]


def simulate_sessions(
    queries: Mapping[str, str],
    rankings: Mapping[str, Sequence[str]],
    qrels: Mapping[str, Mapping[str, int]],
    n: int,
    *,
    shown: int = 10,
    shuffle: float = 1.5,
    eta: float = 1.0,
    click_relevant: float = 0.9,
    click_other: float = 0.1,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """``n`` search events (``Collection.record``'s ``kind: "search"`` form) for the queries
    that have a ranking, seeded."""
    rng = np.random.default_rng(seed)
    qids = sorted(q for q in queries if rankings.get(q))
    examine = (1.0 / np.arange(1, shown + 1)) ** eta
    out = []
    for session, qi in enumerate(rng.integers(0, len(qids), n).tolist()):
        qid = qids[qi]
        ranking = list(rankings[qid])
        keys = np.arange(len(ranking)) + rng.normal(0.0, shuffle, len(ranking))
        listed = [ranking[i] for i in np.argsort(keys, kind="stable")[:shown]]
        judged = qrels.get(qid, {})
        relevant = np.array([judged.get(d, 0) > 0 for d in listed])
        p = examine[: len(listed)] * np.where(relevant, click_relevant, click_other)
        clicked = np.flatnonzero(rng.random(len(listed)) < p).tolist()
        out.append(
            {
                "kind": "search",
                "query": queries[qid],
                "shown": listed,
                "clicked": clicked,
                "event_id": f"sim-{seed}-{session}",
            }
        )
    return out
