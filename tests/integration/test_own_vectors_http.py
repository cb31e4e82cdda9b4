"""Bring your own vectors over HTTP: a collection created with encoder "none" and a dim, items
that carry their "vector", bad vectors refused (422) with nothing written, searches by vector."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from sleuth.catalog import Engine
from support import live_server

DIM = 4


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[httpx.Client, Engine]]:
    engine = Engine(tmp_path_factory.mktemp("data"), default_encoder="hashing")
    with live_server(engine) as url, httpx.Client(base_url=url, timeout=30) as client:
        made = client.post("/collections", json={"name": "vec", "encoder": "none", "dim": DIM})
        assert made.status_code == 201, made.text
        assert made.json()["encoder"] == "none:4" and made.json()["dim"] == DIM
        items = [
            {"id": "x", "vector": [1, 0, 0, 0], "title": "east"},
            {"id": "y", "vector": [0, 1, 0, 0], "title": "north"},
            {"id": "z", "vector": [0.9, 0.1, 0, 0], "kind": "near-x"},
        ]
        written = client.post("/collections/vec/items", json={"items": items})
        assert written.status_code == 200 and written.json()["added"] == 3, written.text
        yield client, engine


def error_of(response: httpx.Response, status: int = 422) -> dict[str, Any]:
    assert response.status_code == status, response.text
    return response.json()["error"]  # type: ignore[no-any-return]


def test_creation_needs_a_dimension_for_none_and_creates_nothing_otherwise(
    served: tuple[httpx.Client, Engine],
) -> None:
    client, engine = served
    for body, says in (
        ({"name": "n1", "encoder": "none"}, "needs the dimension"),
        ({"name": "n2", "encoder": "none", "dim": 0}, "dim"),
        ({"name": "n3", "encoder": "hashing:16", "dim": 8}, "does not match"),
        ({"name": "n4", "encoder": "none", "dim": "4"}, "dim"),
    ):
        assert says in error_of(client.post("/collections", json=body))["message"]
        assert not (engine.path / body["name"]).exists()
    config = client.post(
        "/collections", json={"name": "n5", "config": {"encoder": "none", "dim": 3}}
    )
    assert config.status_code == 201 and config.json()["dim"] == 3


def test_search_by_vector_over_http(served: tuple[httpx.Client, Engine]) -> None:
    client, _ = served
    dense = client.post(
        "/collections/vec/search", json={"vector": [1, 0, 0, 0], "mode": "dense", "k": 2}
    )
    assert dense.status_code == 200, dense.text
    assert [h["id"] for h in dense.json()["hits"]] == ["x", "z"]
    hybrid = client.post(
        "/collections/vec/search", json={"query": "north", "vector": [0, 1, 0, 0], "k": 1}
    )
    assert [h["id"] for h in hybrid.json()["hits"]] == ["y"]
    lexical = client.post("/collections/vec/search", json={"query": "east", "mode": "lexical"})
    assert [h["id"] for h in lexical.json()["hits"]] == ["x"]


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"vector": [1, 0, 0]}, "has 3 numbers"),
        ({"vector": [0, 0, 0, 0]}, "all zeros"),
        ({"vector": []}, "vector"),
        ({"vector": ["a", 0, 0, 0]}, "vector"),
        ({"vector": [True, 0, 0, 0]}, "vector"),
        ({"vector": [1, 0, 0, 0], "mode": "lexical"}, "read the text"),
        ({"vector": [1, 0, 0, 0], "mode": "hybrid"}, "read the text"),
        ({"query": None, "vector": [1, 0, 0, 0]}, "query"),
        ({"query": "east", "mode": "dense"}, "no text encoder"),
        ({"mode": "dense"}, "give query"),
    ],
)
def test_a_search_that_cannot_run_is_422(
    served: tuple[httpx.Client, Engine], body: dict[str, Any], says: str
) -> None:
    client, _ = served
    message = error_of(client.post("/collections/vec/search", json={"mode": "dense", **body}))[
        "message"
    ]
    assert says in message, message


def post_raw(client: httpx.Client, path: str, raw: str) -> httpx.Response:
    """POST a body that is not valid JSON to every parser (``NaN``), as a client could send it."""
    return client.post(path, content=raw, headers={"content-type": "application/json"})


def test_nan_in_a_query_vector_is_422(served: tuple[httpx.Client, Engine]) -> None:
    client, _ = served
    answer = post_raw(
        client, "/collections/vec/search", '{"vector": [NaN, 0, 0, 0], "mode": "dense"}'
    )
    assert answer.status_code in (400, 422), answer.text


@pytest.mark.parametrize(
    ("vector", "says"),
    [
        (
            [1, 0, 0],
            "item 1 ('bad'): its vector has 3 numbers; this collection (encoder none:4) takes "
            "vectors of 4",
        ),
        ([1, 0, 0, 0, 0], "has 5 numbers"),
        ([], "is empty"),
        (["1", 0, 0, 0], "vector[0] is str"),
        ([False, 0, 0, 0], "vector[0] is bool"),
        ([[1], 0, 0, 0], "vector[0] is list"),
        ([1, None, 0, 0], "vector[1] is NoneType"),
        ([1e39, 0, 0, 0], "fit a float32"),
        ([0, 0, 0, 0], "all zeros"),
        ("1,0,0,0", "got str"),
    ],
)
def test_a_bad_item_vector_is_422_and_nothing_is_written(
    served: tuple[httpx.Client, Engine], vector: Any, says: str
) -> None:
    client, engine = served
    items = [{"id": "fresh", "vector": [0, 0, 1, 0]}, {"id": "bad", "vector": vector}]
    error = error_of(client.post("/collections/vec/items", json={"items": items}))
    assert error["message"].startswith("item 1") and "'bad'" in error["message"]
    assert says in error["message"], error["message"]
    assert engine.get("vec").count() == 3
    assert client.get("/collections/vec/items/fresh").status_code == 404


def test_nan_and_missing_item_vectors_are_422(served: tuple[httpx.Client, Engine]) -> None:
    client, engine = served
    answer = post_raw(
        client, "/collections/vec/items", '{"items": [{"id": "n", "vector": [1, NaN, 0, 0]}]}'
    )
    assert answer.status_code in (400, 422), answer.text
    missing = error_of(
        client.post("/collections/vec/items", json={"items": [{"id": "t", "title": "x"}]})
    )
    assert "has no vector" in missing["message"]
    named = error_of(
        client.post(
            "/collections/vec/items",
            json={"items": [{"id": "t", "vector": [1, 0, 0, 0], "vectors": {"a": [1, 0]}}]},
        )
    )
    assert "vector space 'a' is not one of this collection's" in named["message"]
    assert engine.get("vec").count() == 3


def test_an_item_vector_in_a_collection_with_an_encoder(
    served: tuple[httpx.Client, Engine],
) -> None:
    client, engine = served
    assert (
        client.post("/collections", json={"name": "txt", "encoder": "hashing:16"}).status_code
        == 201
    )
    items = [{"id": "a", "title": "plain"}, {"id": "b", "vector": [1] + [0] * 15}]
    assert client.post("/collections/txt/items", json={"items": items}).json()["added"] == 2
    hits = client.post(
        "/collections/txt/search", json={"vector": [1] + [0] * 15, "mode": "dense", "k": 1}
    )
    assert hits.json()["hits"][0]["id"] == "b"
    wrong = error_of(
        client.post("/collections/txt/items", json={"items": [{"id": "c", "vector": [1.0] * 4}]})
    )
    assert "takes vectors of 16" in wrong["message"]
    assert engine.get("txt").count() == 2
