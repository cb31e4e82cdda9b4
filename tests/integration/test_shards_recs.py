"""Recommendations on a sharded collection equal one collection's holding the same items and
events (same ids in the same order up to ties, scores within float tolerance) for every
source a shard serves; each event is stored on its user's shard; a batch of events spanning
shards is all or nothing (a failing shard, a killed coordinator)."""

from __future__ import annotations

import random
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_shards_faults import FAILING, killed_mid_batch, open_faulty

import sleuth
from sleuth.errors import InvalidInput
from sleuth.shards import compare
from sleuth.shards.group import ShardUnavailable
from sleuth.shards.layout import shard_of

GENRES = ["drama", "comedy", "noir", "scifi"]
WORDS = [f"w{i}" for i in range(30)]
SHARDS = 3


def catalog(n: int, seed: int = 3) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    return [
        {
            "id": f"m{i}",
            "text": " ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 8))),
            "genre": rng.choice(GENRES),
        }
        for i in range(n)
    ]


def events(n: int, *, users: int, items: int, seed: int = 5) -> list[dict[str, Any]]:
    """Skewed item popularity, ties in time (whole hours), two kinds, some with ids."""
    rng = random.Random(seed)
    out = []
    for j in range(n):
        event = {
            "user": f"u{rng.randrange(users)}",
            "item": f"m{min(int(rng.expovariate(0.04)), items - 1)}",
            "kind": rng.choice(["view", "view", "click"]),
            "ts": 1.7e9 + 3600 * rng.randrange(400),
        }
        if j % 7 == 0:
            event["event_id"] = f"e{j}"
        out.append(event)
    return out


def same(ref: Any, got: Any, where: str) -> None:
    problem = compare.same_ranking(ref, got)
    assert problem is None, (where, problem, [h.id for h in ref], [h.id for h in got])


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Any, list[Any]]]:
    """One collection and a 3-shard one, the same items and events recorded in the same
    batches (a retried batch included)."""
    root = tmp_path_factory.mktemp("recs")
    one = sleuth.open(root / "one", encoder="hashing")
    sharded = sleuth.open(root / "sharded", encoder="hashing", shards=SHARDS)
    log = events(2400, users=40, items=150)
    for col in (one, sharded):
        col.add(catalog(150))
        col.record(log[:1000])
        col.recommend("u1")  # fitted on the first thousand, then refitted as they grow
        col.record(log[1000:])
        col.record(log[:70])  # a retry: the events with an id are skipped, the rest recorded
    yield one, sharded, log
    one.close()
    sharded.close()


OPTIONS: list[dict[str, Any]] = [
    {},
    {"where": {"genre": "noir"}},
    {"exclude_seen": False},
    {"sources": {"popularity": 1.0}},
    {"sources": {"co-visit": 1.0}},
    {"sources": {"content": 1.0}},
    {"sources": {"ease": 1.0}, "where": {"genre": {"in": ["drama", "scifi"]}}},
    {"diversity": 0.4, "k": 7},
    {"explain": True, "k": 5},
]


@pytest.mark.parametrize("options", OPTIONS, ids=[str(o) for o in OPTIONS])
def test_recommendations_match_one_collection(
    pair: tuple[Any, Any, list[Any]], options: dict[str, Any]
) -> None:
    one, sharded, _ = pair
    options = dict(options)
    k = options.pop("k", 10)
    for user in ["u0", "u3", "u17", "u39", "a-new-user"]:
        ref, got = one.recommend(user, k, **options), sharded.recommend(user, k, **options)
        same(ref, got, f"{user} {options}")
        if options.get("explain"):
            for a, b in zip(ref, got):
                if a.id != b.id:
                    continue  # a tie, in the other order
                assert a.explain is not None and b.explain is not None
                assert a.explain["retrievers"].keys() == b.explain["retrievers"].keys()
                for name, entry in a.explain["retrievers"].items():
                    other = b.explain["retrievers"][name]
                    assert other["score"] == pytest.approx(entry["score"], rel=1e-4, abs=1e-5)


def test_batches_and_similar_items_match(pair: tuple[Any, Any, list[Any]]) -> None:
    one, sharded, _ = pair
    users = [f"u{i}" for i in range(0, 40, 3)]
    for ref, got in zip(one.recommend_batch(users, 8), sharded.recommend_batch(users, 8)):
        same(ref, got, "batch")
    for item in ["m0", "m5", "m77", "m149"]:
        same(one.similar(item, 10), sharded.similar(item, 10), item)
        where = {"genre": "drama"}
        same(one.similar(item, 6, where=where), sharded.similar(item, 6, where=where), item)


def test_each_event_is_stored_on_its_users_shard(pair: tuple[Any, Any, list[Any]]) -> None:
    one, sharded, _ = pair
    sharded.save()
    held = []
    for s, folder in enumerate(sharded.layout.shard_folders):
        with sleuth.open(folder) as shard:  # a shard opens alone
            mine = shard.store.events()
        assert {shard_of(e.user, SHARDS) for e in mine} <= {s}
        held += mine
    assert len(held) == one.store.event_count()

    def key(e: Any) -> tuple[Any, ...]:  # ids given by the client; a spanning batch's own
        own = e.event_id is None or e.event_id.startswith("sleuth:")
        return (e.user, e.item, e.kind, e.ts, "" if own else e.event_id)

    assert sorted(map(key, held)) == sorted(map(key, one.store.events()))


def test_what_shards_do_not_serve_is_a_clear_error(pair: tuple[Any, Any, list[Any]]) -> None:
    _, sharded, _ = pair
    with pytest.raises(InvalidInput, match="sequential"):
        sharded.recommend("u1", sources={"sequential": 1.0})
    with pytest.raises(InvalidInput, match="not trained on a sharded"):
        sharded.train(epochs=1)
    search = {"kind": "search", "query": "w1", "shown": ["m1"], "clicked": [0]}
    with pytest.raises(InvalidInput, match="search events"):
        sharded.record([search])
    before = sum(  # bad input: nothing written on any shard
        len(r) for s in range(SHARDS) for _, r in sharded.group.call(s, "event_rows", 0)
    )
    with pytest.raises(InvalidInput, match="event 2"):
        sharded.record([{"user": "u1", "item": "m1"}, {"user": "u2", "item": "m2"}, {"item": 3}])
    after = sum(len(r) for s in range(SHARDS) for _, r in sharded.group.call(s, "event_rows", 0))
    assert after == before


def test_info_names_the_vocabulary_per_shard(pair: tuple[Any, Any, list[Any]]) -> None:
    one, sharded, _ = pair
    bm25 = sharded.info()["indexes"]["bm25"]
    assert "terms" not in bm25
    per_shard = [p["indexes"]["bm25"]["terms"] for p in sharded.info()["per_shard"]]
    assert bm25["terms_per_shard"] == per_shard
    assert max(per_shard) <= one.info()["indexes"]["bm25"]["terms"] < sum(per_shard)


def _stored(path: Path) -> list[tuple[str, str, float]]:
    out = []
    for folder in sorted(path.glob("shard-*")):
        with sleuth.open(folder) as shard:
            out += [(e.user, e.item, e.ts) for e in shard.store.events()]
    return sorted(out)


def test_events_spanning_shards_failing_on_one_are_finished_once(tmp_path: Path) -> None:
    batch = [{"user": f"v{i}", "item": f"m{i % 9}", "ts": 1.7e9 + i} for i in range(30)]
    on_one = [e for e in batch if shard_of(e["user"], SHARDS) == 1]
    assert 0 < len(on_one) < len(batch)
    with open_faulty(tmp_path / "s") as col:
        col.add(catalog(9))
        FAILING["apply"].add(1)
        with pytest.raises(ShardUnavailable) as caught:
            col.record(batch)
        assert caught.value.details["pending"] == [1]
        assert sorted(caught.value.details["applied"]) == [0, 2]
        FAILING["apply"].clear()
        assert col.recover() == 1  # shard 1's part; shards 0 and 2 are not written again
    expected = sorted((e["user"], e["item"], e["ts"]) for e in batch)
    assert _stored(tmp_path / "s") == expected


def test_a_coordinator_killed_mid_events_batch_finishes_it_once_on_open(tmp_path: Path) -> None:
    """SIGKILL after shard 0 committed its part of a batch of events without ids, before it
    was marked applied: reopening records the batch on every shard, and exactly once."""
    path = tmp_path / "s"
    with sleuth.open(path, encoder="hashing", shards=SHARDS) as col:
        col.add(catalog(9))
    batch = [{"user": f"v{i}", "item": f"m{i % 9}", "ts": 1.7e9 + i} for i in range(30)]
    script = textwrap.dedent(
        f"""
        import os, signal, sys
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from sleuth.shards.intents import Intent
        from sleuth.shards.opening import open_sharded

        def die(self, shard):
            os.kill(os.getpid(), signal.SIGKILL)

        Intent.mark_applied = die
        col = open_sharded({str(path)!r})
        col.record({batch!r})
        """
    )
    killed_mid_batch(script, path)
    with sleuth.open(path) as col:
        assert col.info()["intents"] == []
    assert _stored(path) == sorted((e["user"], e["item"], e["ts"]) for e in batch)


@pytest.mark.slow
def test_the_ray_fit_recommends_as_the_local_fit(pair: tuple[Any, Any, list[Any]]) -> None:
    from ray_support import ray_cluster

    one, sharded, _ = pair
    cluster = ray_cluster()
    next(cluster)
    try:
        assert sharded.refit(ray=True) == one.store.event_count()
        for user in ["u0", "u3", "u17"]:
            for options in OPTIONS[:5]:
                ref, got = one.recommend(user, **options), sharded.recommend(user, **options)
                same(ref, got, f"ray {user} {options}")
    finally:
        next(cluster, None)


def test_multi_interest_matches_where_configured(tmp_path: Path) -> None:
    """A source fitted only when its configured weight is above 0: multi-interest."""
    from sleuth.config import CollectionConfig, RecommendConfig

    sources = {"multi-interest": 1.0, "co-visit": 0.5}
    config = CollectionConfig(encoder="hashing", recommend=RecommendConfig(sources=sources))
    log = events(1500, users=20, items=100, seed=8)
    with (
        sleuth.open(tmp_path / "one", config=config) as one,
        sleuth.open(tmp_path / "sharded", config=config, shards=SHARDS) as sharded,
    ):
        for col in (one, sharded):
            col.add(catalog(100))
            col.record(log)
        for user in [f"u{i}" for i in range(0, 20, 2)]:
            only = {"sources": {"multi-interest": 1.0}}
            same(one.recommend(user, **only), sharded.recommend(user, **only), user)
            same(one.recommend(user), sharded.recommend(user), user)
