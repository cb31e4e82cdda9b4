"""The HTTP API's final-list options: probabilities, min_relevance, cutoffs, diversity, caps,
and 4xx for bad values."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from sleuth.catalog import Engine
from support import CATALOG, COLORS, N_ITEMS, item_id, live_server, unique_token


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    engine = Engine(tmp_path / "data", default_encoder="hashing")
    col = engine.create("docs")
    col.add(CATALOG)
    qrels = {f"u{i}": {item_id(i): 1} for i in range(N_ITEMS)}
    queries = {f"u{i}": unique_token(i) for i in range(N_ITEMS)}
    col.calibrate(qrels, queries, modes=["hybrid"])
    return engine


@pytest.fixture
def client(engine: Engine) -> Iterator[httpx.Client]:
    with live_server(engine) as url, httpx.Client(base_url=url, timeout=30) as c:
        yield c


def test_search_serves_probabilities_and_cuts(client: httpx.Client) -> None:
    body: dict[str, Any] = {"query": unique_token(5), "k": 10, "explain": True}
    full = client.post("/collections/docs/search", json=body).json()
    probs = [h["probability"] for h in full["hits"]]
    assert full["hits"][0]["id"] == item_id(5) and probs[0] == max(probs)
    assert full["hits"][0]["explain"]["probability"] == probs[0]
    assert full["trace"]["final"]["calibrated"] is True
    cut = client.post("/collections/docs/search", json={**body, "min_relevance": 0.5}).json()
    assert all(h["probability"] >= 0.5 for h in cut["hits"])
    auto = client.post("/collections/docs/search", json={**body, "cutoff": "auto"}).json()
    assert 1 <= len(auto["hits"]) < 10
    capped = client.post(
        "/collections/docs/search",
        json={"query": "catalog entry", "k": 9, "max_per": {"color": 1}, "diversity": 0.3},
    ).json()
    assert sorted(h["attributes"]["color"] for h in capped["hits"]) == sorted(COLORS)


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        ({"min_relevance": 1.5}, "min_relevance"),
        ({"min_relevance": -0.5}, "min_relevance"),
        ({"cutoff": "elbow"}, "cutoff"),
        ({"max_per": {"color": 0}}, "max_per"),
        ({"max_per": ["color"]}, "max_per"),
        ({"diversity": 3}, "diversity"),
    ],
)
def test_bad_final_options_are_4xx(
    client: httpx.Client, extra: dict[str, Any], needle: str
) -> None:
    response = client.post("/collections/docs/search", json={"query": "telescope", **extra})
    assert response.status_code == 422, response.text
    assert needle in response.text


def test_an_uncalibrated_mode_is_4xx_naming_calibrate(client: httpx.Client) -> None:
    body = {"query": "telescope", "mode": "lexical", "min_relevance": 0.5}
    response = client.post("/collections/docs/search", json=body)
    assert response.status_code == 422 and "sleuth calibrate" in response.text
