"""A migration under a live ``sleuth serve`` (a child process) with searching and writing
clients: the server is killed with SIGKILL mid-backfill and restarted (the backfill resumes
when the collection opens), the migration finishes and is cut over. No request failed but
during the restart, no acknowledged write was lost, and the results after the cutover are
those of a collection built from scratch with the new encoder."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

import sleuth
from support import ServerProcess, assert_same_ranking

WORDS = [
    "alpha",
    "beta",
    "gamma",
    "delta",
    "epsilon",
    "zeta",
    "theta",
    "kappa",
    "lambda",
    "sigma",
    "orbit",
    "comet",
    "flour",
    "butter",
    "seed",
    "compost",
    "harbor",
    "keel",
    "anchor",
    "wind",
]
QUERIES = ["alpha orbit", "butter flour seed", "harbor keel wind", "sigma comet delta"]
N = 1500  # the backfill runs one item per transaction: long enough to be killed midway


def item(name: str, i: int) -> dict[str, Any]:
    words = [WORDS[(i * 7 + j * j * 3 + j) % len(WORDS)] for j in range(6)]
    return {"id": f"{name}{i}", "text": " ".join([*words, f"{name}x{i}"])}  # each text its own


class Clients:
    """A searching and a writing client against ``url["now"]`` (it changes at the restart),
    each failure kept with its time."""

    def __init__(self, url: dict[str, str]) -> None:
        self.url = url
        self.stop = threading.Event()
        self.failures: list[tuple[float, float, str]] = []  # start, end, what
        self.acked: list[str] = []
        self.tried: list[str] = []
        self.searches = 0
        self.threads = [threading.Thread(target=f) for f in (self.search, self.write)]
        for t in self.threads:
            t.start()

    def _call(self, method: str, path: str, body: dict[str, Any]) -> bool:
        start = time.monotonic()
        try:
            r = httpx.request(method, self.url["now"] + path, json=body, timeout=30)
            if r.status_code < 300:
                return True
            self.failures.append((start, time.monotonic(), f"{r.status_code} {r.text[:200]}"))
        except httpx.HTTPError as exc:
            self.failures.append((start, time.monotonic(), repr(exc)))
        time.sleep(0.05)
        return False

    def search(self) -> None:
        while not self.stop.is_set():
            for mode in ("dense", "hybrid"):
                body = {"query": QUERIES[self.searches % 4], "mode": mode, "k": 5}
                self.searches += self._call("POST", "/collections/docs/search", body)

    def write(self) -> None:
        n = 0
        while not self.stop.is_set():
            batch = [item("w", n * 3 + j) for j in range(3)]
            self.tried.extend(i["id"] for i in batch)
            if self._call("POST", "/collections/docs/items", {"items": batch}):
                self.acked.extend(i["id"] for i in batch)
            n += 1
            time.sleep(0.02)

    def end(self) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(60)


def status(url: str) -> dict[str, Any]:
    return dict(httpx.get(f"{url}/collections/docs/migration", timeout=30).json())


@pytest.mark.slow
def test_a_migration_survives_a_killed_server_and_cuts_over(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with sleuth.open(data / "docs", encoder="hashing:64") as col:
        col.add([item("d", i) for i in range(N)])
    server = ServerProcess(data)
    url = {"now": server.url}
    started = httpx.post(
        f"{server.url}/collections/docs/migration",
        json={"to": "hashing:96", "batch": 1, "sample": 50},
        timeout=60,
    )
    assert started.status_code == 202, started.text
    clients = Clients(url)
    try:
        while (seen := status(url["now"]))["progress"]["done"] < N // 5:
            time.sleep(0.05)
        assert seen["phase"] == "backfill", "the backfill ended before the kill"
        killed = time.monotonic()
        server.kill()
        server = ServerProcess(data)
        url["now"] = server.url
        restarted = time.monotonic()
        resumed = status(server.url)
        assert resumed["phase"] in ("backfill", "ready")
        assert resumed["progress"]["done"] >= seen["progress"]["done"]  # its progress was kept
        deadline = time.monotonic() + 300
        while status(server.url)["phase"] == "backfill" and time.monotonic() < deadline:
            time.sleep(0.1)
        cut = httpx.post(f"{server.url}/collections/docs/migration/cutover", timeout=60)
        assert cut.status_code == 200, cut.text
        time.sleep(0.5)  # the clients go on against the new encoder
    finally:
        clients.end()
    try:
        # a request that failed overlapped the restart (began before the new URL was known)
        outside = [f for f in clients.failures if f[1] < killed or f[0] > restarted]
        assert not outside, outside[:5]
        assert clients.searches > 10 and len(clients.acked) > 10
        found = httpx.post(
            f"{server.url}/collections/docs/search",
            json={"query": "x", "k": 1, "where": {}},
            timeout=30,
        )
        assert found.status_code == 200
        # every acknowledged write is there; an unacknowledged one may be (committed, then killed)
        present = []
        for item_id in clients.tried:
            r = httpx.get(f"{server.url}/collections/docs/items/{item_id}", timeout=30)
            assert r.status_code in (200, 404)
            if r.status_code == 200:
                present.append(item_id)
        assert set(clients.acked) <= set(present)
        served = {
            (q, mode): httpx.post(
                f"{server.url}/collections/docs/search",
                json={"query": q, "mode": mode, "k": 10},
                timeout=30,
            ).json()["hits"]
            for q in QUERIES
            for mode in ("dense", "hybrid", "lexical")
        }
    finally:
        server.stop()
    index = {i: n for n, i in enumerate(present)}
    written = [item("w", int(i[1:])) for i in sorted(present, key=index.__getitem__)]
    with sleuth.open(tmp_path / "scratch", encoder="hashing:96") as scratch:
        scratch.add([item("d", i) for i in range(N)] + written)
        for (q, mode), hits in served.items():
            expected = scratch.search(q, k=10, mode=mode)
            assert_same_ranking(
                [h.id for h in expected],
                [h.score for h in expected],
                [h["id"] for h in hits],
                [h["score"] for h in hits],
            )
