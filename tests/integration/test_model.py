"""The bundled MiniLM encoder through the engine: offline loading, a local model folder by path,
explicit truncation, and the embedding cache."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import pytest

import sleuth
from sleuth.encoders import get_encoder
from sleuth.encoders.sentence import bundled_minilm

pytestmark = pytest.mark.model

DOCS = [
    {"id": "cat", "title": "Cats", "text": "The domestic cat is a small carnivorous mammal."},
    {"id": "car", "title": "Cars", "text": "An automobile is a wheeled motor vehicle."},
    {"id": "tea", "title": "Tea", "text": "Tea is an aromatic beverage made from leaves."},
]


@pytest.fixture(scope="module")
def minilm() -> sleuth.encoders.Encoder:
    return get_encoder("minilm")


def test_minilm_loads_offline_and_embeds_meaningfully(minilm: sleuth.encoders.Encoder) -> None:
    vectors = minilm.encode(["a kitten", "a small cat", "a diesel truck"]).vectors
    assert vectors.shape == (3, 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.2
    assert os.environ.get("HF_HUB_OFFLINE") == "1"


def test_dense_search_finds_paraphrases(tmp_path: Path, minilm: sleuth.encoders.Encoder) -> None:
    with sleuth.open(tmp_path / "c", encoder=minilm) as col:
        col.add(DOCS)
        assert col.search("kitten", k=1, mode="dense")[0].id == "cat"
        assert col.search("a drink brewed from leaves", k=1, mode="dense")[0].id == "tea"
    with sleuth.open(tmp_path / "c") as col:  # reopened by its stored name, no model object
        assert col.encoder.id == minilm.id
        assert col.search("automobile", k=1)[0].id == "car"


def test_local_model_folder_by_path_round_trips(tmp_path: Path) -> None:
    folder = str(bundled_minilm())
    with sleuth.open(tmp_path / "c", encoder=folder) as col:
        col.add(DOCS)
        encoder_id = col.encoder.id
    with sleuth.open(tmp_path / "c") as col:
        assert col.encoder.id == encoder_id
        assert col.search("kitten", k=1, mode="dense")[0].id == "cat"
    with pytest.raises(sleuth.Conflict, match="was built with encoder"):
        sleuth.open(tmp_path / "c", encoder="hashing")


def test_long_texts_are_truncated_with_a_warning_and_only_new_texts_encoded(
    tmp_path: Path, minilm: sleuth.encoders.Encoder
) -> None:
    long_text = " ".join(["photosynthesis converts light into chemical energy"] * 80)
    with sleuth.open(tmp_path / "c", encoder=minilm) as col:
        with pytest.warns(UserWarning, match=r"1 of 1 texts were longer than .* 256 tokens"):
            col.add([{"id": "long", "text": long_text}])
        calls = []
        original = minilm.encode
        minilm.encode = lambda texts, **kw: calls.append(len(texts)) or original(texts, **kw)  # type: ignore[method-assign]
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error")  # nothing encoded again: no truncation warning
                col.upsert([{"id": "long", "text": long_text, "tag": "x"}])
            col.add(DOCS)
        finally:
            del minilm.encode
        assert calls == [len(DOCS)]  # the cached vector was reused for the upsert
        assert col.search("light into chemical energy", k=1)[0].id == "long"
