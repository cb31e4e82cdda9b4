"""Co-visitation and popularity fitted by a Ray Data group-by over event parts equal the
local fit, on MovieLens-100K split into parts by user (as shards hold them) and on a small
log with ties in time, kinds and a half-life."""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ray_support import ray_cluster
from sleuth.errors import InvalidInput
from sleuth.io.events import read_events
from sleuth.recommend.interactions import Interactions
from sleuth.recommend.sources import CoVisit, Popularity
from sleuth.types import Event

pytestmark = pytest.mark.slow

ML100K = Path(__file__).resolve().parents[3] / "shared" / "data" / "movielens" / "ml-100k"


@pytest.fixture(scope="module")
def ray() -> Iterator[Any]:
    yield from ray_cluster()


def _parts(events: list[Event], n: int) -> list[dict[str, list[Any]]]:
    """The events split into ``n`` parts by a stable hash of the user; ``seq`` is arrival."""
    parts: list[dict[str, list[Any]]] = [
        {"user": [], "item": [], "kind": [], "ts": [], "seq": []} for _ in range(n)
    ]
    for seq, e in enumerate(events):
        part = parts[zlib.crc32(e.user.encode()) % n]
        for name, value in (("user", e.user), ("item", e.item), ("kind", e.kind)):
            part[name].append(value)
        part["ts"].append(e.ts)
        part["seq"].append(seq)
    return parts


def _assert_same(
    events: list[Event], weights: dict[str, float], half_life: float | None, parts: int
) -> None:
    from sleuth.distributed.fits import fit_events

    data = Interactions.from_events(events, weights)
    covisit = CoVisit(window=5, recent=5).fit(data)
    popularity = Popularity(half_life).fit(data)
    tables = fit_events(
        _parts(events, parts), event_weights=weights, window=5, half_life_days=half_life
    )
    assert tables.events == len(events)
    assert tables.item_ids == data.item_ids
    sources = tables.sources()
    ours, theirs = sources["co-visit"], sources["popularity"]
    assert isinstance(ours, CoVisit) and isinstance(theirs, Popularity)
    # co-visit weights are sums of powers of two: exact in any order
    assert (ours.t != covisit.t).nnz == 0
    assert (ours.both != covisit.both).nnz == 0
    np.testing.assert_array_equal(ours.degree, covisit.degree)
    np.testing.assert_allclose(theirs.counts, popularity.counts, rtol=1e-6)
    if half_life is None:  # integer-valued sums: the ranking is the very same
        np.testing.assert_array_equal(theirs.ranked, popularity.ranked)
    # and they serve the same: a few users' recommendations and an item's neighbours
    for user in sorted({e.user for e in events})[:5]:
        u = data.user_index[user]
        history = [data.history(u)]
        (got,) = ours.tops(history, 10, exclude_seen=True)
        (want,) = covisit.tops(history, 10, exclude_seen=True)
        assert got is not None and want is not None
        assert got[0] == want[0]
        np.testing.assert_array_equal(got[1], want[1])
    np.testing.assert_array_equal(ours.neighbours(0), covisit.neighbours(0))


@pytest.mark.data
def test_movielens_100k_tables_equal_the_local_fit(ray: Any) -> None:
    if not (ML100K / "u.data").exists():
        pytest.skip(f"{ML100K} is absent (see DESIGN.md, 'Data you have')")
    events = read_events(ML100K / "u.data")
    assert len(events) == 100_000
    # a sample of the users, every event of theirs (the whole set is a benchmark's size)
    sample = [e for e in events if zlib.crc32(e.user.encode()) % 4 == 0]
    _assert_same(sample, {}, None, parts=3)


def test_ties_kinds_and_half_life_equal_the_local_fit(ray: Any) -> None:
    rng = np.random.default_rng(7)
    kinds = ("view", "click", "purchase")
    events = [
        Event(
            user=f"u{rng.integers(40)}",
            item=f"i{rng.integers(60)}",
            kind=kinds[int(rng.integers(3))],
            ts=float(1_700_000_000 + 3600 * rng.integers(200)),  # many equal times
        )
        for _ in range(3000)
    ]
    _assert_same(events, {"click": 2.0, "purchase": 5.0}, 30.0, parts=4)


def test_a_part_without_a_user_column_is_refused(ray: Any) -> None:
    from sleuth.distributed.fits import fit_events

    with pytest.raises(InvalidInput, match="event part 1 has no user column"):
        fit_events([{"user": ["a"], "item": ["x"], "ts": [1.0]}, {"item": ["x"], "ts": [1.0]}])
