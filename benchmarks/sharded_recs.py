"""The recommend part of ``benchmarks/sharded.py``: MovieLens-100K (1,682 movies, their titles
and first genre as the item text and an attribute; 100,000 ratings as events) in one
collection and in S shards, the same events recorded in the same batches; then per user of a
seeded sample ``recommend`` with the default sources (co-visit, EASE, content, popularity),
``recommend`` filtered by genre, and ``similar`` per movie: how many answers are identical
(``sleuth.shards.compare``) and their latency (p50, p95), both sides in this process
(``LocalGroup``). The hashing encoder gives the item vectors (the content source's), so no
model runs; dense search is exact below 20,000 items per side.

    python benchmarks/sharded.py --data movielens --shards 1 2 4
"""

from __future__ import annotations

import random
import shutil
import time
from pathlib import Path
from typing import Any

from _common import require_data
from _scale_data import latency

import sleuth
from sleuth.shards.compare import same_ranking

K = 10
BATCH = 10_000  # events recorded at once


def movielens(users: int) -> dict[str, Any]:
    """Items, events and the requests to time (a seeded sample of ``users`` users)."""
    folder = require_data("movielens", "ml-100k")
    genres = [line.split("|")[0] for line in (folder / "u.genre").read_text().split("\n") if line]
    items = []
    for line in (folder / "u.item").read_text(encoding="latin-1").splitlines():
        parts = line.split("|")
        flags = [i for i, f in enumerate(parts[5:]) if f == "1"]
        genre = genres[flags[0]] if flags else "unknown"
        items.append({"id": parts[0], "text": f"{parts[1]} {genre}", "genre": genre})
    events = []
    for line in (folder / "u.data").read_text().splitlines():
        user, item, _rating, ts = line.split("\t")
        events.append({"user": user, "item": item, "kind": "view", "ts": float(ts)})
    events.sort(key=lambda e: e["ts"])  # recorded as they happened
    rng = random.Random(0)
    sample = rng.sample(sorted({e["user"] for e in events}), users)
    popular = [g for g in genres if g not in ("unknown",)]
    calls = {
        "recommend": [("recommend", (u,), {}) for u in sample],
        "recommend filtered": [
            ("recommend", (u,), {"where": {"genre": rng.choice(popular)}}) for u in sample
        ],
        "similar": [("similar", (it["id"],), {}) for it in rng.sample(items, users)],
    }
    return {"items": items, "events": events, "calls": calls}


def build(path: Path, data: dict[str, Any], shards: int | None) -> tuple[Any, float]:
    shutil.rmtree(path, ignore_errors=True)
    col = sleuth.open(path, encoder="hashing", shards=shards)
    t = time.perf_counter()
    col.add(data["items"])
    events = data["events"]
    for start in range(0, len(events), BATCH):
        col.record(events[start : start + BATCH])
    col.save()
    return col, time.perf_counter() - t


def run(col: Any, calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]]) -> Any:
    hits, seconds = [], []
    for method, args, kwargs in calls:
        t = time.perf_counter()
        hits.append(getattr(col, method)(*args, k=K, **kwargs))
        seconds.append(time.perf_counter() - t)
    return hits, seconds


def compared(one: Any, sharded: Any, calls: list[Any], run: Any, *, warm: int) -> Any:
    """``calls`` on both sides (``run(col, calls)``: hits and seconds), interleaved after
    ``warm`` calls each: one pass each, then again in the other order, latencies of both.
    Returns the row (identical answers, p50, p95), both sides' answers and the sharded
    side's second ones."""
    run(one, calls[:warm])  # page in each side's files before timing it
    run(sharded, calls[:warm])
    ref, t_one = run(one, calls)
    got, t_sh = run(sharded, calls)
    again, t_sh2 = run(sharded, calls)
    _, t_one2 = run(one, calls)
    problems = [same_ranking(r, g) for r, g in zip(ref, got)]
    lat_one, lat_sh = latency(t_one + t_one2), latency(t_sh + t_sh2)
    row = {
        "identical": sum(p is None for p in problems),
        "of": len(calls),
        "first_differences": [p for p in problems if p is not None][:5],
        "one_p50_ms": lat_one["p50_ms"],
        "one_p95_ms": lat_one["p95_ms"],
        "sharded_p50_ms": lat_sh["p50_ms"],
        "sharded_p95_ms": lat_sh["p95_ms"],
        "p50_ratio": lat_sh["p50_ms"] / lat_one["p50_ms"],
    }
    return row, ref, got, again


def measure(shard_counts: tuple[int, ...], work: Path, users: int) -> dict[str, Any]:
    data = movielens(users)
    one, one_build = build(work / "ml100k-one", data, None)
    t = time.perf_counter()
    run(one, data["calls"]["recommend"][:1])  # the first request fits the learned sources
    one_fit = time.perf_counter() - t
    print(f"movielens: one collection built in {one_build:.1f} s, fitted in {one_fit:.2f} s")
    out: dict[str, Any] = {
        "items": len(data["items"]),
        "events": len(data["events"]),
        "users": users,
        "one": {"build_s": one_build, "first_fit_s": one_fit},
        "sharded": {},
    }
    for s in shard_counts:
        sharded, took = build(work / f"ml100k-s{s}", data, s)
        t = time.perf_counter()
        run(sharded, data["calls"]["recommend"][:1])
        fit_s = time.perf_counter() - t
        print(f"movielens: {s} shards built in {took:.1f} s, fitted in {fit_s:.2f} s", flush=True)
        per_call = {}
        for name, calls in data["calls"].items():
            row, _, _, _ = compared(one, sharded, calls, run, warm=10)
            per_call[name] = row
            print(
                f"  S={s} {name}: identical {row['identical']}/{len(calls)}, p50 "
                f"{row['sharded_p50_ms']:.2f} ms vs {row['one_p50_ms']:.2f} ms",
                flush=True,
            )
        out["sharded"][str(s)] = {"build_s": took, "first_fit_s": fit_s, "modes": per_call}
        sharded.close()
        shutil.rmtree(work / f"ml100k-s{s}")
    one.close()
    shutil.rmtree(work / "ml100k-one")
    return out
