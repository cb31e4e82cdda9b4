"""The ranker learned from search clicks: the search log, the position-based click model fitted
by EM, inverse-propensity-weighted labels, and a simulated user over known judgments."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from test_ranker import SMALL, topic_judgments

import sleuth
from sleuth.rank.clicks import GRADES, fit_pbm, ipw_grades
from sleuth.rank.simulate import simulate_sessions
from sleuth.store.clicks import SearchLog
from support import CATALOG, item_id


@pytest.fixture
def col(tmp_path: Path) -> Iterator[sleuth.Collection]:
    with sleuth.open(tmp_path / "c", encoder="hashing") as collection:
        collection.add(CATALOG)
        yield collection


def test_em_recovers_the_propensities_of_a_position_based_user() -> None:
    rng = np.random.default_rng(0)
    theta = 1.0 / np.arange(1, 11)  # the examination probability per position
    n_pairs, n = 400, 60_000
    gamma = rng.uniform(0.05, 0.95, n_pairs)
    pairs = rng.integers(0, n_pairs, n)
    positions = rng.integers(0, 10, n)  # each pair seen at many positions
    clicks = (rng.random(n) < theta[positions] * gamma[pairs]).astype(np.float64)
    fitted, relevance, iterations = fit_pbm(positions, pairs, clicks, n_pairs)
    assert fitted[0] == 1.0 and iterations > 1
    assert np.allclose(fitted, theta / theta[0], atol=0.05)
    # relevance is identified up to the scale fixed by theta[0] (here the true theta[0] is 1)
    assert np.corrcoef(relevance, gamma)[0, 1] > 0.9


def test_ipw_labels_weigh_a_low_click_up_by_its_propensity() -> None:
    theta = np.array([1.0, 0.25])
    # both pairs shown 8 times and clicked twice: pair 0 at position 1, pair 1 at position 0
    positions = np.array([1] * 8 + [0] * 8)
    pairs = np.array([0] * 8 + [1] * 8)
    clicks = np.array([1.0, 1.0] + [0.0] * 6 + [1.0, 1.0] + [0.0] * 6)
    grades = ipw_grades(positions, pairs, clicks, 2, theta)
    # pair 0: (2 + 0.5) / (8 * 0.25 + 2.5) = 0.56, relevant; pair 1: 2.5 / 10.5 = 0.24
    assert grades.tolist() == [GRADES, 0]
    once = ipw_grades(np.array([1, 1, 1]), np.zeros(3, np.int64), np.array([1.0, 0, 0]), 1, theta)
    assert once.tolist() == [0]  # one click in three low impressions: not yet evidence


def search_event(**fields: Any) -> dict[str, Any]:
    return {"kind": "search", "query": "orbit", "shown": [item_id(0), item_id(4)], **fields}


def test_search_events_are_recorded_once(col: sleuth.Collection) -> None:
    first = col.record([search_event(clicked=[1], event_id="s1"), search_event(clicked=0)])
    assert (first.recorded, first.duplicates) == (2, 0)
    again = col.record([search_event(clicked=[1], event_id="s1")])
    assert (again.recorded, again.duplicates) == (0, 1)
    events = SearchLog(col.store).events()
    assert [e.clicked for e in events] == [(1,), (0,)]
    assert events[0].shown == (item_id(0), item_id(4))


@pytest.mark.parametrize(
    ("event", "field"),
    [
        ({"kind": "search", "query": "orbit", "clicked": [0]}, "shown"),
        (search_event(shown=[]), "shown"),
        (search_event(clicked=[2]), "clicked"),
        (search_event(clicked=[True]), "clicked"),
        (search_event(shown=[item_id(0), item_id(0)]), "shown"),
        (search_event(query=" "), "query"),
        (search_event(item=item_id(1)), "item"),
    ],
)
def test_a_bad_search_event_is_refused_and_the_batch_not_written(
    col: sleuth.Collection, event: dict[str, Any], field: str
) -> None:
    with pytest.raises(sleuth.InvalidInput, match="search event 1") as caught:
        col.record([search_event(), event])
    assert caught.value.details["field"] == field
    assert SearchLog(col.store).events() == []


def test_a_batch_mixing_search_and_item_events_is_refused(col: sleuth.Collection) -> None:
    with pytest.raises(sleuth.InvalidInput, match="not both"):
        col.record([search_event(), {"user": "u", "item": item_id(0)}])
    assert SearchLog(col.store).events() == [] and col.store.event_count() == 0


def test_training_from_a_log_without_clicks_is_refused(col: sleuth.Collection) -> None:
    with pytest.raises(sleuth.InvalidInput, match="no search events"):
        col.train_ranker()
    col.record([search_event()])
    with pytest.raises(sleuth.InvalidInput, match="no click"):
        col.train_ranker()
    assert not (col.path / "ranker").exists()


def test_a_ranker_learned_from_simulated_clicks_finds_what_the_user_wants(
    col: sleuth.Collection,
) -> None:
    qrels, queries = topic_judgments()
    shown = col.search_batch(list(queries.values()), k=20, mode="hybrid")
    rankings = {q: [h.id for h in hits] for q, hits in zip(queries, shown)}
    events = simulate_sessions(queries, rankings, qrels, 3000, click_other=0.02, seed=1)
    assert all(e["shown"] and len(e["shown"]) == 10 for e in events)
    col.record(events)
    manifest = col.train_ranker(attributes=["price"], params=SMALL)
    log = manifest["trained_from"]
    assert log["source"] == "clicks" and log["sessions"] == 3000
    assert log["pairs_at_several_positions"] > 0
    assert log["propensities"][0] == 1.0 and log["propensities"][1] < 1.0
    dear = {item["id"] for item in CATALOG if item["price"] >= 45}
    ranked = [h.id for q in queries.values() for h in col.search(q, k=5, mode="ranked")]
    hybrid = [h.id for q in queries.values() for h in col.search(q, k=5, mode="hybrid")]
    share = sum(i in dear for i in ranked) / len(ranked)
    assert share > sum(i in dear for i in hybrid) / len(hybrid)
    assert share >= 0.9
