"""Compressed dense storage: the codes' round trip, Hamming ranking, rescoring from the
memory-mapped full-precision file, filters, files, and one copy of each float32 vector."""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import sleuth
from sleuth.config import DEFAULT_RESCORE, DENSE_STORAGES, CollectionConfig, DenseConfig
from sleuth.errors import CorruptIndex
from sleuth.indexes.compressed import Codes, pack_signs
from sleuth.indexes.dense import DenseIndex
from support import assert_same_ranking

DIM = 24
COMPRESSED = ("float16", "int8", "binary")


def unit_vectors(n: int, seed: int, dim: int = DIM) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def docnos_of(n: int) -> np.ndarray:
    return np.arange(n, dtype=np.int64) * 3 + 5


def config(storage: str, *, graph: bool = False, rescore: int | None = None) -> DenseConfig:
    return DenseConfig(
        storage=storage,
        rescore=rescore,
        exact_threshold=100 if graph else 100_000,
        filter_exact_below=50,
        hnsw_m=16,
        ef_construction=64,
        ef_search=64,
    )


def built(cfg: DenseConfig, vectors: np.ndarray) -> DenseIndex:
    index = DenseIndex(cfg, vectors.shape[1])
    half = vectors.shape[0] // 2
    index.add(docnos_of(half), vectors[:half])
    index.add(docnos_of(vectors.shape[0])[half:], vectors[half:])
    return index


# -- the codes ----------------------------------------------------------------------------------


def test_float16_round_trip_is_within_half_precision() -> None:
    x = unit_vectors(500, 0)
    codes = Codes.make("float16", DIM, None)
    back = codes.decode(codes.encode(x))
    assert codes.encode(x).shape == (500, 2 * DIM)
    assert (np.abs(back - x) <= np.maximum(np.abs(x) * 2.0**-11, 2.0**-24)).all()
    assert np.abs(back - x).max() > 0  # it is a compression, not the identity


def test_int8_round_trip_is_within_half_a_step_of_each_dimension() -> None:
    rng = np.random.default_rng(1)
    x = unit_vectors(800, 1) * rng.uniform(0.2, 3.0, DIM).astype(np.float32)  # unequal spreads
    codes = Codes.make("int8", DIM, None)
    codes.train(x)
    packed = codes.encode(x)
    assert packed.shape == (800, DIM) and packed.dtype == np.uint8
    step = (x.max(0) - x.min(0)) / 255  # per dimension: narrow dimensions get fine steps
    error = np.abs(codes.decode(packed) - x)
    assert (error <= step / 2 + 1e-6).all()
    assert error[:, np.argmin(step)].max() < step.max() / 4
    # outside the learned range a value is clipped to its edge (plus half a step)
    far = x[:3] * 10
    clipped = np.clip(far, x.min(0), x.max(0))
    assert (np.abs(codes.decode(codes.encode(far)) - clipped) <= step / 2 + 1e-6).all()


def test_binary_codes_are_packed_sign_bits() -> None:
    x = unit_vectors(50, 2, dim=21)  # not a multiple of 8: the last byte is zero-padded
    codes = Codes.make("binary", 21, None)
    packed = codes.encode(x)
    assert packed.shape == (50, 3) and packed.dtype == np.uint8
    np.testing.assert_array_equal(packed, np.packbits(x > 0, axis=1))
    np.testing.assert_array_equal(codes.decode(packed), np.where(x > 0, 1.0, -1.0))
    assert (np.unpackbits(packed, axis=1)[:, 21:] == 0).all()


def hamming(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """int64[len(a), len(b)] over packed bits, by unpacking them."""
    bits_a, bits_b = np.unpackbits(a, axis=1), np.unpackbits(b, axis=1)
    return (bits_a[:, None, :] != bits_b[None, :, :]).sum(-1)


@pytest.mark.parametrize("k", [1, 10, 300])
def test_binary_ranking_is_brute_force_hamming(k: int) -> None:
    dim = 40
    docs, queries = unit_vectors(300, 3, dim), unit_vectors(20, 4, dim)
    codes = Codes.make("binary", dim, None)
    codes.add(docs)
    rows, scores = codes.search(queries, k, None)
    h = hamming(pack_signs(queries), pack_signs(docs))
    order = np.argsort(h, axis=1, kind="stable")[:, :k]
    want = 1 - 2 * np.take_along_axis(h, order, 1) / dim
    assert_same_ranking(order, want, rows, scores)
    # equal distances come back in row order
    for r, s in zip(rows, scores, strict=True):
        assert all(r[i] < r[i + 1] for i in range(k - 1) if s[i] == s[i + 1])


# -- rescoring ----------------------------------------------------------------------------------


@pytest.mark.parametrize("storage", COMPRESSED)
@pytest.mark.parametrize("graph", [False, True])
def test_rescoring_is_the_exact_order_of_the_first_pass_candidates(
    tmp_path: Path, storage: str, graph: bool
) -> None:
    vectors, queries = unit_vectors(600, 5), unit_vectors(30, 6)
    depth, k = 40, 10
    # one index (a graph built twice may differ: faiss inserts in parallel), loaded twice:
    # rescore is a search-time setting
    path = tmp_path / "dense.npz"
    built(config(storage, graph=graph), vectors).save(path)
    plain = DenseIndex.load(path, config(storage, graph=graph, rescore=0), DIM)
    rescored = DenseIndex.load(path, config(storage, graph=graph, rescore=depth), DIM)
    assert plain is not None and rescored is not None
    first = plain.search_batch(queries, depth)  # the candidates, scored by their codes
    got = rescored.search_batch(queries, k)
    for q in range(queries.shape[0]):
        rows = (first.docnos[q] - 5) // 3
        exact = vectors[rows] @ queries[q]
        order = np.argsort(-exact, kind="stable")[:k]
        assert_same_ranking(first.docnos[q][order], exact[order], got.docnos[q], got.scores[q])
    # the scores are the full-precision inner products
    rows = (got.docnos - 5) // 3
    np.testing.assert_allclose(
        got.scores, np.einsum("qd,qkd->qk", queries, vectors[rows]), atol=1e-6
    )
    if storage == "binary":  # the codes alone score coarsely: rescoring changes the answer
        assert not np.array_equal(first.docnos[:, :k], got.docnos)
        distances = (1 - plain.search_batch(queries, k).scores) * DIM / 2  # 1 - 2 h / dim
        np.testing.assert_allclose(distances, np.round(distances), atol=1e-4)


def test_rescore_defaults_per_storage_and_float32_never_rescores() -> None:
    assert {s: DenseConfig(storage=s).rescore_depth for s in DENSE_STORAGES} == DEFAULT_RESCORE
    assert DEFAULT_RESCORE["float32"] == 0 and DEFAULT_RESCORE["binary"] >= 100
    assert DenseConfig(storage="float32", rescore=50).rescore_depth == 0
    assert DenseConfig(storage="int8", rescore=7).rescore_depth == 7
    with pytest.raises(sleuth.InvalidInput, match=r"dense\.storage"):
        DenseConfig(storage="int4")
    with pytest.raises(sleuth.InvalidInput, match=r"dense\.rescore"):
        DenseConfig(storage="binary", rescore=-1)


# -- filters and tombstones ---------------------------------------------------------------------


N_FILTER = 1200


@pytest.fixture(scope="module", params=[(s, g) for s in DENSE_STORAGES for g in (False, True)])
def filtered_index(request: pytest.FixtureRequest) -> DenseIndex:
    storage, graph = request.param
    index = built(config(storage, graph=graph), unit_vectors(N_FILTER, 7))
    index.remove(docnos_of(N_FILTER)[::9])  # tombstones, below the compaction point
    assert (index.ann is not None) == graph and index.n_rows == N_FILTER
    return index


# around k, the exact-scan bound (filter_exact_below = 50) and everything
@settings(max_examples=25, deadline=None)
@given(st.sampled_from([0, 1, 9, 10, 39, 41, 49, 51, 120, 600, N_FILTER]), st.integers(0, 10**4))
@pytest.mark.parametrize("k", [1, 10, 40])
def test_filters_return_k_whenever_k_allowed_with_every_storage(
    filtered_index: DenseIndex, k: int, n_allowed: int, seed: int
) -> None:
    index = filtered_index
    rng = np.random.default_rng(seed)
    docnos = docnos_of(N_FILTER)
    mask = np.zeros(int(docnos[-1]) + 1, bool)
    mask[docnos[rng.choice(N_FILTER, n_allowed, replace=False)]] = True
    allowed = mask[docnos] & index.row_live.view
    queries = unit_vectors(3, seed)
    out = index.search_batch(queries, k, mask)
    for q in range(3):
        got = out.docnos[q][out.docnos[q] >= 0]
        assert got.size == min(k, int(allowed.sum()))
        assert len(set(got.tolist())) == got.size and allowed[(got - 5) // 3].all()
        assert (np.diff(out.scores[q][: got.size]) <= 1e-6).all()


# -- files --------------------------------------------------------------------------------------


def files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


@pytest.mark.parametrize("storage", COMPRESSED)
@pytest.mark.parametrize("graph", [False, True])
def test_save_load_maps_the_full_vectors_file(tmp_path: Path, storage: str, graph: bool) -> None:
    vectors, queries = unit_vectors(400, 8), unit_vectors(10, 9)
    index = built(config(storage, graph=graph), vectors)
    index.remove(docnos_of(400)[:7])
    path = tmp_path / "dense.npz"
    index.save(path)
    (name,) = [f for f in files(tmp_path) if f.endswith(".f32")]
    assert (tmp_path / name).stat().st_size == 400 * DIM * 4  # float32 rows, tombstones kept
    loaded = DenseIndex.load(path, index.config, DIM)
    assert loaded is not None and loaded.full is not None and loaded.full.ram_bytes == 0
    before, after = index.search_batch(queries, 10), loaded.search_batch(queries, 10)
    np.testing.assert_array_equal(before.docnos, after.docnos)
    np.testing.assert_array_equal(before.scores, after.scores)
    np.testing.assert_array_equal(loaded.vector_of(docnos_of(400)[9]), vectors[9])
    assert loaded.info() == index.info() and loaded.info()["storage"] == storage
    # writes after the load land in RAM until the next save appends them to the file
    loaded.add(np.array([10_000]), vectors[:1])
    assert loaded.full.ram_bytes == DIM * 4
    loaded.save(path)
    loaded.add(np.array([10_001]), vectors[1:2])
    loaded.save(path)
    assert [f for f in files(tmp_path) if f.endswith(".f32")] == [name]
    assert (tmp_path / name).stat().st_size == 402 * DIM * 4
    again = DenseIndex.load(path, index.config, DIM)
    assert again is not None and len(again) == len(index) + 2
    assert again.search_batch(vectors[1:2], 1).docnos[0, 0] == 10_001  # row 1 itself is gone


def test_a_missing_or_short_vector_file_is_corrupt(tmp_path: Path) -> None:
    index = built(config("int8"), unit_vectors(100, 10))
    path = tmp_path / "dense.npz"
    index.save(path)
    (name,) = [f for f in files(tmp_path) if f.endswith(".f32")]
    data = (tmp_path / name).read_bytes()
    (tmp_path / name).write_bytes(data[:-4])
    with pytest.raises(CorruptIndex, match="holds"):
        DenseIndex.load(path, index.config, DIM)
    (tmp_path / name).unlink()
    with pytest.raises(CorruptIndex, match="unreadable"):
        DenseIndex.load(path, index.config, DIM)


def test_a_file_of_another_storage_is_not_loaded_but_rescore_needs_no_rebuild(
    tmp_path: Path,
) -> None:
    vectors = unit_vectors(150, 11)
    for storage in DENSE_STORAGES:
        path = tmp_path / f"{storage}.npz"
        built(config(storage), vectors).save(path)
        for other in DENSE_STORAGES:
            loaded = DenseIndex.load(path, config(other), DIM)
            assert (loaded is not None) == (other == storage), (storage, other)
        if storage != "float32":
            assert DenseIndex.load(path, config(storage, rescore=3), DIM) is not None


def test_a_collection_rebuilds_an_index_of_another_storage(tmp_path: Path) -> None:
    def make(name: str, storage: str) -> sleuth.Collection:
        cfg = CollectionConfig(dense=DenseConfig(storage=storage))
        return sleuth.open(tmp_path / name, encoder="hashing:64", config=cfg)

    catalog = [{"id": f"i{i}", "text": f"word{i} shared topic{i % 5}"} for i in range(40)]
    for name, storage in (("a", "float32"), ("b", "int8")):
        with make(name, storage) as col:
            col.add(catalog)
            col.save()
            want = [h.id for h in col.search("word7 topic2", k=5, mode="dense")]
            assert col.info()["indexes"]["dense"]["storage"] == storage
    shutil.copy(tmp_path / "a" / "index" / "dense.npz", tmp_path / "b" / "index" / "dense.npz")
    with pytest.warns(UserWarning, match="rebuilding the dense index"):
        col = sleuth.open(tmp_path / "b")
    with col:
        info = col.info()["indexes"]["dense"]
        assert info["storage"] == "int8" and info["live"] == 40 and info["bytes"] == 40 * 64
        assert [h.id for h in col.search("word7 topic2", k=5, mode="dense")] == want
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the rebuilt index was saved: no second rebuild
        with sleuth.open(tmp_path / "b") as col:
            assert col.search("word7 topic2", k=1, mode="dense")[0].id == want[0]


# -- one copy of each float32 vector ------------------------------------------------------------


def test_float32_ann_keeps_one_copy_of_the_vectors(tmp_path: Path) -> None:
    vectors = unit_vectors(500, 12)
    index = built(config("float32", graph=True), vectors)
    assert index.ann is not None and index.vectors is None  # the file's rows only
    assert index.full is not None and index.ivf is not None
    info = index.info()
    # in RAM: the IVF's int8 codes (list number + a byte a dimension), row ids and centroids
    assert info["storage"] == "float32" and info["kind"] == "ivf"
    assert info["bytes"] == 500 * (index.ivf.index.code_size + 8) + index.ivf.nlist * DIM * 4
    np.testing.assert_array_equal(index.vector_of(docnos_of(500)[3]), vectors[3])
    path = tmp_path / "dense.npz"
    index.save(path)
    with np.load(path) as data:
        assert "ivf" in data.files and "vectors" not in data.files  # and one copy on disk
    (full,) = [f for f in files(tmp_path) if f.endswith(".f32")]
    assert (tmp_path / full).stat().st_size == 500 * DIM * 4
    loaded = DenseIndex.load(path, index.config, DIM)
    assert loaded is not None and loaded.vectors is None and loaded.full is not None
    assert loaded.full.ram_bytes == 0  # mapped
    np.testing.assert_array_equal(loaded.vector_of(docnos_of(500)[3]), vectors[3])
    # an exact scan over the file's rows (a selective filter) equals brute force
    mask = np.zeros(int(docnos_of(500)[-1]) + 1, bool)
    mask[docnos_of(500)[:30]] = True
    got = loaded.search_batch(vectors[:2], 5, mask)
    scores = vectors[:2] @ vectors[:30].T
    order = np.argsort(-scores, axis=1, kind="stable")[:, :5]
    assert_same_ranking(
        docnos_of(500)[order], np.take_along_axis(scores, order, 1), got.docnos, got.scores
    )
