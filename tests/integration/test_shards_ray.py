"""A sharded collection on a real Ray cluster (a head and two worker nodes, separate processes on
loopback): its shards are actors spread over the nodes, and when one shard's actor is killed
(SIGKILL of its worker process) while clients search and write, the other shards keep
answering, Ray restarts the actor, which reopens its folder, every acknowledged write is there,
no batch is half applied, and the answers equal one collection's holding the same items."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import sleuth
from ray_cluster import HOST, LocalRayCluster, free_port, ray_cluster_or_skip
from sleuth.shards.group import ShardUnavailable
from sleuth.shards.layout import shard_of
from sleuth.shards.opening import open_sharded
from support import CATALOG, assert_same_hits

ray = pytest.importorskip("ray", reason="Ray is not installed (pip install -e .[ray])")

pytestmark = pytest.mark.slow

SHARDS = 3
QUERIES = ["alpha topic", "gamma note", "remark", "beta even sale", "delta odd"]
MODES = ["lexical", "dense", "hybrid"]


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalRayCluster]:
    # Ray's socket paths must stay short: its temp dir goes under /tmp, not pytest's tmp_path.
    root = Path(tempfile.mkdtemp(prefix="sleuth-ray-"))
    started = ray_cluster_or_skip(root, workers=2, cpus=2)
    try:
        ray.init(address=started.address, namespace=f"test-{uuid.uuid4().hex[:8]}")
        yield started
    finally:
        ray.shutdown()
        started.stop()
        shutil.rmtree(root, ignore_errors=True)


def make_sharded(path: Path) -> None:
    with sleuth.open(path, encoder="hashing", shards=SHARDS) as col:
        col.add(CATALOG)


def reference(path: Path, items: list[dict[str, Any]]) -> sleuth.Collection:
    col = sleuth.open(path, encoder="hashing")
    col.add(items)
    return col


class Clients:
    """Searches, writes and reads by id in threads, recording what each answered."""

    def __init__(self, col: Any, victim: int) -> None:
        self.col, self.victim = col, victim
        self.stop = threading.Event()
        self.acked: list[list[dict[str, Any]]] = []  # batches whose write returned
        self.failed: list[tuple[list[dict[str, Any]], ShardUnavailable]] = []
        self.errors: list[BaseException] = []  # anything but a ShardUnavailable
        self.searches = 0
        self.search_failures: list[ShardUnavailable] = []
        self.other_reads: list[float] = []  # when a read on another shard was answered
        others = [i for i in CATALOG if shard_of(i["id"], SHARDS) != victim]
        self.other_ids = [i["id"] for i in others]

    def writer(self) -> None:
        b = 0
        while not self.stop.is_set():
            batch = [
                {"id": f"w{b}-{j}", "text": f"written batch {b} alpha note {j}", "topic": "w"}
                for j in range(6)  # six ids: spread over the three shards
            ]
            try:
                self.col.upsert(batch)
                self.acked.append(batch)
            except ShardUnavailable as exc:
                self.failed.append((batch, exc))
            except BaseException as exc:
                self.errors.append(exc)
            b += 1

    def searcher(self) -> None:
        while not self.stop.is_set():
            try:
                self.col.search(QUERIES[self.searches % len(QUERIES)], k=5, mode="hybrid")
                self.searches += 1
            except ShardUnavailable as exc:
                self.search_failures.append(exc)
            except BaseException as exc:
                self.errors.append(exc)

    def reader(self) -> None:
        n = 0
        while not self.stop.is_set():
            try:
                item = self.col.get(self.other_ids[n % len(self.other_ids)])
                assert item.id == self.other_ids[n % len(self.other_ids)]
                self.other_reads.append(time.monotonic())
            except BaseException as exc:
                self.errors.append(exc)
            n += 1
            time.sleep(0.01)

    def run(self) -> list[threading.Thread]:
        threads = [
            threading.Thread(target=t, daemon=True)
            for t in (self.writer, self.searcher, self.reader)
        ]
        for thread in threads:
            thread.start()
        return threads


def test_a_killed_shard_actor_restarts_and_loses_nothing(
    cluster: LocalRayCluster, tmp_path: Path
) -> None:
    from sleuth.shards.ray_group import RayGroup

    path = tmp_path / "sharded"
    make_sharded(path)
    name = f"col-{uuid.uuid4().hex[:8]}"
    col = open_sharded(
        path, group=lambda folders: RayGroup(folders, name=name, num_cpus=0.5, timeout=60)
    )
    group = col.group
    assert isinstance(group, RayGroup)
    try:
        placed = group.placement()
        assert len({p["node"] for p in placed}) >= 2, placed  # spread over the nodes
        # another driver (here, the same one) finds the actors by name
        assert RayGroup.connect(name, SHARDS).scatter("count", ((), {})) == [
            sum(shard_of(i["id"], SHARDS) == s for i in CATALOG) for s in range(SHARDS)
        ]

        victim = 1
        clients = Clients(col, victim)
        threads = clients.run()
        try:
            time.sleep(1.0)  # writes and searches under way
            killed_at = time.monotonic()
            os.kill(placed[victim]["pid"], signal.SIGKILL)
            # the restarted actor: a new process, which reopened the shard's folder
            back = group.call(victim, "ping")
            back_at = time.monotonic()
            time.sleep(1.0)  # and clients go on against it
        finally:
            clients.stop.set()
            for thread in threads:
                thread.join(timeout=60)
        assert back["pid"] != placed[victim]["pid"]
        assert not clients.errors, clients.errors[:3]
        # the other shards answered while the victim was down
        assert any(killed_at < t < back_at for t in clients.other_reads)
        assert clients.acked and clients.searches
        for exc in [e for _, e in clients.failed] + clients.search_failures:
            assert exc.details["shard"] == victim, exc.details

        col.recover()  # a batch that failed on the victim is applied on it now
        written = clients.acked + [batch for batch, _ in clients.failed]
        for batch in clients.acked:
            for item in batch:
                assert (
                    col.get(item["id"]).fields["text"] == item["text"]
                )  # every acknowledged write
        for batch, _ in clients.failed:  # a failed batch: all in, or all out
            found = [_has(col, item["id"]) for item in batch]
            assert all(found) or not any(found), (batch[0]["id"], found)
        final = list(CATALOG) + [i for b in written for i in b if _has(col, i["id"])]
        assert col.count() == len(final)

        ref = reference(tmp_path / "ref", final)
        try:
            for mode in MODES:
                for query in QUERIES:
                    assert_same_hits(
                        ref.search(query, k=10, mode=mode), col.search(query, k=10, mode=mode)
                    )
        finally:
            ref.close()
    finally:
        col.close()


def _has(col: Any, item_id: str) -> bool:
    try:
        col.get(item_id)
    except sleuth.NotFound:
        return False
    return True


def test_a_replica_dies_under_serve_and_no_answer_is_wrong(
    cluster: LocalRayCluster, tmp_path: Path
) -> None:
    """``sleuth serve --ray``'s app with 2 replicas per shard: a replica of shard 0 is killed
    while clients search and write over HTTP. Every answer is a 200 that is right or a 503
    that says so; every acknowledged write is there, and a failed batch is all in or out."""
    import httpx
    from ray import serve

    from sleuth.server.guards import AllowedHosts
    from sleuth.shards.serve import ServeGroup, ServeOptions, serve_app, shard_handles

    data = tmp_path / "data"
    with sleuth.open(data / "docs", encoder="hashing", shards=2) as col:
        col.add(CATALOG)
    ref = reference(tmp_path / "ref", CATALOG)
    # a filter the written items do not pass: the dense answers stay the catalog's
    where = {"in_stock": True}
    expected = {q: ref.search(q, k=5, mode="dense", where=where) for q in QUERIES}
    ref.close()

    port = free_port()
    serve.start(http_options={"host": HOST, "port": port})
    options = ServeOptions(replicas=2, shard_cpus=0.25, timeout=60)
    app = serve_app(data, options, allowed_hosts=AllowedHosts.for_bind(HOST))
    try:
        serve.run(app, name="sleuth", route_prefix="/")
        pids = ServeGroup(shard_handles("docs", 2)).pids(0, want=2)
        assert len(pids) == 2, pids
        base = f"http://{HOST}:{port}/collections/docs"
        stop = threading.Event()
        answers: list[tuple[str, int, Any]] = []
        writes: list[tuple[list[dict[str, Any]], int]] = []

        def searcher() -> None:
            with httpx.Client(timeout=120) as http:
                n = 0
                while not stop.is_set():
                    query = QUERIES[n % len(QUERIES)]
                    r = http.post(
                        f"{base}/search",
                        json={"query": query, "k": 5, "mode": "dense", "where": where},
                    )
                    answers.append((query, r.status_code, r.json()))
                    n += 1

        def writer() -> None:
            with httpx.Client(timeout=120) as http:
                b = 0
                while not stop.is_set():
                    batch = [{"id": f"s{b}-{j}", "text": f"zq{b} xv{j} qqz"} for j in range(4)]
                    r = http.post(f"{base}/items", json={"items": batch})
                    writes.append((batch, r.status_code))
                    b += 1

        threads = [threading.Thread(target=f, daemon=True) for f in (searcher, searcher, writer)]
        for thread in threads:
            thread.start()
        try:
            time.sleep(2.0)
            os.kill(pids[0], signal.SIGKILL)
            time.sleep(4.0)
        finally:
            stop.set()
            for thread in threads:
                thread.join(timeout=120)

        with httpx.Client(timeout=120) as http:
            assert answers and any(status == 200 for _, status, _ in answers)
            for query, status, body in answers:
                assert status in (200, 503), (status, body)
                if status == 503:  # said clearly, never a partial answer
                    assert body["error"]["type"] == "shard_unavailable", body
                    continue
                got = [(h["id"], h["score"]) for h in body["hits"]]
                want = [(h.id, h.score) for h in expected[query]]
                assert [i for i, _ in got] == [i for i, _ in want] or _ties(got, want), query
            assert {status for _, status in writes} <= {200, 503}, writes
            # the next write applies what a failed one left logged; then check every batch
            r = http.post(f"{base}/items", json={"items": [{"id": "last", "text": "end"}]})
            assert r.status_code == 200, r.text
            for batch, status in writes:
                found = [http.get(f"{base}/items/{i['id']}").status_code == 200 for i in batch]
                if status == 200:
                    assert all(found), batch[0]["id"]
                else:
                    assert all(found) or not any(found), (batch[0]["id"], found)
    finally:
        serve.shutdown()  # the next test starts Serve with its own HTTP options


def test_sleuth_serve_ray_serves_and_leaves_nothing_running(
    cluster: LocalRayCluster, tmp_path: Path
) -> None:
    """The command: ``sleuth serve --ray ADDRESS`` serves the data folder's sharded collection,
    creates new ones with ``--shards`` shards, and on SIGTERM deletes every application it
    made."""
    import httpx
    from ray import serve

    data = tmp_path / "data"
    with sleuth.open(data / "docs", encoder="hashing", shards=2) as col:
        col.add(CATALOG[:20])
    port = free_port()
    command = [sys.executable, "-m", "sleuth.cli", "serve", "--data", str(data), "--encoder"]
    command += ["hashing", "--host", HOST, "--port", str(port), "--shards", "2"]
    with open(tmp_path / "server.err", "w") as err:
        proc = subprocess.Popen(
            [*command, "--ray", cluster.address], stdout=subprocess.PIPE, stderr=err, text=True
        )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert f"http://{HOST}:{port}/" in line, (line, (tmp_path / "server.err").read_text())
        base = f"http://{HOST}:{port}"
        with httpx.Client(timeout=120) as http:
            health = http.get(f"{base}/health").json()
            assert health["status"] == "ok", health
            r = http.post(f"{base}/collections/docs/search", json={"query": "alpha", "k": 3})
            assert r.status_code == 200 and r.json()["hits"], r.text
            events = [{"user": f"u{i % 3}", "item": CATALOG[i]["id"]} for i in range(12)]
            r = http.post(f"{base}/collections/docs/events", json={"events": events})
            assert r.json() == {"recorded": 12, "duplicates": 0}, r.text
            r = http.get(f"{base}/collections/docs/recommend", params={"user": "u1", "k": 3})
            assert r.status_code == 200 and r.json()["hits"], r.text
            r = http.post(f"{base}/collections", json={"name": "new", "encoder": "hashing"})
            assert r.status_code == 201, r.text
            assert (data / "new" / "shards.json").is_file()  # made with --shards 2
            items = [{"id": f"n{i}", "text": f"fresh entry {i}"} for i in range(6)]
            assert http.post(f"{base}/collections/new/items", json={"items": items}).is_success
            assert http.get(f"{base}/collections/new").json()["items"] == 6
        running = set(serve.status().applications)
        assert {"sleuth", "sleuth-new-shard-1", "sleuth-docs-shard-0"} <= running, running
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(120)
    assert proc.returncode == 0, (tmp_path / "server.err").read_text()[-2000:]
    assert not [a for a in serve.status().applications if a.startswith("sleuth")]


def _ties(got: list[tuple[str, float]], want: list[tuple[str, float]]) -> bool:
    """The same scores rank by rank (ids may differ only among equal scores)."""
    return len(got) == len(want) and all(
        abs(a[1] - b[1]) <= 1e-4 for a, b in zip(got, want, strict=True)
    )
