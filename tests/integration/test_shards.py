"""Sharded collections answer as one collection holding the same items: the same ids in the same
order (up to ties, which each breaks by its own docnos) with the same scores, in every exact
mode, filtered or not, with explain; writes route by id and each shard opens alone."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import sleuth
from sleuth import FusionConfig
from sleuth.shards import compare
from sleuth.shards.layout import shard_of

WORDS = [f"w{i}" for i in range(40)] + ["rare", "unique", "solo"]
KINDS = ["a", "b", "c"]


def corpus(seed: int, n: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    return [
        {
            "id": f"doc-{seed}-{i}",
            "text": " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 14))),
            "kind": rng.choice(KINDS),
            "year": rng.randint(1990, 2020),
        }
        for i in range(n)
    ]


def same_ranking(ref: Any, got: Any) -> None:
    problem = compare.same_ranking(ref, got)
    assert problem is None, (problem, [h.id for h in ref], [h.id for h in got])


def same_explain(ref: Any, got: Any) -> None:
    """Each hit's explain: each retriever's score of it (ranks may differ only within ties)."""
    by_id = {h.id: h for h in ref}
    for hit in got:
        if hit.id not in by_id:
            continue  # a tie at the end of the list
        want, have = by_id[hit.id].explain, hit.explain
        assert want is not None and have is not None
        assert want.keys() == have.keys()
        for name, entry in want["retrievers"].items():
            other = have["retrievers"][name]
            assert (entry is None) == (other is None), (hit.id, name)
            if entry is not None:
                assert other["score"] == pytest.approx(entry["score"], rel=1e-4, abs=1e-4)


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Any, Any]]:
    """One collection and a 3-shard one holding the same items after the same writes."""
    root = tmp_path_factory.mktemp("shards")
    one = sleuth.open(root / "one", encoder="hashing")
    sharded = sleuth.open(root / "sharded", encoder="hashing", shards=3)
    items = corpus(1, 400)
    for col in (one, sharded):
        col.add(items[:300])
        col.upsert(items[250:])  # 50 unchanged, 100 new
        col.upsert([{**it, "text": it["text"] + " rare"} for it in items[:20]])
        col.delete([it["id"] for it in items[20:60]])
    yield one, sharded, items
    one.close()
    sharded.close()


QUERY = st.lists(st.sampled_from([*WORDS, "absent"]), min_size=1, max_size=5).map(" ".join)
WHERE = st.sampled_from(
    [None, {"kind": "a"}, {"kind": {"in": ["a", "b"]}}, {"year": {"gte": 2010}}, {"kind": "z"}]
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    query=QUERY,
    where=WHERE,
    mode=st.sampled_from(["lexical", "dense", "hybrid"]),
    k=st.sampled_from([1, 5, 20]),
    fusion=st.sampled_from(
        [
            None,
            FusionConfig(method="rrf"),
            FusionConfig(adaptive=True),
            FusionConfig(normalization="minmax"),
        ]
    ),
)
def test_a_sharded_search_ranks_as_one_collection(
    pair: tuple[Any, Any, Any], query: str, where: Any, mode: str, k: int, fusion: Any
) -> None:
    one, sharded, _ = pair
    options = {"k": k, "mode": mode, "where": where, "fusion": fusion, "explain": True}
    ref, got = one.search(query, **options), sharded.search(query, **options)
    same_explain(ref, got)  # each retriever's scores of each hit, fused or not
    assert got.trace.candidates == ref.trace.candidates
    if (
        mode == "hybrid"
        and fusion is not None
        and fusion.method == "rrf"
        and tied(one, query, where)
    ):
        # RRF reads ranks, and tied items' ranks are each side's own tie order: only a
        # retriever list without ties makes the fused ranks the same
        assert len(got) == len(ref)
        return
    same_ranking(ref, got)


def tied(col: Any, query: str, where: Any) -> bool:
    """Whether the lexical or dense list the hybrid fusion reads holds tied scores."""
    depth = FusionConfig().depth
    for mode in ("lexical", "dense"):
        scores = np.array([h.score for h in col.search(query, k=depth, mode=mode, where=where)])
        if scores.size != np.unique(scores).size:
            return True
    return False


def test_batches_vectors_and_final_lists_match(pair: tuple[Any, Any, Any]) -> None:
    one, sharded, items = pair
    queries = ["w1 w2", "rare", "w3 w7 w9", "absent"]
    for ref, got in zip(one.search_batch(queries, 10), sharded.search_batch(queries, 10)):
        same_ranking(ref, got)
    vector = one.vectors([items[100]["id"]])[0]
    same_ranking(
        one.search(vector=vector, mode="dense", k=10),
        sharded.search(vector=vector, mode="dense", k=10),
    )
    for options in ({"cutoff": "autocut"}, {"max_per": {"kind": 1}}, {"diversity": 0.5}):
        ref, got = (
            one.search("w1 w2 rare", k=5, **options),
            sharded.search("w1 w2 rare", k=5, **options),
        )
        assert [h.id for h in got] == [h.id for h in ref], options


def test_reads_by_id_and_counts_match(pair: tuple[Any, Any, Any]) -> None:
    one, sharded, items = pair
    assert sharded.count() == one.count() == len(sharded)
    for it in items[:80:7]:
        if it["id"] in {x["id"] for x in items[20:60]}:
            with pytest.raises(sleuth.NotFound):
                sharded.get(it["id"])
        else:
            assert sharded.get(it["id"]) == one.get(it["id"])
    ids = [items[i]["id"] for i in (0, 70, 399, 5)]
    np.testing.assert_allclose(sharded.vectors(ids), one.vectors(ids), atol=1e-6)
    info = sharded.info()
    assert info["shards"] == 3 and info["items"] == one.count()
    assert sum(p["items"] for p in info["per_shard"]) == info["items"]


def test_each_shard_is_a_collection_holding_the_ids_routed_to_it(tmp_path: Path) -> None:
    items = corpus(2, 120)
    with sleuth.open(tmp_path / "s", encoder="hashing", shards=4) as sharded:
        sharded.add(items)
    held = []
    for i in range(4):
        with sleuth.open(tmp_path / "s" / f"shard-{i}") as shard:
            assert type(shard) is sleuth.Collection
            for it in items:
                routed_here = shard_of(it["id"], 4) == i
                try:
                    shard.get(it["id"])
                    assert routed_here, it["id"]
                    held.append(it["id"])
                except sleuth.NotFound:
                    assert not routed_here, it["id"]
    assert sorted(held) == sorted(it["id"] for it in items)
    with sleuth.open(tmp_path / "s") as again:
        assert again.count() == len(items)
    with pytest.raises(sleuth.Conflict):
        sleuth.open(tmp_path / "s", shards=2)


def test_bad_input_writes_nothing_on_any_shard(tmp_path: Path) -> None:
    with sleuth.open(tmp_path / "s", encoder="hashing", shards=3) as sharded:
        sharded.add(corpus(3, 30))
        with pytest.raises(sleuth.InvalidInput, match="item 4"):
            sharded.add([*corpus(4, 4), {"id": "x", "text": 5}])
        with pytest.raises(sleuth.Conflict, match="already exists"):
            sharded.add([*corpus(4, 6), corpus(3, 30)[7]])
        with pytest.raises(sleuth.NotFound):
            sharded.delete(["doc-3-1", "nope"])
        with pytest.raises(sleuth.InvalidInput, match="numbers"):
            sharded.upsert([{"id": "v", "text": "t", "vector": [1.0, 2.0]}])
        assert sharded.count() == 30
        assert sharded.info()["intents"] == []


def test_the_cli_creates_and_reports_a_sharded_collection(tmp_path: Path) -> None:
    source = tmp_path / "items.jsonl"
    source.write_text("".join(json.dumps(it) + "\n" for it in corpus(5, 25)))
    cli = [sys.executable, "-m", "sleuth.cli"]
    folder = tmp_path / "s"
    add = ["add", str(folder), str(source), "--encoder", "hashing", "--shards", "2"]
    done = subprocess.run([*cli, *add], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    done = subprocess.run([*cli, "info", str(folder)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["shards"] == 2 and report["items"] == 25 and report["problems"] == []
    assert sum(part["items"] for part in report["per_shard"]) == 25


def test_similar_items_match(pair: tuple[Any, Any, Any]) -> None:
    one, sharded, items = pair
    for it in items[100:400:37]:
        for where in (None, {"kind": "b"}):
            same_ranking(
                one.similar(it["id"], 8, where=where), sharded.similar(it["id"], 8, where=where)
            )
    with pytest.raises(sleuth.NotFound):
        sharded.similar("no-such-item")


def test_named_spaces_and_items_without_text_match(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    spaces = {"img": {"dim": 3, "metric": "l2"}}
    items = [
        {"id": f"v{i}", "kind": KINDS[i % 3], "vectors": {"img": rng.normal(size=3).tolist()}}
        for i in range(90)
    ]
    vectors = rng.normal(size=(90, 8)).astype(np.float32)
    one = sleuth.open(tmp_path / "one", encoder="none", dim=8, spaces=spaces)
    sharded = sleuth.open(tmp_path / "s", encoder="none", dim=8, spaces=spaces, shards=2)
    with one, sharded:
        for col in (one, sharded):
            col.add(items, vectors=vectors)
        for query in rng.normal(size=(5, 3)):
            for where in (None, {"kind": "a"}):
                options = {"space": "img", "mode": "dense", "k": 7, "where": where}
                same_ranking(
                    one.search(vector=query, **options), sharded.search(vector=query, **options)
                )
        for query in rng.normal(size=(5, 8)):
            same_ranking(
                one.search(vector=query, mode="dense"), sharded.search(vector=query, mode="dense")
            )
        np.testing.assert_allclose(
            sharded.vectors(["v3", "v80"], space="img"), one.vectors(["v3", "v80"], space="img")
        )


def test_one_shard_fuses_with_the_query_terms_statistics(tmp_path: Path) -> None:
    """With one shard no statistics round trip precedes the fusion, whose trust reads the
    query terms' IDF: it must ask for them, not reuse statistics gathered without them."""
    items = corpus(4, 300)
    one = sleuth.open(tmp_path / "one", encoder="hashing")
    sharded = sleuth.open(tmp_path / "sharded", encoder="hashing", shards=1)
    rng = random.Random(9)
    try:
        for col in (one, sharded):
            col.add(items)
        for _ in range(40):
            text = " ".join(rng.sample(WORDS, 5))  # more terms than any item's best match
            same_ranking(one.search(text, k=10), sharded.search(text, k=10))
    finally:
        one.close()
        sharded.close()
