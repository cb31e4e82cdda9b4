"""The ranking stage on a sharded collection behaves as on one collection holding the same
items: the learned ranker's features are the same numbers (BM25 with global statistics, each
field's BM25, lengths, cosines, attributes; a list's rank may differ only inside a run of tied
scores, which each side orders by its own docnos), mode "ranked" ranks alike, and the
calibration from judgments cuts (``min_relevance``, ``cutoff="auto"``) alike."""

from __future__ import annotations

import math
import random
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import sleuth
from sleuth.encoders.base import Encoded, Encoder
from sleuth.errors import InvalidInput
from sleuth.shards import compare

WORDS = [f"w{i}" for i in range(40)]
LISTS = ("lexical", "dense", "hybrid")


class WordVectors(Encoder):
    """The sum of a seeded random vector per word, normalized: cosines without ties (the
    hashing encoder's are counts, tied by the dozen)."""

    id = "word-vectors:16"
    dim = 16

    def encode(self, texts: list[str], *, batch_size: int = 32, tokens: bool = False) -> Encoded:
        rows = [
            sum(
                (
                    np.random.default_rng(zlib.crc32(w.encode())).standard_normal(16)
                    for w in t.split()
                ),
                np.full(16, 1e-3),
            )
            for t in texts
        ]
        out = np.stack(rows).astype(np.float32)
        return Encoded(out / np.linalg.norm(out, axis=1, keepdims=True))


def tied(hits: list[Any]) -> bool:
    s = np.array([h.score for h in hits])
    return bool(s.size > 1 and (np.abs(np.diff(s)) <= 1e-6 * np.maximum(1, np.abs(s[1:]))).any())


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Any, dict[str, str]]]:
    """One collection and a 3-shard one holding the same 200 items (each text of its own
    length), each with a ranker trained and a calibration fitted on the same judgments."""
    root = tmp_path_factory.mktemp("ranking")
    rng = random.Random(0)

    def words(n: int) -> str:
        return " ".join(rng.choice(WORDS) for _ in range(n))

    items = [
        {"id": f"i{i}", "title": words(rng.randint(2, 6)), "text": words(20 + i), "year": 1990 + i}
        for i in range(200)
    ]
    rng.shuffle(items)
    queries = {f"q{j}": words(rng.randint(2, 3)) for j in range(60)}
    qrels = {
        q: {
            it["id"]: 1 + (len(set(t.split()) & set(it["title"].split())) > 1)
            for it in items
            if set(t.split()) <= set(it["title"].split() + it["text"].split()[:25])
        }
        for q, t in queries.items()
    }
    qrels = {q: judged for q, judged in qrels.items() if judged}
    one = sleuth.open(root / "one", encoder=WordVectors())
    sharded = sleuth.open(root / "sharded", encoder=WordVectors(), shards=3)
    for col in (one, sharded):
        col.add(items)
        col.train_ranker(qrels, queries, attributes=["year"], params={"rounds": 40})
        col.calibrate(qrels, queries, modes=["hybrid", "lexical"])
    yield one, sharded, queries
    one.close()
    sharded.close()


def test_the_rankers_features_are_one_collections(pair: tuple[Any, Any, dict[str, str]]) -> None:
    one, sharded, queries = pair
    compared = 0
    for text in queries.values():
        ref = {h.id: h for h in one.search(text, 30, mode="ranked", explain=True)}
        lists = {m: {h.id: h.score for h in one.search(text, 101, mode=m)} for m in LISTS}
        for hit in sharded.search(text, 30, mode="ranked", explain=True):
            if hit.id not in ref:
                continue
            want, got = ref[hit.id].explain["features"], hit.explain["features"]
            assert want.keys() == got.keys()
            for name, value in want.items():
                if name.endswith("_rank"):
                    score = lists[name[: -len("_rank")]].get(hit.id)
                    others = [s for i, s in lists[name[: -len("_rank")]].items() if i != hit.id]
                    if score is not None and any(math.isclose(s, score) for s in others):
                        continue  # tied: each side orders the run by its own docnos
                if value is None:  # NaN: missing from that list
                    assert got[name] is None, (text, hit.id, name)
                else:
                    assert got[name] == pytest.approx(value, rel=1e-5, abs=1e-6), (text, name)
                compared += 1
    assert compared > 0


def test_ranked_searches_rank_as_one_collection(pair: tuple[Any, Any, dict[str, str]]) -> None:
    one, sharded, queries = pair
    untied = [
        t for t in queries.values() if not any(tied(one.search(t, 101, mode=m)) for m in LISTS)
    ]
    assert untied  # the items' distinct lengths and the word vectors leave most lists untied
    for text in untied:
        ref, got = one.search(text, 10, mode="ranked"), sharded.search(text, 10, mode="ranked")
        problem = compare.same_ranking(ref, got)
        assert problem is None, (text, problem)


@pytest.mark.parametrize(
    "options", [{"min_relevance": 0.4}, {"cutoff": "auto"}, {"min_relevance": 0.2, "k": 30}]
)
def test_calibrated_cuts_match(pair: tuple[Any, Any, dict[str, str]], options: Any) -> None:
    one, sharded, queries = pair
    options = dict(options)
    k = options.pop("k", 10)
    lengths = set()
    for mode in ("hybrid", "lexical"):
        for text in queries.values():
            ref = one.search(text, k, mode=mode, **options)
            got = sharded.search(text, k, mode=mode, **options)
            assert compare.same_ranking(ref, got) is None, (mode, text, options)
            lengths.add(len(ref))
    assert len(lengths) > 1  # the cut fell at different depths


def test_the_ranker_and_calibration_reopen_with_the_folder(
    pair: tuple[Any, Any, dict[str, str]],
) -> None:
    one, sharded, queries = pair
    text = next(iter(queries.values()))
    before = sharded.search(text, 10, mode="ranked")
    with sleuth.open(sharded.path, encoder=WordVectors()) as again:
        assert [h.id for h in again.search(text, 10, mode="ranked")] == [h.id for h in before]
        cut = again.search(text, 10, mode="hybrid", min_relevance=0.4)
        ref = one.search(text, 10, mode="hybrid", min_relevance=0.4)
        assert compare.same_ranking(ref, cut) is None


def test_what_the_ranking_stage_lacks_on_shards_is_a_clear_error(tmp_path: Path) -> None:
    with sleuth.open(tmp_path / "s", encoder="hashing", shards=2) as col:
        col.add([{"id": f"i{i}", "text": f"w{i % 5} thing"} for i in range(20)])
        with pytest.raises(InvalidInput, match="trained ranker"):
            col.search("w1", mode="ranked")
        with pytest.raises(InvalidInput, match="judgments"):
            col.train_ranker()  # from search clicks: not recorded on shards
        with pytest.raises(InvalidInput, match="not calibrated"):
            col.search("w1", min_relevance=0.5)
