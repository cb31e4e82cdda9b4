"""The ranker learned from search clicks: the search log, the position-based click model fitted
by EM, the two-level relevance fit that labels each shown pair, and a simulated user over known
judgments."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from test_ranker import SMALL, topic_judgments

import sleuth
from sleuth.rank.clicks import RELEVANT, fit_pbm, fit_relevance
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


def simulated_log(seed: int = 0) -> tuple[np.ndarray, ...]:
    """A position-based user over 600 (query, item) pairs, a fifth of them relevant (clicked
    when examined with probability 0.9, the others 0.1), each shown about 25 times at random
    positions; and the truth."""
    rng = np.random.default_rng(seed)
    theta = 1.0 / np.arange(1, 11)
    n_pairs, n = 600, 15_000
    relevant = rng.random(n_pairs) < 0.2
    pairs = rng.integers(0, n_pairs, n)
    positions = rng.integers(0, 10, n)
    attraction = np.where(relevant[pairs], 0.9, 0.1)
    clicks = (rng.random(n) < theta[positions] * attraction).astype(np.float64)
    return positions, pairs, clicks, relevant


def test_the_two_level_fit_recovers_the_users_click_probabilities() -> None:
    positions, pairs, clicks, relevant = simulated_log()
    theta, _, _ = fit_pbm(positions, pairs, clicks, relevant.size)
    posterior, (hi, lo, share) = fit_relevance(positions, pairs, clicks, relevant.size, theta)
    assert hi == pytest.approx(0.9, abs=0.06) and lo == pytest.approx(0.1, abs=0.03)
    assert share == pytest.approx(relevant.mean(), abs=0.04)
    labels = posterior >= RELEVANT
    assert (labels == relevant).mean() > 0.95
    # a naive click rate (clicks / impressions) is biased towards the top: about 0.3 here
    naive = np.bincount(pairs, clicks)[relevant].sum() / np.bincount(pairs)[relevant].sum()
    assert naive < 0.5 * hi


def test_a_click_low_down_counts_for_more_than_the_same_click_on_top() -> None:
    positions, pairs, clicks, relevant = simulated_log(1)
    # two more pairs, each shown 8 times and clicked twice: one always at position 3, one at 0
    low, top = relevant.size, relevant.size + 1
    positions = np.concatenate([positions, [3] * 8, [0] * 8])
    pairs = np.concatenate([pairs, [low] * 8, [top] * 8])
    clicks = np.concatenate([clicks, [1.0, 1.0] + [0.0] * 6, [1.0, 1.0] + [0.0] * 6])
    theta, _, _ = fit_pbm(positions, pairs, clicks, relevant.size + 2)
    posterior, _ = fit_relevance(positions, pairs, clicks, relevant.size + 2, theta)
    # two clicks in 8 looks at position 3 (examined ~1 in 4) is what a relevant item does;
    # two in 8 at the top, where every impression is examined, is noise
    assert posterior[low] > RELEVANT > posterior[top]


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
        (search_event(shown=[item_id(0), "not-an-item"]), "shown"),
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
