"""A data folder holding a sharded collection serves it through the same HTTP API (search,
writes, events and recommendations), with the same answers as a plain collection of the same
items and events."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

import sleuth
from sleuth.catalog import Engine
from support import CATALOG, live_server


def test_a_sharded_collection_is_served_like_one_collection(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with sleuth.open(data / "plain", encoder="hashing") as plain:
        plain.add(CATALOG)
    with sleuth.open(data / "sharded", encoder="hashing", shards=3) as sharded:
        sharded.add(CATALOG)
    engine = Engine(data)
    with live_server(engine) as url, httpx.Client(base_url=url, timeout=30) as client:
        listed = client.get("/collections").json()["collections"]
        assert {c["name"]: c["items"] for c in listed} == {
            "plain": len(CATALOG),
            "sharded": len(CATALOG),
        }
        info = client.get("/collections/sharded").json()
        assert info["shards"] == 3 and info["indexes"]["bm25"]["live"] == len(CATALOG)
        query = CATALOG[3]["text"].split()[0]
        answers = {
            name: client.post(
                f"/collections/{name}/search", json={"query": query, "k": 5, "explain": True}
            ).json()["hits"]
            for name in ("plain", "sharded")
        }
        assert [h["id"] for h in answers["sharded"]] == [h["id"] for h in answers["plain"]]
        item = {"id": "new-1", "text": "a brand new thing", "kind": "x"}
        assert client.post("/collections/sharded/items", json={"items": [item]}).status_code == 200
        assert client.get("/collections/sharded/items/new-1").json()["text"] == item["text"]
        assert client.delete("/collections/sharded/items/new-1").status_code == 204
        assert client.get("/collections/sharded/items/new-1").status_code == 404
        events = [
            {"user": f"u{i % 5}", "item": CATALOG[(i * 7) % len(CATALOG)]["id"], "ts": 1e9 + i}
            for i in range(60)
        ]
        for name in ("plain", "sharded"):
            done = client.post(f"/collections/{name}/events", json={"events": events})
            assert done.json() == {"recorded": 60, "duplicates": 0}
        for user in ("u1", "u3", "someone-new"):
            recs = {
                name: client.get(f"/collections/{name}/recommend", params={"user": user, "k": 5})
                for name in ("plain", "sharded")
            }
            assert recs["sharded"].status_code == 200
            got, want = recs["sharded"].json()["hits"], recs["plain"].json()["hits"]
            assert [h["score"] for h in got] == pytest.approx([h["score"] for h in want], rel=1e-4)
            assert {h["id"] for h in got} == {h["id"] for h in want}  # ties in either order
    engine.close()
