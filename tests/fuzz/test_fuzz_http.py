"""Fuzzing the HTTP API in-process (the FastAPI app over httpx): item writes, searches with
filters, events, and the read endpoints, with bodies of every shape and bytes that are not JSON.

Each answer is a 2xx whose body matches a reference (written items read back, filtered hits
stay inside what the plain-Python reference selects) or a 4xx with the error body, never a 5xx;
an error changes neither the item count nor the sequence; the collection stays whole.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from fastapi.testclient import TestClient
from filter_reference import NotAFilter, reference_filter
from fuzzing import (
    ENCODER,
    assert_whole,
    expected_readback,
    filters,
    fuzz,
    hostile_items,
    ids,
    json_values,
    valid_batches,
    valid_events,
)
from hypothesis import assume, given
from hypothesis import strategies as st

from sleuth.catalog import Engine
from sleuth.config import CollectionConfig, LateConfig
from sleuth.search import MODES
from sleuth.server import create_app
from support import CATALOG

CLIENT_ERRORS = set(range(400, 500))
JSON = {"content-type": "application/json"}


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("http")


@pytest.fixture(scope="module")
def client(data: Path) -> Iterator[TestClient]:
    engine = Engine(data, default_encoder=ENCODER)
    engine.create("docs").add(CATALOG)
    engine.create("scratch").add(CATALOG[:12])
    # A loopback Host, as a browser on this machine sends it (the server may check Host).
    with TestClient(create_app(engine, api_key=""), base_url="http://127.0.0.1") as c:
        yield c
    assert_whole(data / "docs")
    assert_whole(data / "scratch")


def checked(response: httpx.Response) -> Any:
    """The body of a 2xx, or None for a 4xx with the error body; a 5xx fails the test."""
    assert response.status_code < 500, (response.status_code, response.text)
    body = response.json()
    if response.status_code < 300:
        return body
    assert response.status_code in CLIENT_ERRORS, response.status_code
    assert set(body) == {"error"} and {"type", "message", "details"} <= set(body["error"])
    assert body["error"]["message"]
    return None


def state(client: TestClient, name: str) -> tuple[int, int]:
    info = client.get(f"/collections/{name}").json()
    return info["items"], info["seq"]


# -- items ---------------------------------------------------------------------------------


@fuzz(60)
@given(
    body=st.one_of(
        st.builds(lambda b: {"items": b}, valid_batches()),
        st.builds(
            lambda b, mode: {"items": b, "mode": mode},
            st.lists(hostile_items(), min_size=1, max_size=3),
            st.sampled_from(["add", "upsert", "replace", 3]),
        ),
        json_values,
    )
)
def test_item_writes_commit_whole_or_not_at_all(client: TestClient, body: Any) -> None:
    items = body.get("items", []) if isinstance(body, dict) else []
    for item in items:
        if isinstance(item, dict) and isinstance(item.get("id"), str) and item["id"]:
            client.delete(f"/collections/scratch/items/{quote(item['id'], safe='')}")
    before = state(client, "scratch")
    # json.dumps, not json=: NaN and Infinity must reach the server (as JavaScript writes them).
    result = checked(
        client.post("/collections/scratch/items", content=json.dumps(body), headers=JSON)
    )
    if result is None:
        assert state(client, "scratch") == before
        return
    last = {item["id"]: item for item in items}  # a repeated id: the last one wins
    if len(last) == len(items):
        assert result["added"] + result["updated"] + result["unchanged"] == len(items)
    for item_id, item in last.items():
        got = client.get(f"/collections/scratch/items/{quote(item_id, safe='')}")
        assert got.status_code == 200 and got.json() == expected_readback(item), item_id


def test_an_id_with_a_line_break_is_refused_so_every_id_is_reachable_by_path(
    client: TestClient,
) -> None:
    for bad in ("two\nlines", "tab\there", "line\u2028sep"):
        answer = client.post(
            "/collections/scratch/items", json={"items": [{"id": bad, "text": "x"}]}
        )
        assert answer.status_code == 422 and "id" in answer.json()["error"]["message"], answer.text
    item = {"id": "ünïcode / with spaces?", "text": "x"}
    assert checked(client.post("/collections/scratch/items", json={"items": [item]})) is not None
    path = f"/collections/scratch/items/{quote(item['id'], safe='')}"
    assert client.get(path).json() == item
    assert client.delete(path).status_code == 204


@fuzz(30)
@given(
    raw=st.one_of(
        st.binary(max_size=60),
        st.sampled_from(
            [b"", b"{", b'{"items": [', b"\xff\xfe{}", b'{"items": [{"id": "a"}]}' * 2]
        ),
        st.builds(lambda s: s.encode("utf-16"), st.sampled_from(['{"items": []}'])),
    ),
    content_type=st.sampled_from(
        ["application/json", "text/plain", "application/x-www-form-urlencoded"]
    ),
)
def test_bytes_that_are_no_json_are_a_4xx(
    client: TestClient, raw: bytes, content_type: str
) -> None:
    before = state(client, "scratch")
    response = client.post(
        "/collections/scratch/items", content=raw, headers={"content-type": content_type}
    )
    assert checked(response) is None
    assert state(client, "scratch") == before


@pytest.mark.parametrize(
    "raw",
    [
        b'{"items": [{"id": "a\\ud800", "text": "x"}]}',
        b'{"items": [{"id": "s1", "text": "x\\udfff"}]}',
        b'{"items": [{"id": "s2", "text": "x", "tag": "\\ud83d"}]}',
        b'{"items": [{"id": "h1", "text": "x", "n": ' + b"9" * 400 + b"}]}",
    ],
)
def test_unstorable_values_are_a_4xx(client: TestClient, raw: bytes) -> None:
    before = state(client, "scratch")
    response = client.post(
        "/collections/scratch/items", content=raw, headers={"content-type": "application/json"}
    )
    assert checked(response) is None
    assert state(client, "scratch") == before


def test_a_huge_number_in_a_filter_is_a_4xx(client: TestClient) -> None:
    raw = b'{"query": "x", "where": {"price": {"gt": ' + b"9" * 400 + b"}}}"
    assert checked(client.post("/collections/docs/search", content=raw, headers=JSON)) is None


# -- search --------------------------------------------------------------------------------


@fuzz(120)
@given(
    query=st.text(max_size=50) | st.just("catalog entry"),
    k=st.integers(-1, 1001) | st.just(1000) | json_values,
    mode=st.sampled_from([*MODES, "nope"]),
    where=st.none() | filters(hostile=False) | filters(hostile=True),
    extra=st.dictionaries(
        st.sampled_from(["explain", "offset", "fields"]), json_values, max_size=1
    ),
)
def test_search_answers_inside_the_filter_or_refuses(
    client: TestClient, query: str, k: Any, mode: str, where: Any, extra: dict[str, Any]
) -> None:
    body = {
        "query": query,
        "k": k,
        "mode": mode,
        **({"where": where} if where is not None else {}),
        **extra,
    }
    result = checked(client.post("/collections/docs/search", json=body))
    try:
        keep = reference_filter(where) if where else None
    except NotAFilter:
        assert result is None, where
        return
    if result is None:
        return
    hits = result["hits"]
    assert len(hits) <= 1000 and (not isinstance(k, int) or len(hits) <= k)
    assert all(math.isfinite(h["score"]) for h in hits)
    allowed = {i["id"] for i in CATALOG if keep is None or keep(i)}
    assert {h["id"] for h in hits} <= allowed, where
    if query == "catalog entry" and k == 1000 and mode in ("lexical", "dense", "hybrid"):
        assert {h["id"] for h in hits} == allowed  # every item has both words


@fuzz(40)
@given(
    item_id=ids | st.sampled_from(["item-001", "..", "%2e%2e", "a/b", "item-001/similar"]),
    where=st.none() | st.text(max_size=20) | filters(hostile=True).map(json.dumps),
    k=st.integers(-1, 1001),
    user=st.text(max_size=20),
)
def test_read_endpoints_answer_or_refuse(
    client: TestClient, item_id: str, where: str | None, k: int, user: str
) -> None:
    params: dict[str, Any] = {"k": k, **({"where": where} if where is not None else {})}
    assume(item_id.strip(".") != "")  # "." and ".." are dot-segments: the client resolves them
    path = quote(item_id, safe="")
    checked(client.get(f"/collections/docs/items/{path}"))
    checked(client.get(f"/collections/docs/items/{path}/similar", params=params))
    checked(client.get("/collections/docs/recommend", params={"user": user, **params}))
    checked(client.get(f"/collections/{path}"))


# -- events --------------------------------------------------------------------------------

_batches = itertools.count()


@fuzz(40)
@given(
    events=st.lists(valid_events(), min_size=1, max_size=4),
    broken=st.none()
    | json_values
    | st.sampled_from([{"user": "u"}, {"user": "u", "item": "i", "ts": "x"}]),
)
def test_events_over_http_are_all_or_none(
    client: TestClient, events: list[dict[str, Any]], broken: Any
) -> None:
    tag = next(_batches)
    events = [{**e, "event_id": f"http-{tag}-{i}"} for i, e in enumerate(events)]
    if broken is not None:
        assert (
            checked(client.post("/collections/docs/events", json={"events": [*events, broken]}))
            is None
        )
    result = checked(client.post("/collections/docs/events", json={"events": events}))
    assert result == {"recorded": len(events), "duplicates": 0}
    user = events[0]["user"]
    hits = checked(client.post("/collections/docs/recommend", json={"user": user, "k": 5}))
    assert hits is not None and all(math.isfinite(h["score"]) for h in hits["hits"])


@pytest.mark.parametrize("mode", ["hybrid+maxsim", "muvera"])
def test_late_scores_over_http_are_numbers(tmp_path: Path, mode: str) -> None:
    engine = Engine(tmp_path, default_encoder=ENCODER)
    col = engine.create("late", config=CollectionConfig(late=LateConfig(enabled=True)))
    col.add([*CATALOG[:10], {"id": "no-tokens", "text": "!!!"}])
    with TestClient(create_app(engine, api_key=""), base_url="http://127.0.0.1") as client:
        body = checked(
            client.post(
                "/collections/late/search", json={"query": "telescope", "mode": mode, "k": 20}
            )
        )
    assert body is not None and all(isinstance(h["score"], float) for h in body["hits"])
    assert all(math.isfinite(h["score"]) for h in body["hits"])
