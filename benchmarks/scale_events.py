"""Events at scale: recording, fitting and recommending at 1M and 10M events over 1M items.

Data (deterministic, generated here): ``--users`` users, ``--items`` items, sessions of 10
events that start at a Zipf-popular item (exponent 1.2 over a fixed permutation) and walk to
nearby item numbers (steps of -3..3), so co-visitation is meaningful; kinds view/click/purchase
(85/12/3%); times increase over 30 days. The catalog: ``--items`` items with no text and random
``--dim``-dimensional vectors (``encoder="none"``), searched exactly (``exact_threshold`` above
the catalog, no graph to build), so ``content`` runs on its default path.

Measured through the public API, at ``--events`` and at 10x as many (the same collection, the
rest recorded after the first measurement):
- ``col.record`` in batches of ``--batch`` dicts (events/s), against raw SQLite ``executemany``
  of the same rows into a table of the same schema in its own file, batch for batch (ABAB);
- the first ``recommend`` after recording (catching up the event log and fitting co-visitation
  and popularity), against pandas computing the same co-visitation pairs and popularity counts
  from the same arrays (groupby / shift);
- ``recommend`` p50 for single users (default sources), and ``recommend_batch`` of 100 users.

    python benchmarks/scale_events.py            # 1M items, 1M and 10M events
    python benchmarks/scale_events.py --items 100000 --events 100000   # a quick run
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import sqlite3
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np
from _common import CACHE_DIR, print_table, summary_row, write_result

import sleuth
from sleuth.config import CollectionConfig, DenseConfig

KINDS = ["view", "click", "purchase"]
SESSION = 10
SCRATCH = Path(os.environ.get("SLEUTH_SCRATCH", CACHE_DIR / "events"))  # gitignored


def synth(n: int, n_users: int, n_items: int, seed: int = 0) -> dict[str, np.ndarray]:
    """The event log: users, items (int64[n]), kinds (int64[n], into ``KINDS``), ts."""
    rng = np.random.default_rng(seed)
    sessions = -(-n // SESSION)
    start = rng.permutation(n_items)[np.minimum(rng.zipf(1.2, sessions), n_items) - 1]
    steps = rng.integers(-3, 4, (sessions, SESSION))
    steps[:, 0] = 0
    items = (start[:, None] + np.cumsum(steps, 1)) % n_items
    users = np.repeat(rng.integers(0, n_users, sessions), SESSION)
    begin = np.sort(rng.uniform(0, 30 * 86400, sessions))
    ts = 1.7e9 + np.repeat(begin, SESSION) + np.tile(np.arange(SESSION) * 30.0, sessions)
    kinds = rng.choice(len(KINDS), sessions * SESSION, p=[0.85, 0.12, 0.03])
    return {
        "users": users[:n],
        "items": items.ravel()[:n],
        "kinds": kinds[:n],
        "ts": ts[:n],
    }


def as_dicts(log: dict[str, np.ndarray], start: int, stop: int) -> list[dict[str, Any]]:
    return [
        {"user": f"u{u}", "item": f"i{i}", "kind": KINDS[k], "ts": t}
        for u, i, k, t in zip(
            log["users"][start:stop].tolist(),
            log["items"][start:stop].tolist(),
            log["kinds"][start:stop].tolist(),
            log["ts"][start:stop].tolist(),
        )
    ]


class RawSQLite:
    """The peer for recording: the same rows, ``executemany`` into the same table, one
    transaction a batch, the same pragmas."""

    def __init__(self, path: Path) -> None:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        self.con = sqlite3.connect(path, isolation_level=None)
        self.con.execute("PRAGMA journal_mode=WAL")
        self.con.execute("PRAGMA synchronous=FULL")
        self.con.execute(
            "CREATE TABLE events (seq INTEGER PRIMARY KEY AUTOINCREMENT, event_id TEXT UNIQUE, "
            "user TEXT NOT NULL, item TEXT NOT NULL, kind TEXT NOT NULL, value REAL, "
            "ts REAL NOT NULL)"
        )

    def record(self, batch: list[dict[str, Any]]) -> None:
        rows = [(None, e["user"], e["item"], e["kind"], None, e["ts"]) for e in batch]
        self.con.execute("BEGIN IMMEDIATE")
        self.con.executemany(
            "INSERT OR IGNORE INTO events (event_id, user, item, kind, value, ts) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            rows,
        )
        self.con.execute("COMMIT")


def record(
    col: sleuth.Collection,
    raw: RawSQLite,
    log: dict[str, np.ndarray],
    start: int,
    stop: int,
    batch: int,
) -> dict[str, Any]:
    """Record events [start, stop) with both, batch for batch; events/s over the span and
    over its last tenth (where the log is largest)."""
    ours: list[tuple[int, float, float]] = []
    peer: list[tuple[int, float, float]] = []
    for s in range(start, stop, batch):
        events = as_dicts(log, s, min(s + batch, stop))
        order = ((ours, col.record), (peer, raw.record))
        for times, write in order if (s // batch) % 2 == 0 else order[::-1]:
            t, c = time.perf_counter(), time.process_time()
            write(events)
            times.append((len(events), time.perf_counter() - t, time.process_time() - c))

    def rate(runs: list[tuple[int, float, float]], on: int = 1) -> float:
        return sum(r[0] for r in runs) / sum(r[on] for r in runs)

    tail = max(1, len(ours) // 10)
    return {
        "events": stop - start,
        "sleuth_events_per_s": round(rate(ours)),
        "sqlite_events_per_s": round(rate(peer)),
        "sleuth_last_tenth_per_s": round(rate(ours[-tail:])),
        "sqlite_last_tenth_per_s": round(rate(peer[-tail:])),
        # SQLite runs in this process: CPU seconds are the whole cost, and load-independent
        "sleuth_events_per_cpu_s": round(rate(ours, 2)),
        "sqlite_events_per_cpu_s": round(rate(peer, 2)),
    }


def pandas_fit(log: dict[str, np.ndarray], n: int, window: int = 5) -> float:
    """Seconds for pandas to count what co-visit and popularity fit from the first ``n``
    events: (item, next item within ``window`` in the user's time order) pairs, weighted
    0.5**(gap-1) and summed; per-item weighted counts."""
    import pandas as pd

    t = time.perf_counter()
    df = pd.DataFrame({k: v[:n] for k, v in log.items()})
    df["w"] = np.array([1.0, 2.0, 5.0])[df["kinds"].to_numpy()]
    df = df.sort_values(["users", "ts"], kind="stable")
    df.groupby("items")["w"].sum()
    pairs = []
    by_user = df.groupby("users")["items"]
    for gap in range(1, window + 1):
        nxt = by_user.shift(-gap)
        ok = nxt.notna()
        pairs.append(
            pd.DataFrame(
                {"a": df["items"][ok], "b": nxt[ok].astype(np.int64), "w": 0.5 ** (gap - 1)}
            )
        )
    pd.concat(pairs).groupby(["a", "b"])["w"].sum()
    return time.perf_counter() - t


def serve(col: sleuth.Collection, n_users: int, runs: int, seed: int) -> dict[str, Any]:
    """The first recommend (catch up + fit), then p50 of single-user and 100-user requests."""
    rng = np.random.default_rng(seed)
    t = time.perf_counter()
    col.recommend("u0", k=10)
    first = time.perf_counter() - t
    singles = []
    for user in rng.integers(0, n_users, runs).tolist():
        t = time.perf_counter()
        hits = col.recommend(f"u{user}", k=10)
        singles.append(time.perf_counter() - t)
        assert len(hits) == 10, (user, len(hits))
    batches = []
    for _ in range(max(3, runs // 20)):
        users = [f"u{u}" for u in rng.integers(0, n_users, 100).tolist()]
        t = time.perf_counter()
        col.recommend_batch(users, k=10)
        batches.append(time.perf_counter() - t)
    return {
        "first_recommend_s": round(first, 2),
        "recommend_p50_ms": round(1000 * statistics.median(singles), 2),
        "recommend_p90_ms": round(1000 * float(np.percentile(singles, 90)), 2),
        "recommend_batch100_p50_ms": round(1000 * statistics.median(batches), 1),
        "rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }


def build_catalog(path: Path, n_items: int, dim: int, exact: bool) -> sleuth.Collection:
    """``n_items`` items without text, random vectors; searched exactly with ``exact``, else
    with the default dense config (HNSW above 20,000 items)."""
    shutil.rmtree(path, ignore_errors=True)
    dense = DenseConfig(exact_threshold=n_items + 1) if exact else DenseConfig()
    config = CollectionConfig(dense=dense)
    col = sleuth.open(path, encoder="none", dim=dim, config=config)
    rng = np.random.default_rng(1)
    t = time.perf_counter()
    step = 100_000
    for s in range(0, n_items, step):
        ids = [{"id": f"i{j}"} for j in range(s, min(s + step, n_items))]
        col.add(ids, vectors=rng.standard_normal((len(ids), dim), dtype=np.float32))
    print(f"catalog: {n_items} items in {time.perf_counter() - t:.0f} s", flush=True)
    return col


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=1_000_000, help="the smaller size; 10x too")
    parser.add_argument("--dim", type=int, default=32)
    parser.add_argument("--batch", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--exact", action="store_true", help="exact dense search, no graph")
    parser.add_argument(
        "--catalog",
        type=Path,
        help="copy this catalog (built by a previous run "
        "with --keep-catalog) instead of building one",
    )
    parser.add_argument("--keep-catalog", type=Path, help="build the catalog here and keep it")
    args = parser.parse_args()
    started = time.perf_counter()
    sizes = (args.events, 10 * args.events)
    log = synth(sizes[-1], args.users, args.items)
    SCRATCH.mkdir(parents=True, exist_ok=True)
    folder = SCRATCH / f"scale-events-{args.items}"
    if args.catalog is not None:
        shutil.rmtree(folder / "col", ignore_errors=True)
        shutil.copytree(args.catalog, folder / "col")
        col = sleuth.open(folder / "col")
    elif args.keep_catalog is not None:
        build_catalog(args.keep_catalog, args.items, args.dim, args.exact).close()
        return
    else:
        col = build_catalog(folder / "col", args.items, args.dim, args.exact)
    raw = RawSQLite(folder / "raw.sqlite")
    results: dict[str, Any] = {}
    done = 0
    try:
        for size in sizes:
            row: dict[str, Any] = record(col, raw, log, done, size, args.batch)
            done = size
            row.update(serve(col, args.users, args.runs, seed=size))
            row["pandas_fit_s"] = round(pandas_fit(log, size), 2)
            row["load_1min"] = os.getloadavg()[0]
            results[str(size)] = row
            print(size, row, flush=True)
    finally:
        col.close()
        raw.con.close()
        shutil.rmtree(folder, ignore_errors=True)
    small, large = (results[str(s)] for s in sizes)
    rows = [  # metric, sleuth, peer, higher is better, target on sleuth's own figure, unit
        (
            "record, events/s at 10x (vs raw SQLite executemany)",
            large["sleuth_events_per_s"],
            large["sqlite_events_per_s"],
            True,
            100_000,
            "events/s",
        ),
        (
            "record, events per CPU second at 10x (vs raw SQLite executemany)",
            large["sleuth_events_per_cpu_s"],
            large["sqlite_events_per_cpu_s"],
            True,
            None,
            "events/CPU-s",
        ),
        (
            "first recommend at 10x: catch up + fit (vs pandas counting the same)",
            large["first_recommend_s"],
            large["pandas_fit_s"],
            False,
            None,
            "s",
        ),
        (
            "recommend p50 at 10x (vs the same at 1x)",
            large["recommend_p50_ms"],
            small["recommend_p50_ms"],
            False,
            20,
            "ms",
        ),
        (
            "record events/s at 10x (vs the same at 1x)",
            large["sleuth_events_per_s"],
            small["sleuth_events_per_s"],
            True,
            None,
            "events/s",
        ),
    ]
    summary = [
        summary_row(m, ours, peer, higher_is_better=h, target=t, target_on="value", unit=u)
        for m, ours, peer, h, t, u in rows
    ]
    print_table(
        "events at scale",
        [
            "events",
            "record/s",
            "raw sqlite/s",
            "first recommend s",
            "pandas fit s",
            "p50 ms",
            "batch100 ms",
            "load",
        ],
        [
            [
                s,
                r["sleuth_events_per_s"],
                r["sqlite_events_per_s"],
                r["first_recommend_s"],
                r["pandas_fit_s"],
                r["recommend_p50_ms"],
                r["recommend_batch100_p50_ms"],
                r["load_1min"],
            ]
            for s, r in ((s, results[str(s)]) for s in sizes)
        ],
    )
    write_result(
        "scale_events",
        peer="raw SQLite executemany (recording); pandas groupby/shift (co-visit, popularity)",
        parameters={
            "items": args.items,
            "users": args.users,
            "dim": args.dim,
            "sizes": list(sizes),
            "batch": args.batch,
            "runs": args.runs,
            "exact": args.exact,
        },
        results=results,
        summary=summary,
        started=started,
    )


if __name__ == "__main__":
    main()
