"""The cross-encoder stage and ``train_reranker`` on a tiny collection (a few training steps of
the bundled MiniLM): the order is the cross-encoder's, the blend mixes the two z-scored lists,
the model is saved with its manifest and reloaded on open (and refused by another
collection), an interrupted run resumes to the same weights, and it composes after ``ranked``."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from test_ranker import topic_judgments

import sleuth
from sleuth.errors import InvalidInput
from sleuth.rank.cross import load_cross
from support import CATALOG, TOPICS

pytestmark = [pytest.mark.model, pytest.mark.slow]

SETTINGS: dict[str, Any] = {
    "epochs": 2,
    "batch": 4,
    "negatives": 2,
    "max_length": 48,
    "depths": (5, 10),
    "weights": (0.5, 1.0),
    "minutes": 60,  # a budget no run here reaches (a loaded machine is slow)
}
PAIRS = [("orbit note", "Astronomy note 1 telescope orbit"), ("flour", "Cooking note 2 flour")]


def judgments() -> tuple[dict[str, dict[str, int]], dict[str, str]]:
    """Three queries per topic; relevant: the topic's first two items (few training groups)."""
    qrels, queries = {}, {}
    for t, (topic, words) in enumerate(TOPICS.items()):
        mine = [item["id"] for item in CATALOG if topic in item["tags"]][:2]
        for w, word in enumerate(words.split()[:3]):
            qrels[f"{t}-{w}"] = dict.fromkeys(mine, 1)
            queries[f"{t}-{w}"] = f"{word} note"
    return qrels, queries


def _collection(path: Path) -> sleuth.Collection:
    col = sleuth.open(path, encoder="hashing")
    col.add(CATALOG)
    return col


def _zscore(x: np.ndarray) -> np.ndarray:
    return (x - x.mean()) / (x.std() or 1.0)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, Any]]]:
    """A collection (closed) with an uninterrupted run's reranker, and its manifest."""
    path = tmp_path_factory.mktemp("rerank") / "c"
    qrels, queries = judgments()
    with _collection(path) as col:
        manifest = col.train_reranker(qrels, queries, **SETTINGS)
    yield path, manifest


def test_manifest_and_reload_on_open(trained: tuple[Path, dict[str, Any]]) -> None:
    path, manifest = trained
    assert manifest["kind"] == "cross-encoder" and manifest["seed"] == 0
    assert manifest["base"].endswith("model") and manifest["params"]["epochs"] == 2
    assert manifest["trained_from"]["source"] == "judgments"
    assert manifest["trained_from"]["seq"] > 0 and manifest["collection_id"]
    assert manifest["serve"]["depth"] in (5, 10) and manifest["serve"]["weight"] in (0.5, 1.0)
    assert [e["epoch"] for e in manifest["training"]["history"]] == [1, 2]
    assert Path(manifest["path"]).name == f"reranker-{manifest['id']}"
    assert not (path / "models" / "checkpoints").exists()  # removed once the model is in place
    with sleuth.open(path) as col:
        first = col.search("orbit note", k=5, rerank="trained")
    with sleuth.open(path) as col:
        again = col.search("orbit note", k=5, rerank="trained")
    assert [h.id for h in first] == [h.id for h in again]
    assert np.allclose([h.score for h in first], [h.score for h in again], atol=1e-5)


def test_the_order_is_the_cross_encoders_and_the_blend_mixes_z_scores(
    trained: tuple[Path, dict[str, Any]],
) -> None:
    path, manifest = trained
    with sleuth.open(path) as col:
        only = col.search(
            "orbit note", k=8, explain=True, rerank={"model": "trained", "depth": 8, "weight": 1.0}
        )
        cross = [h.explain["retrievers"]["cross"]["score"] for h in only]
        assert cross == sorted(cross, reverse=True)
        assert np.allclose([h.score for h in only], cross, atol=1e-6)
        assert all(h.explain["features"]["cross_weight"] == 1.0 for h in only)
        none = col.search("orbit note", k=8, rerank={"model": "trained", "depth": 8, "weight": 0})
        plain = col.search("orbit note", k=8)
        assert [h.id for h in none] == [h.id for h in plain]
        half = col.search(
            "orbit note", k=8, explain=True, rerank={"model": "trained", "depth": 8, "weight": 0.5}
        )
        fused = np.array([h.explain["retrievers"]["hybrid"]["score"] for h in half])
        scored = np.array([h.explain["features"]["cross_encoder"] for h in half])
        expect = 0.5 * _zscore(fused) + 0.5 * _zscore(scored)
        assert np.allclose([h.score for h in half], expect, atol=1e-4)
        timings = half.trace.timings_ms
        assert "cross_model_ms" in timings and "cross_ms" in timings
        # a path to the same folder serves the same scores as "trained"
        folder = col.search(
            "orbit note",
            k=8,
            rerank={"model": f"cross-encoder:{manifest['path']}", "depth": 8, "weight": 1.0},
        )
        assert [h.id for h in folder] == [h.id for h in only]


def test_ranked_then_reranked(trained: tuple[Path, dict[str, Any]], tmp_path: Path) -> None:
    path, _ = trained
    copy = tmp_path / "copy"
    shutil.copytree(path, copy)
    qrels, queries = topic_judgments()
    with sleuth.open(copy) as col:
        col.train_ranker(qrels, queries, params={"rounds": 20, "min_data_in_leaf": 5})
        hits = col.search("orbit note", k=5, mode="ranked", rerank="trained", explain=True)
        assert len(hits) == 5
        assert {"learned", "cross"} <= set(hits[0].explain["retrievers"])
        assert "learned_ms" in hits.trace.timings_ms and "cross_ms" in hits.trace.timings_ms


def test_a_reranker_of_another_collection_is_refused(
    trained: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    path, _ = trained
    with _collection(tmp_path / "other") as other:
        other.search("x", k=1)
    shutil.copytree(path / "models", tmp_path / "other" / "models")
    with (
        sleuth.open(tmp_path / "other") as other,
        pytest.raises(InvalidInput, match="another collection"),
    ):
        other.search("orbit", k=3, rerank="trained")


def test_an_interrupted_run_resumes_to_the_same_weights(
    trained: tuple[Path, dict[str, Any]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sleuth.tune.checkpoint import Checkpoints

    real = Checkpoints.save_epoch

    def killed_in_epoch_two(self: Any, epoch: int, *args: Any) -> None:
        if epoch == 2:
            raise KeyboardInterrupt
        real(self, epoch, *args)

    qrels, queries = judgments()
    with _collection(tmp_path / "cut") as col:
        monkeypatch.setattr(Checkpoints, "save_epoch", killed_in_epoch_two)
        with pytest.raises(KeyboardInterrupt):
            col.train_reranker(qrels, queries, **SETTINGS)
        models = tmp_path / "cut" / "models"
        assert not list(models.glob("reranker*"))  # nothing half-written
        assert list((models / "checkpoints").glob("reranker-*/epoch-1"))
        monkeypatch.setattr(Checkpoints, "save_epoch", real)
        resumed = col.train_reranker(qrels, queries, **SETTINGS)
    a = load_cross(Path(trained[1]["path"])).score(PAIRS)
    b = load_cross(Path(resumed["path"])).score(PAIRS)
    assert np.allclose(a, b, atol=1e-4)
    again, whole = resumed["training"]["history"], trained[1]["training"]["history"]
    assert [e["steps"] for e in again] == [e["steps"] for e in whole]
    assert [e["loss"] for e in again] == pytest.approx([e["loss"] for e in whole], abs=1e-3)
