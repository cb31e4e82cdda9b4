"""Dense index: exact search is brute force, the IVF recalls it, filters and deletes are exact."""

from __future__ import annotations

from pathlib import Path

import faiss
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.support import assert_same_ranking

from sleuth.config import DenseConfig
from sleuth.errors import CorruptIndex
from sleuth.indexes.base import write_npz
from sleuth.indexes.dense import DenseIndex, exact_top_k

DIM = 24
N_ANN = 3000
# Small thresholds so a few thousand vectors take the approximate (IVF) path; recall must hold
# with the default lists and probes.
ANN_CONFIG = DenseConfig(exact_threshold=200, filter_exact_below=100)


def unit_vectors(n: int, seed: int, dim: int = DIM) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def clustered_vectors(n: int, seed: int, clusters: int = 40) -> np.ndarray:
    """Unit vectors around ``clusters`` random centres (cosine to the centre ~0.7), as
    embeddings are: what an inverted file is made for (uniform random vectors in few
    dimensions have no structure an approximate index could use)."""
    rng = np.random.default_rng(seed)
    centres = unit_vectors(clusters, seed + 1000)
    x = centres[rng.integers(0, clusters, n)] + rng.standard_normal((n, DIM)) / np.sqrt(DIM)
    x = x.astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def docnos_of(n: int) -> np.ndarray:
    return np.arange(n, dtype=np.int64) * 3 + 5  # gaps, not starting at 0: rows != docnos


def brute_force(
    queries: np.ndarray, vectors: np.ndarray, docnos: np.ndarray, allowed: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """Top-k (docnos, scores) per query over the allowed vectors, with numpy only."""
    scores = queries @ vectors[allowed].T
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return docnos[allowed][order], np.take_along_axis(scores, order, 1)


def recall(got: np.ndarray, truth: np.ndarray) -> float:
    pairs = zip(got, truth, strict=True)
    hits = [len(set(g[g >= 0].tolist()) & set(t.tolist())) for g, t in pairs]
    return float(np.sum(hits)) / truth.size


def docno_mask(docnos: np.ndarray, allowed_docnos: np.ndarray) -> np.ndarray:
    mask = np.zeros(int(docnos.max()) + 1, bool)
    mask[allowed_docnos] = True
    return mask


# -- exact ------------------------------------------------------------------------------------


@pytest.mark.parametrize("k", [1, 10, 399, 400, 450])
def test_exact_equals_brute_force(k: int) -> None:
    vectors, queries = unit_vectors(400, 0), unit_vectors(25, 1)
    docnos = docnos_of(400)
    index = DenseIndex(DenseConfig(), DIM)
    index.add(docnos[:150], vectors[:150])
    index.add(docnos[150:], vectors[150:])
    assert index.ann is None
    out = index.search_batch(queries, k)
    want_d, want_s = brute_force(queries, vectors, docnos, np.ones(400, bool), k)
    m = min(k, 400)
    assert_same_ranking(want_d, want_s, out.docnos[:, :m], out.scores[:, :m])
    assert out.docnos.shape == (25, k)
    assert (out.docnos[:, m:] == -1).all() and np.isneginf(out.scores[:, m:]).all()


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(1, 120),
    k=st.sampled_from([1, 5, 50]),
    seed=st.integers(0, 10_000),
    p_dead=st.sampled_from([0.0, 0.3, 0.9]),
    p_allowed=st.sampled_from([None, 0.02, 0.5, 1.0]),
)
def test_exact_with_deletes_and_filters_is_brute_force(
    n: int, k: int, seed: int, p_dead: float, p_allowed: float | None
) -> None:
    rng = np.random.default_rng(seed)
    vectors, queries, docnos = unit_vectors(n, seed), unit_vectors(3, seed + 1), docnos_of(n)
    index = DenseIndex(DenseConfig(), DIM)
    index.add(docnos, vectors)
    dead = rng.random(n) < p_dead
    index.remove(docnos[dead])
    mask = None if p_allowed is None else docno_mask(docnos, docnos[rng.random(n) < p_allowed])
    allowed = ~dead if mask is None else ~dead & mask[docnos]
    out = index.search_batch(queries, k, mask)
    want_d, want_s = brute_force(queries, vectors, docnos, allowed, k)
    m = want_d.shape[1]
    assert_same_ranking(want_d, want_s, out.docnos[:, :m], out.scores[:, :m])
    assert (out.docnos[:, m:] == -1).all()


def test_exact_top_k() -> None:
    scores = np.array([[0.1, 0.9, 0.5, 0.9], [3.0, 2.0, 1.0, 0.0]], np.float32)
    idx, vals = exact_top_k(scores, 3)
    assert idx.tolist() == [[1, 3, 2], [0, 1, 2]]
    np.testing.assert_allclose(vals, [[0.9, 0.9, 0.5], [3.0, 2.0, 1.0]], rtol=1e-6)
    idx, vals = exact_top_k(scores, 10)  # k beyond n: all columns, sorted
    assert idx.shape == (2, 4) and idx[1].tolist() == [0, 1, 2, 3]
    assert exact_top_k(np.zeros((2, 0), np.float32), 5)[0].shape == (2, 0)


@given(
    st.lists(st.integers(0, 3), min_size=1, max_size=40).map(lambda v: np.array([v], np.float32)),
    st.integers(1, 45),
)
def test_exact_top_k_breaks_ties_by_column(scores: np.ndarray, k: int) -> None:
    """Many equal scores (as hashing vectors give): the answer is the full sort's, so it
    does not depend on how argpartition split the ties."""
    idx, vals = exact_top_k(scores, k)
    expected = np.lexsort((np.arange(scores.shape[1]), -scores[0]))[:k]
    assert idx[0].tolist() == expected.tolist()
    assert vals[0].tolist() == scores[0, expected].tolist()


def test_empty_index_and_empty_filter() -> None:
    index = DenseIndex(DenseConfig(), DIM)
    out = index.search_batch(unit_vectors(2, 0), 4)
    assert (out.docnos == -1).all()
    index.add(docnos_of(10), unit_vectors(10, 1))
    out = index.search_batch(unit_vectors(2, 0), 4, np.zeros(100, bool))
    assert (out.docnos == -1).all()


def test_vector_of_and_wrong_shape() -> None:
    index = DenseIndex(DenseConfig(), DIM)
    vectors = unit_vectors(5, 0)
    index.add(docnos_of(5), vectors)
    np.testing.assert_array_equal(index.vector_of(docnos_of(5)[2]), vectors[2])
    index.remove([docnos_of(5)[2]])
    assert index.vector_of(docnos_of(5)[2]) is None
    with pytest.raises(ValueError, match="shape"):
        index.add(np.array([99]), np.zeros((1, DIM + 1), np.float32))


def test_compact_in_exact_mode_keeps_results() -> None:
    vectors, queries, docnos = unit_vectors(300, 2), unit_vectors(10, 3), docnos_of(300)
    index = DenseIndex(DenseConfig(), DIM)
    index.add(docnos, vectors)
    index.remove(docnos[::10])  # a tenth: tombstones
    assert index.n_rows == 300 and len(index) == 270
    before = index.search_batch(queries, 20)
    index.compact()
    assert index.n_rows == len(index) == 270
    after = index.search_batch(queries, 20)
    # fewer rows: another BLAS shape, so equal up to float noise
    assert_same_ranking(before.docnos, before.scores, after.docnos, after.scores, rtol=1e-6)


def test_exact_mode_compacts_once_a_fifth_is_dead() -> None:
    """Upserts add a row and tombstone one: dead rows must not pile up below the IVF size."""
    vectors, queries, docnos = unit_vectors(100, 4), unit_vectors(5, 5), docnos_of(100)
    index = DenseIndex(DenseConfig(), DIM)
    index.add(docnos, vectors)
    for round_ in range(1, 6):  # every item replaced by a new version, five times
        index.remove(docnos)
        docnos = docnos + 1000
        index.add(docnos, vectors)
        assert index.n_rows == len(index) == 100, round_
    assert index.ann is None and len(index) == 100
    want, want_s = brute_force(queries, vectors, docnos, np.ones(100, bool), 10)
    out = index.search_batch(queries, 10)
    assert_same_ranking(want, want_s, out.docnos, out.scores)


# -- approximate (IVF) ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def ann_data() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    vectors = clustered_vectors(N_ANN, 10)
    noise = np.random.default_rng(11).standard_normal((100, DIM)).astype(np.float32) / DIM
    queries = vectors[:: N_ANN // 100][:100] + noise  # near items, as queries usually are
    return vectors, queries / np.linalg.norm(queries, axis=1, keepdims=True), docnos_of(N_ANN)


@pytest.fixture(scope="module")
def ann_file(
    ann_data: tuple[np.ndarray, np.ndarray, np.ndarray], tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """An IVF index saved once; tests load their own copy (they may modify it)."""
    vectors, _, docnos = ann_data
    index = DenseIndex(ANN_CONFIG, DIM)
    index.add(docnos[:100], vectors[:100])  # below the threshold: exact
    assert index.ann is None
    index.add(docnos[100:], vectors[100:])  # crosses it: the graph is built
    assert index.ann is not None and index.ann.ntotal == N_ANN
    index.seq = 77
    path = tmp_path_factory.mktemp("dense") / "dense.npz"
    index.save(path)
    return path


@pytest.fixture
def ann(ann_file: Path) -> DenseIndex:
    index = DenseIndex.load(ann_file, ANN_CONFIG, DIM)
    assert index is not None
    return index


@pytest.fixture(scope="module")
def shared_ann(ann_file: Path) -> DenseIndex:
    """One copy for read-only property tests, with 10% of rows deleted (tombstones)."""
    index = DenseIndex.load(ann_file, ANN_CONFIG, DIM)
    assert index is not None
    index.remove(docnos_of(N_ANN)[::10])
    assert index.ann is not None and index.n_rows == N_ANN  # not compacted
    return index


def test_ann_recall(ann: DenseIndex, ann_data: tuple[np.ndarray, ...]) -> None:
    vectors, queries, docnos = ann_data
    out = ann.search_batch(queries, 10)
    truth, _ = brute_force(queries, vectors, docnos, np.ones(N_ANN, bool), 10)
    assert recall(out.docnos, truth) >= 0.95
    # every score is the true inner product of the docno it names
    rows = (out.docnos - 5) // 3
    np.testing.assert_allclose(
        out.scores, np.einsum("qd,qkd->qk", queries, vectors[rows]), atol=1e-5
    )


def test_ann_deletes_never_returned(ann: DenseIndex, ann_data: tuple[np.ndarray, ...]) -> None:
    vectors, queries, docnos = ann_data
    rng = np.random.default_rng(5)
    dead = rng.random(N_ANN) < 0.15  # under the compaction threshold: tombstones
    # delete exactly the true nearest neighbours of the first queries, the hardest case
    nearest, _ = brute_force(queries[:20], vectors, docnos, np.ones(N_ANN, bool), 3)
    dead[(nearest.ravel() - 5) // 3] = True
    ann.remove(docnos[dead])
    assert ann.n_rows == N_ANN and ann.ann is not None
    out = ann.search_batch(queries, 10)
    assert not np.isin(out.docnos, docnos[dead]).any()
    assert (out.docnos >= 0).all()
    truth, _ = brute_force(queries, vectors, docnos, ~dead, 10)
    assert recall(out.docnos, truth) >= 0.95
    assert ann.ann.ntotal == len(ann)  # dead rows left the lists: no selector skips them
    # rows added after removals are numbered after every row, dead ones included
    new = unit_vectors(3, 98)
    ann.add(np.array([10**6, 10**6 + 1, 10**6 + 2]), new)
    assert ann.search_batch(new, 1).docnos[:, 0].tolist() == [10**6, 10**6 + 1, 10**6 + 2]
    np.testing.assert_array_equal(ann.vector_of(10**6 + 1), new[1])


def test_rows_deleted_before_the_ivf_is_built_stay_out_of_it(
    ann_data: tuple[np.ndarray, ...],
) -> None:
    vectors, _, docnos = ann_data
    index = DenseIndex(ANN_CONFIG, DIM)
    index.add(docnos[:150], vectors[:150])
    index.remove(docnos[:20])  # tombstones in exact mode (under a fifth)
    index.add(docnos[150:], vectors[150:])  # crosses the threshold
    assert index.ann is not None and index.ann.ntotal == len(index) == N_ANN - 20
    out = index.search_batch(vectors[:20], 5)
    assert not np.isin(out.docnos, docnos[:20]).any()


@settings(max_examples=60, deadline=None)
@given(
    n_allowed=st.one_of(st.integers(0, 12), st.integers(13, 150), st.integers(151, N_ANN)),
    k=st.sampled_from([1, 10, 40]),
    seed=st.integers(0, 10_000),
)
def test_filtered_search_returns_k_whenever_k_allowed(
    shared_ann: DenseIndex,
    ann_data: tuple[np.ndarray, ...],
    n_allowed: int,
    k: int,
    seed: int,
) -> None:
    vectors, queries, docnos = ann_data
    rng = np.random.default_rng(seed)
    chosen = rng.choice(N_ANN, size=n_allowed, replace=False)
    mask = docno_mask(docnos, docnos[chosen])
    # True at positions that are no item's docno must not conjure results
    phantom = np.flatnonzero((np.arange(mask.shape[0]) - 5) % 3 != 0)
    mask[rng.choice(phantom, 50)] = True
    live = shared_ann.row_live.view.copy()  # rows are docno order here
    allowed = mask[docnos] & live
    qs = queries[rng.choice(len(queries), 4)]
    out = shared_ann.search_batch(qs, k, mask)
    expected_n = min(k, int(allowed.sum()))
    for qi in range(qs.shape[0]):
        got = out.docnos[qi][out.docnos[qi] >= 0]
        assert got.size == expected_n
        assert len(set(got.tolist())) == got.size
        assert allowed[(got - 5) // 3].all(), "a filtered-out or deleted item leaked"
        s = out.scores[qi][: got.size]
        assert (np.diff(s) <= 1e-6).all()
        np.testing.assert_allclose(s, vectors[(got - 5) // 3] @ qs[qi], atol=1e-5)
    if int(allowed.sum()) < ANN_CONFIG.filter_exact_below:  # selective: answered exactly
        want, want_s = brute_force(qs, vectors, docnos, allowed, k)
        m = want.shape[1]
        assert_same_ranking(want, want_s, out.docnos[:, :m], out.scores[:, :m])


def test_compaction_keeps_results(ann: DenseIndex, ann_data: tuple[np.ndarray, ...]) -> None:
    vectors, queries, docnos = ann_data
    dead = np.random.default_rng(6).random(N_ANN) < 0.35  # over a fifth: compacts
    ann.remove(docnos[dead])
    assert ann.n_rows == len(ann) == int((~dead).sum())
    assert ann.ann is not None and ann.ann.ntotal == ann.n_rows
    out = ann.search_batch(queries, 10)
    truth, _ = brute_force(queries, vectors, docnos, ~dead, 10)
    assert not np.isin(out.docnos, docnos[dead]).any()
    assert recall(out.docnos, truth) >= 0.95
    survivor = int(docnos[~dead][7])
    np.testing.assert_array_equal(ann.vector_of(survivor), vectors[(survivor - 5) // 3])
    # adds after compaction land in the graph and are found
    new = unit_vectors(3, 99)
    ann.add(np.array([10**6, 10**6 + 1, 10**6 + 2]), new)
    assert ann.ann.ntotal == ann.n_rows
    assert ann.search_batch(new, 1).docnos[:, 0].tolist() == [10**6, 10**6 + 1, 10**6 + 2]


def test_compaction_below_threshold_falls_back_to_exact(
    ann_file: Path, ann_data: tuple[np.ndarray, ...], tmp_path: Path
) -> None:
    vectors, queries, docnos = ann_data
    path = tmp_path / "dense.npz"
    index = DenseIndex.load(ann_file, ANN_CONFIG, DIM)
    assert index is not None
    index.save(path)
    assert len(list(tmp_path.glob("dense.*.*"))) == 2  # the vector file and the IVF's codes
    index.remove(docnos[: N_ANN - 150])
    assert index.ann is None and len(index) == 150
    index.save(path)
    index.save(path)  # the file the first of these replaced named them: now they go
    assert [p.name for p in tmp_path.iterdir()] == ["dense.npz"]
    loaded = DenseIndex.load(path, ANN_CONFIG, DIM)
    assert loaded is not None and loaded.ann is None
    want, want_s = brute_force(queries, vectors[-150:], docnos[-150:], np.ones(150, bool), 10)
    got = loaded.search_batch(queries, 10)
    assert_same_ranking(want, want_s, got.docnos, got.scores)


# -- persistence ------------------------------------------------------------------------------


def test_save_load_round_trip_ann(
    ann_file: Path, ann: DenseIndex, tmp_path: Path, ann_data: tuple[np.ndarray, ...]
) -> None:
    _, queries, docnos = ann_data
    assert ann.seq == 77 and ann.ann is not None and len(ann) == N_ANN
    ann.remove(docnos[:50])
    path = tmp_path / "dense.npz"
    ann.save(path)
    loaded = DenseIndex.load(path, ANN_CONFIG, DIM)
    assert loaded is not None and loaded.ann is not None and len(loaded) == N_ANN - 50
    assert loaded.ann.ntotal == N_ANN - 50  # the dead rows' codes are in the file, not the lists
    a, b = ann.search_batch(queries, 10), loaded.search_batch(queries, 10)
    np.testing.assert_array_equal(a.docnos, b.docnos)
    np.testing.assert_array_equal(a.scores, b.scores)
    assert DenseIndex.load(path, DenseConfig(), DIM) is None  # another configuration
    assert DenseIndex.load(path, ANN_CONFIG, DIM + 1) is None  # another dimension


def test_save_load_round_trip_exact(tmp_path: Path) -> None:
    vectors, queries, docnos = unit_vectors(50, 0), unit_vectors(5, 1), docnos_of(50)
    index = DenseIndex(DenseConfig(), DIM)
    index.add(docnos, vectors)
    index.remove(docnos[:5])
    path = tmp_path / "dense.npz"
    index.save(path)
    loaded = DenseIndex.load(path, DenseConfig(), DIM)
    assert loaded is not None and loaded.ann is None
    a, b = index.search_batch(queries, 60), loaded.search_batch(queries, 60)
    np.testing.assert_array_equal(a.docnos, b.docnos)
    np.testing.assert_array_equal(a.scores, b.scores)


@pytest.mark.parametrize("fraction", [0.0, 0.3, 0.95])
def test_truncated_file_is_corrupt(ann_file: Path, tmp_path: Path, fraction: float) -> None:
    data = ann_file.read_bytes()
    path = tmp_path / "dense.npz"
    path.write_bytes(data[: int(len(data) * fraction)])
    with pytest.raises(CorruptIndex):
        DenseIndex.load(path, ANN_CONFIG, DIM)


def test_inconsistent_files_are_corrupt(tmp_path: Path) -> None:
    index = DenseIndex(DenseConfig(), DIM)
    index.add(docnos_of(10), unit_vectors(10, 0))
    path = tmp_path / "dense.npz"
    index.save(path)
    with np.load(path) as data:
        arrays = {name: data[name] for name in data.files}
    for broken in (
        {**arrays, "vectors": arrays["vectors"][:-1]},
        {**arrays, "row_live": arrays["row_live"][:-2]},
        {k: v for k, v in arrays.items() if k != "row_docno"},
    ):
        np.savez(path, **broken)
        with pytest.raises(CorruptIndex):
            DenseIndex.load(path, DenseConfig(), DIM)
    path.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(CorruptIndex, match="unreadable"):
        DenseIndex.load(path, DenseConfig(), DIM)


def test_an_hnsw_file_of_the_previous_version_is_reindexed_and_saved_again(
    tmp_path: Path, ann_data: tuple[np.ndarray, ...]
) -> None:
    """Float32 files above the threshold used to hold a faiss HNSW graph (the vectors in its
    storage): they load, their vectors move to the IVF layout, and the next save writes it."""
    vectors, queries, docnos = ann_data
    graph = faiss.IndexHNSWFlat(DIM, 16, faiss.METRIC_INNER_PRODUCT)
    graph.add(vectors)
    path = tmp_path / "dense.npz"
    manifest = {"format": 1, "kind": "dense", "sleuth": "0", "seq": 5}
    manifest |= DenseIndex(ANN_CONFIG, DIM).params()
    live = np.ones(N_ANN, bool)
    live[:10] = False
    arrays = {"hnsw": faiss.serialize_index(graph), "row_docno": docnos, "row_live": live}
    write_npz(path, manifest, arrays)
    loaded = DenseIndex.load(path, ANN_CONFIG, DIM)
    assert loaded is not None and loaded.outdated and loaded.info()["kind"] == "ivf"
    assert len(loaded) == N_ANN - 10 and loaded.seq == 5
    np.testing.assert_array_equal(loaded.vector_of(int(docnos[42])), vectors[42])
    truth, _ = brute_force(queries, vectors, docnos, live, 10)
    assert recall(loaded.search_batch(queries, 10).docnos, truth) >= 0.95
    loaded.save(path)
    with np.load(path) as data:
        assert "ivf" in data.files and "hnsw" not in data.files
    again = DenseIndex.load(path, ANN_CONFIG, DIM)
    assert again is not None and not again.outdated and len(again) == N_ANN - 10
