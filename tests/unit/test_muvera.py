"""MUVERA FDEs: they follow the reference algorithm, their inner product tracks Chamfer
similarity, queries sum while documents average and fill, and they are reproducible."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from typing import Any

import numpy as np
import pytest
from scipy.stats import spearmanr

from sleuth.config import MuveraConfig
from sleuth.errors import InvalidInput
from sleuth.indexes import muvera as muvera_module
from sleuth.indexes.muvera import Muvera

DIM = 96


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def topical_sets(
    seed: int = 0,
    n_docs: int = 200,
    n_queries: int = 40,
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Documents of 20-80 unit tokens, each drawn around 3 of 40 topics (topics correlated
    through an 8-dim latent space, so similarity is graded); each query takes 10-32 tokens
    around one or two topics of a random target document. Chamfer then depends on which
    topics a document covers, not on its centroid, which is what MUVERA must capture."""
    rng = np.random.default_rng(seed)
    topics = unit(rng.standard_normal((40, 8)) @ rng.standard_normal((8, DIM)))
    noise = 0.5 / np.sqrt(DIM)
    docs, covers = [], []
    for _ in range(n_docs):
        n = int(rng.integers(20, 81))
        cover = rng.choice(40, 3, replace=False)
        covers.append(cover)
        docs.append(
            unit(topics[cover[rng.integers(0, 3, n)]] + noise * rng.standard_normal((n, DIM)))
        )
    queries = []
    for target in rng.integers(0, n_docs, n_queries):
        n = int(rng.integers(10, 33))
        cover = covers[target][: rng.integers(1, 3)]
        queries.append(
            unit(
                topics[cover[rng.integers(0, cover.size, n)]]
                + noise * rng.standard_normal((n, DIM))
            )
        )
    return docs, queries


def chamfer(queries: list[np.ndarray], docs: list[np.ndarray]) -> np.ndarray:
    return np.array([[float((q @ d.T).max(axis=1).sum()) for d in docs] for q in queries])


def fde_rho(
    config: MuveraConfig, docs: list[np.ndarray], queries: list[np.ndarray], truth: np.ndarray
) -> float:
    m = Muvera(config, DIM)
    scores = m.encode_queries(queries) @ m.encode_documents(docs).T
    return float(spearmanr(truth.ravel(), scores.ravel()).statistic)


def random_sets(sizes: list[int], seed: int, dim: int = 16) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [
        unit(rng.standard_normal((n, dim))) if n else np.zeros((0, dim), np.float32) for n in sizes
    ]


def literal_reference(m: Muvera, x: np.ndarray, *, query: bool) -> np.ndarray:
    """A per-token transcription of the reference C++ (GenerateQuery/DocumentFixedDimensional-
    Encoding), with sleuth's random matrices and without the final projection."""
    c = m.config
    out = []
    for r in range(c.r_reps):
        sketch = x @ m._hyperplanes[:, r * c.k_sim : (r + 1) * c.k_sim]
        blocks = np.zeros((2**c.k_sim, m.dim))
        count = np.zeros(2**c.k_sim)
        for t in range(x.shape[0]):
            gray = 0
            for i in range(c.k_sim):  # AppendToGrayCode
                gray = (gray << 1) + (int(sketch[t, i] > 0) ^ (gray & 1))
            blocks[gray] += x[t]
            count[gray] += 1
        for b in range(2**c.k_sim):
            if count[b] > 0:
                blocks[b] /= 1 if query else count[b]
            elif c.fill_empty and not query and c.k_sim > 0:
                best, best_distance = -1, 99
                for t in range(x.shape[0]):  # DistanceToSimHashPartition, strict < keeps first
                    pattern, distance = b ^ (b >> 1), 0
                    for i in range(c.k_sim - 1, -1, -1):
                        distance += int(sketch[t, i] > 0) != (pattern & 1)
                        pattern >>= 1
                    if distance < best_distance:
                        best, best_distance = t, distance
                blocks[b] = x[best]
        out.append((blocks if m._ams is None else blocks @ m._ams[r]).ravel())
    return np.concatenate(out)


def test_all_is_the_public_api() -> None:
    assert muvera_module.__all__ == ["Muvera"]


@pytest.mark.parametrize(
    ("config", "dim"),
    [
        # Both orders of projection and aggregation, and both ways of finding the nearest
        # token (per bucket when items are long next to 2**k_sim, per token otherwise).
        (MuveraConfig(k_sim=3, d_proj=8, r_reps=4), 16),
        (MuveraConfig(k_sim=4, d_proj=8, r_reps=3), 16),
        (MuveraConfig(k_sim=2, d_proj=16, r_reps=3), 16),  # identity (d_proj == dim)
        (MuveraConfig(k_sim=2, d_proj=40, r_reps=2), 64),
        (MuveraConfig(k_sim=4, d_proj=48, r_reps=2), 64),
        (MuveraConfig(k_sim=3, d_proj=8, r_reps=4, fill_empty=False), 16),
        (MuveraConfig(k_sim=0, d_proj=8, r_reps=2), 16),
    ],
)
def test_matches_a_literal_port_of_the_reference(config: MuveraConfig, dim: int) -> None:
    m = Muvera(config, dim)
    sets = random_sets([1, 2, 7, 19, 40], seed=1, dim=dim)
    docs, queries = m.encode_documents(sets), m.encode_queries(sets)
    for i, x in enumerate(sets):
        np.testing.assert_allclose(docs[i], literal_reference(m, x, query=False), atol=1e-5)
        np.testing.assert_allclose(queries[i], literal_reference(m, x, query=True), atol=1e-5)


def test_fde_inner_product_tracks_chamfer() -> None:
    docs, queries = topical_sets()
    truth = chamfer(queries, docs)
    generous = fde_rho(MuveraConfig(k_sim=6, d_proj=DIM, r_reps=20), docs, queries, truth)
    projected = fde_rho(MuveraConfig(k_sim=5, d_proj=32, r_reps=30), docs, queries, truth)
    centroid = fde_rho(MuveraConfig(k_sim=0, d_proj=DIM, r_reps=1), docs, queries, truth)
    assert generous >= 0.9
    assert projected >= 0.88
    # One bucket is plain centroid matching; the partitions are what track Chamfer here.
    assert centroid < generous - 0.1


def test_query_encoding_is_a_sum_of_singletons() -> None:
    m = Muvera(MuveraConfig(k_sim=4, d_proj=8, r_reps=5), 16)
    x = random_sets([12], seed=2)[0]
    whole = m.encode_queries([x])[0]
    singles = m.encode_queries([row[None, :] for row in x])
    np.testing.assert_allclose(whole, singles.sum(axis=0), atol=1e-5)


def test_duplicating_tokens_keeps_the_document_and_doubles_the_query() -> None:
    m = Muvera(MuveraConfig(k_sim=4, d_proj=8, r_reps=5), 16)
    x = random_sets([12], seed=3)[0]
    twice = np.concatenate([x, x])
    np.testing.assert_allclose(m.encode_documents([twice]), m.encode_documents([x]), atol=1e-6)
    np.testing.assert_allclose(m.encode_queries([twice]), 2 * m.encode_queries([x]), atol=1e-5)
    assert not np.allclose(m.encode_documents([x]), m.encode_queries([x]))


def test_empty_buckets_are_filled_for_documents_only() -> None:
    config = MuveraConfig(k_sim=3, d_proj=16, r_reps=4)  # identity: blocks are raw tokens
    token = random_sets([1], seed=4)[0]
    doc = Muvera(config, 16).encode_documents([token])[0].reshape(4, 8, 16)
    query = Muvera(config, 16).encode_queries([token])[0].reshape(4, 8, 16)
    unfilled = Muvera(MuveraConfig(k_sim=3, d_proj=16, r_reps=4, fill_empty=False), 16)
    bare = unfilled.encode_documents([token])[0].reshape(4, 8, 16)
    assert np.allclose(doc, token[0])  # every bucket of every repetition holds the one token
    for blocks in (query, bare):
        nonzero = np.abs(blocks).sum(axis=2) > 0
        assert (nonzero.sum(axis=1) == 1).all()  # its own bucket only, the rest zero
        np.testing.assert_allclose(blocks[nonzero], np.repeat(token, 4, axis=0), atol=1e-6)


def test_empty_sets_encode_to_zeros() -> None:
    m = Muvera(MuveraConfig(k_sim=2, d_proj=4, r_reps=3), 16)
    out = m.encode_documents(random_sets([3, 0, 5], seed=5))
    assert out.shape == (3, 48) and not out[1].any() and out[0].any() and out[2].any()
    assert m.encode_queries([]).shape == (0, 48)


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        (MuveraConfig(), 20 * 32 * 16),
        (MuveraConfig(k_sim=4, d_proj=16, r_reps=10), 2560),
        (MuveraConfig(k_sim=0, d_proj=16, r_reps=1), 16),
        (MuveraConfig(k_sim=3, d_proj=8, r_reps=2, final_dim=50), 50),
    ],
)
def test_fde_dim(config: MuveraConfig, expected: int) -> None:
    m = Muvera(config, 16)
    assert config.fde_dim == m.fde_dim == expected
    assert m.encode_documents(random_sets([4, 9], seed=6)).shape == (2, expected)
    assert m.encode_queries(random_sets([4], seed=6)).dtype == np.float32


def test_final_projection_is_a_count_sketch() -> None:
    """Each raw coordinate lands in exactly one output coordinate, with sign +-1."""
    sets = random_sets([5] * 20, seed=7)
    raw = Muvera(MuveraConfig(k_sim=1, d_proj=2, r_reps=2), 16).encode_documents(sets)  # 8 dims
    final = Muvera(MuveraConfig(k_sim=1, d_proj=2, r_reps=2, final_dim=3), 16)
    sketch = np.linalg.lstsq(raw, final.encode_documents(sets), rcond=None)[0]  # float[8, 3]
    assert np.allclose(np.abs(sketch).round(), np.abs(sketch), atol=1e-4)
    assert (np.abs(sketch).round().sum(axis=1) == 1).all()


def test_final_projection_still_tracks_chamfer() -> None:
    docs, queries = topical_sets(n_docs=100, n_queries=20)
    truth = chamfer(queries, docs)
    full = fde_rho(MuveraConfig(k_sim=4, d_proj=32, r_reps=20), docs, queries, truth)
    sketched = fde_rho(
        MuveraConfig(k_sim=4, d_proj=32, r_reps=20, final_dim=4096), docs, queries, truth
    )
    assert sketched >= full - 0.05


def test_same_seed_same_encoding_even_in_another_process() -> None:
    sets = random_sets([5, 17], seed=9)
    here = Muvera(MuveraConfig(seed=7, final_dim=999), 16).encode_documents(sets)
    again = Muvera(MuveraConfig(seed=7, final_dim=999), 16).encode_documents(sets)
    other = Muvera(MuveraConfig(seed=8, final_dim=999), 16).encode_documents(sets)
    assert np.array_equal(here, again)
    assert not np.allclose(here, other)
    code = (
        "import hashlib, numpy as np\n"
        "from sleuth.config import MuveraConfig\n"
        "from sleuth.indexes.muvera import Muvera\n"
        f"x = np.frombuffer(bytes.fromhex('{np.concatenate(sets).tobytes().hex()}'), "
        "np.float32).reshape(-1, 16)\n"
        "m = Muvera(MuveraConfig(seed=7, final_dim=999), 16)\n"
        "print(hashlib.sha256(m.encode_documents([x[:5], x[5:]]).tobytes()).hexdigest())\n"
    )
    child = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert child.stdout.strip() == hashlib.sha256(here.tobytes()).hexdigest()


def test_more_repetitions_extend_the_encoding() -> None:
    sets = random_sets([6, 11], seed=10)
    short = Muvera(MuveraConfig(k_sim=3, d_proj=4, r_reps=3), 16).encode_documents(sets)
    long = Muvera(MuveraConfig(k_sim=3, d_proj=4, r_reps=5), 16).encode_documents(sets)
    # Same repetitions, but projected in one wider matrix product: another BLAS kernel may sum
    # in another order, so equal to float32 noise (1.2e-7 seen), not bit for bit.
    np.testing.assert_allclose(long[:, : short.shape[1]], short, rtol=1e-5, atol=1e-6)


def test_blocking_does_not_change_the_result(monkeypatch: pytest.MonkeyPatch) -> None:
    m = Muvera(MuveraConfig(k_sim=4, d_proj=8, r_reps=3), 16)
    sets = random_sets([int(n) for n in np.random.default_rng(11).integers(0, 30, 50)], seed=12)
    whole = m.encode_documents(sets), m.encode_queries(sets)
    monkeypatch.setattr(muvera_module, "_BLOCK_ENTRIES", 200)  # a few items per block
    np.testing.assert_allclose(m.encode_documents(sets), whole[0], atol=1e-6)
    np.testing.assert_allclose(m.encode_queries(sets), whole[1], atol=1e-6)


def test_config_round_trips_through_a_dict() -> None:
    config = MuveraConfig(k_sim=4, d_proj=8, r_reps=10, fill_empty=False, final_dim=512, seed=3)
    data = config.to_dict()
    assert data == {
        "k_sim": 4,
        "d_proj": 8,
        "r_reps": 10,
        "fill_empty": False,
        "final_dim": 512,
        "seed": 3,
    }
    assert MuveraConfig.from_dict(data) == config
    numpy_values: dict[str, Any] = {"k_sim": np.int64(4), "fill_empty": np.bool_(True)}
    from_numpy = MuveraConfig(**numpy_values)  # e.g. read back from an array
    assert json.loads(json.dumps(from_numpy.to_dict()))["k_sim"] == 4
    with pytest.raises(InvalidInput, match=r"unknown muvera key.*allowed: k_sim"):
        MuveraConfig.from_dict({**data, "k": 4})


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"k_sim": -1}, r"k_sim must be an integer in \[0, 10\]"),
        ({"k_sim": 11}, r"k_sim must be an integer in \[0, 10\]"),
        ({"k_sim": 2.0}, "k_sim must be an integer"),
        ({"k_sim": True}, "k_sim must be an integer"),
        ({"d_proj": 0}, "d_proj must be an integer >= 1"),
        ({"r_reps": 0}, "r_reps must be an integer >= 1"),
        ({"fill_empty": "yes"}, "fill_empty must be true or false"),
        ({"seed": -5}, r"seed must be an integer in \[0, 2\*\*63\)"),
        ({"final_dim": 0}, r"final_dim must be None or an integer in \[1, 10240\]"),
        ({"final_dim": 10241}, r"final_dim must be None or an integer in \[1, 10240\]"),
        ({"final_dim": 512.0}, r"final_dim must be None or an integer in \[1, 10240\]"),
    ],
)
def test_config_validation(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        MuveraConfig(**kwargs)


def test_encoder_input_validation() -> None:
    with pytest.raises(InvalidInput, match=r"d_proj must be in \[1, 8\]"):
        Muvera(MuveraConfig(d_proj=16), 8)
    with pytest.raises(InvalidInput, match="positive integer"):
        Muvera(MuveraConfig(), 0)
    m = Muvera(MuveraConfig(k_sim=2, d_proj=4, r_reps=2), 16)
    with pytest.raises(InvalidInput, match=r"item 1 must be float\[n, 16\]"):
        m.encode_documents([np.ones((3, 16), np.float32), np.ones((3, 15), np.float32)])
    bad = np.ones((3, 16), np.float32)
    bad[1, 2] = np.nan
    with pytest.raises(InvalidInput, match="NaN"):
        m.encode_queries([bad])
    with pytest.raises(InvalidInput, match="offsets"):
        m.encode_flat(np.ones((4, 16), np.float32), np.array([0, 3, 2, 4]), query=False)
