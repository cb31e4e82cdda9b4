"""Load on loopback: 32 concurrent HTTP clients against ``sleuth serve`` for 30 s, 90% hybrid
searches and 10% batch upserts (10 new SciFact-derived documents each, so each is encoded),
on the SciFact collection built with the bundled MiniLM. Every request must succeed.

The server runs as a child process; the clients run here with httpx's asyncio client. The same
machine's two cores serve both, so the figures include the clients' own CPU use. The reference
in the same run is the engine without HTTP: one caller of ``Collection.search`` on a copy of
the same collection, after the server has stopped.

    python benchmarks/load.py [--clients 32] [--seconds 30]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import httpx
import numpy as np
from _common import (
    CACHE_DIR,
    machine_info,
    open_cached,
    print_table,
    require_data,
    summary_row,
    write_result,
)

NAME = "load"
K = 10
BATCH = 10
WRITE_SHARE = 0.10


def start_server(data: Path) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "sleuth.cli", "serve", "--data", str(data), "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    line = proc.stdout.readline() if proc.stdout else ""
    match = re.search(r"(http://\S+?)/?$", line.strip())
    if match is None:
        proc.kill()
        raise SystemExit(f"the server did not start: {line!r}")
    return proc, match.group(1)


async def run_load(url: str, queries: list[str], docs: list[dict[str, Any]], clients: int,
                   seconds: float, warmup: float) -> dict[str, Any]:
    records: list[tuple[str, float, int | str]] = []
    acknowledged = [0]  # upserts answered 200, warm-up included
    counter = iter(range(10**9))
    start = time.perf_counter()
    deadline = start + warmup + seconds

    async def client(rng: random.Random) -> None:
        async with httpx.AsyncClient(base_url=url, timeout=60) as http:
            while time.perf_counter() < deadline:
                if rng.random() < WRITE_SHARE:
                    op, n = "upsert", next(counter)
                    items = [dict(d, id=f"load-{n}-{i}", text=f"{d['text']} (revision {n})")
                             for i, d in enumerate(rng.sample(docs, BATCH))]
                    call = http.post("/collections/scifact/items", json={"items": items})
                else:
                    op = "search"
                    body = {"query": rng.choice(queries), "k": K, "mode": "hybrid"}
                    call = http.post("/collections/scifact/search", json=body)
                t = time.perf_counter()
                try:
                    status: int | str = (await call).status_code
                except httpx.HTTPError as exc:
                    status = type(exc).__name__
                if op == "upsert" and status == 200:
                    acknowledged[0] += 1
                if t >= start + warmup:
                    records.append((op, (time.perf_counter() - t) * 1000, status))

    await asyncio.gather(*(client(random.Random(seed)) for seed in range(clients)))
    elapsed = time.perf_counter() - start - warmup
    out: dict[str, Any] = {"seconds": round(elapsed, 2), "requests": len(records),
                           "requests_per_s": round(len(records) / elapsed, 2)}
    failed = [r for r in records if r[2] != 200]
    out["failed"] = len(failed)
    out["failures"] = sorted({str(r[2]) for r in failed})
    out["upserts_acknowledged"] = acknowledged[0]
    for op in ("search", "upsert"):
        ms = np.array([r[1] for r in records if r[0] == op])
        out[op] = {
            "count": int(ms.size),
            "per_s": round(ms.size / elapsed, 2),
            "p50_ms": round(float(np.percentile(ms, 50)), 2) if ms.size else None,
            "p95_ms": round(float(np.percentile(ms, 95)), 2) if ms.size else None,
            "p99_ms": round(float(np.percentile(ms, 99)), 2) if ms.size else None,
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds not counted")
    args = parser.parse_args()
    folder = require_data("beir", "scifact")
    machine, started = machine_info(), time.perf_counter()

    from sleuth.io.readers import read_beir

    data = read_beir(folder)
    queries = list(data.queries.values())
    open_cached(folder, data.corpus).close()
    with tempfile.TemporaryDirectory(dir=CACHE_DIR) as tmp:
        copy = Path(tmp) / "scifact"
        shutil.copytree(CACHE_DIR / "scifact-minilm", copy)
        proc, url = start_server(Path(tmp))
        try:
            print(f"{args.clients} clients for {args.seconds:g} s against {url} ...", flush=True)
            docs = [d.to_dict() for d in data.corpus]
            load = asyncio.run(run_load(url, queries, docs, args.clients, args.seconds,
                                        args.warmup))
            items_after = httpx.get(f"{url}/collections/scifact").json()["items"]
        finally:
            proc.terminate()
            proc.wait(120)

        import sleuth

        with sleuth.open(copy) as col:  # the reference: no HTTP, one caller
            for q in queries[:20]:
                col.search(q, k=K)
            direct = []
            for q in queries[:300]:
                t = time.perf_counter()
                col.search(q, k=K)
                direct.append((time.perf_counter() - t) * 1000)
    direct_p50 = statistics.median(direct)
    load["direct_search_p50_ms"] = round(direct_p50, 2)
    load["items_added"] = items_after - len(data.corpus)
    load["every_acknowledged_item_present"] = (
        load["items_added"] == BATCH * load["upserts_acknowledged"])
    s, u = load["search"], load["upsert"]
    print_table(
        f"{args.clients} clients, {load['seconds']} s, {load['requests']} requests, "
        f"{load['failed']} failed",
        ["operation", "count", "per s", "p50 ms", "p95 ms", "p99 ms"],
        [["hybrid search", s["count"], s["per_s"], s["p50_ms"], s["p95_ms"], s["p99_ms"]],
         [f"upsert {BATCH}", u["count"], u["per_s"], u["p50_ms"], u["p95_ms"], u["p99_ms"]],
         ["direct search, 1 caller", len(direct), None, round(direct_p50, 2), None, None]],
    )
    summary = [
        summary_row("failed requests under load", load["failed"], None, higher_is_better=False,
                    target=0, target_on="value"),
        summary_row("requests/s (90% search, 10% upsert)", load["requests_per_s"], None,
                    higher_is_better=True),
        summary_row("search p50 under load vs direct, 1 caller (ms)", s["p50_ms"], direct_p50,
                    higher_is_better=False, unit="ms"),
        summary_row("search p99 under load (ms)", s["p99_ms"], None, higher_is_better=False,
                    unit="ms"),
        summary_row("upsert of 10 p50 under load (ms)", u["p50_ms"], None,
                    higher_is_better=False, unit="ms"),
    ]
    write_result(
        NAME,
        peer="the same engine without HTTP: one caller of Collection.search, same collection",
        parameters={"clients": args.clients, "seconds": args.seconds, "warmup_s": args.warmup,
                    "write_share": WRITE_SHARE, "batch": BATCH, "k": K, "mode": "hybrid",
                    "collection": f"SciFact, {len(data.corpus)} docs, MiniLM"},
        results=load,
        summary=summary,
        notes=["Clients and server share the machine's 2 cores.",
               "Upserted documents are SciFact texts with a revision suffix, so each is encoded."],
        started=started,
        machine=machine,
    )
    if load["failed"] or not load["every_acknowledged_item_present"]:
        raise SystemExit(f"{load['failed']} requests failed: {load['failures']}; items added "
                         f"{load['items_added']} for {load['upserts_acknowledged']} upserts")


if __name__ == "__main__":
    main()
