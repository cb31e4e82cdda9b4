"""Test support shared by the suites: the synthetic catalog and tie-tolerant comparisons.

Every catalog item ``i`` carries a token found in no other item (``unique_token(i)``), the
words of one topic, and attributes derived from ``i`` by simple rules (``color`` cycles over
three values, ``in_stock`` is true for even ``i``, ...), so a test computes the expected answer
of a query or filter from the rules instead of copying it from a run.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np

import sleuth

N_ITEMS = 60
COLORS = ("red", "green", "blue")
TOPICS = {
    "astronomy": "telescope orbit planet comet nebula",
    "cooking": "recipe oven flour butter sauce",
    "gardening": "soil seed compost tomato hedge",
    "sailing": "boat wind harbor anchor keel",
}
TOPIC_NAMES = tuple(TOPICS)
EPOCH = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)


def unique_token(i: int) -> str:
    """A word that occurs in item ``i`` only (and survives stemming unchanged)."""
    return f"zx{i:03d}q"


def item_id(i: int) -> str:
    return f"item-{i:03d}"


def make_item(i: int) -> dict[str, Any]:
    topic = TOPIC_NAMES[i % len(TOPIC_NAMES)]
    words = TOPICS[topic].split()
    # The topic's first word repeats a varying number of times so BM25 scores differ.
    text = " ".join([words[0]] * (1 + i % 3) + words[1:] + [unique_token(i), "catalog", "entry"])
    item: dict[str, Any] = {
        "id": item_id(i),
        "title": f"{topic.title()} note {i}",
        "text": text,
        "color": COLORS[i % len(COLORS)],
        "price": 1.5 * i,
        "in_stock": i % 2 == 0,
        "tags": [topic, "even" if i % 2 == 0 else "odd"] + (["sale"] if i % 5 == 0 else []),
        "released": (EPOCH + dt.timedelta(days=i)).isoformat(),
    }
    if i % 7 == 0:
        item["note"] = f"remark {i}"
    return item


CATALOG: list[dict[str, Any]] = [make_item(i) for i in range(N_ITEMS)]


def hit_map(hits: list[sleuth.Hit]) -> dict[str, float]:
    return {h.id: h.score for h in hits}


def assert_same_hits(a: list[sleuth.Hit], b: list[sleuth.Hit], *, rtol: float = 1e-5) -> None:
    """Same ranked hits up to float noise: equal scores position by position, and equal ids
    except among tied scores (then either order is right, and a tie at the cut may keep
    different members)."""
    assert len(a) == len(b), ([h.id for h in a], [h.id for h in b])
    sa = np.array([h.score for h in a], np.float64)
    sb = np.array([h.score for h in b], np.float64)
    np.testing.assert_allclose(sb, sa, rtol=rtol, atol=1e-6)
    pos_a = {h.id: j for j, h in enumerate(a)}
    for i, hb in enumerate(b):
        if a[i].id == hb.id:
            continue
        j = pos_a.get(hb.id)
        tol = 1e-5 * max(abs(sa[i]), 1.0)
        if j is not None:
            assert abs(sa[j] - sa[i]) <= tol, f"{hb.id} at {i} in b but at {j} in a: not a tie"
        else:
            assert abs(sa[-1] - sa[i]) <= tol, f"{hb.id} missing from a and not tied at the cut"
