"""The HTTP API against a real uvicorn server on loopback: resources, errors, limits, keys,
metrics, and searches answered while a write is in progress."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from sleuth.catalog import Engine
from sleuth.encoders import HashingEncoder
from sleuth.encoders.base import Encoded
from sleuth.server import Limits
from support import CATALOG, N_ITEMS, item_id, live_server, unique_token


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    engine = Engine(tmp_path / "data", default_encoder="hashing")
    engine.create("docs").add(CATALOG)
    return engine


@pytest.fixture
def client(engine: Engine) -> Iterator[httpx.Client]:
    with live_server(engine) as url, httpx.Client(base_url=url, timeout=30) as c:
        yield c


def error_of(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"type", "message", "details"}
    return body["error"]  # type: ignore[no-any-return]


# -- collections -----------------------------------------------------------------------------


def test_collection_lifecycle(client: httpx.Client) -> None:
    created = client.post(
        "/collections", json={"name": "notes", "config": {"text_fields": ["body"]}}
    )
    assert created.status_code == 201
    assert created.json()["config"]["text_fields"] == ["body"]
    assert created.json()["encoder"].startswith("hashing")
    listed = client.get("/collections").json()["collections"]
    assert {c["name"]: c["items"] for c in listed} == {"docs": N_ITEMS, "notes": 0}
    assert error_of(client.post("/collections", json={"name": "notes"}), 409)["type"] == "conflict"
    assert client.delete("/collections/notes").status_code == 204
    assert error_of(client.get("/collections/notes"), 404)["type"] == "not_found"
    assert error_of(client.delete("/collections/notes"), 404)["details"] == {"collection": "notes"}


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"name": "../escape"}, "name"),
        ({"name": "ok", "config": {"bm25": {"k1": -1}}}, "k1"),
        ({"name": "ok", "config": {"colour": 1}}, "colour"),
        ({"name": "ok", "encoder": "no-such-model"}, "not allowed"),
        ({"name": "ok", "surprise": True}, "surprise"),
    ],
)
def test_bad_collection_requests_say_what_is_wrong(
    client: httpx.Client, engine: Engine, body: dict[str, Any], needle: str
) -> None:
    error = error_of(client.post("/collections", json=body), 422)
    assert needle in error["message"] + str(error["details"])
    assert engine.names() == ["docs"]


# -- items -----------------------------------------------------------------------------------


def test_items_round_trip(client: httpx.Client) -> None:
    item = {"id": "a/b.c", "title": "Slashes", "text": "an id with a slash", "color": "red"}
    written = client.post("/collections/docs/items", json={"items": [item]}).json()
    assert written["added"] == 1 and written["seq"] > N_ITEMS
    assert client.get("/collections/docs/items/a/b.c").json() == item
    again = client.post("/collections/docs/items", json={"items": [item]}).json()
    assert (again["added"], again["unchanged"]) == (0, 1)
    assert client.delete("/collections/docs/items/a/b.c").status_code == 204
    assert error_of(client.get("/collections/docs/items/a/b.c"), 404)["type"] == "not_found"
    assert error_of(client.delete("/collections/docs/items/a/b.c"), 404)["type"] == "not_found"


def test_a_bad_batch_writes_nothing(client: httpx.Client, engine: Engine) -> None:
    batch = [{"id": "new-1", "text": "fine"}, {"id": "new-2", "text": 5}]
    error = error_of(client.post("/collections/docs/items", json={"items": batch}), 422)
    assert error["details"]["index"] == 1 and "must be a string" in error["message"]
    dup = [{"id": item_id(0), "text": "again"}]
    conflict = client.post("/collections/docs/items", json={"items": dup, "mode": "add"})
    assert error_of(conflict, 409)["type"] == "conflict"
    assert engine.get("docs").count() == N_ITEMS
    assert client.get("/collections/docs/items/new-1").status_code == 404


# -- search and similar ----------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["lexical", "dense", "hybrid"])
def test_search_finds_the_item_with_a_unique_token(client: httpx.Client, mode: str) -> None:
    body = {"query": unique_token(7), "k": 3, "mode": mode, "explain": True}
    answer = client.post("/collections/docs/search", json=body).json()
    hits = answer["hits"]
    assert hits[0]["id"] == item_id(7)
    explain = hits[0]["explain"]
    assert all("timings_ms" not in h["explain"] for h in hits)  # once, in the trace
    trace = answer["trace"]
    assert (trace["mode"], trace["k"], trace["queries"]) == (mode, 3, 1)
    retrievers = ["lexical", "dense"] if mode == "hybrid" else [mode]
    assert set(trace["candidates"]) == set(retrievers)
    timings = trace["timings_ms"]
    assert {f"{name}_ms" for name in retrievers} | {"filter_ms", "fetch_ms"} < set(timings)
    assert timings["total_ms"] >= max(v for key, v in timings.items() if key != "total_ms")
    without = client.post("/collections/docs/search", json={**body, "explain": False}).json()
    assert without.get("trace") is None and without["hits"][0].get("explain") is None
    if mode == "hybrid":
        assert explain["retrievers"]["lexical"]["rank"] == 1
        assert set(explain["retrievers"]) == {"lexical", "dense"}


def test_search_filters_and_similar(client: httpx.Client) -> None:
    where = {"and": [{"color": "blue"}, {"price": {"gte": 30}}]}
    body = {"query": "catalog entry", "k": 100, "mode": "lexical", "where": where}
    hits = client.post("/collections/docs/search", json=body).json()["hits"]
    expected = {item_id(i) for i in range(N_ITEMS) if i % 3 == 2 and 1.5 * i >= 30}
    assert {h["id"] for h in hits} == expected
    similar = client.get(
        f"/collections/docs/items/{item_id(4)}/similar",
        params={"k": 5, "where": '{"in_stock": true}'},
    ).json()["hits"]
    assert len(similar) == 5 and item_id(4) not in {h["id"] for h in similar}
    assert all(h["attributes"]["in_stock"] for h in similar)


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"query": "x", "k": 1001}, "1000"),
        ({"query": "x", "k": 0}, "greater than or equal to 1"),
        ({"query": "x" * 10_001}, "10000"),
        ({"query": ""}, "at least 1"),
        ({"query": "   "}, "empty"),
        ({"query": "x", "mode": "fuzzy"}, "lexical"),
        ({"query": "x", "where": {"color": {"near": 1}}}, "allowed"),
        ({"query": "x", "where": {"price": "cheap"}}, "number"),
        ({"query": "x", "colour": "red"}, "colour"),
    ],
)
def test_bad_searches_are_422_naming_the_problem(
    client: httpx.Client, body: dict[str, Any], needle: str
) -> None:
    error = error_of(client.post("/collections/docs/search", json=body), 422)
    assert needle in error["message"] + str(error["details"])


def test_filter_depth_limit(client: httpx.Client) -> None:
    where: dict[str, Any] = {"color": "red"}
    for _ in range(20):
        where = {"not": where}
    error = error_of(
        client.post("/collections/docs/search", json={"query": "x", "where": where}), 422
    )
    assert "16" in error["message"]


def test_malformed_json_and_unknown_routes(client: httpx.Client) -> None:
    sent = client.post(
        "/collections/docs/search", content=b"{oops", headers={"content-type": "application/json"}
    )
    assert error_of(sent, 400)["type"] == "bad_request"
    assert error_of(client.get("/nowhere"), 404)["type"] == "not_found"
    assert error_of(client.put("/collections"), 405)["type"] == "method_not_allowed"
    assert error_of(client.get("/collections/docs/items/nope/similar"), 404)["type"] == "not_found"


# -- limits ----------------------------------------------------------------------------------


def test_body_and_batch_limits(engine: Engine) -> None:
    limits = Limits(max_body_bytes=20_000, max_batch_items=10)
    with live_server(engine, limits=limits) as url, httpx.Client(base_url=url) as client:
        items = [{"id": f"x{i}", "text": "word " * 10} for i in range(11)]
        error = error_of(client.post("/collections/docs/items", json={"items": items}), 413)
        assert error["details"] == {"limit": "max_batch_items", "max": 10, "got": 11}
        big = [{"id": "big", "text": "word " * 5000}]
        error = error_of(client.post("/collections/docs/items", json={"items": big}), 413)
        assert error["details"]["limit"] == "max_body_bytes"

        def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it streams in
            yield b'{"items": [{"id": "big", "text": "'
            for _ in range(100):
                yield b"word " * 100
            yield b'"}]}'

        streamed = client.post(
            "/collections/docs/items",
            content=chunks(),
            headers={"content-type": "application/json"},
        )
        assert error_of(streamed, 413)["details"]["limit"] == "max_body_bytes"
        assert engine.get("docs").count() == N_ITEMS


# -- authentication --------------------------------------------------------------------------


def test_api_key(engine: Engine) -> None:
    with live_server(engine, api_key="s3cret") as url, httpx.Client(base_url=url) as client:
        assert client.get("/health").json()["ready"] is True
        missing = client.get("/collections")
        assert error_of(missing, 401)["type"] == "unauthorized"
        assert missing.headers["www-authenticate"] == "Bearer"
        wrong = client.get("/collections", headers={"Authorization": "Bearer s3cre"})
        assert error_of(wrong, 401)["message"] == "wrong API key"
        for method, path in [("GET", "/metrics"), ("POST", "/collections/docs/search")]:
            assert client.request(method, path, json={"query": "x"}).status_code == 401
        ok = client.get("/collections", headers={"Authorization": "Bearer s3cret"})
        assert ok.status_code == 200
        assert client.get("/").status_code == 200  # the page is public; its API calls are not


def test_binding_beyond_loopback_without_a_key_warns(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from sleuth.cli import app

    # 203.0.113.1 (TEST-NET-3) is no address of this machine: uvicorn fails to bind right after
    # the warning, so nothing keeps running.
    result = CliRunner().invoke(
        app, ["serve", "--data", str(tmp_path), "--host", "203.0.113.1", "--port", "0"]
    )
    assert "without an API key" in result.output
    assert result.exit_code != 0


# -- metrics ---------------------------------------------------------------------------------


def test_metrics_count_requests_and_sizes(client: httpx.Client) -> None:
    for _ in range(3):
        client.post("/collections/docs/search", json={"query": "boat"})
    client.post("/collections/docs/search", json={"query": "boat", "k": 0})
    text = client.get("/metrics").text

    def value(pattern: str) -> float:
        match = re.search(pattern + r" ([0-9.e+]+)", text)
        assert match, pattern
        return float(match.group(1))

    search = 'endpoint="/collections/{name}/search",method="POST"'
    assert value(r"sleuth_requests_total\{" + search + r',status="200"\}') == 3
    assert value(r"sleuth_requests_total\{" + search + r',status="422"\}') == 1
    assert value(r"sleuth_request_duration_seconds_count\{" + search + r"\}") == 4
    assert value(r'sleuth_collection_items\{collection="docs"\}') == N_ITEMS
    assert value(r'sleuth_index_rows\{collection="docs",index="dense"\}') == N_ITEMS


# -- reads during writes ---------------------------------------------------------------------


class GatedEncoder(HashingEncoder):
    """Hashing vectors, but document encoding waits until the test opens the gate, so a write
    is reliably in progress while the test searches."""

    def __init__(self) -> None:
        super().__init__(dim=256)
        self.entered = threading.Event()
        self.gate = threading.Event()

    def encode(self, texts: list[str], *, batch_size: int = 32) -> Encoded:
        self.entered.set()
        assert self.gate.wait(30)
        return super().encode(texts)

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        return super().encode(texts).vectors


def test_searches_are_answered_while_a_write_is_in_progress(tmp_path: Path) -> None:
    encoder = GatedEncoder()
    encoder.gate.set()
    engine = Engine(tmp_path / "data")
    engine.create("docs", encoder=encoder).add(CATALOG)
    encoder.gate.clear()
    with live_server(engine) as url, httpx.Client(base_url=url, timeout=30) as client:
        batch = [
            {"id": f"late-{i}", "text": f"latecomer {unique_token(100 + i)}"} for i in range(50)
        ]
        writer = threading.Thread(
            target=lambda: client.post("/collections/docs/items", json={"items": batch})
        )
        writer.start()
        assert encoder.entered.wait(30)
        for _ in range(5):  # the write is held inside encoding: searches still answer
            hits = client.post(
                "/collections/docs/search", json={"query": "latecomer catalog", "k": 100}
            ).json()["hits"]
            assert len(hits) == N_ITEMS and not any(h["id"].startswith("late") for h in hits)
        encoder.gate.set()
        writer.join(30)
        hits = client.post(
            "/collections/docs/search", json={"query": "latecomer", "k": 100, "mode": "lexical"}
        ).json()["hits"]
        assert len(hits) == 50


def test_concurrent_searches_see_whole_batches(client: httpx.Client) -> None:
    """Each batch is one transaction: a search sees all of it or none of it, never part."""
    seen: list[int] = []
    errors: list[str] = []
    done = threading.Event()

    def search() -> None:
        while not done.is_set():
            for b in range(4):
                body = {"query": "batchword", "k": 1000, "mode": "lexical", "where": {"batch": b}}
                r = client.post("/collections/docs/search", json=body)
                if r.status_code != 200:
                    errors.append(r.text)
                    continue
                seen.append(len(r.json()["hits"]))

    def write(b: int) -> None:
        batch = [{"id": f"b{b}-{i}", "text": "batchword " * 3, "batch": b} for i in range(400)]
        assert client.post("/collections/docs/items", json={"items": batch}).status_code == 200

    write(0)  # makes "batch" a known attribute
    readers = [threading.Thread(target=search) for _ in range(3)]
    for t in readers:
        t.start()
    for b in range(1, 4):
        write(b)
    done.set()
    for t in readers:
        t.join()
    assert not errors
    assert seen and set(seen) <= {0, 400}
    assert np.mean(np.array(seen) == 400) > 0  # some searches saw finished batches
