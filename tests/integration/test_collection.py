"""The Collection through its public API, on the synthetic catalog with the hashing encoder."""

from __future__ import annotations

import shutil
import sqlite3
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import sleuth
from sleuth.encoders import HashingEncoder
from sleuth.encoders.base import Encoded
from sleuth.limits import MAX_K, MAX_QUERY_CHARS
from sleuth.search import BASE_MODES as MODES  # the late modes: test_late.py
from sleuth.store import FORMAT_VERSION
from support import (
    CATALOG,
    N_ITEMS,
    TOPIC_NAMES,
    TOPICS,
    assert_same_hits,
    item_id,
    make_item,
    unique_token,
)

QUERIES = ["telescope orbit", "butter sauce recipe", f"{unique_token(7)} harbor", "catalog entry"]


def topic_of(i: int) -> str:
    return TOPIC_NAMES[i % len(TOPIC_NAMES)]


def ids_where(pred: Callable[[dict[str, Any]], bool]) -> set[str]:
    return {it["id"] for it in CATALOG if pred(it)}


def text_of(item: dict[str, Any]) -> str:
    """The text the engine indexes: the text fields joined in order."""
    return f"{item['title']} {item['text']}"


def snapshot(col: sleuth.Collection) -> dict[tuple[str, str], list[sleuth.Hit]]:
    out = {}
    for q in QUERIES:
        for mode in MODES:
            out[(q, mode)] = col.search(q, k=15, mode=mode)
        out[(q, "filtered")] = col.search(q, k=15, where={"color": "red"})
    return out


def assert_same_snapshot(
    a: dict[tuple[str, str], list[sleuth.Hit]], b: dict[tuple[str, str], list[sleuth.Hit]]
) -> None:
    assert a.keys() == b.keys()
    for key in a:
        assert a[key], key  # every query finds something: the comparison is not vacuous
        assert_same_hits(a[key], b[key])


class CountingEncoder(HashingEncoder):
    """The hashing encoder (same id, same vectors) counting the documents it encodes."""

    def __init__(self) -> None:
        super().__init__(dim=256)
        self.documents = 0

    def encode(self, texts: list[str], *, batch_size: int = 32) -> Encoded:
        self.documents += len(texts)
        return super().encode(texts, batch_size=batch_size)

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        return super().encode(texts).vectors  # queries are not counted


# -- writes and reads -------------------------------------------------------------------------


def test_add_get_count(col: sleuth.Collection) -> None:
    assert col.count() == len(col) == N_ITEMS
    got = col.get(item_id(14))
    raw = CATALOG[14]
    assert got.id == raw["id"]
    assert dict(got.fields) == {"title": raw["title"], "text": raw["text"]}
    assert dict(got.attributes) == {
        k: v for k, v in raw.items() if k not in ("id", "title", "text")
    }
    assert col.info()["attributes"] == {
        "color": "str",
        "price": "number",
        "in_stock": "bool",
        "tags": "list",
        "released": "datetime",
        "note": "str",
    }
    with pytest.raises(sleuth.NotFound, match="no item with id 'nope'"):
        col.get("nope")


def test_add_existing_id_is_conflict_and_commits_nothing(col: sleuth.Collection) -> None:
    with pytest.raises(sleuth.Conflict, match="already exists; use upsert"):
        col.add([make_item(500), CATALOG[3]])
    assert col.count() == N_ITEMS
    with pytest.raises(sleuth.NotFound):
        col.get(item_id(500))


def test_upsert_of_unchanged_items_is_a_no_op(col: sleuth.Collection) -> None:
    before, seq = snapshot(col), col.info()["seq"]
    result = col.upsert(CATALOG[:5])
    assert (result.added, result.updated, result.unchanged, result.deleted) == (0, 0, 5, 0)
    assert col.info()["seq"] == seq == result.seq
    assert_same_snapshot(before, snapshot(col))


def test_upsert_counts_added_and_updated(col: sleuth.Collection) -> None:
    changed = {**CATALOG[1], "price": 999.0}
    result = col.upsert([CATALOG[0], changed, make_item(300)])
    assert (result.added, result.updated, result.unchanged) == (1, 1, 1)
    assert col.count() == N_ITEMS + 1
    assert col.get(item_id(1)).attributes["price"] == 999.0


def test_changed_item_is_reindexed(col: sleuth.Collection) -> None:
    old = CATALOG[4]
    new = {"id": old["id"], "title": "Fresh", "text": "quokka wombat platypus", "color": "blue"}
    assert old["color"] != "blue"
    result = col.upsert([new])
    assert result.updated == 1 and col.count() == N_ITEMS
    # lexical: the old unique token is gone, the new words match
    for mode in ("lexical", "hybrid"):
        assert old["id"] not in {h.id for h in col.search(unique_token(4), k=50, mode=mode)}
    assert [h.id for h in col.search("wombat", mode="lexical")] == [old["id"]]
    # dense: the new text is the item's vector, the old text is no item's vector any more
    top = col.search("Fresh quokka wombat platypus", k=1, mode="dense")[0]
    assert top.id == old["id"] and top.score == pytest.approx(1.0, abs=1e-5)
    assert all(h.score < 0.999 for h in col.search(text_of(old), k=N_ITEMS, mode="dense"))
    # attributes: the new values only (price and tags were dropped)
    assert old["id"] in {h.id for h in col.search("wombat", where={"color": "blue"})}
    assert old["id"] not in {
        h.id
        for h in col.search("wombat", where={"price": {"exists": True}}, mode="dense", k=N_ITEMS)
    }
    assert dict(col.get(old["id"]).fields) == {"title": "Fresh", "text": new["text"]}


def test_delete_removes_from_every_mode(col: sleuth.Collection) -> None:
    gone = CATALOG[10]
    assert col.delete([gone["id"]]) == 1
    assert col.count() == N_ITEMS - 1
    for mode in MODES:
        hits = col.search(f"{unique_token(10)} {text_of(gone)}", k=N_ITEMS, mode=mode)
        assert gone["id"] not in {h.id for h in hits}, mode
        assert len(hits) == (N_ITEMS - 1 if mode != "lexical" else len(hits))
    with pytest.raises(sleuth.NotFound):
        col.get(gone["id"])
    with pytest.raises(sleuth.NotFound):
        col.similar(gone["id"])
    assert all(gone["id"] not in {h.id for h in col.similar(item_id(i), k=N_ITEMS)} for i in (0, 2))
    with pytest.raises(sleuth.NotFound, match="nothing was deleted"):
        col.delete([item_id(11), gone["id"]])
    assert col.get(item_id(11)).id == item_id(11)
    assert col.delete([gone["id"], "never-was"], missing_ok=True) == 0
    assert col.delete(item_id(11)) == 1  # a single id is accepted as is


# -- search -----------------------------------------------------------------------------------


def test_unique_token_finds_its_item(col: sleuth.Collection) -> None:
    hybrid_first = 0
    for i in range(N_ITEMS):
        assert [h.id for h in col.search(unique_token(i), k=5, mode="lexical")] == [item_id(i)]
        # dense: an item's own text is its nearest vector
        top = col.search(text_of(CATALOG[i]), k=3, mode="dense")
        assert top[0].id == item_id(i) and top[0].score == pytest.approx(1.0, abs=1e-5)
        hybrid = [h.id for h in col.search(unique_token(i), k=5, mode="hybrid")]
        hybrid_first += hybrid[0] == item_id(i)
    # Hybrid: the only lexical match comes first unless the hashing encoder's collisions give
    # other items a much higher dense score (rare); a lexical list of one candidate must count.
    assert hybrid_first >= N_ITEMS - 3


@pytest.mark.parametrize("topic", TOPIC_NAMES)
def test_lexical_topic_query_returns_exactly_the_topic(col: sleuth.Collection, topic: str) -> None:
    word = TOPICS[topic].split()[1]
    hits = col.search(word, k=N_ITEMS, mode="lexical")
    assert {h.id for h in hits} == ids_where(lambda it: it["tags"][0] == topic)
    scores = [h.score for h in hits]
    assert scores == sorted(scores, reverse=True) and scores[-1] > 0


def test_scores_sorted_and_k_respected(col: sleuth.Collection) -> None:
    for mode in MODES:
        for k in (1, 7, N_ITEMS + 5):
            hits = col.search("telescope recipe soil", k=k, mode=mode)
            assert len(hits) <= k and len({h.id for h in hits}) == len(hits)
            assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
            if mode != "lexical":
                assert len(hits) == min(k, N_ITEMS)


def test_stopword_only_query(col: sleuth.Collection) -> None:
    assert col.search("the and of", mode="lexical") == []
    assert len(col.search("the and of", k=5, mode="hybrid")) == 5


def test_search_batch_equals_single_searches(col: sleuth.Collection) -> None:
    for mode in MODES:
        batch = col.search_batch(QUERIES, k=8, mode=mode)
        for q, hits in zip(QUERIES, batch, strict=True):
            assert_same_hits(col.search(q, k=8, mode=mode), hits)


FILTERS: list[tuple[dict[str, Any], Callable[[dict[str, Any]], bool]]] = [
    ({"color": "red"}, lambda it: it["color"] == "red"),
    ({"color": "red", "in_stock": True}, lambda it: it["color"] == "red" and it["in_stock"]),
    ({"price": {"gte": 30, "lt": 45}}, lambda it: 30 <= it["price"] < 45),
    ({"tags": "sale"}, lambda it: "sale" in it["tags"]),
    ({"tags": {"nin": ["sale", "odd"]}}, lambda it: not {"sale", "odd"} & set(it["tags"])),
    ({"released": {"lt": "2020-01-05"}}, lambda it: it["released"] < "2020-01-05"),
    ({"note": {"exists": True}}, lambda it: "note" in it),
    (
        {"or": [{"color": "blue"}, {"not": {"price": {"lt": 80}}}]},
        lambda it: it["color"] == "blue" or not it["price"] < 80,
    ),
]


@pytest.mark.parametrize(("where", "pred"), FILTERS)
def test_where_returns_k_when_k_match_and_never_leaks(
    col: sleuth.Collection, where: dict[str, Any], pred: Callable[[dict[str, Any]], bool]
) -> None:
    matching = ids_where(pred)
    assert 0 < len(matching) < N_ITEMS
    for mode in ("dense", "hybrid"):
        for k in (3, len(matching), N_ITEMS):
            hits = col.search("comet recipe", k=k, where=where, mode=mode)
            assert len(hits) == min(k, len(matching)), (mode, k)
            assert {h.id for h in hits} <= matching
        assert {h.id for h in col.search("boat", k=N_ITEMS, where=where, mode=mode)} == matching
    # lexical: only matching items that contain a query term
    hits = col.search("comet recipe", k=N_ITEMS, where=where, mode="lexical")
    assert {h.id for h in hits} == matching & ids_where(
        lambda it: it["tags"][0] in ("astronomy", "cooking")
    )


def test_similar_excludes_itself(col: sleuth.Collection) -> None:
    hits = col.similar(item_id(5), k=5)
    assert len(hits) == 5 and item_id(5) not in {h.id for h in hits}
    # items of the same topic share most words: they are the nearest
    assert {h.id for h in hits} <= ids_where(lambda it: it["tags"][0] == topic_of(5))
    red = ids_where(lambda it: it["color"] == "red")
    assert item_id(6) in red
    hits = col.similar(item_id(6), k=N_ITEMS, where={"color": "red"})
    assert {h.id for h in hits} == red - {item_id(6)}
    with pytest.raises(sleuth.NotFound):
        col.similar("nope")


def test_explain(col: sleuth.Collection) -> None:
    q = "telescope butter"
    hits = col.search(q, k=10, explain=True)
    lexical = [h.id for h in col.search(q, k=100, mode="lexical")]
    dense = [h.id for h in col.search(q, k=100, mode="dense")]
    assert hits and all(h.explain is not None for h in hits)
    for h in hits:
        assert h.explain is not None
        assert h.explain["score"] == h.score
        per = h.explain["retrievers"]
        assert set(per) == {"lexical", "dense"}
        for name, ranking in (("lexical", lexical), ("dense", dense)):
            if h.id in ranking:
                assert per[name]["rank"] == ranking.index(h.id) + 1
                assert per[name]["score"] == pytest.approx(
                    col.search(q, k=100, mode=name)[ranking.index(h.id)].score
                )
            else:
                assert per[name] is None
        assert "timings_ms" not in h.explain  # the request's, in its trace
    trace = hits.trace
    assert (trace.mode, trace.k, trace.queries) == ("hybrid", 10, 1)
    timings = trace.timings_ms
    stages = ("filter_ms", "lexical_ms", "dense_ms", "fuse_ms", "fetch_ms")
    assert list(timings) == [*stages, "total_ms"]  # in the order they ran
    assert all(timings[key] >= 0 for key in stages)
    assert timings["total_ms"] >= max(timings[key] for key in stages)
    # every candidate each retriever found, at the fusion's depth
    assert trace.candidates == {"lexical": len(lexical), "dense": len(dense)}
    nebula = col.search("nebula", k=20, explain=True)  # dense-only hits say so
    assert any(h.explain is not None and h.explain["retrievers"]["lexical"] is None for h in nebula)
    single = col.search(q, k=3, mode="lexical", explain=True)[0].explain
    assert single is not None and set(single["retrievers"]) == {"lexical"}
    assert all(h.explain is None for h in col.search(q, k=3))


# -- persistence ------------------------------------------------------------------------------


def saved_indexes(col_path: Path) -> list[str]:
    """The saved indexes: folders with a manifest, and ``.npz`` files."""
    index = col_path / "index"
    return sorted(
        p.name for p in index.iterdir() if p.suffix == ".npz" or (p / "manifest.json").exists()
    )


def test_reopen_gives_identical_results(col: sleuth.Collection, col_path: Path) -> None:
    col.delete([item_id(3)])
    col.upsert([{**CATALOG[8], "text": "rewritten comet text"}])
    before = snapshot(col)
    col.close()
    assert saved_indexes(col_path) == ["attributes", "bm25", "dense.npz"]
    with sleuth.open(col_path) as again:  # its own encoder from the store
        assert again.encoder.id == "hashing:256"
        assert again.count() == N_ITEMS - 1
        assert_same_snapshot(before, snapshot(again))


def test_missing_index_files_are_rebuilt(col: sleuth.Collection, col_path: Path) -> None:
    before = snapshot(col)
    col.close()
    for path in (col_path / "index").iterdir():
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    with sleuth.open(col_path, encoder="hashing") as again:
        assert_same_snapshot(before, snapshot(again))
    assert saved_indexes(col_path) == ["attributes", "bm25", "dense.npz"]


@pytest.mark.parametrize("name", ["attributes", "bm25", "dense"])
@pytest.mark.parametrize("damage", ["truncate", "garbage"])
def test_corrupt_index_is_rebuilt_with_a_warning(
    col: sleuth.Collection, col_path: Path, name: str, damage: str
) -> None:
    before = snapshot(col)
    col.close()
    path = col_path / "index" / f"{name}.npz"
    if not path.exists():  # saved as a folder: its manifest and its largest array file
        folder = col_path / "index" / name
        path = max(folder.glob("*.bin"), key=lambda p: p.stat().st_size)
        if damage == "garbage":
            path = folder / "manifest.json"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2] if damage == "truncate" else b"\x00garbage" * 100)
    with pytest.warns(UserWarning, match=f"rebuilding the {name} index"):
        again = sleuth.open(col_path, encoder="hashing")
    with again:
        assert_same_snapshot(before, snapshot(again))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the rebuilt index was saved: no warning now
        with sleuth.open(col_path, encoder="hashing") as third:
            assert_same_snapshot(before, snapshot(third))


def test_rebuild_and_reingest_reuse_cached_vectors(tmp_path: Path) -> None:
    encoder = CountingEncoder()
    with sleuth.open(tmp_path / "c", encoder=encoder) as col:
        col.add(CATALOG)
        assert encoder.documents == N_ITEMS
        before = snapshot(col)
        col.rebuild()
        assert encoder.documents == N_ITEMS, "rebuild() encoded again"
        assert_same_snapshot(before, snapshot(col))
        # deleted then re-added items: the vectors come from the cache
        col.delete([it["id"] for it in CATALOG[:10]])
        col.add(CATALOG[:10])
        assert encoder.documents == N_ITEMS
        col.upsert([{**CATALOG[0], "text": "a new text to encode"}])
        assert encoder.documents == N_ITEMS + 1
    with sleuth.open(tmp_path / "c", encoder=encoder) as col:
        assert col.count() == N_ITEMS
        assert encoder.documents == N_ITEMS + 1, "reopening encoded again"


def test_rebuild_encodes_what_the_vector_cache_lost(tmp_path: Path) -> None:
    encoder = CountingEncoder()
    with sleuth.open(tmp_path / "c", encoder=encoder) as col:
        col.add(CATALOG)
        before = snapshot(col)
        with sqlite3.connect(tmp_path / "c" / "sleuth.sqlite") as con:
            con.execute("DELETE FROM vectors WHERE hash IN (SELECT hash FROM vectors LIMIT 7)")
        con.close()
        col.rebuild()
        assert encoder.documents == N_ITEMS + 7
        assert_same_snapshot(before, snapshot(col))


# -- opening ----------------------------------------------------------------------------------


def test_another_encoder_is_a_conflict(col: sleuth.Collection, col_path: Path) -> None:
    col.close()
    with pytest.raises(sleuth.Conflict, match="encoder 'hashing:256', not 'hashing:64'"):
        sleuth.open(col_path, encoder="hashing:64")
    with pytest.raises(sleuth.Conflict, match="another configuration"):
        sleuth.open(col_path, config=sleuth.CollectionConfig(text_fields=("body",)))
    with sleuth.open(col_path, encoder="hashing") as again:  # still opens with its own
        assert again.count() == N_ITEMS


def test_folder_that_is_not_a_collection(tmp_path: Path) -> None:
    (tmp_path / "stuff").mkdir()
    (tmp_path / "stuff" / "notes.txt").write_text("hello")
    with pytest.raises(sleuth.InvalidCollection, match="not a sleuth collection"):
        sleuth.open(tmp_path / "stuff", encoder="hashing")
    assert sorted(p.name for p in (tmp_path / "stuff").iterdir()) == ["notes.txt"]
    (tmp_path / "afile").write_text("x")
    with pytest.raises(sleuth.InvalidCollection, match="is a file"):
        sleuth.open(tmp_path / "afile", encoder="hashing")
    (tmp_path / "empty").mkdir()
    with sleuth.open(tmp_path / "empty", encoder="hashing") as col:  # empty: created
        assert col.count() == 0


@pytest.mark.parametrize(
    ("sql", "match"),
    [
        (f"UPDATE meta SET value = {FORMAT_VERSION + 1} WHERE key = 'format_version'", "newer"),
        ("DELETE FROM meta WHERE key = 'format_version'", "missing or unreadable format version"),
    ],
)
def test_format_version_checked(
    col: sleuth.Collection, col_path: Path, sql: str, match: str
) -> None:
    col.close()
    with sqlite3.connect(col_path / "sleuth.sqlite") as con:
        con.execute(sql)
    con.close()
    with pytest.raises(sleuth.InvalidCollection, match=match):
        sleuth.open(col_path, encoder="hashing")


# -- bad input --------------------------------------------------------------------------------


BAD_ITEMS: list[tuple[Any, str]] = [
    ({"text": "no id here"}, "has no 'id'"),
    ({"id": 5, "text": "x"}, "item id must be a string, got int"),
    ({"id": " padded", "text": "x"}, "without leading or trailing white space"),
    ({"id": "t1"}, "has no text"),
    ({"id": "t1", "title": " ", "text": ""}, "has no text"),
    ({"id": "t1", "text": 5}, "text field 'text' must be a string, got int"),
    ({"id": "t1", "text": "x", "meta": {"a": 1}}, "attribute 'meta' has a value of type dict"),
    ({"id": "t1", "text": "x", "price": float("nan")}, "attribute 'price' has a value of type"),
    ({"id": "t1", "text": "x", "tags": ["a", 1]}, "attribute 'tags' has a value of type list"),
    ({"id": "t1", "text": "x", "and": 1}, "field name 'and' is not allowed"),
    (
        {"id": "t1", "text": "x", "price": "cheap"},
        "attribute 'price' is str but the collection stores number",
    ),
    (
        {"id": "t1", "text": "x", "in_stock": 1},
        "attribute 'in_stock' is number but the collection stores bool",
    ),
    ("just a string", "must be a JSON object"),
]


@pytest.mark.parametrize("method", ["add", "upsert"])
@pytest.mark.parametrize(("bad", "message"), BAD_ITEMS)
def test_bad_items_are_rejected_and_nothing_is_committed(
    col: sleuth.Collection, method: str, bad: Any, message: str
) -> None:
    seq = col.info()["seq"]
    good = make_item(400)
    with pytest.raises(sleuth.InvalidInput, match=message) as err:
        getattr(col, method)([good, bad, make_item(401)])
    if "collection stores" not in message:  # validation errors name the item's position
        assert str(err.value).startswith("item 1:")
    assert col.count() == N_ITEMS and col.info()["seq"] == seq
    with pytest.raises(sleuth.NotFound):
        col.get(good["id"])
    assert col.search(unique_token(400), mode="lexical") == []


def test_duplicate_id_in_one_batch(col: sleuth.Collection) -> None:
    with pytest.raises(sleuth.InvalidInput, match="item 2: id 'item-400' appears twice"):
        col.upsert([make_item(400), make_item(401), make_item(400)])
    assert col.count() == N_ITEMS


def test_attribute_type_conflict_within_a_batch_registers_nothing(col: sleuth.Collection) -> None:
    batch = [{**make_item(400), "size": 3}, {**make_item(401), "size": "large"}]
    with pytest.raises(sleuth.InvalidInput, match="'size' is str but the collection stores number"):
        col.add(batch)
    assert col.count() == N_ITEMS and "size" not in col.info()["attributes"]
    col.add([{**make_item(402), "size": "large"}])  # the rolled-back type did not stick
    assert col.info()["attributes"]["size"] == "str"
    assert [h.id for h in col.search("zx402q", where={"size": "large"})] == [item_id(402)]


@pytest.mark.parametrize("k", [0, -1, MAX_K + 1, True, 2.5, "10"])
def test_bad_k(col: sleuth.Collection, k: Any) -> None:
    with pytest.raises(sleuth.InvalidInput, match=f"k must be an integer from 1 to {MAX_K}"):
        col.search("comet", k=k)
    with pytest.raises(sleuth.InvalidInput, match="k must be an integer"):
        col.similar(item_id(1), k=k)


def test_k_at_max_is_allowed(col: sleuth.Collection) -> None:
    assert len(col.search("comet", k=MAX_K, mode="dense")) == N_ITEMS


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda c: c.search(""), "the query is empty"),
        (lambda c: c.search("   \n"), "the query is empty"),
        (lambda c: c.search(None), "a query must be a string, got NoneType"),
        (lambda c: c.search("x" * (MAX_QUERY_CHARS + 1)), f"the maximum is {MAX_QUERY_CHARS}"),
        (
            lambda c: c.search("comet", mode="fuzzy"),
            "unknown mode 'fuzzy'; allowed: lexical, dense, hybrid",
        ),
        (lambda c: c.search_batch([]), "non-empty list of strings"),
        (lambda c: c.search_batch("comet"), "non-empty list of strings"),
        (
            lambda c: c.search("comet", where={"colour": "red"}),
            "unknown attribute 'colour' in filter; known attributes: color, in_stock, note, price, "
            "released, tags",
        ),
        (lambda c: c.search("comet", where={"price": "cheap"}), "must be number"),
    ],
)
def test_bad_queries(
    col: sleuth.Collection, call: Callable[[sleuth.Collection], Any], message: str
) -> None:
    with pytest.raises(sleuth.InvalidInput) as err:
        call(col)
    assert message in str(err.value)
    assert isinstance(err.value, ValueError)  # InvalidInput is also a ValueError


# -- more engine paths ------------------------------------------------------------------------


def test_another_handle_catches_up_with_writes(col: sleuth.Collection, col_path: Path) -> None:
    """A second handle on the folder replays the change log: deletes, updates, new items."""
    with sleuth.open(col_path, encoder="hashing") as other:
        assert other.count() == N_ITEMS
        col.delete([item_id(20)])
        col.upsert([{**CATALOG[21], "text": "replaced by okapi"}, make_item(200)])
        assert other.count() == N_ITEMS
        assert [h.id for h in other.search("okapi", mode="lexical")] == [item_id(21)]
        assert [h.id for h in other.search(unique_token(200), mode="lexical")] == [item_id(200)]
        for mode in MODES:
            ids = {h.id for h in other.search(unique_token(20), k=N_ITEMS, mode=mode)}
            assert item_id(20) not in ids
        info = other.info()["indexes"]
        assert info["bm25"]["live"] == info["dense"]["live"] == N_ITEMS
        assert_same_hits(col.search("okapi comet", k=10), other.search("okapi comet", k=10))


def test_rrf_fusion_scores_follow_the_ranks(tmp_path: Path) -> None:
    fusion = sleuth.FusionConfig(method="rrf", rrf_k=10, weights=(2.0, 1.0))
    config = sleuth.CollectionConfig(fusion=fusion)
    with sleuth.open(tmp_path / "c", encoder="hashing", config=config) as col:
        col.add(CATALOG)
        hits = col.search("telescope butter", k=20, explain=True)
        assert len(hits) == 20
        for h in hits:
            assert h.explain is not None
            expected = sum(
                w / (fusion.rrf_k + r["rank"])
                for w, r in zip(
                    fusion.weights,
                    (h.explain["retrievers"]["lexical"], h.explain["retrievers"]["dense"]),
                    strict=True,
                )
                if r is not None
            )
            assert h.score == pytest.approx(expected, rel=1e-6)


def test_adaptive_fusion_and_minmax(tmp_path: Path) -> None:
    fusion = sleuth.FusionConfig(normalization="minmax", adaptive=True)
    with sleuth.open(
        tmp_path / "c", encoder="hashing", config=sleuth.CollectionConfig(fusion=fusion)
    ) as col:
        col.add(CATALOG)
        for i in (3, 30):
            assert col.search(unique_token(i), k=5)[0].id == item_id(i)
        assert len(col.search("the of", k=7)) == 7  # no known term: all weight to dense


def test_custom_text_fields(tmp_path: Path) -> None:
    config = sleuth.CollectionConfig(text_fields=("name", "body"))
    with sleuth.open(tmp_path / "c", encoder="hashing", config=config) as col:
        col.add(
            [
                {"id": "a", "name": "Ocelot", "body": "a wild cat", "title": "ignored"},
                {"id": "b", "body": "a tame dog", "text": "ignored"},
            ]
        )
        assert dict(col.get("a").fields) == {"name": "Ocelot", "body": "a wild cat"}
        assert dict(col.get("a").attributes) == {"title": "ignored"}
        assert [h.id for h in col.search("ocelot", mode="lexical")] == ["a"]
        assert col.search("ignored", mode="lexical") == []  # attributes are not text
        assert [h.id for h in col.search("dog", where={"text": "ignored"})] == ["b"]
        with pytest.raises(sleuth.InvalidInput, match=r"has no text: .*\(name, body\)"):
            col.add([{"id": "c", "title": "only an attribute"}])


def test_identical_texts_share_one_vector(tmp_path: Path) -> None:
    encoder = CountingEncoder()
    with sleuth.open(tmp_path / "c", encoder=encoder) as col:
        col.add(
            [
                {"id": "a", "text": "same words"},
                {"id": "b", "text": "same words"},
                {"id": "c", "text": "other words entirely"},
            ]
        )
        assert encoder.documents == 2
        top = col.search("same words", k=2, mode="dense")
        assert {h.id for h in top} == {"a", "b"}
        assert all(h.score == pytest.approx(1.0, abs=1e-5) for h in top)


def test_empty_collection(tmp_path: Path) -> None:
    with sleuth.open(tmp_path / "c", encoder="hashing") as col:
        assert col.count() == 0
        for mode in MODES:
            assert col.search("anything", mode=mode) == []
        with pytest.raises(sleuth.NotFound):
            col.similar("x")
        with pytest.raises(sleuth.InvalidInput, match="known attributes: none yet"):
            col.search("anything", where={"color": "red"})
        col.add([{"id": "only", "text": "lonely item"}])
        assert col.similar("only") == []
        assert [h.id for h in col.search("lonely")] == ["only"]


def test_attribute_type_does_not_depend_on_item_order(tmp_path: Path) -> None:
    outcomes = []
    for n, values in enumerate((("latest", "2024-01-15"), ("2024-01-15", "latest"))):
        with sleuth.open(tmp_path / str(n), encoder="hashing") as col:
            try:
                for i, value in enumerate(values):
                    col.add([{"id": str(i), "text": "some text", "version": value}])
                outcomes.append(("accepted", col.info()["attributes"]["version"]))
            except sleuth.InvalidInput:
                outcomes.append(("rejected", col.info()["attributes"]["version"]))
    assert outcomes[0] == outcomes[1]


def test_encoder_name_is_not_mistaken_for_a_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "hashing").mkdir()  # an unrelated folder that happens to share the name
    with sleuth.open(tmp_path / "c", encoder="hashing") as col:
        col.add([{"id": "a", "text": "some text"}])
    with sleuth.open(tmp_path / "c") as col:  # its own encoder, from the store
        assert col.encoder.id == "hashing:256" and col.count() == 1
