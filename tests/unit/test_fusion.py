"""Normalization and fusion: hand-computed tiny fixtures, and order-invariance properties."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.support import assert_same_ranking

from sleuth.fuse import (
    NORMALIZERS,
    adaptive_alpha,
    minmax,
    normalize_among,
    rrf,
    weighted_sum,
    zscore,
)

Ranked = tuple[np.ndarray, np.ndarray]


def ranked(docnos: list[int], scores: list[float]) -> Ranked:
    return np.array(docnos, np.int64), np.array(scores, np.float32)


# -- normalization ----------------------------------------------------------------------------


def test_minmax_maps_to_unit_interval() -> None:
    out = minmax(np.array([5.0, 4.0, 1.0]))
    np.testing.assert_allclose(out, [1.0, 0.75, 0.0])
    assert out.dtype == np.float32


def test_minmax_flat_and_empty() -> None:
    np.testing.assert_array_equal(minmax(np.array([2.0, 2.0])), [1.0, 1.0])
    assert minmax(np.array([])).shape == (0,)


def test_zscore_hand_computed() -> None:
    # mean 2.5, population sd sqrt(1.25)
    sd = math.sqrt(1.25)
    out = zscore(np.array([4.0, 3.0, 2.0, 1.0]))
    np.testing.assert_allclose(out, [1.5 / sd, 0.5 / sd, -0.5 / sd, -1.5 / sd], rtol=1e-6)
    assert out.dtype == np.float32


def test_zscore_flat_and_empty() -> None:
    # flat: no order to tell, but retrieved, so above what the list did not return (0)
    np.testing.assert_array_equal(zscore(np.array([7.0, 7.0, 7.0])), [1.0, 1.0, 1.0])
    np.testing.assert_array_equal(zscore(np.array([-2.0])), [1.0])
    assert zscore(np.array([])).shape == (0,)


@pytest.mark.parametrize("norm", sorted(NORMALIZERS))
def test_a_single_match_gets_credit_from_its_list(norm: str) -> None:
    """The only lexical match must beat a doc with the same dense score and no lexical match."""
    n = NORMALIZERS[norm]
    lexical = (np.array([7]), n(np.array([3.2])))
    dense = (np.array([5, 7, 9]), n(np.array([0.9, 0.9, 0.1])))
    docnos, scores = weighted_sum([lexical, dense], [0.5, 0.5])
    assert docnos[0] == 7 and scores[0] > scores[1]


def test_normalizers_registry() -> None:
    assert {"minmax": minmax, "zscore": zscore} == NORMALIZERS


# -- rrf --------------------------------------------------------------------------------------


def test_rrf_hand_computed() -> None:
    a = ranked([1, 2, 3], [9.0, 8.0, 7.0])
    b = ranked([3, 1], [0.9, 0.1])
    docnos, scores = rrf([a, b], k=60)
    expected = {1: 1 / 61 + 1 / 62, 2: 1 / 62, 3: 1 / 63 + 1 / 61}
    assert docnos.tolist() == [1, 3, 2]
    np.testing.assert_allclose(scores, [expected[d] for d in docnos.tolist()], rtol=1e-6)


def test_rrf_weights_and_k() -> None:
    a = ranked([1, 2], [2.0, 1.0])
    b = ranked([2, 1], [2.0, 1.0])
    docnos, scores = rrf([a, b], k=0, weights=[3.0, 1.0])
    # doc 1: 3/1 + 1/2 = 3.5; doc 2: 3/2 + 1/1 = 2.5
    assert docnos.tolist() == [1, 2]
    np.testing.assert_allclose(scores, [3.5, 2.5])


def test_rrf_ignores_scores_and_breaks_ties_by_docno() -> None:
    # Mirror-image lists: every doc gets the same fused score, so docno decides.
    docnos, scores = rrf([ranked([7, 3], [100.0, 0.0]), ranked([3, 7], [1e-9, -5.0])], k=10)
    assert docnos.tolist() == [3, 7]
    assert scores[0] == scores[1]


def test_rrf_empty_lists() -> None:
    docnos, scores = rrf([ranked([], []), ranked([], [])])
    assert docnos.shape == scores.shape == (0,)


# -- weighted sum -----------------------------------------------------------------------------


def test_weighted_sum_hand_computed_missing_docs() -> None:
    # A doc missing from a list gets that list's lowest score, or 0 if that is lower.
    a = ranked([1, 2, 3], [2.0, 1.0, -1.0])  # min -1: missing docs get -1
    b = ranked([4, 1], [3.0, 0.5])  # min 0.5: missing docs get 0
    docnos, scores = weighted_sum([a, b], [0.25, 0.75])
    expected = {
        1: 0.25 * 2.0 + 0.75 * 0.5,
        2: 0.25 * 1.0 + 0.75 * 0.0,
        3: 0.25 * -1.0 + 0.75 * 0.0,
        4: 0.25 * -1.0 + 0.75 * 3.0,
    }
    assert docnos.tolist() == sorted(expected, key=lambda d: -expected[d])
    np.testing.assert_allclose(scores, sorted(expected.values(), reverse=True), rtol=1e-6)


def test_weighted_sum_skips_empty_list() -> None:
    docnos, scores = weighted_sum([ranked([5, 6], [1.0, 0.0]), ranked([], [])], [0.5, 0.5])
    assert docnos.tolist() == [5, 6]
    np.testing.assert_allclose(scores, [0.5, 0.0])


def test_weighted_sum_zero_weight_list_only_adds_candidates() -> None:
    docnos, scores = weighted_sum([ranked([1], [1.0]), ranked([2], [5.0])], [1.0, 0.0])
    assert docnos.tolist() == [1, 2]
    np.testing.assert_allclose(scores, [1.0, 0.0])


# -- adaptive alpha ---------------------------------------------------------------------------


def test_adaptive_alpha() -> None:
    n = 100
    max_idf = math.log1p(n + 0.5)
    assert adaptive_alpha(np.array([]), n, 0.5) == 1.0
    # rarity 0.5 == pivot: alpha unchanged
    assert adaptive_alpha(np.array([0.5 * max_idf]), n, 0.3) == pytest.approx(0.3)
    # rare terms (rarity 1) move the weight towards lexical by strength * 0.5
    assert adaptive_alpha(np.array([max_idf, max_idf]), n, 0.5) == pytest.approx(0.25)
    # clipped at both ends
    assert adaptive_alpha(np.array([max_idf]), n, 0.0) == pytest.approx(0.05)
    assert adaptive_alpha(np.array([0.0]), n, 1.0) == pytest.approx(0.95)


# -- properties -------------------------------------------------------------------------------


def test_normalize_among_pads_with_zeros_hand_computed() -> None:
    # minmax over [2, 1, 0, 0, 0]: the low end is 0, not the list's own minimum
    out, missing = normalize_among(minmax, np.array([2.0, 1.0]), 5)
    np.testing.assert_allclose(out, [1.0, 0.5])
    assert missing == 0.0
    # zscore over [3, 1, 0, 0]: mean 1, population sd sqrt(1.5)
    out, missing = normalize_among(zscore, np.array([3.0, 1.0]), 4)
    sd = math.sqrt(1.5)
    np.testing.assert_allclose(out, [2.0 / sd, 0.0], rtol=1e-6)
    assert missing == pytest.approx(-1.0 / sd, rel=1e-6)


@pytest.mark.parametrize("norm", sorted(NORMALIZERS))
def test_normalize_among_a_full_list_is_the_plain_normalization(norm: str) -> None:
    n = NORMALIZERS[norm]
    scores = np.array([4.0, 2.5, 2.0])
    for size in (0, 2, 3):
        out, missing = normalize_among(n, scores, size)
        np.testing.assert_array_equal(out, n(scores))  # the same computation
        assert missing == min(float(n(scores).min()), 0.0)
    out, missing = normalize_among(n, np.array([]), 10)
    assert out.shape == (0,) and missing == 0.0


@settings(max_examples=200, deadline=None)
@given(
    scores=st.lists(st.floats(0.01, 50), min_size=1, max_size=30),
    extra=st.integers(0, 80),
    norm=st.sampled_from(sorted(NORMALIZERS)),
)
def test_normalize_among_equals_normalizing_the_padded_list(
    scores: list[float], extra: int, norm: str
) -> None:
    n = NORMALIZERS[norm]
    raw = np.array(sorted(scores, reverse=True), np.float32)
    out, missing = normalize_among(n, raw, raw.size + extra)
    padded = n(np.concatenate([raw, np.zeros(extra, np.float32)]))
    np.testing.assert_allclose(out, padded[: raw.size], rtol=1e-5, atol=1e-6)
    if extra:
        assert missing == pytest.approx(float(padded[-1]), rel=1e-5, abs=1e-6)
    assert np.all(np.diff(out) <= 1e-6)  # order kept
    assert missing <= float(out.min()) + 1e-6  # a document that matched nothing ranks lowest


@pytest.mark.parametrize("norm", sorted(NORMALIZERS))
def test_the_only_exact_match_is_not_outvoted_by_dense_look_alikes(norm: str) -> None:
    """A part number matched by one product only (BM25 returns a 1-element list) while the
    dense list (depth 100) ranks that product 90th among look-alikes: hybrid still puts it in
    its top 10, as its lexical score stands far above the documents matching nothing."""
    n = NORMALIZERS[norm]
    rng = np.random.default_rng(3)
    dense_scores = np.sort(rng.normal(0.5, 0.05, 100))[::-1]
    dense_scores[0] += 0.25  # one look-alike the model likes a lot
    dense_docnos = np.arange(100)
    target = int(dense_docnos[89])
    lexical, missing = normalize_among(n, np.array([7.5]), 100)
    docnos, _ = weighted_sum(
        [(np.array([target]), lexical), (dense_docnos, n(dense_scores))],
        [0.5, 0.5],
        missing=[missing, None],
    )
    assert target in docnos[:10].tolist()
    if norm != "zscore":  # min-max gives a lone match 1 either way
        return
    # a z-scored list of one is flat (1.0): it loses (the failure this guards against)
    docnos, _ = weighted_sum(
        [(np.array([target]), n(np.array([7.5]))), (dense_docnos, n(dense_scores))], [0.5, 0.5]
    )
    assert target not in docnos[:10].tolist()


def test_weighted_sum_gives_missing_documents_the_given_value() -> None:
    a = ranked([1, 2], [2.0, 1.0])
    b = ranked([3], [0.5])
    docnos, scores = weighted_sum([a, b], [1.0, 1.0], missing=[-3.0, None])
    got = dict(zip(docnos.tolist(), scores.tolist()))
    assert got == pytest.approx({1: 2.0, 2: 1.0, 3: -2.5})  # b's own rule: min(0.5, 0) = 0


@st.composite
def ranked_lists(draw: st.DrawFn, max_lists: int = 4) -> list[Ranked]:
    n_lists = draw(st.integers(1, max_lists))
    out = []
    for _ in range(n_lists):
        docnos = draw(st.lists(st.integers(0, 30), unique=True, max_size=12))
        scores = sorted(
            draw(st.lists(st.floats(-5, 5, width=32), min_size=len(docnos), max_size=len(docnos))),
            reverse=True,
        )
        out.append(ranked(docnos, scores))
    return out


def _check_sorted(docnos: np.ndarray, scores: np.ndarray) -> None:
    assert len(set(docnos.tolist())) == docnos.shape[0]
    for i in range(docnos.shape[0] - 1):
        assert scores[i] > scores[i + 1] or (
            scores[i] == scores[i + 1] and docnos[i] < docnos[i + 1]
        )


@settings(max_examples=200, deadline=None)
@given(lists=ranked_lists(), data=st.data())
def test_rrf_is_invariant_to_list_order(lists: list[Ranked], data: st.DataObject) -> None:
    weights = data.draw(st.lists(st.floats(0, 3), min_size=len(lists), max_size=len(lists)))
    order = data.draw(st.permutations(range(len(lists))))
    d1, s1 = rrf(lists, k=60, weights=weights)
    d2, s2 = rrf([lists[i] for i in order], k=60, weights=[weights[i] for i in order])
    assert_same_ranking(d1, s1, d2, s2, rtol=1e-9, atol=1e-12)  # sums in another order
    _check_sorted(d1, s1)
    assert set(d1.tolist()) == {d for docnos, _ in lists for d in docnos.tolist()}


@settings(max_examples=200, deadline=None)
@given(lists=ranked_lists(), data=st.data())
def test_weighted_sum_is_invariant_to_list_order(lists: list[Ranked], data: st.DataObject) -> None:
    weights = data.draw(st.lists(st.floats(0, 1), min_size=len(lists), max_size=len(lists)))
    order = data.draw(st.permutations(range(len(lists))))
    d1, s1 = weighted_sum(lists, weights)
    d2, s2 = weighted_sum([lists[i] for i in order], [weights[i] for i in order])
    assert_same_ranking(d1, s1, d2, s2, rtol=1e-9, atol=1e-12)  # sums in another order
    _check_sorted(d1, s1)


@settings(max_examples=100, deadline=None)
@given(docnos=st.lists(st.integers(0, 10_000), unique=True, max_size=50), k=st.integers(0, 100))
def test_rrf_of_one_list_keeps_its_order(docnos: list[int], k: int) -> None:
    scores = np.linspace(1.0, 0.0, len(docnos))
    out, fused = rrf([ranked(docnos, scores.tolist())], k=k)
    assert out.tolist() == docnos
    np.testing.assert_allclose(fused, [1 / (k + r) for r in range(1, len(docnos) + 1)], rtol=1e-6)


@settings(max_examples=100, deadline=None)
@given(
    docnos=st.lists(st.integers(0, 10_000), unique=True, min_size=1, max_size=50),
    norm=st.sampled_from(sorted(NORMALIZERS)),
)
def test_weighted_sum_of_one_normalized_list_keeps_its_order(docnos: list[int], norm: str) -> None:
    # Strictly decreasing scores, so the order is fully determined by them.
    scores = np.arange(len(docnos), 0, -1, dtype=np.float64)
    out, _ = weighted_sum([(np.array(docnos, np.int64), NORMALIZERS[norm](scores))], [1.0])
    assert out.tolist() == docnos
