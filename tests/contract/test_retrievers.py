"""One suite every search mode passes, through the public API, and one every retriever
passes through the ``Retriever`` base, on the synthetic catalog of ``support.py`` (item ``i``
holds ``unique_token(i)``; its attributes follow simple rules, so the items a filter must keep
are computed here, not copied from a run)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import sleuth
from sleuth.config import BM25Config, CollectionConfig, DenseConfig, LateConfig
from sleuth.encoders import get_encoder
from sleuth.encoders.late import LateInteraction
from sleuth.indexes.bm25 import BM25Index
from sleuth.indexes.dense import DenseIndex
from sleuth.indexes.tokens import TokenIndex
from sleuth.retrieve import DenseRetriever, QueryBatch, Retriever, retrievers_for
from support import (
    CATALOG,
    COLORS,
    N_ITEMS,
    assert_same_hits,
    assert_same_ranking,
    item_id,
    unique_token,
)

MODES = ("lexical", "dense", "hybrid", "hybrid+maxsim", "muvera", "maxsim-exact")
# The retrievers ``explain`` names per mode.
EXPLAINED = {
    "lexical": {"lexical"},
    "dense": {"dense"},
    "hybrid": {"lexical", "dense"},
    "hybrid+maxsim": {"lexical", "dense", "hybrid", "maxsim"},
    "muvera": {"muvera"},
    "maxsim-exact": {"maxsim-exact"},
}
PROBES = [0, 1, 13, 30, 37, N_ITEMS - 1]
# Filters with the rule that says which item numbers they keep.
FILTERS: dict[str, tuple[dict[str, Any], Any]] = {
    "color": ({"color": "red"}, lambda i: COLORS[i % 3] == "red"),
    "bool": ({"in_stock": True}, lambda i: i % 2 == 0),
    "range": ({"price": {"gte": 15.0, "lt": 60.0}}, lambda i: 15.0 <= 1.5 * i < 60.0),
    "list": ({"tags": "sale"}, lambda i: i % 5 == 0),
    "and": (
        {"and": [{"color": "blue"}, {"not": {"in_stock": True}}]},
        lambda i: COLORS[i % 3] == "blue" and i % 2 == 1,
    ),
    "exists": ({"note": {"exists": True}}, lambda i: i % 7 == 0),
}


def text_of(i: int) -> str:
    """What the collection encodes for item ``i`` (its text fields, joined)."""
    return f"{CATALOG[i]['title']} {CATALOG[i]['text']}"


def number(hit: sleuth.Hit) -> int:
    return int(hit.id.removeprefix("item-"))


@pytest.fixture(scope="module")
def col(tmp_path_factory: pytest.TempPathFactory) -> Iterator[sleuth.Collection]:
    path: Path = tmp_path_factory.mktemp("retrievers") / "col"
    config = CollectionConfig(late=LateConfig(enabled=True))
    collection = sleuth.open(path, encoder="hashing", config=config)
    collection.add(CATALOG)
    yield collection
    collection.close()


@pytest.fixture(params=MODES)
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


# Feature hashing folds words into 256 signed buckets: a unique word may share (or cancel) a
# bucket with another item's word, so dense has another right answer: see
# test_dense_ranks_as_brute_force_over_the_encoders_vectors.
@pytest.mark.parametrize("mode", [m for m in MODES if m != "dense"])
def test_the_item_holding_a_unique_token_comes_first(col: sleuth.Collection, mode: str) -> None:
    for i in range(N_ITEMS):
        hits = col.search(unique_token(i), k=5, mode=mode)
        assert hits and hits[0].id == item_id(i), (i, [h.id for h in hits])


def test_an_items_own_text_finds_it_first(col: sleuth.Collection, mode: str) -> None:
    for i in PROBES:
        hits = col.search(text_of(i), k=3, mode=mode)
        assert hits and hits[0].id == item_id(i), (i, [h.id for h in hits])


def test_dense_ranks_as_brute_force_over_the_encoders_vectors(col: sleuth.Collection) -> None:
    enc = get_encoder("hashing")
    docs = enc.encode([text_of(i) for i in range(N_ITEMS)]).vectors
    queries = [unique_token(i) for i in range(N_ITEMS)] + ["catalog entry", "boat keel"]
    scores = enc.encode_queries(queries) @ docs.T
    order = np.argsort(-scores, axis=1, kind="stable")[:, :5]
    for q, row, want in zip(queries, order, np.take_along_axis(scores, order, 1)):
        hits = col.search(q, k=5, mode="dense")
        ids = [item_id(int(j)) for j in row]
        assert_same_ranking(ids, want, [h.id for h in hits], [h.score for h in hits])


@pytest.mark.parametrize("query", ["catalog entry", "telescope orbit", unique_token(4)])
def test_scores_are_finite_and_sorted(col: sleuth.Collection, mode: str, query: str) -> None:
    hits = col.search(query, k=N_ITEMS, mode=mode)
    scores = [h.score for h in hits]
    assert scores and all(np.isfinite(scores))
    assert scores == sorted(scores, reverse=True)
    assert len({h.id for h in hits}) == len(hits)  # no item twice


@pytest.mark.parametrize("k", [1, 3, 10, N_ITEMS])
def test_k_hits_when_k_items_match(col: sleuth.Collection, mode: str, k: int) -> None:
    # "catalog" is in every item: each retriever matches them all
    hits = col.search("catalog", k=k, mode=mode)
    assert len(hits) == k
    assert len(col.search("catalog", k=N_ITEMS + 7, mode=mode)) == N_ITEMS  # never more


@pytest.mark.parametrize("name", sorted(FILTERS))
def test_a_filter_is_never_violated_and_k_hits_come_back(
    col: sleuth.Collection, mode: str, name: str
) -> None:
    where, keeps = FILTERS[name]
    allowed = {i for i in range(N_ITEMS) if keeps(i)}
    assert 5 <= len(allowed) < N_ITEMS  # the rules keep some, not all
    k = 5
    hits = col.search("catalog entry", k=k, where=where, mode=mode)
    assert len(hits) == k and {number(h) for h in hits} <= allowed
    everything = col.search("catalog entry", k=N_ITEMS, where=where, mode=mode)
    assert {number(h) for h in everything} == allowed
    inside, outside = min(allowed), min(set(range(N_ITEMS)) - allowed)
    first = col.search(unique_token(inside), k=3, where=where, mode=mode)
    assert first[0].id == item_id(inside)
    for h in col.search(unique_token(outside), k=3, where=where, mode=mode):
        assert number(h) in allowed


def test_search_batch_equals_search_one_by_one(col: sleuth.Collection, mode: str) -> None:
    queries = [unique_token(3), "catalog entry", "boat wind harbor", "recipe zx020q", "nothing"]
    for where in (None, FILTERS["bool"][0]):
        batch = col.search_batch(queries, k=7, where=where, mode=mode)
        assert len(batch) == len(queries)
        for q, hits in zip(queries, batch):
            assert_same_hits(hits, col.search(q, k=7, where=where, mode=mode))


def test_explain_names_the_retrievers_used(col: sleuth.Collection, mode: str) -> None:
    hits = col.search(unique_token(13), k=3, mode=mode, explain=True)
    assert hits
    for h in hits:
        assert h.explain is not None
        assert set(h.explain["retrievers"]) == EXPLAINED[mode]
        assert h.explain["score"] == h.score
    top = hits[0].explain
    assert top is not None
    for name in EXPLAINED[mode] - {"lexical", "dense"} or EXPLAINED[mode]:
        assert top["retrievers"][name] is not None, name  # the top hit was found by it
    assert col.search(unique_token(13), k=3, mode=mode)[0].explain is None  # only when asked


GONE = [0, 13, 30]
REPLACED = 37
NEW_TEXT = "boat wind harbor anchor keel zz037new catalog"


@pytest.fixture(scope="module")
def edited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[sleuth.Collection]:
    """The catalog with three items deleted and one replaced (new unique word), reopened, so
    each retriever's saved index and its catch-up from the change log are both in play."""
    path: Path = tmp_path_factory.mktemp("edited") / "col"
    config = CollectionConfig(late=LateConfig(enabled=True))
    with sleuth.open(path, encoder="hashing", config=config) as collection:
        collection.add(CATALOG)
        collection.delete([item_id(i) for i in GONE[:2]])
    collection = sleuth.open(path, encoder="hashing")
    collection.delete([item_id(GONE[2])])  # after the reopen: the change log's part
    replaced = {**CATALOG[REPLACED], "text": NEW_TEXT}
    collection.upsert([replaced])
    yield collection
    collection.close()


def test_deleted_and_replaced_items_are_served_as_they_are_now(
    edited: sleuth.Collection, mode: str
) -> None:
    everything = edited.search("catalog", k=N_ITEMS, mode=mode)
    assert len(everything) == N_ITEMS - len(GONE)
    assert not {number(h) for h in everything} & set(GONE)
    for i in GONE:
        assert item_id(i) not in {h.id for h in edited.search(unique_token(i), k=10, mode=mode)}
    # dense: a hashed word may share its bucket with another item's (see above)
    new = f"{CATALOG[REPLACED]['title']} {NEW_TEXT}" if mode == "dense" else "zz037new"
    assert edited.search(new, k=3, mode=mode)[0].id == item_id(REPLACED)
    if mode == "lexical":  # the old word is in no item now
        assert edited.search(unique_token(REPLACED), k=3, mode=mode) == []
    for i in (1, 59):  # the others are untouched
        assert edited.search(text_of(i), k=3, mode=mode)[0].id == item_id(i)


# -- every retriever through the Retriever base, on indexes built here -------------------------

COMPRESSED = tuple(
    f"dense-{storage}{graph}"
    for storage in ("float16", "int8", "binary")
    for graph in ("", "-hnsw")
)
RETRIEVERS = ("lexical", "dense", "dense-hnsw", *COMPRESSED, "muvera", "maxsim-exact")
BATCH = [unique_token(3), "catalog entry", "boat wind harbor", "recipe zx020q", "nothing"]


def _retrievers(dense: DenseConfig) -> dict[str, Retriever]:
    """Every retriever over the catalog's indexes (docno ``i`` = item ``i``), as a collection
    builds them."""
    enc = get_encoder("hashing")
    late = LateInteraction(LateConfig(enabled=True), enc)
    docnos = np.arange(N_ITEMS, dtype=np.int64)
    texts = [text_of(i) for i in range(N_ITEMS)]
    encoded = enc.encode(texts, tokens=True)
    bm25 = BM25Index(BM25Config())
    bm25.add(docnos, texts)
    vectors = DenseIndex(dense, enc.dim)
    vectors.add(docnos, encoded.vectors)
    tokens = TokenIndex(late.config, late.dim)
    sets = late.documents(encoded.tokens or [])
    tokens.add(docnos, sets)
    fde = DenseIndex(dense, late.muvera.fde_dim)
    fde.add(docnos, late.fde(sets))
    indexes = {"bm25": bm25, "dense": vectors, "tokens": tokens, "muvera": fde}
    return retrievers_for(indexes, late)


@pytest.fixture(scope="module")
def built() -> dict[str, Retriever]:
    out = _retrievers(DenseConfig())
    out["dense-hnsw"] = _retrievers(DenseConfig(exact_threshold=10))["dense"]
    hnsw = out["dense-hnsw"]
    assert isinstance(hnsw, DenseRetriever) and hnsw.index.ann is not None  # really HNSW
    for name in COMPRESSED:  # each storage with its default rescoring, exact and HNSW
        storage, _, graph = name.removeprefix("dense-").partition("-")
        config = DenseConfig(storage=storage, exact_threshold=10 if graph else 20_000)
        dense = out[name] = _retrievers(config)["dense"]
        assert isinstance(dense, DenseRetriever) and dense.index.storage == storage
        assert (dense.index.ann is not None) == bool(graph)
    return out


@pytest.fixture(params=RETRIEVERS)
def retriever(request: pytest.FixtureRequest, built: dict[str, Retriever]) -> Retriever:
    return built[str(request.param)]


def batch_of(texts: list[str]) -> QueryBatch:
    enc = get_encoder("hashing")
    return QueryBatch(texts, enc.encode_queries, enc.encode_query_tokens)


def test_a_retriever_searches_a_batch_in_one_call(
    retriever: Retriever, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = []
    real = retriever.search_batch

    def counted(queries: QueryBatch, k: int, mask: np.ndarray | None) -> Any:
        calls.append(len(queries.texts))
        return real(queries, k, mask)

    monkeypatch.setattr(retriever, "search_batch", counted)
    found = retriever.retrieve(batch_of(BATCH), 7)
    assert calls == [len(BATCH)] and len(found.lists) == len(BATCH)


@pytest.mark.parametrize("masked", [False, True])
def test_a_batch_equals_its_queries_one_at_a_time(retriever: Retriever, masked: bool) -> None:
    mask = np.array([i % 2 == 0 for i in range(N_ITEMS)]) if masked else None
    together = retriever.retrieve(batch_of(BATCH), 7, mask).lists
    for text, (docnos, scores) in zip(BATCH, together):
        alone_docnos, alone_scores = retriever.retrieve(batch_of([text]), 7, mask).lists[0]
        assert docnos.tolist() == alone_docnos.tolist()
        np.testing.assert_allclose(scores, alone_scores, rtol=1e-5)


def test_k_is_clamped_to_the_live_items(retriever: Retriever) -> None:
    assert retriever.size == N_ITEMS
    (docnos, _), *_ = retriever.retrieve(batch_of(["catalog"]), 10 * N_ITEMS).lists
    assert docnos.size == N_ITEMS and sorted(docnos.tolist()) == list(range(N_ITEMS))


def test_the_lists_are_what_explain_shows(retriever: Retriever) -> None:
    found = retriever.retrieve(batch_of(BATCH), 5)
    assert found.name == retriever.name and found.ms >= 0
    assert found.candidates == sum(docnos.size for docnos, _ in found.lists)
    for docnos, scores in found.lists:
        assert docnos.dtype == np.int64 and docnos.size == scores.size <= 5
        assert (docnos >= 0).all() and np.isfinite(scores).all()  # no padding
        assert scores.tolist() == sorted(scores.tolist(), reverse=True)
    docnos, _ = found.lists[0]
    assert docnos[0] == 3  # the item holding the unique token, whatever the retriever


@pytest.mark.parametrize("name", sorted(FILTERS))
def test_a_mask_is_never_violated(retriever: Retriever, name: str) -> None:
    _, keeps = FILTERS[name]
    mask = np.array([bool(keeps(i)) for i in range(N_ITEMS)])
    allowed = set(np.flatnonzero(mask).tolist())
    (docnos, _), *_ = retriever.retrieve(batch_of(["catalog entry"]), N_ITEMS, mask).lists
    assert set(docnos.tolist()) == allowed
    nothing = retriever.retrieve(batch_of(BATCH), 5, np.zeros(N_ITEMS, bool))
    assert all(docnos.size == 0 for docnos, _ in nothing.lists)
