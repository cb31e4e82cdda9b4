"""Test support shared by the suites: the synthetic catalog and tie-tolerant comparisons.

Every catalog item ``i`` carries a token found in no other item (``unique_token(i)``), the
words of one topic, and attributes derived from ``i`` by simple rules (``color`` cycles over
three values, ``in_stock`` is true for even ``i``, ...), so a test computes the expected answer
of a query or filter from the rules instead of copying it from a run.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import random
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

import sleuth

N_ITEMS = 60
COLORS = ("red", "green", "blue")
TOPICS = {
    "astronomy": "telescope orbit planet comet nebula",
    "cooking": "recipe oven flour butter sauce",
    "gardening": "soil seed compost tomato hedge",
    "sailing": "boat wind harbor anchor keel",
}
TOPIC_NAMES = tuple(TOPICS)
EPOCH = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)


def unique_token(i: int) -> str:
    """A word that occurs in item ``i`` only (and survives stemming unchanged)."""
    return f"zx{i:03d}q"


def item_id(i: int) -> str:
    return f"item-{i:03d}"


def make_item(i: int) -> dict[str, Any]:
    topic = TOPIC_NAMES[i % len(TOPIC_NAMES)]
    words = TOPICS[topic].split()
    # The topic's first word repeats a varying number of times so BM25 scores differ.
    text = " ".join([words[0]] * (1 + i % 3) + words[1:] + [unique_token(i), "catalog", "entry"])
    item: dict[str, Any] = {
        "id": item_id(i),
        "title": f"{topic.title()} note {i}",
        "text": text,
        "color": COLORS[i % len(COLORS)],
        "price": 1.5 * i,
        "in_stock": i % 2 == 0,
        "tags": [topic, "even" if i % 2 == 0 else "odd"] + (["sale"] if i % 5 == 0 else []),
        "released": (EPOCH + dt.timedelta(days=i)).isoformat(),
    }
    if i % 7 == 0:
        item["note"] = f"remark {i}"
    return item


CATALOG: list[dict[str, Any]] = [make_item(i) for i in range(N_ITEMS)]


def hit_map(hits: list[sleuth.Hit]) -> dict[str, float]:
    return {h.id: h.score for h in hits}


def assert_same_hits(a: list[sleuth.Hit], b: list[sleuth.Hit], *, rtol: float = 1e-5) -> None:
    """Same ranked hits up to float noise (see ``assert_same_ranking``)."""
    assert len(a) == len(b), ([h.id for h in a], [h.id for h in b])
    assert_same_ranking(
        [h.id for h in a], [h.score for h in a], [h.id for h in b], [h.score for h in b], rtol=rtol
    )


def assert_same_ranking(
    ids_a: Any, scores_a: Any, ids_b: Any, scores_b: Any, *, rtol: float = 1e-5, atol: float = 1e-6
) -> None:
    """Same ranked lists up to float noise: equal scores position by position, and equal ids
    except among tied scores (then either order is right, and a tie at the cut may keep
    different members). Two code paths (another BLAS kernel, another shape, another summation
    order) agree to a few ulps, not bit for bit, so near-ties may swap. 2-D arrays are compared
    row by row."""
    sa, sb = np.asarray(scores_a, np.float64), np.asarray(scores_b, np.float64)
    if sa.ndim == 2:
        assert np.shape(ids_a) == np.shape(ids_b) == sa.shape == sb.shape
        for row in range(sa.shape[0]):
            assert_same_ranking(ids_a[row], sa[row], ids_b[row], sb[row], rtol=rtol, atol=atol)
        return
    ids_a, ids_b = list(np.asarray(ids_a).tolist()), list(np.asarray(ids_b).tolist())
    assert len(ids_a) == len(ids_b) == sa.size == sb.size, (ids_a, ids_b)
    np.testing.assert_allclose(sb, sa, rtol=rtol, atol=atol)
    pos_a = {d: j for j, d in enumerate(ids_a)}
    for i, d in enumerate(ids_b):
        if ids_a[i] == d:
            continue
        j = pos_a.get(d)
        tol = atol + rtol * max(abs(sa[i]), 1.0)
        if j is not None:
            assert abs(sa[j] - sa[i]) <= tol, f"{d} at {i} in b but at {j} in a: not a tie"
        else:
            assert abs(sa[-1] - sa[i]) <= tol, f"{d} missing from a and not tied at the cut"


def sigkill(proc: subprocess.Popen[str]) -> list[str]:
    """SIGKILL a writer started with ``stdout=PIPE`` and return the lines it printed that were
    not read yet (a crash test counts what it reported before it died)."""
    assert proc.stdout is not None
    proc.send_signal(signal.SIGKILL)
    tail = proc.stdout.read().splitlines()
    proc.wait()
    proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL
    return tail


def kill_writer(
    cmd: list[str], first: int, rng: random.Random, *, aim: str = "batch"
) -> tuple[int, str]:
    """Run a writer that prints ``committed B`` after each acknowledged batch (and, around its
    write transaction, ``writing`` and ``written SECONDS``), and SIGKILL it after a commit or
    two more than ``first - 1``: at a random point of a batch (``aim="batch"``) or of its write
    transaction (``aim="write"``).

    Returns the last batch it reported committed and the first word of its last line
    ("writing": killed inside the transaction).
    """
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    wanted = first + rng.randint(1, 2)
    committed, stamps, write_times = first - 1, [], []
    line = ""
    try:
        for line in proc.stdout:
            word, *rest = line.split()
            if word == "written":
                write_times.append(float(rest[0]))
            elif word == "committed":
                committed = int(rest[0])
                stamps.append(time.monotonic())
            elif word == "writing" and aim == "write" and committed >= wanted:
                time.sleep(rng.uniform(0.0, 0.8) * min(write_times))
                break
            if aim == "batch" and committed >= wanted:
                batch_time = (stamps[-1] - stamps[0]) / max(len(stamps) - 1, 1)
                time.sleep(rng.uniform(0.05, 0.95) * batch_time)
                break
        assert committed >= wanted, "the writer stopped before it was killed"
    finally:
        tail = sigkill(proc)
    last = line.split()[0]
    for line in tail:
        word, *rest = line.split()
        last = word
        if word == "committed":
            committed = max(committed, int(rest[0]))
    return committed, last


@contextlib.contextmanager
def live_server(engine: Any, **app_options: Any) -> Iterator[str]:
    """A real uvicorn server for ``create_app(engine)`` on a free loopback port, in a thread;
    yields its base URL and shuts it down (running the app's lifespan) afterwards."""
    import uvicorn

    from sleuth.server import create_app

    config = uvicorn.Config(  # h11, as `sleuth serve` runs it
        create_app(engine, **app_options),
        host="127.0.0.1",
        port=0,
        log_level="warning",
        http="h11",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(30)


class ServerProcess:
    """``sleuth serve`` in a child process (so a test can SIGKILL it); ``url`` once it listens."""

    def __init__(self, data: Path, *args: str) -> None:
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "sleuth.cli",
                "serve",
                "--data",
                str(data),
                "--port",
                "0",
                "--encoder",
                "hashing",
                *args,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        line = self.proc.stdout.readline() if self.proc.stdout else ""
        match = re.search(r"(http://\S+?)/?$", line.strip())
        if match is None:
            self.proc.kill()
            err = self.proc.stderr.read() if self.proc.stderr else ""
            raise RuntimeError(f"the server did not start: {line!r} {err[-2000:]}")
        self.url = match.group(1)

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(60)


def timed_write(method: str) -> str:
    """Lines of a writer script (after ``col = sleuth.open(...)``, with ``time`` imported) that
    wrap ``col.store.<method>`` to print ``writing`` before it and ``written SECONDS`` after:
    what ``kill_writer(aim="write")`` aims its kill by."""
    return f"""
real_write = col.store.{method}

def write(*args, **kwargs):
    print("writing", flush=True)
    started = time.perf_counter()
    result = real_write(*args, **kwargs)
    print(f"written {{time.perf_counter() - started:.4f}}", flush=True)
    return result

col.store.{method} = write
"""
