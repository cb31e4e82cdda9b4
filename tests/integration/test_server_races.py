"""Deleting a collection while others use the server: listing goes on answering 200, and a
request to the collection being deleted gets 404 (as if it came just after), never a 409 or 500."""

from __future__ import annotations

import threading
import time
from collections import Counter
from pathlib import Path

import httpx

from sleuth.catalog import Engine
from support import CATALOG, live_server

ROUNDS = 15


def test_listing_and_requests_racing_collection_deletes(tmp_path: Path) -> None:
    engine = Engine(tmp_path / "data", default_encoder="hashing:64")
    engine.create("stays").add(CATALOG[:5])
    list_statuses: Counter[int] = Counter()
    victim_statuses: Counter[int] = Counter()
    bodies: list[str] = []
    done = threading.Event()

    with live_server(engine) as url:

        def lister() -> None:
            with httpx.Client(base_url=url, timeout=30) as client:
                while not done.is_set():
                    answer = client.get("/collections")
                    list_statuses[answer.status_code] += 1
                    if answer.status_code != 200:
                        bodies.append(answer.text)

        def user(n: int) -> None:
            with httpx.Client(base_url=url, timeout=30) as client:
                while not done.is_set():
                    if n % 2:
                        body = {"query": "catalog entry", "k": 5, "mode": "hybrid"}
                        answer = client.post("/collections/victim/search", json=body)
                    else:
                        items = [{"id": f"u{n}-{time.monotonic_ns()}", "text": "catalog"}]
                        answer = client.post("/collections/victim/items", json={"items": items})
                    victim_statuses[answer.status_code] += 1
                    if answer.status_code not in (200, 404):
                        bodies.append(answer.text)

        threads = [threading.Thread(target=lister) for _ in range(2)]
        threads += [threading.Thread(target=user, args=(n,)) for n in range(4)]
        with httpx.Client(base_url=url, timeout=30) as admin:
            for t in threads:
                t.start()
            try:
                for _ in range(ROUNDS):
                    assert admin.post("/collections", json={"name": "victim"}).status_code == 201
                    added = admin.post("/collections/victim/items", json={"items": CATALOG[:30]})
                    assert added.status_code == 200
                    time.sleep(0.05)  # let the users in
                    assert admin.delete("/collections/victim").status_code == 204
            finally:
                done.set()
                for t in threads:
                    t.join(30)
    assert not bodies, bodies[:3]
    assert set(list_statuses) == {200} and list_statuses[200] > ROUNDS
    assert set(victim_statuses) == {200, 404}  # both happened: the race was run
