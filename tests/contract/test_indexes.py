"""One suite every derived index passes (as implicit's shared test mixin does).

Each index gets a small adapter saying how to build it, what a document is for it (a text,
a vector, a token set, an FDE), how to search it, and how to load it back. The documents are
seeded synthetic data whose right answers are computed in the test: the item holding a unique
term (BM25), the nearest vector by brute-force numpy (dense, FDE), the best brute-force MaxSim
(tokens). Docnos are sparse (``7 + 3 i``), as the store's are after deletes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sleuth.config import BM25Config, DenseConfig, LateConfig, MuveraConfig
from sleuth.errors import CorruptIndex, InvalidInput
from sleuth.indexes.base import Index
from sleuth.indexes.bm25 import BM25Index
from sleuth.indexes.dense import DenseIndex
from sleuth.indexes.fde import FDEIndex
from sleuth.indexes.muvera import Muvera
from sleuth.indexes.tokens import TokenIndex
from sleuth.rank.maxsim import from_int8, to_int8
from sleuth.types import Candidates
from support import assert_same_ranking

N, DIM, K = 240, 16, 10
DOCNOS = 7 + 3 * np.arange(N, dtype=np.int64)  # not contiguous
WORDS = [f"w{j}" for j in range(30)]
LATE = LateConfig(enabled=True, muvera=MuveraConfig(k_sim=2, d_proj=8, r_reps=4, seed=5))
MUVERA = Muvera(LATE.muvera, DIM)


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def assert_close_scores(got: np.ndarray, want: np.ndarray) -> None:
    """Equal up to float noise: the same vectors laid out in another matrix shape (after a
    compaction, a reload) may be summed in another order by the BLAS kernel."""
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)


def texts(rng: np.random.Generator) -> list[str]:
    # A shared vocabulary plus one term found in document i only.
    return [
        " ".join([*rng.choice(WORDS, size=int(rng.integers(4, 12))), f"uniq{i}x"]) for i in range(N)
    ]


def token_sets(rng: np.random.Generator) -> list[np.ndarray]:
    return [unit(rng.standard_normal((int(rng.integers(3, 9)), DIM))) for _ in range(N)]


def brute_dot(docs: np.ndarray, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    scores = queries @ docs.T
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return order, np.take_along_axis(scores, order, 1)


def brute_l2(docs: np.ndarray, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """What an l2 dense index scores: the negative squared Euclidean distance."""
    scores = -((queries[:, None, :] - docs[None, :, :]) ** 2).sum(-1, dtype=np.float64)
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return order, np.take_along_axis(scores, order, 1).astype(np.float32)


def brute_maxsim(
    docs: list[np.ndarray], queries: list[np.ndarray], k: int, dtype: str = "float16"
) -> tuple[np.ndarray, np.ndarray]:
    # the reference scores what the index stores (float16, or int8 with a scale per vector)
    if dtype == "int8":
        stored = [from_int8(*to_int8(d)) for d in docs]
    else:
        stored = [d.astype(np.float16).astype(np.float32) for d in docs]
    scores = np.array([[float((q @ d.T).max(1).sum()) for d in stored] for q in queries])
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return order, np.take_along_axis(scores, order, 1)


def brute_bm25(docs: list[str], queries: list[str], k: int) -> tuple[np.ndarray, np.ndarray]:
    """Lucene BM25 (as bm25s) by its formula, over every document; a query's repeated terms
    count each time. Documents matching no query term are not candidates (score -inf)."""
    config = BM25Config()
    analyzer = BM25Index(config).analyzer
    tokens = [analyzer(d) for d in docs]
    lengths = np.array([len(t) for t in tokens], np.float64)
    norm = config.k1 * (1 - config.b + config.b * lengths / lengths.mean())
    out = np.full((len(queries), len(docs)), -np.inf)
    for qi, q in enumerate(queries):
        for term in analyzer(q):
            tf = np.array([t.count(term) for t in tokens], np.float64)
            df = float((tf > 0).sum())
            if df == 0:
                continue
            idf = np.log1p((len(docs) - df + 0.5) / (df + 0.5))
            out[qi] = np.where(tf > 0, np.maximum(out[qi], 0) + idf * tf / (tf + norm), out[qi])
    order = np.argsort(-out, axis=1, kind="stable")[:, :k]
    return order, np.take_along_axis(out, order, 1)


@dataclass(frozen=True)
class Adapter:
    make: Callable[[], Any]
    docs: Callable[[np.random.Generator], Any]  # N documents, in the index's own terms
    add: Callable[[Any, np.ndarray, Any], None]  # index, docnos, the documents' slice
    probe: Callable[[Any, list[int]], Any]  # queries whose right answer is document i
    load: Callable[[Path], Any]
    load_other: Callable[[Path], Any]  # load with another config or dimension: None
    # (document positions, scores) of the right top k, by brute force
    reference: Callable[[Any, Any, int], tuple[np.ndarray, np.ndarray]]
    info: frozenset[str]  # the keys of ``info()``, as ``Collection.info()["indexes"]`` shows
    exact: bool = True  # False: approximate (recall is checked instead of ids)
    matches_all: bool = True  # every live document is a candidate (BM25: term matches only)


def _slice(docs: Any, rows: np.ndarray) -> Any:
    return docs[rows] if isinstance(docs, np.ndarray) else [docs[int(r)] for r in rows]


def _bm25() -> Adapter:
    return Adapter(
        make=lambda: BM25Index(BM25Config()),
        docs=texts,
        add=lambda ix, d, docs: ix.add(d, docs),
        probe=lambda docs, which: [f"uniq{i}x" for i in which],
        load=lambda p: BM25Index.load(p, BM25Config()),
        load_other=lambda p: BM25Index.load(p, BM25Config(k1=1.2)),
        reference=lambda docs, queries, k: brute_bm25(docs, queries, k),
        info=frozenset({"rows", "live", "terms"}),
        matches_all=False,
    )


def _dense(threshold: int, storage: str = "float32", metric: str = "ip") -> Adapter:
    # a low filter_exact_below sends filtered searches through HNSW's ID selector too;
    # compressed storage rescores N candidates, so its answers are exact again
    config = DenseConfig(
        exact_threshold=threshold,
        hnsw_m=16,
        ef_construction=80,
        ef_search=64,
        filter_exact_below=20,
        storage=storage,
        rescore=None if storage == "float32" else N,
    )
    if metric == "l2":  # vectors of varied lengths, by Euclidean distance (a named space)
        return Adapter(
            make=lambda: DenseIndex(config, DIM, metric="l2"),
            docs=lambda rng: rng.standard_normal((N, DIM)) * rng.uniform(0.5, 3, (N, 1)),
            add=lambda ix, d, docs: ix.add(d, docs.astype(np.float32)),
            probe=lambda docs, which: docs[which].astype(np.float32),
            load=lambda p: DenseIndex.load(p, config, DIM, metric="l2"),
            load_other=lambda p: DenseIndex.load(p, config, DIM),  # an inner-product one
            reference=lambda docs, queries, k: brute_l2(docs, queries, k),
            info=frozenset({"rows", "live", "kind", "storage", "bytes"}),
            exact=threshold > N,
        )
    return Adapter(
        make=lambda: DenseIndex(config, DIM),
        docs=lambda rng: unit(rng.standard_normal((N, DIM))),
        add=lambda ix, d, docs: ix.add(d, docs),
        probe=lambda docs, which: docs[which],
        load=lambda p: DenseIndex.load(p, config, DIM),
        load_other=lambda p: DenseIndex.load(p, config, DIM + 1),
        reference=lambda docs, queries, k: brute_dot(docs, queries, k),
        info=frozenset({"rows", "live", "kind", "storage", "bytes"}),
        exact=threshold > N,
    )


def _tokens(dtype: str) -> Adapter:
    late = dataclasses.replace(LATE, dtype=dtype)
    return Adapter(
        make=lambda: TokenIndex(late, DIM),
        docs=token_sets,
        add=lambda ix, d, docs: ix.add(d, docs),
        probe=lambda docs, which: [docs[i] for i in which],
        load=lambda p: TokenIndex.load(p, late, DIM),
        load_other=lambda p: TokenIndex.load(p, late, DIM * 2),
        reference=lambda docs, queries, k: brute_maxsim(docs, queries, k, dtype),
        info=frozenset({"rows", "live", "vectors", "bytes_per_item"}),
    )


def _fde() -> Adapter:
    """The MUVERA index: a dense index over document FDEs, tagged with the token recipe."""
    config = DenseConfig()
    dim = MUVERA.fde_dim
    other = dataclasses.replace(LATE, muvera=dataclasses.replace(LATE.muvera, seed=6))
    return Adapter(
        make=lambda: FDEIndex(config, dim, LATE),
        docs=lambda rng: MUVERA.encode_documents(token_sets(rng)),
        add=lambda ix, d, docs: ix.add(d, docs),
        # a query made of document i's tokens: FDE inner product approximates MaxSim, so the
        # right answer is the brute-force inner product (reference), not i itself
        probe=lambda docs, which: docs[which],
        load=lambda p: FDEIndex.load(p, config, dim, LATE),
        load_other=lambda p: FDEIndex.load(p, config, dim, other),
        reference=lambda docs, queries, k: brute_dot(docs, queries, k),
        info=frozenset({"rows", "live", "dim", "storage", "bytes"}),
    )


ADAPTERS = {
    "bm25": _bm25(),
    "dense-exact": _dense(threshold=100_000),
    "dense-hnsw": _dense(threshold=50),
    **{
        f"dense-{storage}-{kind}": _dense(threshold, storage)
        for storage in ("float16", "int8", "binary")
        for kind, threshold in (("exact", 100_000), ("hnsw", 50))
    },
    "dense-l2-exact": _dense(100_000, metric="l2"),
    "dense-l2-ivf": _dense(50, metric="l2"),
    "dense-l2-int8-hnsw": _dense(50, "int8", metric="l2"),
    "tokens": _tokens("float16"),
    "tokens-int8": _tokens("int8"),
    "muvera-fde": _fde(),
}


def search(a: Adapter, ix: Any, queries: Any, k: int = K, mask: Any = None) -> Candidates:
    out: Candidates = ix.search_batch(queries, k, mask)
    return out


def build(a: Adapter, docs: Any, rows: np.ndarray | None = None) -> Any:
    """The index of documents ``rows`` (all by default), added in two batches."""
    ix = a.make()
    rows = np.arange(N) if rows is None else rows
    half = rows.size // 3
    for part in (rows[:half], rows[half:]):
        a.add(ix, DOCNOS[part], _slice(docs, part))
    return ix


@pytest.fixture(scope="module", params=sorted(ADAPTERS))
def case(request: pytest.FixtureRequest) -> tuple[Adapter, Any, Any]:
    a = ADAPTERS[request.param]
    docs = a.docs(np.random.default_rng(11))
    return a, docs, build(a, docs)


PROBES = [0, 5, 77, 150, N - 1]


def test_len_counts_live_rows(case: tuple[Adapter, Any, Any]) -> None:
    a, docs, _ = case
    ix = build(a, docs)
    assert len(ix) == N
    ix.remove(DOCNOS[:30])
    ix.remove(DOCNOS[:5])  # removing again changes nothing
    ix.remove([10_000_000])  # an unknown docno neither
    assert len(ix) == N - 30


def test_a_probe_finds_its_document_first(case: tuple[Adapter, Any, Any]) -> None:
    a, docs, ix = case
    queries = a.probe(docs, PROBES)
    # the data is such that the probes' right answers hold
    assert a.reference(docs, queries, 1)[0][:, 0].tolist() == PROBES
    got = search(a, ix, queries)
    assert got.docnos.shape == got.scores.shape == (len(PROBES), K)
    assert got.docnos.dtype == np.int64 and got.scores.dtype == np.float32
    assert got.docnos[:, 0].tolist() == DOCNOS[PROBES].tolist()


def test_scores_are_sorted_and_padding_is_marked(case: tuple[Adapter, Any, Any]) -> None:
    a, docs, ix = case
    got = search(a, ix, a.probe(docs, PROBES), k=N + 5)  # more than there are
    for i in range(len(PROBES)):
        docnos, scores = got.row(i)
        assert np.all(np.diff(scores) <= 0) and np.isfinite(scores).all()
        assert len(set(docnos.tolist())) == docnos.size  # no docno twice
        assert set(docnos.tolist()) <= set(DOCNOS.tolist())
        assert (got.docnos[i, docnos.size :] == -1).all()
        assert np.isneginf(got.scores[i, docnos.size :]).all()
        if a.matches_all:  # every live document can be scored: all come back
            assert docnos.size == N


def test_matches_the_brute_force_answer(case: tuple[Adapter, Any, Any]) -> None:
    a, docs, ix = case
    rng = np.random.default_rng(5)
    if isinstance(docs[0], str):  # two or three shared words, one of them maybe twice
        queries: Any = [
            " ".join(rng.choice(WORDS, size=int(rng.integers(2, 4)))) for _ in range(40)
        ]
        queries[0] = f"{WORDS[0]} {WORDS[0]} {WORDS[1]}"
    elif isinstance(docs, np.ndarray):
        queries: Any = unit(
            docs[rng.choice(N, 40)] + 0.7 * rng.standard_normal((40, docs.shape[1]))
        )
    else:
        queries = [unit(rng.standard_normal((4, DIM))) for _ in range(40)]
    want_rows, want_scores = a.reference(docs, queries, K)
    got = search(a, ix, queries)
    if a.exact:
        assert_same_ranking(DOCNOS[want_rows], want_scores, got.docnos, got.scores, rtol=1e-4)
    else:
        hits = sum(
            len(set(g) & set(w)) for g, w in zip(got.docnos.tolist(), DOCNOS[want_rows].tolist())
        )
        assert hits / want_rows.size >= 0.95


def test_removed_docnos_never_come_back(case: tuple[Adapter, Any, Any]) -> None:
    a, docs, _ = case
    ix = build(a, docs)
    gone = np.array([*PROBES[:3], *range(100, 140)])
    ix.remove(DOCNOS[gone])
    got = search(a, ix, a.probe(docs, PROBES), k=N)
    assert not set(got.docnos.ravel().tolist()) & set(DOCNOS[gone].tolist())
    assert got.docnos[3:, 0].tolist() == DOCNOS[PROBES[3:]].tolist()  # the rest still found
    if a.matches_all:
        assert (got.docnos >= 0).sum(1).tolist() == [N - gone.size] * len(PROBES)


def test_heavy_removal_then_re_adding_keeps_the_contract(
    case: tuple[Adapter, Any, Any], tmp_path: Path
) -> None:
    a, docs, _ = case
    ix = build(a, docs)
    gone = np.arange(N)[np.arange(N) % 5 < 3]  # 60%: past every index's compaction point
    gone = gone[~np.isin(gone, PROBES[3:])]
    ix.remove(DOCNOS[gone[: gone.size // 2]])
    ix.remove(DOCNOS[gone[gone.size // 2 :]])
    ix.seq = 9
    assert len(ix) == N - gone.size
    got = search(a, ix, a.probe(docs, PROBES), k=N)
    assert not set(got.docnos.ravel().tolist()) & set(DOCNOS[gone].tolist())
    assert got.docnos[3:, 0].tolist() == DOCNOS[PROBES[3:]].tolist()
    back_in = gone[::2]  # the same docnos come back (an item replaced)
    a.add(ix, DOCNOS[back_in], _slice(docs, back_in))
    assert len(ix) == N - gone.size + back_in.size and ix.seq == 9
    got = search(a, ix, a.probe(docs, back_in[:4].tolist()))
    assert got.docnos[:, 0].tolist() == DOCNOS[back_in[:4]].tolist()
    path = tmp_path / "index.npz"
    ix.save(path)
    loaded = a.load(path)
    assert loaded is not None and loaded.seq == 9 and len(loaded) == len(ix)
    queries = a.probe(docs, PROBES + back_in[:4].tolist())
    before, after = search(a, ix, queries, k=N), search(a, loaded, queries, k=N)
    np.testing.assert_array_equal(after.docnos, before.docnos)
    assert_close_scores(after.scores, before.scores)


def test_a_masked_docno_is_never_returned(case: tuple[Adapter, Any, Any]) -> None:
    a, docs, ix = case
    mask = np.zeros(int(DOCNOS[-1]) + 1, bool)
    allowed = np.arange(N)[np.arange(N) % 4 != 0]  # probe 0 is masked out
    mask[DOCNOS[allowed]] = True
    got = search(a, ix, a.probe(docs, PROBES), k=N, mask=mask)
    found = got.docnos[got.docnos >= 0]
    assert mask[found].all()
    assert got.docnos[1:, 0].tolist() == DOCNOS[PROBES[1:]].tolist()
    if a.matches_all:  # and everything allowed does come back
        assert (got.docnos >= 0).sum(1).tolist() == [allowed.size] * len(PROBES)
    few = np.zeros_like(mask)  # fewer allowed than k: exactly those (HNSW: the exact path)
    few[DOCNOS[PROBES]] = True
    got = search(a, ix, a.probe(docs, PROBES), mask=few)
    assert set(got.docnos.ravel().tolist()) <= {-1, *DOCNOS[PROBES].tolist()}
    assert got.docnos[:, 0].tolist() == DOCNOS[PROBES].tolist()
    if a.matches_all:
        assert (got.docnos >= 0).sum(1).tolist() == [len(PROBES)] * len(PROBES)
    short = np.zeros(3, bool)  # a mask shorter than the docnos: the rest is filtered out
    assert (search(a, ix, a.probe(docs, PROBES), mask=short).docnos == -1).all()


def test_save_then_load_gives_identical_results(
    case: tuple[Adapter, Any, Any], tmp_path: Path
) -> None:
    a, docs, _ = case
    ix = build(a, docs)
    ix.remove(DOCNOS[[3, 4, 90]])
    ix.seq = 41
    path = tmp_path / "index.npz"
    ix.save(path)
    back = a.load(path)
    assert back is not None and back.seq == 41 and len(back) == len(ix)
    queries = a.probe(docs, [*PROBES, 3])
    before, after = search(a, ix, queries), search(a, back, queries)
    np.testing.assert_array_equal(after.docnos, before.docnos)
    assert_close_scores(after.scores, before.scores)
    # and it keeps working: the same adds on both give the same answers
    extra = np.array([3, 90])
    for index in (ix, back):
        index.remove(DOCNOS[[5]])
        a.add(index, DOCNOS[extra], _slice(docs, extra))
    before, after = search(a, ix, queries), search(a, back, queries)
    assert_same_ranking(before.docnos, before.scores, after.docnos, after.scores)
    assert after.docnos[-1, 0] == DOCNOS[3]


def test_loading_with_another_config_gives_none(
    case: tuple[Adapter, Any, Any], tmp_path: Path
) -> None:
    a, _, ix = case
    path = tmp_path / "index.npz"
    ix.save(path)
    assert a.load_other(path) is None
    assert a.load(path) is not None


@pytest.mark.parametrize("damage", ["truncated", "garbage", "empty"])
def test_a_damaged_file_raises_corrupt_index(
    case: tuple[Adapter, Any, Any], tmp_path: Path, damage: str
) -> None:
    a, _, ix = case
    saved = tmp_path / "index.npz"
    ix.save(saved)
    path = saved / "manifest.json" if saved.is_dir() else saved  # a folder: damage its manifest
    data = path.read_bytes()
    bad = {
        "truncated": data[: len(data) // 2],
        "garbage": np.random.default_rng(0).bytes(len(data)),
        "empty": b"",
    }[damage]
    path.write_bytes(bad)
    with pytest.raises(CorruptIndex):
        a.load(saved)


def test_an_empty_index_returns_padding(case: tuple[Adapter, Any, Any]) -> None:
    a, docs, _ = case
    got = search(a, a.make(), a.probe(docs, PROBES[:2]))
    assert got.docnos.shape == (2, K) and (got.docnos == -1).all()
    assert np.isneginf(got.scores).all()


# -- the Index contract: updates in two halves, seq, info, restore ---------------------------


def answers(a: Adapter, ix: Any, docs: Any) -> Candidates:
    return search(a, ix, a.probe(docs, [*PROBES, 1, 2]), k=N)


def test_prepare_then_apply_equals_add(case: tuple[Adapter, Any, Any]) -> None:
    a, docs, _ = case
    direct, split = build(a, docs), build(a, docs)
    gone, extra = DOCNOS[[1, 5, 77]], np.array([1, 2])  # 1 comes back (a replaced item)
    direct.remove(gone)
    a.add(direct, DOCNOS[extra] + 1, _slice(docs, extra))
    before = answers(a, split, docs)
    update = split.prepare(DOCNOS[extra] + 1, _slice(docs, extra), removed=gone, seq=12)
    # preparing changes nothing: it runs while searches read the index
    after = answers(a, split, docs)
    np.testing.assert_array_equal(after.docnos, before.docnos)
    assert len(split) == N and split.seq == 0
    split.apply(update)
    assert split.seq == 12 and len(split) == len(direct) == N - 3 + 2
    assert split.info() == direct.info()
    want, got = answers(a, direct, docs), answers(a, split, docs)
    np.testing.assert_array_equal(got.docnos, want.docnos)
    assert_close_scores(got.scores, want.scores)
    split.apply(split.prepare([], _slice(docs, np.arange(0))))  # no seq: it stays
    assert split.seq == 12 and len(split) == N - 1


def test_prepare_refuses_docnos_that_do_not_match_the_documents(
    case: tuple[Adapter, Any, Any],
) -> None:
    _, docs, ix = case
    with pytest.raises(InvalidInput, match="2 docnos for 3 documents"):
        ix.prepare(DOCNOS[:2], _slice(docs, np.arange(3)))


def test_info_reports_rows_and_live_items(case: tuple[Adapter, Any, Any]) -> None:
    a, docs, _ = case
    ix = build(a, docs)
    info = ix.info()
    assert set(info) == a.info and isinstance(ix, Index)
    assert (info["rows"], info["live"]) == (N, N)
    ix.remove(DOCNOS[:10])  # below every compaction point: the rows stay, as tombstones
    assert (ix.info()["rows"], ix.info()["live"]) == (N, N - 10)
    ix.remove(DOCNOS[: N // 2])  # past the dense and token indexes' compaction point
    assert ix.info()["live"] == N - N // 2
    assert ix.info()["rows"] == (N if a.info == {"rows", "live", "terms"} else N - N // 2)


def test_usage_reports_what_the_index_holds(case: tuple[Adapter, Any, Any]) -> None:
    a, docs, _ = case
    empty, ix = a.make(), build(a, docs)
    for usage in (empty.usage(), ix.usage()):
        assert set(usage) == {"memory_bytes", "mapped_bytes"} and min(usage.values()) >= 0
    assert ix.usage()["memory_bytes"] > empty.usage()["memory_bytes"]


def test_restore_fills_an_empty_index_or_says_none(
    case: tuple[Adapter, Any, Any], tmp_path: Path
) -> None:
    a, docs, _ = case
    ix = build(a, docs)
    path = tmp_path / "index.npz"
    ix.seq = 3
    ix.save(path)
    fresh = a.make()
    assert fresh.restore(path) is fresh and fresh.seq == 3 and fresh.info() == ix.info()
    np.testing.assert_array_equal(answers(a, fresh, docs).docnos, answers(a, ix, docs).docnos)
    assert a.load_other(path) is None
