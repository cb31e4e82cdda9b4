"""Token pooling: the right number of unit vectors, duplicates merge first, MaxSim survives."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sleuth.errors import InvalidInput
from sleuth.indexes import pooling as pooling_module
from sleuth.indexes.pooling import pool_documents, pool_tokens
from sleuth.rank.maxsim import maxsim

DIM = 32


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def concept_docs(n_docs: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Docs of 20-120 tokens around 4-10 concepts each (tokens repeat ideas, as text does),
    plus queries of 8 tokens near concepts of the collection:
    ``(float32[t, DIM], int64[n_docs + 1], float32[5, 8, DIM])``."""
    rng = np.random.default_rng(seed)
    concepts = unit(rng.standard_normal((60, DIM)))
    rows = []
    for _ in range(n_docs):
        n = int(rng.integers(20, 121))
        own = rng.choice(60, int(rng.integers(4, 11)), replace=False)
        rows.append(
            unit(concepts[rng.choice(own, n)] + 0.3 / np.sqrt(DIM) * rng.standard_normal((n, DIM)))
        )
    offsets = np.zeros(n_docs + 1, np.int64)
    np.cumsum([r.shape[0] for r in rows], out=offsets[1:])
    queries = unit(
        concepts[rng.integers(0, 60, (5, 8))]
        + 0.3 / np.sqrt(DIM) * rng.standard_normal((5, 8, DIM))
    )
    return np.concatenate(rows), offsets, queries


def test_all_is_the_public_api() -> None:
    assert sorted(pooling_module.__all__) == ["pool_documents", "pool_tokens"]


@pytest.mark.parametrize("n", [0, 1, 2, 5, 31, 64, 257])
@pytest.mark.parametrize("factor", [1, 2, 3, 4])
def test_number_of_pooled_vectors(n: int, factor: int) -> None:
    x = unit(np.random.default_rng(n).standard_normal((n, DIM))) if n else np.zeros((0, DIM))
    out = pool_tokens(x.astype(np.float32), factor)
    assert out.shape == ((max(1, math.ceil(n / factor)) if n else 0), DIM)
    assert out.dtype == np.float32
    if n:
        np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)


def test_factor_one_returns_the_vectors_unchanged() -> None:
    x = np.random.default_rng(1).standard_normal((9, DIM)).astype(np.float32) * 3  # not unit
    out = pool_tokens(x, 1)
    assert np.array_equal(out, x) and out is not x


def test_duplicates_merge_first() -> None:
    rng = np.random.default_rng(2)
    distinct = unit(rng.standard_normal((6, DIM)))
    x = np.concatenate([distinct, distinct + 1e-4 * rng.standard_normal((6, DIM))])
    x = unit(x[rng.permutation(12)])
    out = pool_tokens(x, 2)
    assert out.shape == (6, DIM)
    # Every pooled vector is one of the originals (a pair of near-duplicates), each once.
    match = np.abs(out @ distinct.T)
    assert (match.max(axis=1) > 0.9999).all()
    assert sorted(match.argmax(axis=1).tolist()) == list(range(6))


def test_exact_cluster_count_even_when_merge_heights_tie() -> None:
    x = np.repeat(unit(np.ones((1, DIM))), 10, axis=0)  # all distances 0
    assert pool_tokens(x, 3).shape == (4, DIM)


def test_output_follows_token_order_and_opposites_cancel() -> None:
    a, b = unit(np.eye(DIM)[[0]]), unit(np.eye(DIM)[[1]])
    out = pool_tokens(np.concatenate([b, a, b * 1.0001, a]).astype(np.float32), 2)
    np.testing.assert_allclose(out, np.concatenate([b, a]), atol=1e-6)
    zero = pool_tokens(np.concatenate([a, -a]).astype(np.float32), 2)
    assert zero.shape == (1, DIM) and not zero.any()


def test_maxsim_on_pooled_docs_stays_close() -> None:
    tokens, offsets, queries = concept_docs(60, seed=3)
    pooled, pooled_offsets = pool_documents(tokens, offsets, 2)
    assert pooled.shape[0] <= (tokens.shape[0] + 60) // 2
    docs = np.arange(60)
    rng = np.random.default_rng(4)
    # The same cut made blindly: groups of tokens in random order, averaged and normalized.
    blind = []
    for i in docs:
        rows = tokens[offsets[i] : offsets[i + 1]][rng.permutation(offsets[i + 1] - offsets[i])]
        blind.append(unit(np.add.reduceat(rows, np.arange(0, rows.shape[0], 2))))
    blind_offsets = np.concatenate([[0], np.cumsum([b.shape[0] for b in blind])])
    for q in queries:
        exact = maxsim(q, tokens, offsets, docs)
        ward = maxsim(q, pooled, pooled_offsets, docs)
        crude = maxsim(q, np.concatenate(blind), blind_offsets, docs)
        top = np.argsort(-exact)[:10]
        assert np.corrcoef(exact, ward)[0, 1] > 0.98
        assert (np.abs(ward - exact)[top] < 0.1 * exact[top]).all()
        assert len(set(top.tolist()) & set(np.argsort(-ward)[:10].tolist())) >= 8
        # Merging the nearest tokens is what keeps the scores: a blind cut loses far more.
        assert np.abs(ward - exact).mean() < 0.7 * np.abs(crude - exact).mean()


def test_pool_documents_pools_each_item() -> None:
    tokens, offsets, _ = concept_docs(8, seed=5)
    offsets = np.insert(offsets, 3, offsets[3])  # an empty item in the middle
    pooled, out_offsets = pool_documents(tokens, offsets, 3)
    assert out_offsets.dtype == np.int64 and out_offsets.size == offsets.size
    assert out_offsets[4] == out_offsets[3]
    for i in range(offsets.size - 1):
        # pool_documents runs BLAS on one thread, this call on the default: equal up to noise
        np.testing.assert_allclose(
            pooled[out_offsets[i] : out_offsets[i + 1]],
            pool_tokens(tokens[offsets[i] : offsets[i + 1]], 3),
            rtol=1e-5,
            atol=1e-6,
        )


@pytest.mark.parametrize("factor", [0, -2, 2.0, True])
def test_pool_factor_is_validated(factor: object) -> None:
    with pytest.raises(InvalidInput, match=r"pool_factor must be an integer >= 1"):
        pool_tokens(np.ones((4, DIM), np.float32), factor)  # type: ignore[arg-type]


def test_vectors_and_offsets_are_validated() -> None:
    with pytest.raises(InvalidInput, match=r"float vectors \[n, d\]"):
        pool_tokens(np.ones(DIM, np.float32), 2)
    bad = np.ones((4, DIM), np.float32)
    bad[0, 0] = np.inf
    with pytest.raises(InvalidInput, match="NaN or infinity"):
        pool_tokens(bad, 2)
    with pytest.raises(InvalidInput, match="offsets"):
        pool_documents(np.ones((4, DIM), np.float32), np.array([0, 3, 2, 4]), 2)
