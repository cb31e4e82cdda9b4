"""Calibration and the fusion trust over HTTP: fitted label-free or from judgments, read by the
next search, and a 422 that changes nothing for every bad request."""

from __future__ import annotations

import httpx
import pytest
from test_ranker import topic_judgments
from test_server import error_of
from test_server_ranker import client  # noqa: F401 (the fixture)

from support import item_id


def calibrated_search(client: httpx.Client) -> httpx.Response:  # noqa: F811
    return client.post(
        "/collections/docs/search",
        json={"query": "orbit note", "k": 5, "mode": "hybrid", "min_relevance": 0.0},
    )


def test_label_free_calibration_is_read_by_the_next_search(client: httpx.Client) -> None:  # noqa: F811
    assert error_of(calibrated_search(client), 422)["type"] == "invalid_input"
    fitted = client.post("/collections/docs/calibrate", json={"modes": ["hybrid"]})
    assert fitted.status_code == 200, fitted.text
    manifest = fitted.json()
    assert manifest["source"] == "self" and manifest["modes"] == ["hybrid"]
    assert manifest["fusion"] is None
    hits = calibrated_search(client).json()["hits"]
    assert hits and all(0.0 <= h["probability"] <= 1.0 for h in hits)
    # another collection is not calibrated by it
    other = client.post("/collections/other/search", json={"query": "orbit", "min_relevance": 0.5})
    assert other.status_code == 422


def test_calibration_from_judgments_with_the_fusion_trust_first(client: httpx.Client) -> None:  # noqa: F811
    qrels, queries = topic_judgments()
    body = {"qrels": qrels, "queries": queries, "method": "isotonic", "fusion": True}
    fitted = client.post("/collections/docs/calibrate", json=body)
    assert fitted.status_code == 200, fitted.text
    manifest = fitted.json()
    assert manifest["source"] == "judgments" and manifest["stats"]["queries"] == len(qrels)
    assert manifest["stats"]["method"] == "isotonic"
    assert 0.0 <= manifest["fusion"]["alpha"] <= 1.0
    trust = client.post("/collections/docs/fusion")
    assert trust.status_code == 200, trust.text
    assert trust.json()["alpha"] == manifest["fusion"]["alpha"]  # seeded: the same fit
    assert trust.json()["stats"]["pseudo_queries"] > 0


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"qrels": {"q": {"nope": 1}}, "queries": {"q": "orbit"}}, "nope"),
        ({"qrels": {"q": {item_id(0): 0}}, "queries": {"q": "orbit"}}, "no positive"),
        ({"qrels": {"q": {item_id(0): 1}}, "queries": {"r": "orbit"}}, "'q'"),
        ({"qrels": {"q": {item_id(0): 1}}}, "both"),
        ({"modes": ["nope"]}, "nope"),
        ({"method": "sigmoid"}, "method"),
        ({"fusion": "yes"}, "fusion"),
    ],
)
def test_bad_calibration_requests_are_422_and_calibrate_nothing(
    client: httpx.Client,  # noqa: F811
    body: dict[str, object],
    needle: str,
) -> None:
    error = error_of(client.post("/collections/docs/calibrate", json=body), 422)
    assert needle in error["message"] + str(error["details"])
    assert calibrated_search(client).status_code == 422  # still not calibrated


def test_an_unknown_collection_is_404(client: httpx.Client) -> None:  # noqa: F811
    assert error_of(client.post("/collections/none/calibrate", json={}), 404)
    assert error_of(client.post("/collections/none/fusion"), 404)
