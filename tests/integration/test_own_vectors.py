"""Bring your own vectors (issue 12): collections without a text encoder, items that carry
their vector in any collection, bad vectors refused with nothing written, bulk arrays and
memmaps, and searches by vector."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import sleuth
from sleuth.errors import Conflict, InvalidInput

DIM = 8


def unit(rows: np.ndarray) -> np.ndarray:
    return (rows / np.linalg.norm(rows, axis=-1, keepdims=True)).astype(np.float32)


@pytest.fixture
def vectors() -> np.ndarray:
    return np.random.default_rng(7).standard_normal((50, DIM)).astype(np.float32)


@pytest.fixture
def bare(tmp_path: Path, vectors: np.ndarray) -> sleuth.Collection:
    """A collection without encoder: 50 items, their vectors in a bulk array, a few titled."""
    col = sleuth.open(tmp_path / "bare", encoder="none", dim=DIM)
    items = [
        {
            "id": f"i{n}",
            "kind": "even" if n % 2 == 0 else "odd",
            **({"title": f"word{n}"} if n < 5 else {}),
        }
        for n in range(50)
    ]
    col.add(items, vectors=vectors)
    return col


# -- 1. collections without a text encoder ----------------------------------------------------


def test_a_collection_without_encoder_is_created_reopened_and_fixed_in_dimension(
    tmp_path: Path, bare: sleuth.Collection
) -> None:
    assert bare.encoder.id == "none:8" and bare.dim == DIM
    assert bare.config.encoder == "none:8" and bare.config.dim == DIM
    assert bare.info()["indexes"]["dense"]["live"] == 50
    bare.close()
    for kwargs in ({}, {"encoder": "none"}, {"encoder": "none", "dim": DIM}, {"dim": DIM}):
        with sleuth.open(tmp_path / "bare", **kwargs) as col:
            assert col.count() == 50 and col.dim == DIM
    with pytest.raises(Conflict, match="8 dimensions, not 16"):
        sleuth.open(tmp_path / "bare", dim=16)
    with pytest.raises(Conflict, match="none:8"):
        sleuth.open(tmp_path / "bare", encoder="hashing:8")
    with sleuth.open(tmp_path / "cfg", config=sleuth.CollectionConfig(encoder="none", dim=4)) as c:
        assert c.encoder.id == "none:4"


def test_creation_checks_the_dimension_before_writing_anything(tmp_path: Path) -> None:
    for kwargs, says in (
        ({"encoder": "none"}, "needs the dimension"),
        ({"encoder": "none", "dim": 0}, "dim"),
        ({"encoder": "hashing:16", "dim": 32}, "does not match"),
        (
            {"encoder": "none", "dim": 4, "config": sleuth.CollectionConfig(dim=5)},
            "differ",
        ),
        (
            {
                "encoder": "none",
                "dim": 4,
                "config": sleuth.CollectionConfig(late=sleuth.LateConfig(enabled=True)),
            },
            "token vectors",
        ),
    ):
        with pytest.raises(InvalidInput, match=says):
            sleuth.open(tmp_path / "new", **kwargs)
        assert not (tmp_path / "new").exists()
    with sleuth.open(tmp_path / "ok", encoder="hashing:16", dim=16) as col:
        assert col.config.dim == 16


def test_items_without_encoder_need_a_vector_and_text_is_optional(bare: sleuth.Collection) -> None:
    with pytest.raises(InvalidInput, match=r"item 1 \('x'\) has no vector.*no text encoder"):
        bare.add([{"id": "w", "vector": [1.0] * DIM}, {"id": "x", "title": "only text"}])
    assert bare.count() == 50
    assert bare.get("i7").fields == {} and bare.get("i7").attributes == {"kind": "odd"}
    # BM25 indexes the text the items have
    assert [h.id for h in bare.search("word3", mode="lexical")] == ["i3"]


# -- 2. vectors given in a collection with an encoder ------------------------------------------


def test_given_vectors_are_used_and_the_encoder_encodes_only_the_rest(tmp_path: Path) -> None:
    col = sleuth.open(tmp_path / "c", encoder="hashing:16")
    mine = unit(np.arange(1, 17, dtype=np.float32))
    col.add(
        [
            {"id": "a", "title": "red apple"},
            {"id": "b", "title": "red apple", "vector": mine.tolist()},
        ]
    )
    assert col.encoded_texts == 1  # "b" brought its own
    encoded = col.vectors(["a"])[0]
    assert np.allclose(col.vectors(["b"])[0], mine)
    assert not np.allclose(encoded, mine)
    # "c" has the same text as "a" but its own vector: the cache never serves it "a"'s
    col.add([{"id": "c", "title": "red apple", "vector": (-mine).tolist()}])
    assert np.allclose(col.vectors(["c"])[0], -mine) and col.encoded_texts == 1
    # and "d" has no vector but the text of "b": it gets the encoder's, not "b"'s
    col.add([{"id": "d", "title": "red apple"}])
    assert np.allclose(col.vectors(["d"])[0], encoded) and col.encoded_texts == 1
    # an item may bring a vector and no text at all
    col.add([{"id": "e", "vector": mine.tolist(), "kind": "x"}])
    assert [h.id for h in col.search(vector=mine.tolist(), k=2, mode="dense")] == ["b", "e"]


def test_an_upsert_changing_only_the_vector_is_an_update(tmp_path: Path) -> None:
    col = sleuth.open(tmp_path / "c", encoder="hashing:16")
    first, second = unit(np.eye(16, dtype=np.float32)[:2])
    item = {"id": "a", "title": "t", "kind": "k"}
    assert col.add([{**item, "vector": first.tolist()}]).added == 1
    same = col.upsert([{**item, "vector": (first * 3).tolist()}])  # same direction
    assert (same.unchanged, same.updated) == (1, 0)
    changed = col.upsert([{**item, "vector": second.tolist()}])
    assert (changed.unchanged, changed.updated) == (0, 1)
    assert np.allclose(col.vectors(["a"])[0], second)
    # without a vector, the encoder's takes its place
    back = col.upsert([item])
    assert back.updated == 1 and col.encoded_texts == 1
    assert np.allclose(col.vectors(["a"])[0], col.encoder.encode(["t"]).vectors[0])
    assert col.upsert([item]).unchanged == 1
    col.close()
    with sleuth.open(tmp_path / "c") as again:  # the vectors came back from the store
        assert np.allclose(again.vectors(["a"])[0], col.encoder.encode(["t"]).vectors[0])
        again.rebuild()
        assert again.count() == 1


def test_given_vectors_survive_a_rebuild_and_reopen(
    tmp_path: Path, bare: sleuth.Collection, vectors: np.ndarray
) -> None:
    want = unit(vectors[:5])
    bare.rebuild()
    assert np.allclose(bare.vectors([f"i{n}" for n in range(5)]), want, atol=1e-6)
    bare.close()
    (tmp_path / "bare" / "index" / "dense.npz").unlink()
    shutil.rmtree(tmp_path / "bare" / "index" / "bm25")
    with sleuth.open(tmp_path / "bare") as col:
        assert np.allclose(col.vectors([f"i{n}" for n in range(5)]), want, atol=1e-6)


# -- 3. bad vectors ----------------------------------------------------------------------------

GOOD = [0.5] * DIM


@pytest.mark.parametrize(
    ("vector", "says"),
    [
        ([0.5] * (DIM - 1), "has 7 numbers; this collection (encoder none:8) takes vectors of 8"),
        ([0.5] * (DIM + 1), "has 9 numbers"),
        ([0.5] * 70_000, "more than 65536"),
        ([], "is empty"),
        ([float("nan"), *GOOD[1:]], "vector[0] is nan"),
        ([*GOOD[:3], float("inf"), *GOOD[4:]], "vector[3] is inf"),
        ([*GOOD[:2], "0.5", *GOOD[3:]], "vector[2] is str"),
        ([True, *GOOD[1:]], "vector[0] is bool"),
        ([GOOD[:2], *GOOD[1:]], "vector[0] is list"),
        ([*GOOD[:1], None, *GOOD[2:]], "vector[1] is NoneType"),
        ([0.0] * DIM, "all zeros"),
        ("0.5, 0.5", "got str"),
        ({"x": 1.0}, "got dict"),
    ],
)
def test_a_bad_vector_names_the_item_and_nothing_is_written(
    bare: sleuth.Collection, vector: Any, says: str
) -> None:
    seq = bare.info()["seq"]
    batch = [
        {"id": "new-0", "vector": GOOD},
        {"id": "i3", "vector": GOOD},
        {"id": "bad", "vector": vector},
    ]
    with pytest.raises(InvalidInput) as err:
        bare.upsert(batch)
    message = err.value.message
    assert message.startswith("item 2") and "'bad'" in message and says in message, message
    assert bare.count() == 50 and bare.info()["seq"] == seq
    assert not bare.store.docnos_of(["new-0", "bad"])


def test_a_vector_space_the_collection_lacks_is_refused(bare: sleuth.Collection) -> None:
    with pytest.raises(InvalidInput, match="vector space 'image' is not one of") as err:
        bare.add([{"id": "n", "vector": GOOD, "vectors": {"image": GOOD}}])
    assert err.value.details["id"] == "n" and "none besides the default" in err.value.message
    with pytest.raises(InvalidInput, match="space 'image'"):
        bare.add([{"id": "n", "vector": GOOD}], vectors={"image": np.ones((1, DIM))})
    assert bare.count() == 50


def test_bad_bulk_arrays_name_the_item_and_write_nothing(bare: sleuth.Collection) -> None:
    items = [{"id": f"n{i}"} for i in range(3)]
    nan = np.ones((3, DIM))
    nan[1, 4] = np.nan
    cases: list[tuple[Any, str]] = [
        (np.ones((3, DIM - 1)), r"shape \[3, 8\]"),
        (np.ones((2, DIM)), r"shape \[3, 8\]"),
        (np.ones(3 * DIM), r"shape \[3, 8\]"),
        (np.ones((3, DIM), bool), "numeric"),
        (np.array([["a"] * DIM] * 3), "numeric"),
        ([[1.0] * DIM] * 3, "numpy array"),
        (nan, r"item 1 \('n1'\): its vector \(row 1\)\[4\] is nan"),
        (np.zeros((3, DIM)), r"item 0 \('n0'\).*all zeros"),
    ]
    for array, says in cases:
        with pytest.raises(InvalidInput, match=says):
            bare.add(items, vectors=array)
    with pytest.raises(InvalidInput, match=r"item 0 \('n0'\) has a \"vector\" and vectors="):
        bare.add([{"id": "n0", "vector": GOOD}], vectors=np.ones((1, DIM)))
    assert bare.count() == 50 and not bare.store.docnos_of([f"n{i}" for i in range(3)])


def test_late_interaction_needs_text_also_with_a_vector(tmp_path: Path) -> None:
    config = sleuth.CollectionConfig(late=sleuth.LateConfig(enabled=True))
    col = sleuth.open(tmp_path / "late", encoder="hashing:16", config=config)
    with pytest.raises(InvalidInput, match=r"item 0 \('a'\) has no text: with late interaction"):
        col.add([{"id": "a", "vector": [1.0] * 16}])
    col.add([{"id": "a", "title": "late text", "vector": [1.0] * 16}])
    assert [h.id for h in col.search("late text", mode="hybrid+maxsim")] == ["a"]


# -- 4. bulk -----------------------------------------------------------------------------------


def test_a_memmapped_npy_file_is_ingested_and_upserted(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    array = rng.standard_normal((300, DIM)).astype(np.float32)
    np.save(tmp_path / "v.npy", array)
    col = sleuth.open(tmp_path / "c", encoder="none", dim=DIM)
    items = [{"id": f"m{i}", "n": i} for i in range(300)]
    assert col.add(items, vectors=np.load(tmp_path / "v.npy", mmap_mode="r")).added == 300
    assert np.allclose(col.vectors(["m7"])[0], unit(array[7]), atol=1e-6)
    again = col.upsert(items, vectors=np.load(tmp_path / "v.npy", mmap_mode="r"))
    assert again.unchanged == 300
    moved = array.copy()
    moved[:10] = rng.standard_normal((10, DIM))
    result = col.upsert(items, vectors=moved.astype(np.float64))  # any numeric dtype
    assert (result.updated, result.unchanged) == (10, 290)
    hits = col.search(vector=moved[4].tolist(), k=1, mode="dense")
    assert hits[0].id == "m4" and hits[0].score == pytest.approx(1.0, abs=1e-5)


# -- 5. search by vector -----------------------------------------------------------------------


def test_search_by_vector_dense_hybrid_and_batch(
    bare: sleuth.Collection, vectors: np.ndarray
) -> None:
    exact = unit(vectors) @ unit(vectors[10])
    want = [f"i{n}" for n in np.argsort(-exact)[:5]]
    hits = bare.search(vector=vectors[10].tolist(), k=5, mode="dense")
    assert [h.id for h in hits] == want and hits.trace.mode == "dense"
    assert [h.id for h in bare.search(vector=vectors[10], k=5, mode="dense")] == want  # array
    odd = bare.search(vector=vectors[10].tolist(), k=5, mode="dense", where={"kind": "odd"})
    assert len(odd) == 5 and all(h.attributes["kind"] == "odd" for h in odd)
    # hybrid: BM25 on the text, dense on the given vector
    fused = bare.search("word3", vector=vectors[3].tolist(), k=3, explain=True)
    assert fused[0].id == "i3" and set((fused[0].explain or {})["retrievers"]) == {
        "lexical",
        "dense",
    }
    batch = bare.search_batch(vectors=vectors[[10, 20]], k=5, mode="dense")
    assert [h.id for h in batch[0]] == want and batch[1][0].id == "i20"
    both = bare.search_batch(["word1", "word2"], vectors=[vectors[1], vectors[2]], k=2)
    assert [b[0].id for b in both] == ["i1", "i2"]


@pytest.mark.parametrize(
    ("kwargs", "says"),
    [
        ({"vector": GOOD, "mode": "lexical"}, "reads the query text"),
        ({"vector": GOOD, "mode": "hybrid"}, "reads the query text"),
        ({"query": "word1", "mode": "dense"}, "no text encoder"),
        ({"query": "word1", "mode": "hybrid"}, "no text encoder"),
        ({"vector": GOOD[:-1], "mode": "dense"}, "query 0: its vector has 7 numbers"),
        ({"vector": [float("nan")] * DIM, "mode": "dense"}, r"query 0: its vector\[0\] is nan"),
        ({"vector": ["a"] * DIM, "mode": "dense"}, "is str"),
        ({"vector": [0.0] * DIM, "mode": "dense"}, "all zeros"),
        ({"mode": "dense"}, "give the query text"),
    ],
)
def test_a_search_that_cannot_run_says_why(
    bare: sleuth.Collection, kwargs: dict[str, Any], says: str
) -> None:
    with pytest.raises(InvalidInput, match=says):
        bare.search(k=3, **kwargs)


def test_batch_vectors_must_match_the_queries(bare: sleuth.Collection) -> None:
    with pytest.raises(InvalidInput, match="2 vectors for 1 queries"):
        bare.search_batch(["a"], vectors=[GOOD, GOOD])
    with pytest.raises(InvalidInput, match=r"shape \[1, 8\]"):
        bare.search_batch(["a"], vectors=np.ones((2, DIM)))
    with pytest.raises(InvalidInput, match="non-empty list"):
        bare.search_batch(vectors="abc", mode="dense")
    assert bare.search("word1", mode="lexical")[0].id == "i1"  # text alone: lexical works


def test_a_server_warms_a_collection_without_encoder_up(tmp_path: Path) -> None:
    with sleuth.Engine(tmp_path / "data") as engine:
        engine.create("v", encoder="none", dim=DIM).add([{"id": "a", "vector": GOOD}])
    with sleuth.Engine(tmp_path / "data") as engine:
        assert engine.open_all() == {}
        assert engine.get("v").search(vector=GOOD, mode="dense")[0].id == "a"
