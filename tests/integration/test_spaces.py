"""Named vector spaces (issue 12): each with its dimension and metric (cosine, dot, l2), checked
against a numpy brute-force reference through the public API, also with filters, after
updates, deletes and a reopen, in the exact and the approximate (IVF) index; bad vectors
refused with nothing written."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

import sleuth
from sleuth import CollectionConfig, DenseConfig, SpaceConfig
from sleuth.errors import Conflict, InvalidInput

N = 120
SPACES = {
    "img": {"dim": 6, "metric": "cosine"},
    "ip": {"dim": 5, "metric": "dot"},
    "geo": {"dim": 3, "metric": "l2"},
}
DIMS = {name: int(spec["dim"]) for name, spec in SPACES.items()}  # type: ignore[call-overload]


def reference(
    metric: str, matrix: np.ndarray, query: np.ndarray, k: int
) -> tuple[list[int], np.ndarray]:
    """Rows and scores of the ``k`` best, by brute force in float64."""
    x, q = matrix.astype(np.float64), query.astype(np.float64)
    if metric == "cosine":
        scores = (x / np.linalg.norm(x, axis=1, keepdims=True)) @ (q / np.linalg.norm(q))
    elif metric == "dot":
        scores = x @ q
    else:
        scores = -np.linalg.norm(x - q, axis=1)
    order = np.argsort(-scores, kind="stable")[:k]
    return order.tolist(), scores[order]


@pytest.fixture
def data() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(11)
    # norms spread over 0.5..4 so that dot and cosine rank differently
    return {
        name: (rng.standard_normal((N, dim)) * rng.uniform(0.5, 4.0, (N, 1))).astype(np.float32)
        for name, dim in DIMS.items()
    }


def make(path: Path, data: dict[str, np.ndarray], **dense: Any) -> sleuth.Collection:
    config = CollectionConfig(spaces=SPACES, dense=DenseConfig(**dense))  # type: ignore[arg-type]
    col = sleuth.open(path, encoder="hashing:32", config=config)
    items = [
        {
            "id": f"i{n}",
            "title": f"word{n % 7} item",
            "kind": "even" if n % 2 == 0 else "odd",
            "vectors": {name: data[name][n].tolist() for name in DIMS},
        }
        for n in range(N)
    ]
    col.add(items)
    return col


def check(
    col: sleuth.Collection,
    data: dict[str, np.ndarray],
    ids: list[str],
    *,
    where: dict[str, Any] | None = None,
    exact: bool = True,
) -> None:
    """Every space's top 10 for a few queries matches the reference over ``ids`` (rows of
    ``data`` by id): the same ids (exact index) or at least 9 of 10 (IVF), scores within
    1e-4."""
    rng = np.random.default_rng(3)
    rows = {f"i{n}": n for n in range(N)}
    for name, spec in SPACES.items():
        metric = str(spec["metric"])
        matrix = np.stack([data[name][rows[i]] for i in ids])
        for _ in range(4):
            q = (rng.standard_normal(DIMS[name]) * 2).astype(np.float32)
            want, scores = reference(metric, matrix, q, 10)
            hits = col.search(vector=q.tolist(), space=name, k=10, mode="dense", where=where)
            got = [h.id for h in hits]
            if exact:
                assert got == [ids[r] for r in want], (name, metric)
            else:
                assert len(set(got) & {ids[r] for r in want}) >= 9, (name, metric)
            by_id = dict(zip([ids[r] for r in want], scores))
            for h in hits:
                if h.id in by_id:
                    assert h.score == pytest.approx(by_id[h.id], abs=1e-4, rel=1e-4)


@pytest.mark.parametrize("dense", [{}, {"exact_threshold": 40, "ef_search": 200}])
def test_each_metric_matches_brute_force_after_updates_deletes_and_reopen(
    tmp_path: Path, data: dict[str, np.ndarray], dense: dict[str, Any]
) -> None:
    exact = not dense
    col = make(tmp_path / "c", data, **dense)
    ids = [f"i{n}" for n in range(N)]
    check(col, data, ids, exact=exact)
    evens = [i for i in ids if int(i[1:]) % 2 == 0]
    check(col, data, evens, where={"kind": "even"}, exact=exact)
    # updates: new vectors for 20 items; deletes: 15 others
    rng = np.random.default_rng(5)
    for name in DIMS:
        data[name][:20] = rng.standard_normal((20, DIMS[name])).astype(np.float32) * 3
    updated = col.upsert(
        [
            {
                "id": f"i{n}",
                "title": f"word{n % 7} item",
                "kind": "even" if n % 2 == 0 else "odd",
                "vectors": {name: data[name][n].tolist() for name in DIMS},
            }
            for n in range(20)
        ]
    )
    assert updated.updated == 20
    col.delete([f"i{n}" for n in range(100, 115)])
    live = [f"i{n}" for n in range(N) if not 100 <= n < 115]
    check(col, data, live, exact=exact)
    col.close()
    with sleuth.open(tmp_path / "c") as again:
        assert again.config.spaces == {k: SpaceConfig(**v) for k, v in SPACES.items()}  # type: ignore[arg-type]
        check(again, data, live, exact=exact)
        check(again, data, [i for i in live if int(i[1:]) % 2], where={"kind": "odd"}, exact=exact)
        again.rebuild()
        check(again, data, live, exact=exact)


def test_bulk_arrays_per_space_give_what_items_give(
    tmp_path: Path, data: dict[str, np.ndarray]
) -> None:
    by_items = make(tmp_path / "a", data)
    arrays = {}
    for name in DIMS:  # one space from a memory-mapped .npy file
        np.save(tmp_path / f"{name}.npy", data[name])
        arrays[name] = np.load(tmp_path / f"{name}.npy", mmap_mode="r")
    bulk = sleuth.open(tmp_path / "b", encoder="hashing:32", config=by_items.config)
    bulk.add(
        [{"id": f"i{n}", "title": f"word{n % 7} item", "kind": "x"} for n in range(N)],
        vectors=arrays,
    )
    for name in DIMS:
        np.testing.assert_allclose(
            bulk.vectors(["i3", "i77"], space=name),
            by_items.vectors(["i3", "i77"], space=name),
            rtol=1e-6,
        )
        q = data[name][9] * 0.5
        assert [h.id for h in bulk.search(vector=q, space=name, mode="dense")] == [
            h.id for h in by_items.search(vector=q, space=name, mode="dense")
        ]
    # the cosine space holds unit vectors, the others the vectors as given
    img = bulk.vectors(["i3"], space="img")[0]
    assert np.linalg.norm(img) == pytest.approx(1.0, abs=1e-6)
    np.testing.assert_allclose(bulk.vectors(["i3"], space="ip")[0], data["ip"][3], rtol=1e-6)
    np.testing.assert_allclose(bulk.vectors(["i3"], space="geo")[0], data["geo"][3], rtol=1e-6)
    info = bulk.info()
    assert info["spaces"]["geo"] == {"dim": 3, "metric": "l2", "items": N}
    assert info["spaces"]["default"]["metric"] == "cosine"
    assert {"dense-img", "dense-ip", "dense-geo"} <= set(info["indexes"])


def test_a_vector_per_space_is_optional_and_upserts_see_space_vectors(
    tmp_path: Path,
) -> None:
    col = sleuth.open(
        tmp_path / "c", encoder="hashing:32", spaces={"geo": {"dim": 2, "metric": "l2"}}
    )
    col.add(
        [
            {"id": "a", "title": "alpha", "vectors": {"geo": [0, 0]}},  # zeros: fine for l2
            {"id": "b", "title": "beta", "vectors": {"geo": [3, 4]}},
            {"id": "c", "title": "gamma"},
        ]
    )
    assert col.info()["spaces"]["geo"]["items"] == 2
    hits = col.search(vector=[0, 0], space="geo", k=5, mode="dense")
    assert [h.id for h in hits] == ["a", "b"]
    assert [h.score for h in hits] == pytest.approx([0.0, -5.0], abs=1e-5)
    same = col.upsert([{"id": "b", "title": "beta", "vectors": {"geo": [3, 4]}}])
    assert same.unchanged == 1
    moved = col.upsert([{"id": "b", "title": "beta", "vectors": {"geo": [0, 1]}}])
    assert moved.updated == 1
    dropped = col.upsert([{"id": "a", "title": "alpha"}])  # no geo vector any more
    assert dropped.updated == 1
    hits = col.search(vector=[0, 0], space="geo", k=5, mode="dense")
    assert [(h.id, round(h.score, 5)) for h in hits] == [("b", -1.0)]
    assert col.info()["spaces"]["geo"]["items"] == 1
    with pytest.raises(sleuth.NotFound, match="no item with id 'a' with a vector in space 'geo'"):
        col.vectors(["a"], space="geo")
    default = col.search(vector=col.vectors(["c"])[0], space="default", k=1, mode="dense")
    assert default[0].id == "c" and default[0].score == pytest.approx(1.0, abs=1e-5)
    # an Item object brings its named vectors too
    col.upsert([sleuth.Item(id="d", fields={"title": "delta"}, vectors={"geo": np.array([9, 9])})])
    assert col.search(vector=[9, 8], space="geo", k=1, mode="dense")[0].id == "d"
    # the default space and similar() are as before
    assert {h.id for h in col.search("alpha", k=3, mode="lexical")} == {"a"}
    assert "b" not in {h.id for h in col.similar("b", k=3)}


def test_hybrid_fuses_bm25_with_the_named_space_and_batches_share_it(
    tmp_path: Path, data: dict[str, np.ndarray]
) -> None:
    col = make(tmp_path / "c", data)
    q = data["ip"][42]
    hits = col.search("word3", vector=q, space="ip", k=10, explain=True)
    assert hits.trace.candidates["lexical"] > 0 and hits.trace.candidates["dense"] > 0
    dense_top = col.search(vector=q, space="ip", k=1, mode="dense")[0]
    fused = {h.id: h for h in hits}
    assert dense_top.id in fused  # the best by dot product is among the fused top 10
    explained = fused[dense_top.id].explain
    assert explained is not None and explained["retrievers"]["dense"]["score"] == pytest.approx(
        dense_top.score, rel=1e-5
    )
    queries = data["geo"][:3] + 0.01
    batch = col.search_batch(vectors=queries, space="geo", k=4, mode="dense")
    for row, hits in zip(queries, batch):
        assert [h.id for h in hits] == [
            h.id for h in col.search(vector=row.tolist(), space="geo", k=4, mode="dense")
        ]
    assert batch[0][0].id == "i0"


def test_compressed_storage_serves_named_spaces_with_rescoring(
    tmp_path: Path, data: dict[str, np.ndarray]
) -> None:
    col = make(tmp_path / "c", data, storage="int8", rescore=N)
    ids = [f"i{n}" for n in range(N)]
    check(col, data, ids)  # every row rescored at full precision: the exact answer
    col.close()
    with sleuth.open(tmp_path / "c") as again:
        check(again, data, ids)
        assert again.info()["indexes"]["dense-geo"]["storage"] == "int8"


@pytest.mark.parametrize(
    ("vectors", "says"),
    [
        (
            {"img": [1.0] * 5},
            r"'img' vector has 5 numbers; vector space 'img' \(cosine\) takes vectors of 6",
        ),
        ({"img": [0.0] * 6}, "all zeros"),
        ({"ip": [1, 2, "x", 4, 5]}, r"vectors.ip\[2\] is str"),
        ({"ip": [1, 2, float("nan"), 4, 5]}, r"vectors.ip\[2\] is nan"),
        ({"geo": [1e30, 1e30, 0]}, "squared length overflows"),
        ({"audio": [1.0]}, "vector space 'audio' is not one of this collection's"),
        ({"bad name": [1.0]}, "is not allowed; a name is a letter"),
        ([1, 2], '"vectors" must be an object'),
    ],
)
def test_bad_space_vectors_name_the_item_and_write_nothing(
    tmp_path: Path, data: dict[str, np.ndarray], vectors: Any, says: str
) -> None:
    col = make(tmp_path / "c", data)
    seq = col.info()["seq"]
    good = {"id": "new", "title": "fine"}
    with pytest.raises(InvalidInput, match=says) as err:
        col.add([good, {"id": "bad", "title": "t", "vectors": vectors}])
    assert "'bad'" in err.value.message
    assert col.count() == N and col.info()["seq"] == seq
    assert not col.store.docnos_of(["new", "bad"])


def test_bad_bulk_space_arrays_and_queries_are_refused(
    tmp_path: Path, data: dict[str, np.ndarray]
) -> None:
    col = make(tmp_path / "c", data)
    items = [{"id": f"n{i}", "title": "t"} for i in range(3)]
    nan = np.ones((3, 5))
    nan[1, 2] = np.inf
    for bulk, says in [
        ({"ip": np.ones((3, 4))}, r"shape \[3, 5\]"),
        ({"ip": nan}, r"item 1 \('n1'\): its vector \(row 1\)\[2\] is inf"),
        ({"img": np.zeros((3, 6))}, "all zeros"),
        ({"nope": np.ones((3, 2))}, "space 'nope', which this collection does not have"),
    ]:
        with pytest.raises(InvalidInput, match=says):
            col.add(items, vectors=bulk)
    with pytest.raises(InvalidInput, match="give each item's vector one way"):
        col.add(
            [{"id": "x", "title": "t", "vectors": {"ip": [1] * 5}}], vectors={"ip": np.ones((1, 5))}
        )
    assert col.count() == N
    col.add(items, vectors={"ip": np.zeros((3, 5))})  # zeros are fine for dot
    for kwargs, says in [
        ({"vector": [1.0] * 6, "space": "nope"}, "not a vector space of this collection"),
        ({"query": "word", "space": "ip"}, "give the query's vector="),
        ({"vector": [1.0] * 6, "space": "ip"}, "vector space 'ip' .dot. takes vectors of 5"),
        ({"vector": [0.0] * 6, "space": "img"}, "all zeros"),
        ({"vector": [1.0] * 5, "space": "ip", "min_relevance": 0.5}, "calibrated on the default"),
        ({"vector": [1.0] * 5, "space": "ip", "cutoff": "auto"}, "space 'ip' has none"),
    ]:
        with pytest.raises(InvalidInput, match=says):
            col.search(mode="dense", **kwargs)
    assert col.search(vector=[1.0] * 5, space="ip", k=3, mode="dense", cutoff="autocut")
    assert col.search(vector=[0.0] * 5, space="ip", k=3, mode="dense")  # a zero dot query
    assert len(col.search(vector=[0.0] * 3, space="geo", k=3, mode="dense")) == 3


def test_space_config_is_checked_and_fixed_at_creation(tmp_path: Path) -> None:
    for spaces, says in [
        ({"img": {"dim": 0}}, r"spaces.img.dim must be an integer from 1 to 65536"),
        ({"img": {"dim": 4, "metric": "hamming"}}, "spaces.img.metric 'hamming' unknown"),
        ({"img": {"metric": "dot"}}, "spaces.img: needs its dim"),
        ({"img": {"dim": 4, "size": 2}}, "unknown key"),
        ({"default": {"dim": 4}}, "not 'default'"),
        ({"a:b": {"dim": 4}}, "is not allowed"),
        ({f"s{i}": {"dim": 2} for i in range(17)}, "at most 16"),
    ]:
        with pytest.raises(InvalidInput, match=says):
            sleuth.open(tmp_path / "x", encoder="hashing:32", spaces=spaces)
        assert not (tmp_path / "x").exists()
    config = CollectionConfig.from_dict({"spaces": {"img": {"dim": 4, "metric": "dot"}}})
    assert config.spaces == {"img": SpaceConfig(dim=4, metric="dot")}
    assert CollectionConfig.from_dict(config.to_dict()) == config
    col = sleuth.open(tmp_path / "c", encoder="hashing:32", config=config)
    col.close()
    with pytest.raises(Conflict, match="other vector spaces"):
        sleuth.open(tmp_path / "c", spaces={"img": {"dim": 4, "metric": "l2"}})
    with sleuth.open(tmp_path / "c", spaces={"img": {"dim": 4, "metric": "dot"}}) as col:
        assert col.info()["spaces"]["img"] == {"dim": 4, "metric": "dot", "items": 0}
