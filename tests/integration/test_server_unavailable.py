"""A collection that cannot be opened never takes the server down: the server starts, serves the
healthy collections, reports the broken one with its reason, answers 503 for it, and opens it
again once its files changed (after a repair)."""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from sleuth.catalog import Engine
from sleuth.engine import Collection
from sleuth.errors import Unavailable
from support import CATALOG, N_ITEMS, item_id, live_server, unique_token


def store(data: Path, name: str) -> Path:
    return data / name / "sleuth.sqlite"


def write_garbage(data: Path, name: str) -> None:
    for leftover in (data / name).glob("sleuth.sqlite-*"):
        leftover.unlink()
    store(data, name).write_bytes(b"this is no database " * 500)


def set_meta(data: Path, name: str, **values: Any) -> None:
    with sqlite3.connect(store(data, name)) as con:
        for key, value in values.items():
            con.execute("UPDATE meta SET value = ? WHERE key = ?", (json.dumps(value), key))


def delete_meta(data: Path, name: str) -> None:
    with sqlite3.connect(store(data, name)) as con:
        con.execute("DELETE FROM meta")


DAMAGE: dict[str, tuple[Callable[[Path, str], None], str]] = {
    "garbage": (write_garbage, "not a database"),
    "no meta rows": (delete_meta, "format version"),
    "newer format": (lambda data, name: set_meta(data, name, format_version=99), "newer"),
}


@pytest.fixture
def data(tmp_path: Path) -> Path:
    """``good`` holds the catalog, ``bad`` two items; both closed, so a test can damage one."""
    path = tmp_path / "data"
    with Engine(path, default_encoder="hashing") as engine:
        engine.create("good").add(CATALOG)
        engine.create("bad").add(CATALOG[:2])
    return path


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_the_server_serves_the_healthy_collections_and_503s_the_broken_one(
    data: Path, damage: str
) -> None:
    how, reason_word = DAMAGE[damage]
    how(data, "bad")
    with (
        live_server(Engine(data, default_encoder="hashing")) as url,
        httpx.Client(base_url=url, timeout=30) as client,
    ):
        health = client.get("/health")
        assert health.status_code == 200
        assert health.json()["status"] == "degraded" and health.json()["ready"] is True
        assert set(health.json()["unavailable"]) == {"bad"}
        assert reason_word in health.json()["unavailable"]["bad"]

        listed = {c["name"]: c for c in client.get("/collections").json()["collections"]}
        assert listed["good"] == {"name": "good", "status": "ok", "items": N_ITEMS, "reason": None}
        assert listed["bad"]["status"] == "unavailable" and listed["bad"]["items"] is None
        assert reason_word in listed["bad"]["reason"]

        body = {"query": unique_token(4), "k": 1, "mode": "lexical"}
        assert client.post("/collections/good/search", json=body).json()["hits"][0]["id"] == (
            item_id(4)
        )
        for method, path in [
            ("POST", "/collections/bad/search"),
            ("GET", "/collections/bad"),
            ("GET", f"/collections/bad/items/{item_id(0)}"),
            ("POST", "/collections/bad/items"),
        ]:
            payload = {"query": "x"} if path.endswith("search") else {"items": [{"id": "n"}]}
            answer = client.request(method, path, json=payload if method == "POST" else None)
            assert answer.status_code == 503, answer.text
            error = answer.json()["error"]
            assert error["type"] == "unavailable"
            assert reason_word in error["message"] and error["details"]["collection"] == "bad"
            assert "sleuth info" in error["message"] and "sleuth repair" in error["message"]
        assert 'sleuth_collection_unavailable{collection="bad"} 1.0' in client.get("/metrics").text
        for answer in (health, client.get("/collections")):
            assert str(data) not in answer.text and str(data.resolve()) not in answer.text
        # Deleting the broken collection is still possible, and then it is gone for good.
        assert client.delete("/collections/bad").status_code == 204
        assert client.get("/health").json()["status"] == "ok"


def test_a_repaired_collection_opens_again_and_an_unchanged_one_is_not_retried(
    data: Path, caplog: pytest.LogCaptureFixture
) -> None:
    set_meta(data, "bad", format_version=99)
    engine = Engine(data, default_encoder="hashing")
    with caplog.at_level(logging.WARNING, logger="sleuth.catalog"):
        for _ in range(3):
            with pytest.raises(Unavailable, match="newer"):
                engine.get("bad")
    # One failed open: the unchanged file is not opened again on every request.
    assert len([r for r in caplog.records if "'bad' is unavailable" in r.message]) == 1
    assert engine.unavailable() == {"bad": engine.unavailable()["bad"]}

    set_meta(data, "bad", format_version=1)  # what a repair would do: the file changes
    assert engine.get("bad").count() == 2
    assert engine.unavailable() == {}
    engine.close()


def test_a_collection_whose_warm_up_search_fails_is_unavailable_not_fatal(
    data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    search = Collection.search

    def failing(self: Collection, *args: Any, **kwargs: Any) -> Any:
        if self.path.name == "bad":
            raise RuntimeError("simulated: an index that cannot answer")
        return search(self, *args, **kwargs)

    monkeypatch.setattr(Collection, "search", failing)
    with (
        live_server(Engine(data, default_encoder="hashing")) as url,
        httpx.Client(base_url=url, timeout=30) as client,
    ):
        reason = client.get("/health").json()["unavailable"]["bad"]
        assert "a search fails" in reason and "simulated" in reason
        assert client.get("/collections/bad").status_code == 503
        assert client.get("/collections/good").json()["items"] == N_ITEMS
