"""MaxSim: the vectorized scorers equal a per-document Python loop, int8 stays close to float."""

from __future__ import annotations

import importlib
from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import sleuth.rank
from sleuth.errors import InvalidInput
from sleuth.rank.maxsim import from_int8, maxsim, maxsim_all, to_int8

# The package re-exports the function ``maxsim``, which hides the submodule of the same name.
maxsim_module = importlib.import_module("sleuth.rank.maxsim")

DIM = 16


def ragged(lengths: list[int], seed: int, dim: int = DIM) -> tuple[np.ndarray, np.ndarray]:
    """Unit token vectors for docs of the given lengths: ``(float32[n, dim], int64[docs + 1])``."""
    x = np.random.default_rng(seed).standard_normal((sum(lengths), dim)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    offsets = np.zeros(len(lengths) + 1, np.int64)
    np.cumsum(lengths, out=offsets[1:])
    return x, offsets


def naive(query: np.ndarray, tokens: np.ndarray, offsets: np.ndarray, doc: int) -> float:
    rows = tokens[offsets[doc] : offsets[doc + 1]].astype(np.float64)
    if rows.shape[0] == 0:
        return -np.inf
    return float(sum(max(float(q @ r) for r in rows) for q in query.astype(np.float64)))


def naive_top(
    queries: list[np.ndarray], tokens: np.ndarray, offsets: np.ndarray, k: int, excluded: set[int]
) -> list[list[tuple[int, float]]]:
    out = []
    for q in queries:
        scored = [
            (d, naive(q, tokens, offsets, d))
            for d in range(offsets.size - 1)
            if d not in excluded and offsets[d + 1] > offsets[d]
        ]
        out.append(sorted(scored, key=lambda p: (-p[1], p[0]))[:k])
    return out


LENGTHS = [3, 0, 7, 1, 12, 0, 5, 9, 2, 0, 4, 30, 6]


def test_all_is_the_public_api() -> None:
    kernels = ["from_int8", "maxsim", "maxsim_all", "to_int8"]
    assert sorted(maxsim_module.__all__) == kernels
    assert sorted(sleuth.rank.__all__) == ["Ranker", "Ranking", *kernels]  # and the contract


@pytest.mark.parametrize("dtype", [np.float32, np.float16])
def test_maxsim_matches_naive_loop(dtype: type) -> None:
    tokens, offsets = ragged(LENGTHS, seed=1)
    tokens = tokens.astype(dtype)
    query = ragged([6], seed=2)[0]
    docs = np.array([4, 1, 0, 11, 4, 9, 12, 2], np.int64)  # repeats and empty docs included
    got = maxsim(query, tokens, offsets, docs)
    want = np.array([naive(query, tokens, offsets, int(d)) for d in docs])
    assert got.dtype == np.float32 and got.shape == (docs.size,)
    assert np.isneginf(got[[1, 5]]).all()
    np.testing.assert_allclose(
        got[np.isfinite(want)], want[np.isfinite(want)], rtol=1e-5, atol=1e-5
    )


@settings(max_examples=40, deadline=None)
@given(
    lengths=st.lists(st.integers(0, 9), min_size=1, max_size=25),
    n_query=st.integers(1, 6),
    seed=st.integers(0, 2**16),
    data=st.data(),
)
def test_maxsim_property(lengths: list[int], n_query: int, seed: int, data: st.DataObject) -> None:
    tokens, offsets = ragged(lengths, seed)
    query = ragged([n_query], seed + 1)[0]
    docs = np.array(data.draw(st.lists(st.integers(0, len(lengths) - 1), max_size=30)), np.int64)
    got = maxsim(query, tokens, offsets, docs)
    want = np.array([naive(query, tokens, offsets, int(d)) for d in docs])
    assert np.array_equal(np.isneginf(got), np.isneginf(want))
    np.testing.assert_allclose(got[np.isfinite(want)], want[np.isfinite(want)], atol=1e-5)


def test_to_int8_round_trip_within_half_a_step() -> None:
    x = ragged([50], seed=3)[0] * np.linspace(0.1, 10, 50, dtype=np.float32)[:, None]
    x[7] = 0.0
    q, scales = to_int8(x)
    assert q.dtype == np.int8 and scales.dtype == np.float32 and scales.shape == (50,)
    assert scales[7] == 0 and not q[7].any()
    assert np.abs(q).max(axis=1)[np.arange(50) != 7].min() == 127  # full range used per row
    err = np.abs(from_int8(q, scales) - x)
    assert (err <= scales[:, None] / 2 + 1e-7).all()


def test_int8_scores_close_to_float() -> None:
    tokens, offsets = ragged(LENGTHS, seed=4, dim=64)
    query = ragged([8], seed=5, dim=64)[0]
    docs = np.flatnonzero(np.diff(offsets) > 0)
    q, scales = to_int8(tokens)
    exact = maxsim(query, tokens, offsets, docs)
    approx = maxsim(query, q, offsets, docs, scales=scales)
    # Each entry is off by at most scale/2 <= 1/254 of the row's peak; 8 query tokens' dots
    # over 64 dims stay well under 0.02 in total.
    assert np.abs(approx - exact).max() < 0.02
    assert not np.array_equal(approx, exact)  # the int8 path really was taken
    ids_f, _ = maxsim_all([query], tokens, offsets, k=5)
    ids_q, _ = maxsim_all([query], q, offsets, k=5, scales=scales)
    assert ids_f[0, 0] == ids_q[0, 0]


@pytest.mark.parametrize("small_blocks", [False, True])
@pytest.mark.parametrize("dtype", [np.float32, np.float16])
def test_maxsim_all_matches_naive(
    small_blocks: bool, dtype: type, monkeypatch: pytest.MonkeyPatch
) -> None:
    if small_blocks:  # many blocks and several query passes, as on a big collection
        monkeypatch.setattr(maxsim_module, "_BLOCK_BYTES", 4 * 30 * 8)
        monkeypatch.setattr(maxsim_module, "_QUERY_TOKENS_PER_PASS", 9)
    lengths = [int(n) for n in np.random.default_rng(6).integers(0, 40, 120)]
    tokens, offsets = ragged(lengths, seed=7)
    tokens = tokens.astype(dtype)
    queries = [ragged([n], seed=10 + n)[0] for n in (1, 4, 7, 3, 5)]
    mask = np.zeros(len(lengths), bool)
    mask[::3] = True  # masked docs between kept ones: the gathered (non-contiguous) path
    ids, scores = maxsim_all(queries, tokens, offsets, k=10, allowed=~mask)
    want = naive_top(queries, tokens, offsets, 10, set(np.flatnonzero(mask).tolist()))
    assert ids.shape == scores.shape == (5, 10)
    assert ids.dtype == np.int64 and scores.dtype == np.float32
    for i, top in enumerate(want):
        assert ids[i].tolist() == [d for d, _ in top]
        np.testing.assert_allclose(scores[i], [s for _, s in top], atol=1e-4)


def test_maxsim_all_pads_and_leaves_out_empty_docs() -> None:
    tokens, offsets = ragged([2, 0, 3, 0], seed=8)
    ids, scores = maxsim_all([ragged([2], seed=9)[0]], tokens, offsets, k=4)
    assert sorted(ids[0, :2].tolist()) == [0, 2]
    assert ids[0, 2:].tolist() == [-1, -1] and np.isneginf(scores[0, 2:]).all()
    ids, _ = maxsim_all(
        [ragged([2], seed=9)[0]],
        tokens,
        offsets,
        k=4,
        allowed=~np.array([True, False, True, False]),
    )
    assert ids[0].tolist() == [-1, -1, -1, -1]


def test_scales_never_write_into_the_stored_tokens() -> None:
    tokens, offsets = ragged([3, 4, 2], seed=13)
    kept = tokens.copy()
    scales = np.full(tokens.shape[0], 0.5, np.float32)  # scales apply to any stored dtype
    query = ragged([2], seed=14)[0]
    ids, scores = maxsim_all([query], tokens, offsets, k=3, scales=scales)
    half = maxsim(query, tokens, offsets, ids[0], scales=scales)
    assert np.array_equal(tokens, kept)
    np.testing.assert_allclose(scores[0], half, atol=1e-6)
    np.testing.assert_allclose(half, 0.5 * maxsim(query, tokens, offsets, ids[0]), atol=1e-6)


def test_equal_scores_rank_by_docno() -> None:
    row = ragged([1], seed=11)[0]
    tokens = np.repeat(row, 5, axis=0)  # five identical one-token docs
    offsets = np.arange(6, dtype=np.int64)
    ids, scores = maxsim_all([row], tokens, offsets, k=3)
    assert ids[0].tolist() == [0, 1, 2]
    assert np.ptp(scores[0]) == 0


@pytest.mark.parametrize(
    ("call", "fragment"),
    [
        (lambda t, o: maxsim(np.ones((2, DIM + 1), np.float32), t, o, np.array([0])), "dims"),
        (lambda t, o: maxsim(np.ones((0, DIM), np.float32), t, o, np.array([0])), "q >= 1"),
        (lambda t, o: maxsim(np.ones((2, DIM), np.float32), t, o, np.array([9])), "[0, 3)"),
        (lambda t, o: maxsim(np.ones((2, DIM), np.float32), t, o[:-1], np.array([0])), "end"),
        (
            lambda t, o: maxsim(np.ones((2, DIM), np.float32), to_int8(t)[0], o, np.array([0])),
            "scales",
        ),
        (
            lambda t, o: maxsim(
                np.ones((2, DIM), np.float32), t.astype(np.float64), o, np.array([0])
            ),
            "float16, float32 or int8",
        ),
        (lambda t, o: maxsim_all([np.ones((2, DIM), np.float32)], t, o, k=0), "positive"),
        (lambda t, o: maxsim_all([], t, o, k=3), "at least one"),
        (
            lambda t, o: maxsim_all(
                [np.ones((2, DIM), np.float32)], t, o, k=3, allowed=np.zeros(2, bool)
            ),
            "bool[3]",
        ),
        (
            lambda t, o: maxsim_all(
                [np.ones((2, DIM), np.float32)], t, np.array([0, 4, 2, 6]), k=3
            ),
            "non-decreasing",
        ),
    ],
)
def test_invalid_input_is_rejected(
    call: Callable[[np.ndarray, np.ndarray], object], fragment: str
) -> None:
    tokens, offsets = ragged([2, 3, 1], seed=12)
    with pytest.raises(InvalidInput) as info:
        call(tokens, offsets)
    assert fragment in str(info.value)
