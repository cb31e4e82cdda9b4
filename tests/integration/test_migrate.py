"""Migrating a collection to another encoder (``Collection.migrate``): searches and writes go
on during the backfill, the cutover gives what a collection built with the new encoder gives,
a rollback what the old one gave, and bad requests change nothing."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import sleuth
from sleuth.encoders.base import Encoded
from sleuth.encoders.hashing import HashingEncoder
from sleuth.errors import Conflict, InvalidInput
from sleuth.migrate.run import compatible_with
from support import CATALOG, TOPICS, assert_same_hits, make_item

QUERIES = ["telescope orbit", "flour butter", "seed compost", "harbor keel", "catalog entry"]
MODES = ("dense", "hybrid", "lexical")


class GatedEncoder(HashingEncoder):
    """hashing:<dim> under another id, whose backfill waits at a gate (the test opens it), so a
    test sees the migration in phase backfill."""

    def __init__(self, dim: int = 96) -> None:
        super().__init__(dim=dim)
        self.id = f"gated:{dim}"
        self.gate = threading.Event()
        self.broken = False  # the backfill's encoding fails (when the gate opens)

    def encode(self, texts: list[str], *, batch_size: int = 32, tokens: bool = False) -> Encoded:
        if threading.current_thread().name == "sleuth-backfill":
            self.gate.wait(30)
            if self.broken:
                raise RuntimeError("the model went away")
        return super().encode(texts, batch_size=batch_size, tokens=tokens)


def built(path: Path, encoder: str, items: list[dict[str, Any]]) -> sleuth.Collection:
    col = sleuth.open(path, encoder=encoder)
    col.upsert(items)
    return col


def assert_same_searches(a: sleuth.Collection, b: sleuth.Collection) -> None:
    for mode in MODES:
        for query in QUERIES:
            assert_same_hits(a.search(query, k=8, mode=mode), b.search(query, k=8, mode=mode))


def test_auto_maps_queries_only_when_the_map_measures_at_least_as_good_as_the_old_model(
    tmp_path: Path,
) -> None:
    """``query="auto"`` (no compatible manifest) compares, on held-out pseudo-queries, the old
    model's own queries with the new model's mapped ones, keeps the comparison in the map's
    report, and takes the better (ties to the map); too few items for a map: the old model."""
    col = built(tmp_path / "col", "hashing:64", CATALOG)
    gated = GatedEncoder()
    gated.gate.set()  # nothing here waits on the backfill
    status = col.migrate(gated, batch=16, sample=40)
    found = status["map"]["queries"]
    assert set(found) == {"old", "mapped"} and all(0 < v <= 1 for v in found.values())
    assert status["query"] == ("mapped" if found["mapped"] >= found["old"] else "old")
    # the same encoder under a second id maps onto itself: its queries are exactly as good
    twin = HashingEncoder(dim=64)
    twin.id = "twin:64"
    col.cancel_migration()
    again = col.migrate(twin, sample=40)
    assert again["map"]["queries"]["mapped"] >= again["map"]["queries"]["old"] - 1e-3
    col.close()
    small = built(tmp_path / "small", "hashing:64", CATALOG[:10])
    assert small.migrate("hashing:96", wait=True)["query"] == "old"
    small.close()


def test_a_migration_serves_throughout_and_cuts_over_to_a_from_scratch_equal(
    tmp_path: Path,
) -> None:
    col = built(tmp_path / "col", "hashing:64", CATALOG)
    enc = GatedEncoder()
    status = col.migrate(enc, batch=16, sample=40, query="mapped")
    assert status["phase"] == "backfill" and status["query"] == "mapped"
    assert status["map"]["chosen"] in ("lstsq", "procrustes") and status["map"]["sample"] == 40
    # served meanwhile: mapped queries over the old vectors, and writes encoded by both
    assert all(len(col.search(q, k=5, mode="dense")) == 5 for q in QUERIES)
    with pytest.raises(Conflict, match="needs phase ready"):
        col.cutover()
    with pytest.raises(Conflict, match="already under way"):
        col.migrate("hashing:128")
    extra = [make_item(i) for i in range(60, 70)]
    updated = {**CATALOG[0], "text": "an updated comet"}
    col.upsert([*extra, updated])
    col.delete([CATALOG[1]["id"]])
    items = [updated, *CATALOG[2:], *extra]
    enc.gate.set()
    status = col.wait_migration(30)
    assert status is not None and status["phase"] == "ready"
    assert status["progress"]["done"] == status["progress"]["total"] == col.count()
    report = col.evaluate_migration()
    assert report["metric"] == "overlap@10 with old" and report["dense"]["old"] == 1.0
    assert col.migration()["evaluation"] == report  # type: ignore[index]

    col.cutover()
    assert col.info()["encoder"] == "gated:96" and col.dim == 96
    scratch = built(tmp_path / "scratch96", "hashing:96", items)
    # the same vectors (hashing:96 under another id): the same results
    assert_same_searches(col, scratch)
    col.upsert([make_item(70)])  # after the cutover still encoded by both (for a rollback)
    scratch.upsert([make_item(70)])
    assert_same_searches(col, scratch)

    col.rollback()
    assert col.info()["encoder"] == "hashing:64"
    old = built(tmp_path / "scratch64", "hashing:64", items)
    old.upsert([make_item(70)])
    assert_same_searches(col, old)

    col.cutover()
    dropped = col.drop_old()
    assert dropped["phase"] == "finished" and dropped["dropped_vectors"] >= len(items)
    with pytest.raises(Conflict, match="cannot roll back"):
        col.rollback()
    assert_same_searches(col, scratch)
    for c in (col, scratch, old):
        c.close()


def test_the_cutover_survives_a_reopen_and_a_paused_migration_resumes(tmp_path: Path) -> None:
    path = tmp_path / "col"
    col = built(path, "hashing:64", CATALOG)
    enc = GatedEncoder()
    col.migrate(enc, batch=8, sample=30)
    enc.broken = True
    enc.gate.set()
    assert "the model went away" in col.wait_migration(30)["progress"]["error"]  # type: ignore[index]
    col.close()
    col = sleuth.open(path)
    status = col.migration()
    assert status is not None and "cannot be loaded" in status["paused"]
    # paused: queries by the old encoder, writes go on (the closing sweep encodes them)
    assert len(col.search("telescope", k=3, mode="dense")) == 3
    col.upsert([make_item(80)])
    enc.broken = False
    assert col.migrate(enc, wait=True)["phase"] == "ready"
    col.cutover()
    col.close()
    with pytest.raises(sleuth.Conflict, match="gated:96"):
        sleuth.open(path, encoder="hashing:64")
    col = sleuth.open(path, encoder=enc)
    scratch = built(tmp_path / "scratch", "hashing:96", [*CATALOG, make_item(80)])
    assert_same_searches(col, scratch)
    col.close()
    scratch.close()


def test_bad_migrations_are_refused_and_change_nothing(tmp_path: Path) -> None:
    col = built(tmp_path / "col", "hashing:64", CATALOG[:30])
    with pytest.raises(InvalidInput, match="unknown encoder"):
        col.migrate("no-such-model")
    with pytest.raises(InvalidInput, match="already is"):
        col.migrate("hashing:64")
    with pytest.raises(InvalidInput, match="without a map"):
        col.migrate("hashing:96", query="compatible")
    with pytest.raises(InvalidInput, match="query must be one of"):
        col.migrate("hashing:96", query="sideways")
    with pytest.raises(InvalidInput, match="lstsq or procrustes"):
        col.migrate("hashing:96", map="ridge")
    for call in (col.cutover, col.rollback, col.drop_old, col.evaluate_migration):
        with pytest.raises(Conflict, match="no migration"):
            call()
    assert col.migration() is None and col.info()["encoder"] == "hashing:64"
    assert not (tmp_path / "col" / "models" / "migration-map.npz").exists()
    small = built(tmp_path / "small", "hashing:64", CATALOG[:10])
    with pytest.raises(InvalidInput, match="at least 20 items"):
        small.migrate("hashing:96", query="mapped")
    # query="old" needs no map: a tiny collection migrates, its queries by the old model
    assert small.migrate("hashing:96", query="old", wait=True)["phase"] == "ready"
    own = sleuth.open(tmp_path / "own", encoder="hashing:64")
    own.add([{"id": "v", "text": "x", "vector": np.ones(64).tolist()}])
    with pytest.raises(InvalidInput, match="brought their own vectors"):
        own.migrate("hashing:96", query="old")
    with pytest.raises(InvalidInput, match="brings its own vector"):
        small.upsert([{"id": "w", "text": "y", "vector": np.ones(64).tolist()}])
    assert small.count() == 10
    for c in (col, small, own):
        c.close()


def test_a_cancelled_migration_leaves_the_collection_as_it_was(tmp_path: Path) -> None:
    col = built(tmp_path / "col", "hashing:64", CATALOG)
    before = [col.search(q, k=8, mode="dense") for q in QUERIES]
    enc = GatedEncoder()
    col.migrate(enc, batch=8, sample=30)
    enc.gate.set()
    cancelled = col.cancel_migration()
    assert cancelled["phase"] == "cancelled" and cancelled["dropped_vectors"] >= 30
    assert not (tmp_path / "col" / "models" / "migration-map.npz").exists()
    for query, hits in zip(QUERIES, before):
        assert_same_hits(col.search(query, k=8, mode="dense"), hits)
    col.upsert([make_item(90)])  # no dual write any more: nothing refuses a vector either
    with pytest.raises(Conflict, match="cannot cancel"):
        col.cancel_migration()
    assert col.migrate("hashing:96", sample=30, wait=True)["phase"] == "ready"  # a new one
    col.cutover()
    with pytest.raises(Conflict, match="cannot cancel"):
        col.cancel_migration()
    col.close()


def test_a_compatible_model_queries_the_old_vectors_as_is(tmp_path: Path) -> None:
    """A model whose queries search the old vectors as they are (what ``sleuth tune
    --compatible`` makes; its manifest says so and ``query="auto"`` reads it): no map, and
    here (the same vectors under another id) the very results of the old model."""
    col = built(tmp_path / "col", "hashing:64", CATALOG)
    before = [col.search(q, k=8, mode="dense") for q in QUERIES]
    enc = GatedEncoder(64)
    status = col.migrate(enc, query="compatible")
    assert status["query"] == "compatible" and status["map"] is None
    for query, hits in zip(QUERIES, before):
        assert_same_hits(col.search(query, k=8, mode="dense"), hits)
    enc.gate.set()
    col.close()


def test_the_manifest_of_a_tuned_model_says_what_it_is_compatible_with(tmp_path: Path) -> None:
    (tmp_path / "model").mkdir()
    assert compatible_with(str(tmp_path / "model")) is None
    (tmp_path / "model" / "manifest.json").write_text('{"compatible_with": "minilm-v2"}')
    assert compatible_with(str(tmp_path / "model")) == "minilm-v2"
    (tmp_path / "model" / "manifest.json").write_text('{"compatible_with": null}')
    assert compatible_with(str(tmp_path / "model")) is None


@pytest.mark.slow  # ranx compiles its metrics (numba) on first use
def test_with_judgments_the_evaluation_is_ndcg_of_each_side(tmp_path: Path) -> None:
    col = built(tmp_path / "col", "hashing:64", CATALOG)
    col.migrate("hashing:96", sample=40, wait=True)
    qrels = {f"q{i}": {CATALOG[i]["id"]: 1} for i in range(8)}
    queries = {f"q{i}": CATALOG[i]["text"] for i in range(8)}  # each finds its own item
    report = col.evaluate_migration(qrels, queries)
    assert report["metric"] == "ndcg@10" and report["queries"] == 8
    assert report["hybrid"]["old"] == report["hybrid"]["new"] == 1.0  # unique tokens: BM25
    assert all(0.0 <= v <= 1.0 for mode in ("dense", "hybrid") for v in report[mode].values())
    with pytest.raises(InvalidInput, match="together"):
        col.evaluate_migration(qrels, None)
    with pytest.raises(InvalidInput, match="no query of qrels"):
        col.evaluate_migration({"x": {CATALOG[0]["id"]: 1}}, {"y": "text"})
    col.close()


def test_what_was_fitted_on_the_old_scores_stops_at_the_cutover_and_returns_on_rollback(
    tmp_path: Path,
) -> None:
    """The calibration, the fusion trust and the ranker were fitted on the old encoder's
    scores: after the cutover they do not serve (warned; mode "ranked" refused), also on
    reopen; a rollback brings them back, since their scores are served again."""
    col = built(tmp_path / "col", "hashing:64", CATALOG)
    qrels = {
        f"q{i}": {item["id"]: int(item["price"] >= 45) for item in CATALOG if topic in item["tags"]}
        for i, topic in enumerate(TOPICS)
    }
    queries = {f"q{i}": f"{words.split()[1]} note" for i, words in enumerate(TOPICS.values())}
    col.calibrate()
    col.train_ranker(qrels, queries, params={"rounds": 20, "min_data_in_leaf": 2})
    calibrated = col.search("orbit", k=5, min_relevance=0.0)
    ranked = col.search("orbit", k=5, mode="ranked")
    col.migrate("hashing:96", query="old", wait=True)
    with pytest.warns(UserWarning, match="was fitted on the scores of encoder 'hashing:64'"):
        col.cutover()
    with pytest.raises(InvalidInput, match="not calibrated"):
        col.search("orbit", k=5, min_relevance=0.5)
    with pytest.raises(InvalidInput, match="trained on the scores of encoder 'hashing:64'"):
        col.search("orbit", k=5, mode="ranked")
    col.close()
    with pytest.warns(UserWarning, match="calibrate again"):
        col = sleuth.open(tmp_path / "col")
    with pytest.raises(InvalidInput, match="train it again"):
        col.search("orbit", k=5, mode="ranked")
    col.rollback()
    assert_same_hits(col.search("orbit", k=5, min_relevance=0.0), calibrated)
    assert_same_hits(col.search("orbit", k=5, mode="ranked"), ranked)
    again = [h.probability for h in col.search("orbit", k=5, min_relevance=0.0)]
    assert again == pytest.approx([h.probability for h in calibrated], rel=1e-5)
    col.close()
