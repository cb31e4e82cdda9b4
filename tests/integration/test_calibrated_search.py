"""Search's final list: calibrated probabilities, min_relevance, cutoffs, diversity, caps,
and calibration's persistence and bad input (hashing encoder, the synthetic catalog)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import sleuth
from sleuth.errors import InvalidInput
from support import COLORS, N_ITEMS, TOPIC_NAMES, TOPICS, item_id, unique_token


def _judgments() -> tuple[dict[str, dict[str, int]], dict[str, str]]:
    """Each item's unique token finds it alone; each topic's words find its items."""
    qrels = {f"u{i}": {item_id(i): 1} for i in range(N_ITEMS)}
    queries = {f"u{i}": unique_token(i) for i in range(N_ITEMS)}
    for t, topic in enumerate(TOPIC_NAMES):
        qrels[f"t{t}"] = {item_id(i): 1 for i in range(t, N_ITEMS, len(TOPIC_NAMES))}
        queries[f"t{t}"] = f"{TOPICS[topic]} entry"  # "entry" is in every item
    return qrels, queries


def test_uncalibrated_hits_have_no_probability_and_min_relevance_says_why(
    col: sleuth.Collection,
) -> None:
    hits = col.search("telescope", k=5)
    assert all(h.probability is None for h in hits)
    with pytest.raises(InvalidInput, match=r"not calibrated.*sleuth calibrate"):
        col.search("telescope", min_relevance=0.5)
    with pytest.raises(InvalidInput, match="not calibrated"):
        col.search("telescope", cutoff="auto")
    assert len(col.search("telescope", k=5, cutoff="autocut")) >= 1  # needs no calibration


def test_judged_calibration_serves_probabilities_and_cuts(col: sleuth.Collection) -> None:
    qrels, queries = _judgments()
    manifest = col.calibrate(qrels, queries)
    assert manifest["source"] == "judgments" and manifest["modes"] == ["dense", "hybrid", "lexical"]
    hits = col.search(unique_token(7), k=10, explain=True)
    probs = [h.probability for h in hits]
    assert all(p is not None and 0.0 <= p <= 1.0 for p in probs)
    assert hits[0].id == item_id(7) and probs[0] == max(probs)
    assert hits[0].explain is not None and hits[0].explain["probability"] == probs[0]
    assert hits[0].to_dict()["probability"] == probs[0]
    for p in (0.2, 0.5, 0.8):
        kept = col.search(unique_token(7), k=10, min_relevance=p)
        assert all(h.probability is not None and h.probability >= p for h in kept)
        assert [h.id for h in kept] == [h.id for h in hits][: len(kept)]
    # a unique token has one answer: the expected-F1 cut keeps fewer than k
    auto = col.search(unique_token(7), k=10, cutoff="auto")
    assert 1 <= len(auto) < 10 and auto[0].id == item_id(7)
    assert auto.trace.to_dict()["final"]["cutoff"] == "auto"


def test_calibration_is_saved_with_a_manifest_and_loaded_on_open(
    col_path: Path, col: sleuth.Collection
) -> None:
    qrels, queries = _judgments()
    col.calibrate(qrels, queries, modes=["hybrid"], method="isotonic")
    before = [h.probability for h in col.search("recipe oven", k=8)]
    col.close()
    saved = json.loads((col_path / "models" / "calibration.json").read_text())
    assert saved["seq"] > 0 and saved["modes"] == ["hybrid"] and saved["format"] == 1
    with sleuth.open(col_path) as again:
        after = [h.probability for h in again.search("recipe oven", k=8)]
        assert np.allclose(before, after)
        assert all(h.probability is None for h in again.search("recipe", mode="dense"))


def test_label_free_calibration_from_the_collection_itself(col: sleuth.Collection) -> None:
    manifest = col.calibrate(modes=["hybrid"])
    assert manifest["source"] == "self" and manifest["stats"]["queries"] > N_ITEMS // 2
    hits = col.search(unique_token(3), k=5)
    assert hits[0].id == item_id(3)
    assert hits[0].probability is not None and hits[0].probability > hits[-1].probability


@pytest.mark.parametrize(
    ("qrels", "queries", "message"),
    [
        ({"q": {"no-such-item": 1}}, {"q": "telescope"}, r"no-such-item.*not in the collection"),
        ({"q": {item_id(0): 1}}, {"other": "telescope"}, "query 'q', which queries lacks"),
        ({"q": {item_id(0): 0}}, {"q": "telescope"}, "no positive judgment"),
        ({}, {"q": "telescope"}, "qrels must be a non-empty mapping"),
        ({"q": {item_id(0): 1}}, None, "queries must be a non-empty mapping"),
    ],
)
def test_bad_judgments_are_refused_and_write_nothing(
    col_path: Path, col: sleuth.Collection, qrels: object, queries: object, message: str
) -> None:
    with pytest.raises(InvalidInput, match=message):
        col.calibrate(qrels, queries)  # type: ignore[arg-type]
    assert not (col_path / "models" / "calibration.json").exists()
    with pytest.raises(InvalidInput, match="unknown mode"):
        col.calibrate(modes=["nope"])
    assert not (col_path / "models" / "calibration.json").exists()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"min_relevance": 1.5}, "min_relevance must be from 0 to 1"),
        ({"min_relevance": -0.1}, "min_relevance must be from 0 to 1"),
        ({"min_relevance": "high"}, "min_relevance must be a probability"),
        ({"cutoff": "elbow"}, "unknown cutoff 'elbow'; allowed: auto, autocut"),
        ({"diversity": 2}, "diversity must be from 0 to 1"),
        ({"max_per": {"color": 0}}, r"max_per\['color'\] must be a positive integer"),
        ({"max_per": ["color"]}, "max_per must map attribute names"),
    ],
)
def test_bad_final_options_are_invalid_input(
    col: sleuth.Collection, options: dict[str, object], message: str
) -> None:
    with pytest.raises(InvalidInput, match=message):
        col.search("telescope", **options)  # type: ignore[arg-type]


def test_caps_limit_hits_per_attribute_value(col: sleuth.Collection) -> None:
    hits = col.search("catalog entry", k=9, max_per={"color": 2})
    colors = [h.attributes["color"] for h in hits]
    assert len(hits) == 2 * len(COLORS)  # only three colors exist: two of each
    assert all(colors.count(c) == 2 for c in COLORS)
    plain = col.search("catalog entry", k=60)
    order = [h.id for h in plain]
    assert [order.index(h.id) for h in hits] == sorted(order.index(h.id) for h in hits)
    assert hits.trace.final["max_per"] == {"color": 2}


def test_diversity_trades_relevance_for_variety(col: sleuth.Collection) -> None:
    query = "telescope orbit planet recipe"
    plain = col.search(query, k=8)
    varied = col.search(query, k=8, diversity=0.9)
    assert len(varied) == 8 and {h.id for h in varied} != {h.id for h in plain}
    ild = varied.trace.final["intra_list_diversity"][0]
    vectors = col.vectors([h.id for h in plain])
    sim = vectors @ vectors.T
    plain_ild = 1 - (sim.sum() - np.trace(sim)) / (8 * 7)
    assert ild > plain_ild
    batch = col.search_batch([query, "boat wind"], k=5, diversity=0.5)
    assert len(batch[0].trace.final["intra_list_diversity"]) == 2
