"""Dense index by l2 (named spaces' ``metric="l2"``) above the exact threshold: the IVF is by
faiss ``METRIC_L2``, recalls numpy brute force on clustered vectors of varied lengths, scores
are the negative squared distances, filters and deletes hold, and the metric is in the file
(one without it is an inner-product index's)."""

from __future__ import annotations

import json
from pathlib import Path

import faiss
import numpy as np
import pytest
from tests.support import assert_same_ranking

from sleuth.config import DenseConfig
from sleuth.indexes.base import write_npz
from sleuth.indexes.dense import DenseIndex

DIM = 24
N = 3000
CONFIG = DenseConfig(exact_threshold=200, filter_exact_below=100)


def clustered(n: int, seed: int, clusters: int = 40) -> np.ndarray:
    """Vectors around ``clusters`` centres of lengths 1 to 5, not normalized: by Euclidean
    distance both a vector's direction and its length matter."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((clusters, DIM)) * rng.uniform(1, 5, (clusters, 1))
    centres /= np.sqrt(DIM)
    x = centres[rng.integers(0, clusters, n)] + 0.3 * rng.standard_normal((n, DIM)) / np.sqrt(DIM)
    return x.astype(np.float32)


def brute_l2(
    queries: np.ndarray, vectors: np.ndarray, docnos: np.ndarray, allowed: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """Top-k (docnos, -squared distances) over the allowed vectors, numpy only."""
    d = ((queries[:, None, :] - vectors[allowed][None, :, :]) ** 2).sum(-1)
    order = np.argsort(d, axis=1, kind="stable")[:, :k]
    return docnos[allowed][order], -np.take_along_axis(d, order, 1)


def recall(got: np.ndarray, truth: np.ndarray) -> float:
    hits = [len(set(g[g >= 0].tolist()) & set(t.tolist())) for g, t in zip(got, truth)]
    return float(np.sum(hits)) / truth.size


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    vectors = clustered(N, 3)
    noise = 0.05 * np.random.default_rng(4).standard_normal((100, DIM)).astype(np.float32)
    queries = vectors[:: N // 100][:100] + noise  # near items, as queries usually are
    return vectors, queries, np.arange(N, dtype=np.int64) * 2 + 7


@pytest.fixture
def index(data: tuple[np.ndarray, ...]) -> DenseIndex:
    vectors, _, docnos = data
    ix = DenseIndex(CONFIG, DIM, metric="l2")
    ix.add(docnos[:100], vectors[:100])  # below the threshold: exact
    assert ix.ann is None
    ix.add(docnos[100:], vectors[100:])  # crosses it: the IVF is trained
    assert ix.info()["kind"] == "ivf" and ix.ann.metric_type == faiss.METRIC_L2
    return ix


def test_ivf_recalls_brute_force_with_true_scores(
    index: DenseIndex, data: tuple[np.ndarray, ...]
) -> None:
    vectors, queries, docnos = data
    out = index.search_batch(queries, 10)
    truth, _ = brute_l2(queries, vectors, docnos, np.ones(N, bool), 10)
    assert recall(out.docnos, truth) >= 0.95
    rows = (out.docnos - 7) // 2
    want = -((queries[:, None, :] - vectors[rows]) ** 2).sum(-1)
    np.testing.assert_allclose(out.scores, want, rtol=1e-4, atol=1e-4)
    assert (np.diff(out.scores, axis=1) <= 0).all()


def test_filters_and_deletes(index: DenseIndex, data: tuple[np.ndarray, ...]) -> None:
    vectors, queries, docnos = data
    rng = np.random.default_rng(8)
    dead = rng.random(N) < 0.1  # tombstones (under the compaction threshold)
    index.remove(docnos[dead])
    assert index.n_rows == N
    mask = np.zeros(int(docnos.max()) + 1, bool)
    for share in (0.5, 0.02):  # a broad filter (the IVF's selector), a selective one (exact)
        chosen = rng.random(N) < share
        mask[:] = False
        mask[docnos[chosen]] = True
        allowed = chosen & ~dead
        out = index.search_batch(queries, 10, mask)
        got = out.docnos[out.docnos >= 0]
        assert allowed[(got - 7) // 2].all(), "a filtered-out or deleted item leaked"
        truth, truth_s = brute_l2(queries, vectors, docnos, allowed, 10)
        if int(allowed.sum()) < CONFIG.filter_exact_below:
            assert_same_ranking(truth, truth_s, out.docnos, out.scores)
        else:
            assert recall(out.docnos, truth) >= 0.95


def test_compaction_and_round_trip(
    index: DenseIndex, data: tuple[np.ndarray, ...], tmp_path: Path
) -> None:
    vectors, queries, docnos = data
    dead = np.random.default_rng(9).random(N) < 0.35  # over a fifth: compacts
    index.remove(docnos[dead])
    assert index.n_rows == int((~dead).sum()) and index.info()["kind"] == "ivf"
    truth, _ = brute_l2(queries, vectors, docnos, ~dead, 10)
    before = index.search_batch(queries, 10)
    assert recall(before.docnos, truth) >= 0.95
    path = tmp_path / "dense-img.npz"
    index.save(path)
    loaded = DenseIndex.load(path, CONFIG, DIM, metric="l2")
    assert loaded is not None and loaded.info()["kind"] == "ivf"
    after = loaded.search_batch(queries, 10)
    np.testing.assert_array_equal(before.docnos, after.docnos)
    np.testing.assert_array_equal(before.scores, after.scores)
    assert DenseIndex.load(path, CONFIG, DIM) is None  # not an inner-product index's file


def test_a_file_without_metric_is_an_inner_product_index(tmp_path: Path) -> None:
    """Files written before named spaces have no "metric": they load as inner product."""
    vectors = clustered(300, 5)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    ip = DenseIndex(CONFIG, DIM)
    ip.add(np.arange(300), vectors)
    path = tmp_path / "dense.npz"
    ip.save(path)
    with np.load(path) as npz:
        arrays = {key: npz[key] for key in npz.files if key != "__manifest__"}
        manifest = json.loads(npz["__manifest__"].tobytes())
    assert "metric" in manifest and manifest.pop("metric") is None
    write_npz(path, manifest, arrays)
    assert DenseIndex.load(path, CONFIG, DIM, metric="l2") is None
    loaded = DenseIndex.load(path, CONFIG, DIM)
    assert loaded is not None and loaded.info()["kind"] == "ivf"
    a, b = ip.search_batch(vectors[:20], 10), loaded.search_batch(vectors[:20], 10)
    np.testing.assert_array_equal(a.docnos, b.docnos)
