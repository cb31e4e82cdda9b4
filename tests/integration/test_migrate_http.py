"""The migration over HTTP: start, progress, evaluate, cutover, rollback, drop-old, and a 4xx
that changes nothing for every request its phase or its values do not allow."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from test_server import error_of

from sleuth.catalog import Engine
from support import CATALOG, live_server

BASE = "/collections/docs/migration"


@pytest.fixture
def client(tmp_path: Path) -> Iterator[httpx.Client]:
    engine = Engine(tmp_path / "data", default_encoder="hashing:64")
    engine.create("docs").add(CATALOG)
    engine.create("other").add(CATALOG)
    with live_server(engine) as url, httpx.Client(base_url=url, timeout=60) as c:
        yield c


def wait_ready(client: httpx.Client) -> dict[str, object]:
    deadline = time.monotonic() + 30
    while True:
        status = client.get(BASE).json()
        if status["phase"] != "backfill" or time.monotonic() > deadline:
            return dict(status)
        time.sleep(0.05)


def test_a_migration_over_http(client: httpx.Client) -> None:
    assert error_of(client.get("/collections/other/migration"), 404)["type"] == "not_found"
    assert error_of(client.post(f"{BASE}/cutover"), 409)["type"] == "conflict"
    started = client.post(BASE, json={"to": "hashing:96", "sample": 40, "batch": 16})
    assert started.status_code == 202, started.text
    found = started.json()["map"]["queries"]  # query "auto": measured, the better one chosen
    chosen = "mapped" if found["mapped"] >= found["old"] else "old"
    assert started.json()["new"]["id"] == "hashing:96" and started.json()["query"] == chosen
    again = error_of(client.post(BASE, json={"to": "hashing:128"}), 409)
    assert "already under way" in again["message"]
    status = wait_ready(client)
    assert status["phase"] == "ready"
    assert status["progress"] == {
        "done": 60,
        "total": 60,
        "rate": pytest.approx(status["progress"]["rate"]),
        "running": False,
    }  # type: ignore[index]
    report = client.post(f"{BASE}/evaluate", json={}).json()
    assert report["metric"] == "overlap@10 with old" and set(report["dense"]) == {
        "old",
        "mapped",
        "new",
    }
    assert client.get(BASE).json()["evaluation"] == report
    # judgments come with their queries (nDCG@10 itself: test_migrate.py)
    half = client.post(f"{BASE}/evaluate", json={"qrels": {"q": {CATALOG[0]["id"]: 1}}})
    assert "together" in error_of(half, 422)["message"]
    assert client.get(BASE).json()["evaluation"] == report
    assert client.post(f"{BASE}/cutover").json()["phase"] == "switched"
    assert client.get("/collections/docs").json()["encoder"] == "hashing:96"
    hits = client.post("/collections/docs/search", json={"query": "orbit", "mode": "dense"})
    assert hits.status_code == 200 and hits.json()["hits"]
    assert error_of(client.post(f"{BASE}/evaluate", json={}), 409)["type"] == "conflict"
    assert client.post(f"{BASE}/rollback").json()["phase"] == "ready"
    assert error_of(client.post(f"{BASE}/drop-old"), 409)["type"] == "conflict"
    assert client.post(f"{BASE}/cutover").json()["phase"] == "switched"
    dropped = client.post(f"{BASE}/drop-old").json()
    assert dropped["phase"] == "finished" and dropped["dropped_vectors"] == 60
    assert error_of(client.post(f"{BASE}/rollback"), 409)["type"] == "conflict"
    assert error_of(client.post(f"{BASE}/cancel"), 409)["type"] == "conflict"
    assert client.post(BASE, json={"to": "hashing:128", "sample": 40}).status_code == 202
    assert client.post(f"{BASE}/cancel").json()["phase"] == "cancelled"
    assert client.get("/collections/docs").json()["encoder"] == "hashing:96"


@pytest.mark.parametrize(
    "body",
    [
        {"to": "hashing:96", "query": "sideways"},
        {"to": "hashing:96", "map": "ridge"},
        {"to": "hashing:96", "sample": 5},
        {"to": "hashing:96", "batch": 0},
        {"to": "hashing:96", "extra": 1},
        {"to": "no-such-model"},
        {"to": "/some/model/folder"},
        {"to": "hashing:64"},
        {"to": "hashing:96", "query": "compatible"},
        {},
    ],
)
def test_bad_migrations_are_4xx_and_start_nothing(client: httpx.Client, body: dict) -> None:
    answer = client.post("/collections/other/migration", json=body)
    assert answer.status_code == 422, answer.text
    assert client.get("/collections/other/migration").status_code == 404
