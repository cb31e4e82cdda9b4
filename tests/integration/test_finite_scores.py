"""Scores are finite or absent: items that lack what a mode needs (here: a text of
punctuation only, for which the hashing encoder gives no tokens, so an empty token set and a
zero vector) are scored by what they have or left out, in every mode and in recommendations."""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import sleuth
from sleuth.config import CollectionConfig, LateConfig, MuveraConfig
from sleuth.search import MODES
from support import CATALOG, item_id, unique_token

EMPTY = ("dots", "bangs")  # texts without a single word


@pytest.fixture
def col(tmp_path: Path) -> Any:
    config = CollectionConfig(
        late=LateConfig(enabled=True, muvera=MuveraConfig(k_sim=3, d_proj=16, r_reps=8))
    )
    col = sleuth.open(tmp_path / "c", encoder="hashing", config=config)
    col.add(CATALOG)
    col.add([{"id": "dots", "text": "... !!!"}, {"id": "bangs", "title": "?!", "text": "--"}])
    events = [("u-empty", "dots"), ("u-empty", "bangs"), ("u-mixed", "dots")]
    events += [("u-mixed", item_id(3)), ("u-other", item_id(3)), ("u-other", item_id(4))]
    col.record([{"user": u, "item": i} for u, i in events])
    queries = {str(i): f"{item['title']} {item['text']}" for i, item in enumerate(CATALOG)}
    qrels = {str(i): {item["id"]: 1} for i, item in enumerate(CATALOG)}
    col.train_ranker(qrels, queries, params={"rounds": 20, "min_data_in_leaf": 5})  # "ranked"
    yield col
    col.close()


def assert_finite(hits: list[sleuth.Hit]) -> None:
    assert all(math.isfinite(h.score) for h in hits), [(h.id, h.score) for h in hits]
    # what the server serves: strict JSON has no NaN or Infinity
    json.dumps([h.score for h in hits], allow_nan=False)


def test_the_empty_items_have_no_token_vectors(col: sleuth.Collection) -> None:
    """How such an item arises: the encoder gives a text without words no tokens at all."""
    assert col.encoder.encode(["... !!!"], tokens=True).tokens[0].vectors.shape[0] == 0
    assert col.info()["indexes"]["tokens"]["live"] == len(CATALOG) + 2


@pytest.mark.parametrize("mode", MODES)
# item 5's topic word and its unique token: every retriever's best match is item 5
@pytest.mark.parametrize("query", [f"{CATALOG[5]['text'].split()[0]} {unique_token(5)}", "!!!"])
def test_every_mode_serves_finite_scores(col: sleuth.Collection, mode: str, query: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no NaN arithmetic, no guard needed
        hits = col.search(query, k=len(CATALOG) + 2, mode=mode, explain=True)
    assert_finite(hits)
    ids = [h.id for h in hits]
    assert len(ids) == len(set(ids))
    if query != "!!!" and mode in ("lexical", "hybrid", "hybrid+maxsim"):
        assert ids[0] == item_id(5)
    scores = [h.score for h in hits]
    assert scores == sorted(scores, reverse=True)
    if mode in ("muvera", "maxsim-exact"):  # MaxSim alone has nothing to score them by
        assert not set(EMPTY) & set(ids)
        assert len(ids) == (0 if query == "!!!" else len(CATALOG))
    else:
        assert set(EMPTY) <= set(ids) or mode == "lexical"


def test_hybrid_maxsim_ranks_an_item_without_tokens_by_its_fused_score(
    col: sleuth.Collection,
) -> None:
    k = len(CATALOG) + 2
    hits = {h.id: h for h in col.search("telescope", k=k, mode="hybrid+maxsim", explain=True)}
    assert set(EMPTY) <= set(hits)  # still found (the dense list has every item)
    for name in EMPTY:
        explain = hits[name].explain
        assert explain is not None and explain["retrievers"]["maxsim"] is None
        assert explain["retrievers"]["hybrid"] is not None
        assert "the item has no token vectors" in explain["maxsim"]
    assert all("maxsim" not in h.explain for i, h in hits.items() if i not in EMPTY)
    # MaxSim counts as the list's lowest for them: they stay below every item it scored
    lowest_scored = min(h.score for i, h in hits.items() if i not in EMPTY)
    assert max(hits[n].score for n in EMPTY) <= lowest_scored + 1e-6
    no_tokens = col.search("!!!", k=3, mode="hybrid+maxsim", explain=True)
    assert no_tokens and all("the query has no token" in h.explain["maxsim"] for h in no_tokens)


@pytest.mark.parametrize("item", [*EMPTY, item_id(3)])
def test_similar_serves_finite_scores(col: sleuth.Collection, item: str) -> None:
    hits = col.similar(item, k=10)
    assert_finite(hits)
    assert hits and item not in {h.id for h in hits}


@pytest.mark.parametrize("user", ["u-empty", "u-mixed", "u-other", "someone-new"])
@pytest.mark.parametrize("diversity", [0.0, 0.7])
def test_recommend_serves_finite_scores(
    col: sleuth.Collection, user: str, diversity: float
) -> None:
    hits = col.recommend(user, k=8, diversity=diversity, explain=True)
    assert_finite(hits)
    assert hits


def test_a_non_finite_score_never_reaches_a_hit(
    col: sleuth.Collection, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The last guard, for a bug upstream: a NaN score is left out, with a warning."""
    import sleuth.search.fusion as fusion

    real = fusion.fuse_hybrid

    def poisoned(*args: Any, **kwargs: Any) -> tuple[np.ndarray, np.ndarray]:
        docnos, scores = real(*args, **kwargs)
        scores = scores.copy()
        scores[0] = np.nan
        return docnos, scores

    monkeypatch.setattr(fusion, "fuse_hybrid", poisoned)
    with pytest.warns(RuntimeWarning, match="not finite"):
        hits = col.search(f"telescope {unique_token(5)}", k=5)
    assert_finite(hits)
    assert len(hits) == 4 and item_id(5) not in {h.id for h in hits}
