"""The request schema refuses what the engine cannot use, before anything is written: each case
of issue 10 that reached the engine through HTTP is a 422 naming the field, and leaves nothing
on disk."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from sleuth.catalog import Engine
from support import CATALOG, live_server


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[httpx.Client, Engine]]:
    engine = Engine(tmp_path_factory.mktemp("data"), default_encoder="hashing")
    engine.create("docs").add(CATALOG[:10])
    with live_server(engine) as url, httpx.Client(base_url=url, timeout=30) as client:
        yield client, engine


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({"bm25": {"stemmer": "klingon"}}, "stemmer"),
        ({"dense": 5}, "dense"),
        ({"fusion": {"depth": 1_000_000_000}}, "depth"),
        ({"fusion": {"depth": 2.5}}, "depth"),
        ({"text_fields": "title"}, "text_fields"),
        ({"text_fields": ["title", "id"]}, "reserved"),
        ({"late": {"enabled": "no"}}, "enabled"),
        ({"bm25": {"k1": "x"}}, "k1"),
        ({"dense": {"exact_threshold": "10"}}, "exact_threshold"),
        ({"late": {"muvera": {"k_sim": 30}}}, "k_sim"),
        ({"recommend": {"event_weights": {}}}, "event_weights"),
        ({"encoder": "hashing:7"}, "not allowed"),
        ({"encoder": "hashing:99999999"}, "not allowed"),
    ],
)
def test_a_config_the_engine_cannot_use_is_422_and_creates_nothing(
    served: tuple[httpx.Client, Engine], config: dict[str, Any], field: str
) -> None:
    client, engine = served
    answer = client.post("/collections", json={"name": "new", "config": config})
    assert answer.status_code == 422, answer.text
    assert field in answer.json()["error"]["message"]
    assert engine.names() == ["docs"] and not (engine.path / "new").exists()


def test_a_valid_config_is_taken_whole(served: tuple[httpx.Client, Engine]) -> None:
    client, engine = served
    config = {
        "text_fields": ["body"],
        "fusion": {"method": "rrf", "depth": 50.0, "weights": [1, 2]},
        "late": {"enabled": True, "projection_dim": 16},
        "recommend": {"event_weights": {"view": 1, "buy": 4}},
    }
    answer = client.post("/collections", json={"name": "custom", "config": config})
    assert answer.status_code == 201, answer.text
    stored = answer.json()["config"]
    assert stored["text_fields"] == ["body"] and stored["fusion"]["depth"] == 50
    assert stored["fusion"]["weights"] == [1.0, 2.0] and stored["late"]["projection_dim"] == 16
    assert stored["recommend"]["event_weights"] == {"view": 1.0, "buy": 4.0}
    assert client.delete("/collections/custom").status_code == 204
    assert engine.names() == ["docs"]


@pytest.mark.parametrize(
    ("path", "body", "needle"),
    [
        ("/collections/docs/items", {"items": []}, "at least 1"),
        ("/collections/docs/items", {"items": [{"id": " a", "text": "x"}]}, "white space"),
        ("/collections/docs/items", {"items": [{"id": "", "text": "x"}]}, "at least 1"),
        ("/collections/docs/search", {"query": "\u3000\t"}, "white space"),
        ("/collections/docs/events", {"events": []}, "at least 1"),
        ("/collections/docs/events", {"events": [{"user": " ", "item": "i"}]}, "white space"),
        ("/collections/docs/recommend", {"user": "\n"}, "white space"),
    ],
)
def test_blank_or_empty_values_are_422(
    served: tuple[httpx.Client, Engine], path: str, body: dict[str, Any], needle: str
) -> None:
    client, engine = served
    answer = client.post(path, json=body)
    assert answer.status_code == 422, answer.text
    assert needle in answer.json()["error"]["message"]
    assert engine.get("docs").count() == 10


@pytest.mark.parametrize(
    "ts",
    [
        "2024-02-30",
        "2024-13-01",
        "2024-01-01T25:00",
        "0000-01-01",
        "2024-01-01T00:00+99:99",
        1e308,  # epoch seconds beyond year 9999: recency arithmetic would overflow
        -1e308,
    ],
)
def test_impossible_event_times_are_422_and_record_nothing(
    served: tuple[httpx.Client, Engine], ts: str | float
) -> None:
    client, _ = served
    event = {"user": "u", "item": CATALOG[0]["id"], "ts": ts, "event_id": f"e-{ts}"}
    answer = client.post("/collections/docs/events", json={"events": [event]})
    assert answer.status_code == 422, answer.text
    assert "ts" in answer.json()["error"]["message"]
    # The same event_id again, with a valid time: recorded, not a duplicate of a stored one.
    fine = {**event, "ts": "2024-02-29T12:00:00+05:30"}
    again = client.post("/collections/docs/events", json={"events": [fine]}).json()
    assert (again["recorded"], again["duplicates"]) == (1, 0)
    assert client.get("/collections/docs/recommend", params={"user": "u"}).status_code == 200


def test_a_bad_collection_name_in_a_path_is_said_in_words(
    served: tuple[httpx.Client, Engine],
) -> None:
    client, _ = served
    answer = client.get("/collections/.hidden")
    assert answer.status_code == 422
    assert "letters, digits" in answer.json()["error"]["message"]


def test_an_error_that_quotes_a_lone_surrogate_is_still_valid_json() -> None:
    import json

    from sleuth.server.errors import error_response

    answer = error_response(422, "invalid_input", "bad id 'a\ud800'", {"id": "a\ud800"})
    body = json.loads(answer.body)
    assert body["error"]["details"]["id"] == "a\ud800" and answer.status_code == 422
