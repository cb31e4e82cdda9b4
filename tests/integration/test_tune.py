"""``Collection.tune`` with the bundled MiniLM on a small synthetic collection, a few steps:
the model folder and its manifest, use as another collection's encoder, the compatibility
term, resuming after a crash (the same weights as an uninterrupted run), and bad input that
writes nothing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import sleuth
from sleuth.encoders import get_encoder
from sleuth.errors import InvalidInput
from sleuth.tune import MIN_ITEMS

pytestmark = [pytest.mark.model, pytest.mark.slow]

TOPICS = {
    "astronomy": "star planet orbit telescope galaxy comet nebula solar lunar eclipse",
    "cooking": "flour butter oven recipe simmer garlic onion sauce bake pepper",
    "finance": "bond stock interest loan credit market equity dividend bank rate",
    "medicine": "patient dose clinical trial therapy tumor insulin vaccine cell gene",
    "sailing": "boat sail wind harbor keel mast anchor tide crew knot",
    "music": "violin chord melody rhythm tempo choir piano sonata opera note",
}
SETTINGS: dict[str, Any] = {
    "epochs": 2,
    "max_pairs": 32,
    "batch_size": 16,
    "holdout": 6,
    "patience": 5,
    "compatible": True,
    "progress": False,
}


def _items(n: int) -> list[dict[str, str]]:
    rng = np.random.default_rng(0)
    names = sorted(TOPICS)
    out = []
    for i in range(n):
        words = TOPICS[names[i % len(names)]].split()
        title = " ".join(rng.choice(words, 4))
        text = " ".join(rng.choice([*words, "the", "of", "and", "a", "with"], 40))
        out.append({"id": f"d{i}", "title": title, "text": text})
    return out


def _collection(path: Path, n: int = 60) -> sleuth.Collection:
    col = sleuth.open(path, encoder="minilm")
    col.add(_items(n))
    return col


def _models(col: sleuth.Collection) -> list[str]:
    folder = col.path / "models"
    return sorted(p.name for p in folder.rglob("*")) if folder.exists() else []


@pytest.fixture(scope="module")
def whole(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """An uninterrupted run (its collection is closed; the manifest has its ``path``)."""
    with _collection(tmp_path_factory.mktemp("tune") / "whole") as col:
        return col.tune(**SETTINGS) | {"encoder_id": col.encoder.id, "collection": col.path}


def test_tune_writes_a_model_any_collection_can_use(tmp_path: Path, whole: dict[str, Any]) -> None:
    folder = Path(whole["path"])
    models = whole["collection"] / "models"
    assert folder.parent == models and folder.name.startswith("encoder-")
    # checkpoints and temporary folders are gone; only the model is left
    assert [p.name for p in models.iterdir()] == [folder.name]
    saved = json.loads((folder / "manifest.json").read_text())
    assert saved["compatible_with"] == whole["encoder_id"]
    assert saved["base"]["spec"] == "minilm"
    assert saved["data"]["items"] == 60 and sum(saved["data"]["pairs"].values()) == 32
    epochs = saved["validation"]["per_epoch"]
    assert [e["epoch"] for e in epochs] == [0, 1, 2]
    assert all("compat_loss" in e for e in epochs[1:])
    assert saved["best_epoch"] in (1, 2)
    tuned = get_encoder(str(folder))
    assert tuned.id != get_encoder("minilm").id and tuned.dim == 384
    with sleuth.open(tmp_path / "other", encoder=str(folder)) as other:
        other.add(_items(12))
        hits = other.search("telescope galaxy orbit", k=3, mode="dense")
        assert len(hits) == 3 and hits[0].id in {f"d{i}" for i in range(0, 12, 6)}


def test_an_interrupted_run_resumes_to_the_same_weights(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, whole: dict[str, Any]
) -> None:
    import sleuth.tune.run as run

    calls = {"n": 0}
    real = run.signal

    def crash_at_the_second_epoch(model: Any, vs: Any) -> dict[str, float]:
        calls["n"] += 1
        if calls["n"] == 3:  # epoch 0 (the base), epoch 1, then epoch 2: "killed"
            raise KeyboardInterrupt
        return real(model, vs)

    with _collection(tmp_path / "cut") as col:
        monkeypatch.setattr(run, "signal", crash_at_the_second_epoch)
        with pytest.raises(KeyboardInterrupt):
            col.tune(**SETTINGS)
        assert not any(n.startswith("encoder-") for n in _models(col))  # nothing half-written
        assert "epoch-1" in _models(col)
        monkeypatch.setattr(run, "signal", real)
        resumed = col.tune(**SETTINGS)
    texts = ["a comet near the sun", "simmer the garlic sauce", "bond interest rates"]
    a = get_encoder(whole["path"]).encode(texts).vectors
    b = get_encoder(resumed["path"]).encode(texts).vectors
    assert np.allclose(a, b, atol=1e-5)
    signals = [e["signal"] for e in resumed["validation"]["per_epoch"]]
    assert signals == pytest.approx([e["signal"] for e in whole["validation"]["per_epoch"]])


def test_bad_input_writes_nothing(tmp_path: Path) -> None:
    with _collection(tmp_path / "few", n=MIN_ITEMS - 1) as col:
        with pytest.raises(InvalidInput, match=f"at least {MIN_ITEMS} items"):
            col.tune(**SETTINGS)
        with pytest.raises(InvalidInput, match="sources"):
            col.tune(sources=["titles", "guesses"])
        with pytest.raises(InvalidInput, match="minutes"):
            col.tune(minutes=0)
        with pytest.raises(InvalidInput, match="base"):
            col.tune(base="hashing:64")
        assert _models(col) == []
    with sleuth.open(tmp_path / "hashed", encoder="hashing") as col:
        col.add(_items(60))
        with pytest.raises(InvalidInput, match="sentence-transformers"):
            col.tune()
        assert _models(col) == []


def test_a_budget_stopped_epoch_goes_on_from_its_next_step(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, whole: dict[str, Any]
) -> None:
    import time
    import types

    import sleuth.tune.train as train

    clock = types.SimpleNamespace(perf_counter=time.perf_counter, monotonic=lambda: float("inf"))
    with _collection(tmp_path / "budget") as col:
        monkeypatch.setattr(train, "time", clock)  # the budget runs out after epoch 1's step 1
        stopped = col.tune(**SETTINGS)
        assert stopped["stopped"] == "time budget" and stopped["resumable"]
        assert [(e["epoch"], e["complete"]) for e in stopped["validation"]["per_epoch"]] == [
            (0, True),
            (1, False),
        ]
        assert "epoch-1" in _models(col)  # kept to go on from
        monkeypatch.setattr(train, "time", time)
        resumed = col.tune(**{**SETTINGS, "minutes": 31.0})
        assert not resumed["resumable"]
        assert not any(n.startswith("checkpoints") for n in _models(col))
    texts = ["a comet near the sun", "simmer the garlic sauce", "bond interest rates"]
    a = get_encoder(whole["path"]).encode(texts).vectors
    b = get_encoder(resumed["path"]).encode(texts).vectors
    assert np.allclose(a, b, atol=1e-5)
    history = resumed["validation"]["per_epoch"]
    assert [e["steps"] for e in history[1:]] == [2, 2]
