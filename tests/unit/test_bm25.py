"""BM25: numerical parity with bm25s, incremental writes equal a rebuild, persistence."""

from __future__ import annotations

import json
import random
from pathlib import Path

import bm25s
import numpy as np
import pytest
import Stemmer
from hypothesis import given, settings
from hypothesis import strategies as st

from sleuth.config import BM25Config
from sleuth.demo import stdlib_items
from sleuth.errors import CorruptIndex
from sleuth.indexes import bm25 as bm25_module
from sleuth.indexes.base import write_npz
from sleuth.indexes.bm25 import BM25Index
from sleuth.indexes.dense import DenseIndex
from sleuth.indexes.segments import load_folder, unpack_strings
from sleuth.indexes.tokenize import Analyzer

CONFIG = BM25Config(k1=1.5, b=0.75)
MERGE_MIN = 2048  # the delta merges into main once it holds more rows than this


# -- parity with bm25s ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def corpus() -> list[str]:
    return [" ".join(v for v in (i["title"], i["text"]) if v) for i in stdlib_items(500)]


PARITY_CONFIGS = [
    BM25Config(k1=1.5, b=0.75),  # the default: English stopwords and stemming
    BM25Config(k1=1.2, b=0.3, stemmer=None, stopwords=None),
]


def bm25s_tokenize(texts: list[str], config: BM25Config) -> list[list[str]]:
    stemmer = Stemmer.Stemmer(config.stemmer) if config.stemmer else None
    stopwords = "en" if config.stopwords else None
    return bm25s.tokenize(
        texts,
        stopwords=stopwords,
        stemmer=stemmer,  # type: ignore[no-any-return]
        return_ids=False,
        show_progress=False,
    )


def bm25s_index(corpus: list[str], config: BM25Config) -> bm25s.BM25:
    ref = bm25s.BM25(method="lucene", k1=config.k1, b=config.b, backend="numpy")
    ref.index(bm25s_tokenize(corpus, config), show_progress=False)
    return ref


def parity_queries(corpus: list[str]) -> list[str]:
    rng = random.Random(7)
    words = sorted({w for text in corpus for w in text.split() if w.isalpha() and len(w) > 2})
    queries = [" ".join(corpus[i].split()[:4]) for i in range(0, len(corpus), 25)]
    queries += [" ".join(rng.sample(words, rng.randint(1, 4))) for _ in range(40)]
    queries += ["json json decode", "sort a list in place", "open a file for reading"]
    return queries


@pytest.mark.parametrize("config", PARITY_CONFIGS, ids=["default", "plain"])
def test_parity_with_bm25s(corpus: list[str], config: BM25Config) -> None:
    reference = bm25s_index(corpus, config)
    index = BM25Index(config)
    # several adds, so both the main segment and the delta hold postings
    for start in range(0, len(corpus), 150):
        index.add(np.arange(start, min(start + 150, len(corpus))), corpus[start : start + 150])
    index._merge()  # corpus < MERGE_MIN: force one merge, then add the rest to a fresh delta
    index.add(np.arange(len(corpus), len(corpus) + 20), corpus[:20])
    index.remove(np.arange(len(corpus), len(corpus) + 20))
    compared = 0
    queries = parity_queries(corpus)
    for q, q_tokens in zip(queries, bm25s_tokenize(queries, config), strict=True):
        known = [t for t in q_tokens if t in reference.vocab_dict]
        if not known:  # bm25s cannot score a query without known terms
            assert index.search_batch([q], 10).row(0)[0].size == 0
            continue
        full = reference.get_scores(q_tokens)  # bm25s: every document's score
        docnos, scores = index.search_batch([q], 10).row(0)
        expected_top = np.sort(full)[::-1][:10]
        expected_top = expected_top[expected_top > 0]
        # the same scores at every rank, and each returned doc has bm25s's score
        np.testing.assert_allclose(scores, expected_top, rtol=1e-4)
        np.testing.assert_allclose(full[docnos], scores, rtol=1e-4)
        # the same ids wherever the rank is not a tie
        ref_ids = np.argsort(-full, kind="stable")[: docnos.size]
        for rank, (d, r) in enumerate(zip(docnos.tolist(), ref_ids.tolist(), strict=True)):
            tied = np.sum(np.isclose(full, full[r], rtol=1e-5)) > 1
            assert d == r or tied, (q, rank)
        compared += 1
    assert compared >= 40


def test_batch_equals_single_queries(corpus: list[str]) -> None:
    index = BM25Index(CONFIG)
    index.add(np.arange(len(corpus)), corpus)
    queries = parity_queries(corpus)[:20]
    batch = index.search_batch(queries, 7)
    for i, q in enumerate(queries):
        one = index.search_batch([q], 7)
        np.testing.assert_array_equal(batch.docnos[i], one.docnos[0])
        np.testing.assert_array_equal(batch.scores[i], one.scores[0])


# -- incremental adds and removes equal a rebuild ---------------------------------------------


def synthetic_docs(n: int, seed: int) -> list[str]:
    """Zipf-distributed words, so frequent and rare terms both occur."""
    rng = np.random.default_rng(seed)
    vocab = [f"w{i}" for i in range(400)]
    p = 1.0 / np.arange(1, len(vocab) + 1)
    p /= p.sum()
    return [" ".join(rng.choice(vocab, size=rng.integers(3, 40), p=p)) for _ in range(n)]


QUERIES = ["w0 w5", "w1", "w17 w250 w399", "w3 w3 w8", "w100 w2", "w42", "w7 w9 w11 w13"]


def all_scores(index: BM25Index, queries: list[str]) -> list[dict[int, float]]:
    k = max(len(index), 1)
    cands = index.search_batch(queries, k)
    rows = [cands.row(i) for i in range(len(queries))]
    return [dict(zip(d.tolist(), s.tolist(), strict=True)) for d, s in rows]


def assert_matches_rebuild(index: BM25Index, live: dict[int, str]) -> None:
    scratch = BM25Index(CONFIG)
    docnos = sorted(live)
    scratch.add(np.array(docnos, np.int64), [live[d] for d in docnos])
    assert len(index) == len(live)
    for got, want in zip(all_scores(index, QUERIES), all_scores(scratch, QUERIES), strict=True):
        assert got.keys() == want.keys()
        np.testing.assert_allclose([got[d] for d in want], list(want.values()), rtol=1e-5)


@pytest.mark.parametrize("small", [None, 60], ids=["delta", "mid+delta"])
@pytest.mark.parametrize("seed", [0, 1])
def test_incremental_writes_equal_a_rebuild(
    seed: int, small: int | None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if small is not None:  # a small delta: rows move on to the mid segment too
        monkeypatch.setattr(bm25_module, "_SMALL", small)
    rng = random.Random(seed)
    random_phase = 3 * MERGE_MIN  # docs after these are for the final compaction
    docs = synthetic_docs(random_phase + MERGE_MIN + 1, seed)
    index = BM25Index(CONFIG)
    live: dict[int, str] = {}
    next_doc = 0
    merges = 0
    for step in range(14):
        if next_doc < random_phase and (rng.random() < 0.6 or not live):
            n = rng.choice([1, 50, 700, MERGE_MIN + 10])
            batch = list(range(next_doc, min(next_doc + n, random_phase)))
            before = index.main_rows
            index.add(np.array(batch), [docs[d] for d in batch])
            merges += index.main_rows != before
            live.update((d, docs[d]) for d in batch)
            next_doc += len(batch)
        else:
            gone = rng.sample(sorted(live), rng.randint(1, max(1, len(live) // 2)))
            removed = index.remove(np.array(gone))
            assert removed.size == len(gone)
            for d in gone:
                del live[d]
            # removing again (or removing unknown docnos) is a no-op
            assert index.remove(np.array([gone[0], 10**9])).size == 0
        if step % 3 == 2:
            assert_matches_rebuild(index, live)
    assert_matches_rebuild(index, live)
    index.save(tmp_path / "bm25.npz")  # main's and mid's postings are read back as saved
    loaded = BM25Index.load(tmp_path / "bm25.npz", CONFIG)
    assert loaded is not None and (loaded.main_rows, loaded.mid_rows) == (
        index.main_rows,
        index.mid_rows,
    )
    assert_matches_rebuild(loaded, live)
    # Then over a quarter dead and a delta big enough to merge: the merge compacts.
    for d in rng.sample(sorted(live), len(live) // 2):
        index.remove(np.array([d]))
        del live[d]
    batch = list(range(random_phase, random_phase + MERGE_MIN + 1))
    index.add(np.array(batch), [docs[d] for d in batch])
    live.update((d, docs[d]) for d in batch)
    assert index.n_rows == len(index) == len(live), "the merge did not drop the dead rows"
    assert index.main_rows == index.n_rows
    assert_matches_rebuild(index, live)
    assert merges >= 1, "the random sequence never merged the delta into main"


OPS = st.lists(
    st.one_of(
        st.tuples(st.just("add"), st.integers(1, 40)),
        st.tuples(st.just("remove"), st.floats(0.0, 1.0)),
        st.tuples(st.just("reload"), st.just(0)),
    ),
    min_size=1,
    max_size=12,
)


@settings(max_examples=30, deadline=None)
@given(ops=OPS, seed=st.integers(0, 3))
def test_incremental_property(
    ops: list[tuple[str, float]], seed: int, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Small random sequences, with save/load (which merges and compacts) among the ops."""
    docs = synthetic_docs(500, seed)
    path = tmp_path_factory.mktemp("bm25") / "bm25.npz"
    index = BM25Index(CONFIG)
    live: dict[int, str] = {}
    next_doc = 0
    for op, arg in ops:
        if op == "add":
            batch = list(range(next_doc, next_doc + int(arg)))
            index.add(np.array(batch), [docs[d] for d in batch])
            live.update((d, docs[d]) for d in batch)
            next_doc += len(batch)
        elif op == "remove":
            gone = sorted(live)[: int(len(live) * arg)]
            index.remove(np.array(gone, np.int64))
            for d in gone:
                del live[d]
        else:
            index.seq = next_doc
            index.save(path)
            loaded = BM25Index.load(path, CONFIG)
            assert loaded is not None and loaded.seq == next_doc
            index = loaded
    assert_matches_rebuild(index, live)


# -- persistence ------------------------------------------------------------------------------


@pytest.fixture
def saved(tmp_path: Path, corpus: list[str]) -> tuple[BM25Index, Path]:
    index = BM25Index(CONFIG)
    index.add(np.arange(len(corpus)), corpus)
    index.remove(np.arange(0, 40))
    index.add(np.arange(1000, 1010), corpus[:10])  # in the delta, not yet merged
    index.seq = 1234
    path = tmp_path / "bm25"
    index.save(path)
    return index, path


def as_npz(folder: Path) -> Path:
    """The saved folder rewritten as the single ``.npz`` file of earlier sleuth versions."""
    manifest, arrays = load_folder(folder, "bm25")
    manifest["format"] = 1
    manifest["vocab"] = unpack_strings(arrays.pop("vocab_blob"), arrays.pop("vocab_offsets"))
    path = folder.with_suffix(".npz")
    write_npz(path, manifest, arrays)
    return path


def test_save_load_round_trip(saved: tuple[BM25Index, Path], corpus: list[str]) -> None:
    index, folder = saved
    for path in (folder, as_npz(folder)):  # the folder, and the file of earlier versions
        loaded = BM25Index.load(path, CONFIG)
        assert loaded is not None
        assert loaded.seq == 1234
        assert len(loaded) == len(index) == len(corpus) - 40 + 10
        assert loaded.vocab == index.vocab
        queries = parity_queries(corpus)
        a, b = index.search_batch(queries, 10), loaded.search_batch(queries, 10)
        np.testing.assert_allclose(b.scores, a.scores, rtol=1e-6)
        same = a.docnos == b.docnos
        # a differing docno is only allowed where the scores tie
        assert np.all(
            same
            | np.isclose(a.scores, np.roll(a.scores, 1, axis=1), rtol=1e-6)
            | np.isclose(a.scores, np.roll(a.scores, -1, axis=1), rtol=1e-6)
        )
        assert not np.isin(b.docnos, np.arange(0, 40)).any()
        # the loaded index keeps taking writes
        loaded.add(np.array([5000]), ["a unique zzyzx term"])
        assert loaded.search_batch(["zzyzx"], 3).row(0)[0].tolist() == [5000]


def test_a_save_writes_what_changed(saved: tuple[BM25Index, Path], corpus: list[str]) -> None:
    """A few rows more append to the row files and leave main's postings file untouched; the
    folder then loads to the same index, and files no manifest names are gone."""
    index, folder = saved
    before = {p.name: p.stat().st_mtime_ns for p in folder.glob("*.bin")}
    main = next(name for name in before if name.startswith("main_rows."))
    index.add(np.arange(2000, 2005), corpus[10:15])
    index.save(folder)
    after = {p.name: p.stat().st_mtime_ns for p in folder.glob("*.bin")}
    assert after[main] == before[main]  # the same file, not written again
    rows = next(name for name in before if name.startswith("fwd_terms."))
    assert rows in after and after[rows] != before[rows]  # appended to
    loaded = BM25Index.load(folder, CONFIG)
    assert loaded is not None and len(loaded) == len(index)
    queries = parity_queries(corpus)
    np.testing.assert_allclose(
        loaded.search_batch(queries, 10).scores, index.search_batch(queries, 10).scores, rtol=1e-6
    )
    named = {
        e["file"] for e in json.loads((folder / "manifest.json").read_text())["arrays"].values()
    }
    assert set(after) == named


def test_load_with_another_config_is_none(saved: tuple[BM25Index, Path]) -> None:
    _, path = saved
    assert BM25Index.load(path, BM25Config(k1=1.2)) is None
    assert BM25Index.load(path, BM25Config(stemmer=None)) is None


@pytest.mark.parametrize("fraction", [0.0, 0.1, 0.5, 0.9, 0.999])
def test_truncated_file_is_corrupt(saved: tuple[BM25Index, Path], fraction: float) -> None:
    _, folder = saved
    for path in [folder / "manifest.json", *sorted(folder.glob("*.bin"))]:
        data = path.read_bytes()
        if not data:
            continue
        path.write_bytes(data[: int(len(data) * fraction)])
        with pytest.raises(CorruptIndex):
            BM25Index.load(folder, CONFIG)
        path.write_bytes(data)


def test_garbage_and_foreign_files_are_corrupt(tmp_path: Path) -> None:
    path = tmp_path / "bm25.npz"
    path.write_bytes(np.random.default_rng(0).bytes(5000))
    with pytest.raises(CorruptIndex, match="unreadable"):
        BM25Index.load(path, CONFIG)
    folder = tmp_path / "bm25"
    folder.mkdir()
    (folder / "manifest.json").write_bytes(np.random.default_rng(0).bytes(500))
    with pytest.raises(CorruptIndex, match="unreadable"):
        BM25Index.load(folder, CONFIG)
    dense = DenseIndex(__import__("sleuth").DenseConfig(), 4)
    dense.add(np.arange(3), np.eye(3, 4, dtype=np.float32))
    dense.save(path)
    with pytest.raises(CorruptIndex, match="not a bm25 index"):
        BM25Index.load(path, CONFIG)
    with pytest.raises(CorruptIndex):
        BM25Index.load(tmp_path / "missing.npz", CONFIG)


def test_missing_array_is_corrupt(saved: tuple[BM25Index, Path]) -> None:
    """A well-formed folder or file that lacks an array is corrupt, not a KeyError."""
    _, folder = saved
    npz = as_npz(folder)
    with np.load(npz) as data:
        arrays = {name: data[name] for name in data.files if name != "fwd_tfs"}
    np.savez(npz, **arrays)
    with pytest.raises(CorruptIndex):
        BM25Index.load(npz, CONFIG)
    manifest = json.loads((folder / "manifest.json").read_text())
    del manifest["arrays"]["fwd_tfs"]
    (folder / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(CorruptIndex, match="lacks fwd_tfs"):
        BM25Index.load(folder, CONFIG)


def test_inconsistent_arrays_are_corrupt(saved: tuple[BM25Index, Path]) -> None:
    _, folder = saved
    npz = as_npz(folder)
    with np.load(npz) as data:
        arrays = {name: data[name] for name in data.files}
    arrays["row_len"] = arrays["row_len"][:-1]
    np.savez(npz, **arrays)
    with pytest.raises(CorruptIndex, match="inconsistent"):
        BM25Index.load(npz, CONFIG)


def test_byte_flips_are_caught_or_harmless(tmp_path: Path) -> None:
    """Any single flipped byte of any file: either CorruptIndex, or an index that answers the
    same."""
    index = BM25Index(CONFIG)
    docs = synthetic_docs(30, 3)
    index.add(np.arange(30), docs)
    folder = tmp_path / "bm25"
    index.save(folder)
    expected = all_scores(index, QUERIES)
    rng = random.Random(0)
    for path in sorted(folder.iterdir()):
        data = path.read_bytes()
        if not data:
            continue
        for pos in sorted(set(rng.sample(range(len(data)), min(len(data), 40)))):
            flipped = bytearray(data)
            flipped[pos] ^= 0xFF
            path.write_bytes(bytes(flipped))
            try:
                loaded = BM25Index.load(folder, CONFIG)
            except CorruptIndex:
                continue
            finally:
                path.write_bytes(data)
            assert loaded is not None, (path.name, pos)
            got = all_scores(loaded, QUERIES)
            for g, e in zip(got, expected, strict=True):
                assert g.keys() == e.keys(), (path.name, pos)
                np.testing.assert_allclose([g[d] for d in e], list(e.values()), rtol=1e-5)


# -- bulk analysis ------------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(
    texts=st.lists(
        st.lists(
            st.sampled_from(
                ["The", "running", "runs", "a", "of", "ÉCOLE", "x", "z9", "", "İstanbul"]
            )
            | st.text(max_size=8),
            max_size=12,
        ).map(" ".join),
        max_size=12,
    ),
    stemmer=st.sampled_from(["english", None]),
    stopwords=st.sampled_from(["english", None]),
)
def test_bulk_analysis_equals_one_text_at_a_time(
    texts: list[str], stemmer: str | None, stopwords: str | None
) -> None:
    bulk = Analyzer(stemmer, stopwords)
    one = Analyzer(stemmer, stopwords)
    tokens, lengths = bulk.flat(texts)
    expected = [one(t) for t in texts]
    assert lengths.tolist() == [len(e) for e in expected]
    assert tokens == [tok for e in expected for tok in e]
    assert bulk.many(texts) == expected


def test_a_text_holding_the_batch_marker_word_is_analyzed_as_alone() -> None:
    texts = ["zqxjtextendzqxj running", "runs ZQXJTEXTENDZQXJ", "", "plain words here"]
    bulk, one = Analyzer(), Analyzer()
    tokens, lengths = bulk.flat(texts)
    expected = [one(t) for t in texts]
    assert lengths.tolist() == [len(e) for e in expected]
    assert tokens == [tok for e in expected for tok in e]
