"""The final-list pieces: calibrators, the cuts, caps, intra-list diversity."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sleuth.errors import InvalidInput
from sleuth.rank.calibrate import Calibrator, expected_calibration_error
from sleuth.rank.caps import cap
from sleuth.rank.cutoff import autocut, best_f1_length, relevant_length
from sleuth.rank.diversity import intra_list_diversity


def _data(n: int = 400, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Scores whose true probability of relevance is known: sigmoid(2 * score - 1)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 1))
    truth = 1 / (1 + np.exp(-(2 * x[:, 0] - 1)))
    return x, (rng.random(n) < truth).astype(int), truth


@pytest.mark.parametrize("method", ["platt", "isotonic"])
def test_a_calibrator_recovers_known_probabilities(method: str) -> None:
    x, y, _ = _data(4000)
    model = Calibrator.fit(x, y, ("score",), method)
    xt, _, truth = _data(2000, seed=1)
    assert np.abs(model.predict(xt) - truth).mean() < 0.06
    again = Calibrator.from_dict(model.to_dict())
    assert np.allclose(again.predict(xt), model.predict(xt))


_X, _Y, _ = _data(300)
ISOTONIC = Calibrator.fit(_X, _Y, ("score",), "isotonic")


@given(st.lists(st.floats(-5, 5), min_size=2, max_size=30))
def test_isotonic_probabilities_never_fall_as_the_score_rises(scores: list[float]) -> None:
    p = ISOTONIC.predict(np.sort(np.array(scores))[:, None])
    assert np.all(np.diff(p) >= -1e-12)
    assert np.all((p >= 0) & (p <= 1))


def test_fitting_needs_both_labels_and_a_known_method() -> None:
    x = np.arange(4.0)[:, None]
    with pytest.raises(InvalidInput, match="relevant and non-relevant"):
        Calibrator.fit(x, np.zeros(4), ("score",))
    with pytest.raises(InvalidInput, match="allowed: platt, isotonic"):
        Calibrator.fit(x, np.array([0, 1, 0, 1]), ("score",), "magic")


def test_ece_of_hand_computed_bins() -> None:
    # bin [0.1, 0.2): p 0.1, 0.1 with labels 0, 1 -> |0.1 - 0.5| = 0.4 over 2 of 4 hits;
    # bin [0.9, 1]: p 0.9, 0.9 with labels 1, 1 -> 0.1 over 2 of 4
    p = np.array([0.1, 0.1, 0.9, 0.9])
    y = np.array([0, 1, 1, 1])
    assert expected_calibration_error(p, y) == pytest.approx(0.5 * 0.4 + 0.5 * 0.1)


def test_relevant_length_stops_at_the_first_hit_below() -> None:
    assert relevant_length(np.array([0.9, 0.6, 0.4, 0.7]), 0.5) == 2
    assert relevant_length(np.array([0.9, 0.6]), 0.5) == 2
    assert relevant_length(np.array([0.3]), 0.5) == 0


def test_best_f1_length() -> None:
    # two sure hits, then unlikely ones: keep the two
    assert best_f1_length(np.array([0.95, 0.9, 0.05, 0.05, 0.01])) == 2
    # nothing likely: the most likely one (min_relevance is what empties a list)
    assert best_f1_length(np.array([0.2, 0.1, 0.05])) == 1
    assert best_f1_length(np.zeros(0)) == 0
    # many moderately likely hits: keeping them all beats keeping one
    assert best_f1_length(np.full(10, 0.4)) == 10


def test_autocut_cuts_at_the_jump_as_weaviate_does() -> None:
    assert autocut(np.array([1.0, 0.98, 0.97, 0.4, 0.38, 0.37, 0.36])) == 3
    assert autocut(np.array([1.0, 0.98, 0.97, 0.4, 0.38, 0.1, 0.09]), jumps=2) == 5
    # a curve that drops faster and faster: the last point is the extremum, cut before it
    assert autocut(np.array([1.0, 0.99, 0.97, 0.9, 0.7])) == 4
    assert autocut(np.array([0.5])) == 1
    assert autocut(np.array([0.5, 0.5, 0.5])) == 3


def test_caps_keep_at_most_n_per_value_in_order() -> None:
    brands = {0: "a", 1: "a", 2: "a", 3: "b", 4: None, 5: "b", 6: "b"}
    attrs = {d: ({"brand": b} if b else {}) for d, b in brands.items()}
    kept = cap(np.arange(7), lambda d: attrs[d], {"brand": 2}, k=10)
    assert kept.tolist() == [0, 1, 3, 4, 5]
    assert cap(np.arange(7), lambda d: attrs[d], {"brand": 2}, k=3).tolist() == [0, 1, 3]
    tags = {0: {"tag": ["x", "y"]}, 1: {"tag": ["y"]}, 2: {"tag": ["x"]}}
    assert cap(np.arange(3), lambda d: tags[d], {"tag": 1}, k=5).tolist() == [0]


class _Vectors:
    def __init__(self, rows: dict[int, np.ndarray]) -> None:
        self.rows = rows

    def vector_of(self, docno: int) -> np.ndarray | None:
        return self.rows.get(docno)


def test_intra_list_diversity() -> None:
    e = np.eye(3, dtype=np.float32)
    same = _Vectors({0: e[0], 1: e[0]})
    apart = _Vectors({0: e[0], 1: e[1], 2: e[2]})
    assert intra_list_diversity(same, np.array([0, 1])) == pytest.approx(0.0)
    assert intra_list_diversity(apart, np.array([0, 1, 2])) == pytest.approx(1.0)
    assert intra_list_diversity(apart, np.array([0])) is None
