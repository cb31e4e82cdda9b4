"""A data folder holding a sharded collection serves it through the same HTTP API, with the
same answers as a plain collection of the same items."""

from __future__ import annotations

from pathlib import Path

import httpx

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
        events = {"events": [{"user": "u", "item": CATALOG[0]["id"]}]}
        refused = client.post("/collections/sharded/events", json=events)
        assert refused.status_code == 422 and "sharded" in refused.json()["error"]["message"]
    engine.close()
