"""The learned ranker over HTTP: search events in, a ranker trained, mode ranked out, and a 422
for every way of asking for what is not there."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from test_ranker import topic_judgments
from test_server import error_of

from sleuth.catalog import Engine
from support import CATALOG, item_id, live_server

SMALL = {"rounds": 30, "min_data_in_leaf": 5}


@pytest.fixture
def client(tmp_path: Path) -> Iterator[httpx.Client]:
    engine = Engine(tmp_path / "data", default_encoder="hashing")
    engine.create("docs").add(CATALOG)
    engine.create("other").add(CATALOG)
    with live_server(engine) as url, httpx.Client(base_url=url, timeout=60) as c:
        yield c


def test_train_then_search_ranked_with_explain(client: httpx.Client) -> None:
    missing = error_of(
        client.post("/collections/docs/search", json={"query": "orbit", "mode": "ranked"}), 422
    )
    assert "train" in missing["message"]
    qrels, queries = topic_judgments()
    body = {"qrels": qrels, "queries": queries, "attributes": ["price"], "params": SMALL}
    trained = client.post("/collections/docs/ranker", json=body)
    assert trained.status_code == 200, trained.text
    manifest = trained.json()
    assert manifest["kind"] == "lambdamart" and manifest["features"][-1] == "attr_price"
    answer = client.post(
        "/collections/docs/search",
        json={"query": "orbit note", "k": 3, "mode": "ranked", "explain": True},
    ).json()
    hit = answer["hits"][0]
    assert list(hit["explain"]["features"]) == manifest["features"]
    assert hit["explain"]["retrievers"]["learned"]["score"] == pytest.approx(hit["score"])
    assert "learned_ms" in answer["trace"]["timings_ms"]
    # the other collection has no ranker of its own
    other = client.post("/collections/other/search", json={"query": "orbit", "mode": "ranked"})
    assert error_of(other, 422)["type"] == "invalid_input"


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"qrels": {"q": {"nope": 1}}, "queries": {"q": "orbit"}}, "nope"),
        ({"qrels": {"q": {item_id(0): 0}}, "queries": {"q": "orbit"}}, "no positive"),
        ({"qrels": {"q": {item_id(0): 1}}, "queries": {"r": "orbit"}}, "query 'q'"),
        ({}, "no search events"),
        ({"params": {"rounds": 0}}, "rounds"),
        ({"kind": "xgboost"}, "kind"),
    ],
)
def test_bad_training_requests_are_422_and_train_nothing(
    client: httpx.Client, body: dict[str, object], needle: str
) -> None:
    error = error_of(client.post("/collections/docs/ranker", json=body), 422)
    assert needle in error["message"] + str(error["details"])
    after = client.post("/collections/docs/search", json={"query": "orbit", "mode": "ranked"})
    assert after.status_code == 422


def test_search_events_train_the_ranker(client: httpx.Client) -> None:
    shown = [item_id(i) for i in (0, 4, 8, 12)]
    events = [
        {
            "kind": "search",
            "query": "orbit note",
            "shown": shown,
            "clicked": [2],
            "event_id": f"e{i}",
        }
        for i in range(40)
    ]
    recorded = client.post("/collections/docs/events", json={"events": events})
    assert recorded.json() == {"recorded": 40, "duplicates": 0}
    no_shown = {"kind": "search", "query": "orbit", "clicked": [0]}
    assert error_of(client.post("/collections/docs/events", json={"events": [no_shown]}), 422)
    trained = client.post("/collections/docs/ranker", json={"params": SMALL})
    assert trained.status_code == 200, trained.text
    assert trained.json()["trained_from"]["sessions"] == 40
