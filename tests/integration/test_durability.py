"""Durability: batches are all-or-nothing under SIGKILL, and processes share a collection."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import sleuth
from sleuth.store import WriterLock
from support import kill_writer, timed_write

BATCH = 1000  # big enough that a batch takes a noticeable time, so kills land inside one

# The writer reports each batch's progress; wrapping ``store.write`` (the one transaction of
# a batch) only adds prints around it, so the test can aim its kill at the transaction.
WRITER = (
    r"""
import sys
import time
import sleuth

path, first, batches, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
col = sleuth.open(path, encoder="hashing")
"""
    + timed_write("write")
    + r"""for b in range(first, first + batches):
    print(f"start {b}", flush=True)
    col.add([{"id": f"b{b}-{i}", "text": f"tok{b}x{i} words every item shares", "batch": b}
             for i in range(size)])
    print(f"committed {b}", flush=True)
"""
)


def batch_ids(b: int) -> list[str]:
    return [f"b{b}-{i}" for i in range(BATCH)]


def run_and_kill(path: Path, first: int, rng: random.Random, *, aim: str) -> tuple[int, str]:
    """Start a writer at batch ``first`` and SIGKILL it after a few commits, at a random point
    of a batch (``aim="batch"``) or of its write transaction (``aim="write"``).

    Returns the last batch it reported committed and its last line ("writing": killed inside
    the transaction, "start"/"written": elsewhere in the batch).
    """
    cmd = [sys.executable, "-c", WRITER, str(path), str(first), "50", str(BATCH)]
    return kill_writer(cmd, first, rng, aim=aim)


def test_sigkill_never_leaves_a_partial_batch(tmp_path: Path) -> None:
    path = tmp_path / "col"
    sleuth.open(path, encoder="hashing").close()
    rng = random.Random(20240)
    last_lines: list[str] = []
    present = 0  # batches in the store
    for aim in ("batch", "write", "write", "write"):
        if len(last_lines) == 3 and "writing" in last_lines:
            break  # the fourth round only retries a kill inside the transaction
        committed, last = run_and_kill(path, present, rng, aim=aim)
        last_lines.append(last)
        with sleuth.open(path, encoder="hashing") as col:
            count = col.count()
            assert count % BATCH == 0, f"a partial batch: {count} items"
            present = count // BATCH
            # every reported batch is there; at most one more (killed after its commit,
            # before it could print)
            assert committed + 1 <= present <= committed + 2
            found = col.store.docnos_of([i for b in range(present) for i in batch_ids(b)])
            assert len(found) == count
            assert not col.store.docnos_of(batch_ids(present))
            # the indexes agree with the store, row for row
            info = col.info()["indexes"]
            assert info["bm25"]["live"] == info["dense"]["live"] == count
            for b in rng.sample(range(present), 3):
                i = rng.randrange(BATCH)
                assert [h.id for h in col.search(f"tok{b}x{i}", mode="lexical")] == [f"b{b}-{i}"]
            assert col.search(f"tok{present}x0", mode="lexical") == []
            # hits never name absent items (a stale row would make dense return fewer than k)
            assert len(col.search("words every item shares", k=1000, mode="dense")) == 1000
            hits = col.search("shares", k=50, where={"batch": {"gte": present - 1}})
            assert len(hits) == 50 and all(h.attributes["batch"] == present - 1 for h in hits)
    assert "writing" in last_lines, f"no kill landed inside a write transaction: {last_lines}"


CONCURRENT = r"""
import sys
import time
import sleuth

path, prefix, batches, size = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
col = sleuth.open(path, encoder="hashing")
for b in range(batches):
    col.upsert([{"id": f"{prefix}{b}-{i}", "text": f"{prefix}tok{b}x{i} common text",
                 "writer": prefix} for i in range(size)])
    time.sleep(0.01)
# it sees its own writes and every batch the other writer had committed by now
print(col.count(), len(col.search("common", k=1000, mode="dense")), flush=True)
col.close()
"""


def test_two_processes_write_one_collection(tmp_path: Path) -> None:
    path = tmp_path / "col"
    batches, size = 6, 300
    watcher = sleuth.open(path, encoder="hashing")  # open before, read after: must catch up
    watcher.add([{"id": "seed", "text": "seed item common"}])
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", CONCURRENT, str(path), prefix, str(batches), str(size)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for prefix in ("p", "q")
    ]
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        seen, found = map(int, out.split())
        assert batches * size < seen <= 2 * batches * size + 1
        assert found == min(1000, seen)
    total = 2 * batches * size + 1
    for col in (watcher, sleuth.open(path, encoder="hashing")):
        with col:
            assert col.count() == total
            ids = [f"{p}{b}-{i}" for p in "pq" for b in range(batches) for i in range(size)]
            assert len(col.store.docnos_of(ids)) == len(ids)
            info = col.info()["indexes"]
            assert info["bm25"]["live"] == info["dense"]["live"] == total
            for p in "pq":
                for b, i in ((0, 0), (batches - 1, size - 1), (2, 17)):
                    hits = col.search(f"{p}tok{b}x{i}", k=3, mode="lexical")
                    assert [h.id for h in hits] == [f"{p}{b}-{i}"]
                hits = col.search("common", k=1000, where={"writer": p}, mode="dense")
                assert len(hits) == 1000 and all(h.id.startswith(p) for h in hits)


def test_writer_lock_timeout_is_a_conflict(tmp_path: Path) -> None:
    path = tmp_path / "col"
    with sleuth.open(path, encoder="hashing", lock_timeout=0.5) as col:
        col.add([{"id": "a", "text": "first item"}])
        with WriterLock(path / "write.lock", timeout=1.0):
            for write in (
                lambda: col.add([{"id": "b", "text": "second item"}]),
                lambda: col.delete(["a"]),
            ):
                started = time.monotonic()
                with pytest.raises(sleuth.Conflict) as err:
                    write()
                waited = time.monotonic() - started
                assert 0.45 <= waited < 5.0
                msg = str(err.value)
                assert "being written by another process" in msg
                assert "waited 0.5 s" in msg and "write.lock" in msg
                assert col.count() == 1
        # once the lock is free, writes go through
        col.add([{"id": "b", "text": "second item"}])
        assert col.count() == 2
        assert [h.id for h in col.search("second", mode="lexical")] == ["b"]


def test_writer_lock_is_released_when_its_process_dies(tmp_path: Path) -> None:
    lock_path = tmp_path / "write.lock"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\nfrom pathlib import Path\nfrom sleuth.store import WriterLock\n"
            "with WriterLock(Path(sys.argv[1])):\n    print('locked', flush=True)\n"
            "    time.sleep(60)\n",
            str(lock_path),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None
    assert holder.stdout.readline().strip() == "locked"
    with pytest.raises(sleuth.Conflict), WriterLock(lock_path, timeout=0.2):
        pass
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    holder.stdout.close()
    with WriterLock(lock_path, timeout=2.0) as lock:
        assert lock._fd is not None


RECORDER = r"""
import sys
import sleuth

path, batches, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
col = sleuth.open(path, encoder="hashing")
for b in range(batches):
    col.record([{"user": f"u{i % 97}", "item": f"i{(b * 7 + i) % 50}", "kind": "view",
                 "event_id": f"{b}-{i}", "ts": b * size + i} for i in range(size)])
    print(f"committed {b}", flush=True)
"""
EVENTS = 20_000


def test_sigkill_while_recording_keeps_whole_batches_and_retries_are_idempotent(
    tmp_path: Path,
) -> None:
    path = tmp_path / "col"
    with sleuth.open(path, encoder="hashing") as col:
        col.add([{"id": f"i{n}", "text": f"item {n}"} for n in range(50)])
    rng = random.Random(7)
    proc = subprocess.Popen(
        [sys.executable, "-c", RECORDER, str(path), "100", str(EVENTS)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    committed, stamps = -1, []
    for line in proc.stdout:
        committed = int(line.split()[1])
        stamps.append(time.monotonic())
        if committed >= 2:
            time.sleep(rng.uniform(0.05, 0.95) * (stamps[-1] - stamps[0]) / committed)
            break
    os.kill(proc.pid, signal.SIGKILL)
    committed = max([committed] + [int(x.split()[1]) for x in proc.stdout.read().splitlines()])
    proc.wait()
    proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL
    with sleuth.open(path, encoder="hashing") as col:
        n = col.store.event_count()
        assert n % EVENTS == 0, f"a partial batch of events: {n}"
        present = n // EVENTS
        assert committed + 1 <= present <= committed + 2
        # the client retries every batch it sent: the ones already in are skipped, not doubled
        for b in range(present + 1):
            retry = [
                {
                    "user": f"u{i % 97}",
                    "item": f"i{(b * 7 + i) % 50}",
                    "kind": "view",
                    "event_id": f"{b}-{i}",
                    "ts": b * EVENTS + i,
                }
                for i in range(EVENTS)
            ]
            result = col.record(retry)
            expected = (0, EVENTS) if b < present else (EVENTS, 0)
            assert (result.recorded, result.duplicates) == expected
        assert col.store.event_count() == (present + 1) * EVENTS
        assert len(col.recommend("someone new", k=5)) == 5  # popularity, from every event
