"""``sleuth serve`` as a real child process: SIGKILL while clients write loses no acknowledged
write and leaves no half batch; a restart serves the same results without re-encoding."""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from support import CATALOG, ServerProcess, unique_token

QUERIES = [unique_token(3), "telescope orbit", "recipe with butter", "harbor anchor keel"]


def batch_of(writer: int, n: int) -> list[dict[str, Any]]:
    token = f"w{writer}x{n}tok"
    return [{"id": f"w{writer}-{n}-{i}", "text": f"{token} item {i}", "n": n} for i in range(5)]


def test_sigkill_while_writing_loses_no_acknowledged_write(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path)
    with httpx.Client(base_url=server.url, timeout=30) as client:
        assert client.post("/collections", json={"name": "c"}).status_code == 201
    acked: list[tuple[int, int]] = []
    tried: list[tuple[int, int]] = []
    stop = threading.Event()

    def write(writer: int) -> None:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            n = 0
            while not stop.is_set():
                tried.append((writer, n))
                try:
                    r = client.post("/collections/c/items", json={"items": batch_of(writer, n)})
                except httpx.HTTPError:
                    return  # the server is gone
                if r.status_code == 200:
                    acked.append((writer, n))
                n += 1

    writers = [threading.Thread(target=write, args=(w,)) for w in range(4)]
    for t in writers:
        t.start()
    deadline = time.monotonic() + 30
    while len(acked) < 40 and time.monotonic() < deadline:
        time.sleep(0.05)
    server.kill()
    stop.set()
    for t in writers:
        t.join(30)
    assert len(acked) >= 40

    server = ServerProcess(tmp_path)
    try:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            present = 0
            for writer, n in tried:
                ids = [item["id"] for item in batch_of(writer, n)]
                found = [client.get(f"/collections/c/items/{i}").status_code == 200 for i in ids]
                assert all(found) or not any(found), f"batch {writer}/{n} is half there"
                assert all(found) or (writer, n) not in acked, f"acknowledged {writer}/{n} lost"
                if all(found):
                    present += 5
                    body = {"query": f"w{writer}x{n}tok", "k": 10, "mode": "lexical"}
                    hits = client.post("/collections/c/search", json=body).json()["hits"]
                    assert sorted(h["id"] for h in hits) == sorted(ids)
            info = client.get("/collections/c").json()
            assert info["items"] == present >= 5 * len(acked)
            assert info["indexes"]["bm25"]["live"] == info["indexes"]["dense"]["live"] == present
    finally:
        server.stop()


def results(client: httpx.Client) -> list[list[tuple[str, float]]]:
    out = []
    for query in QUERIES:
        for mode in ("lexical", "dense", "hybrid"):
            body = {"query": query, "k": 10, "mode": mode}
            hits = client.post("/collections/c/search", json=body).json()["hits"]
            out.append([(h["id"], round(h["score"], 5)) for h in hits])
    return out


def encoded_texts(client: httpx.Client) -> float:
    match = re.search(r'sleuth_encoded_texts\{collection="c"\} (\S+)', client.get("/metrics").text)
    assert match
    return float(match.group(1))


@pytest.mark.parametrize("how", ["stop", "kill"])
def test_restart_serves_the_same_results_without_re_encoding(tmp_path: Path, how: str) -> None:
    server = ServerProcess(tmp_path)
    with httpx.Client(base_url=server.url, timeout=30) as client:
        client.post("/collections", json={"name": "c"})
        client.post("/collections/c/items", json={"items": CATALOG})
        client.delete(f"/collections/c/items/{CATALOG[5]['id']}")
        before = results(client)
        assert encoded_texts(client) == len(CATALOG)
    server.stop() if how == "stop" else server.kill()
    index = tmp_path / "c" / "index"
    if how == "stop":  # a clean shutdown saves the indexes; a kill leaves them to replay
        saved = {p.name for p in index.glob("*.npz")} | {
            p.parent.name for p in index.glob("*/manifest.json")
        }
        assert saved == {"attributes", "bm25", "dense.npz"}

    server = ServerProcess(tmp_path)
    try:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            assert results(client) == before
            assert encoded_texts(client) == 0
    finally:
        server.stop()
