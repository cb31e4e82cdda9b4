"""Costs that should not grow with the collection: open (a fresh process, to the first search
answered), its RSS, a 100-item upsert and the first search after it, and searches with a filter
on a list attribute, at two sizes 10x apart.

Items are the synthetic catalog of ``_scale_data.py`` (title, 40 Zipf words, category, price,
two tags of 1,000, date; made from ``scale_data.block``, so pyarrow is not needed), encoded by
the ``hashing`` encoder so the model costs nothing. Each size is built once into
``benchmarks/.cache/open_cost/<n>/built`` by whatever sleuth is on ``PYTHONPATH`` (build it with
the older code to measure how that code's collection opens with the newer one), and every
measurement runs on a fresh copy of it:

- ``first_open``: the first open of the copy (an older collection may build files once);
- ``open``: median of ``--opens`` fresh processes, from ``sleuth.open`` to the first hybrid
  search answered (imports timed apart), and their RSS there;
- ``profile``: the top functions by cumulative time of one open (cProfile);
- ``upsert``: ``--rounds`` timed upserts of 100 existing items (new text and price) after one
  untimed, each followed by the first hybrid search (then a lexical one must find the new
  text); p50, max,
  and the bytes the process wrote per upsert (``wchar`` of ``/proc/self/io``: SQLite and index
  files together);
- ``filter``: p50 of hybrid searches with ``{"tags": {"in": [...]}}`` (a list attribute, about
  1% of items), ``{"tags": "tagNNNN"}``, a category and a price range.

    PYTHONPATH=src python benchmarks/open_cost.py --n 10000 100000 --label after

Writes ``results/open_cost.json`` (``open_cost_<label>.json`` with ``--label``). Wall-clock on
a shared machine: the ratios between sizes are what matters.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import _scale_data as scale_data
import numpy as np
from _common import CACHE_DIR, code_commit, print_table, summary_row, write_result

CACHE = CACHE_DIR / "open_cost"
QUERY = "bazofa kelimu tarepo"
UPSERT = 100


def _items(n: int) -> list[list[dict[str, Any]]]:
    words, cents = scale_data.vocabulary(), scale_data.centers()
    out = []
    for b in range(-(-n // scale_data.BLOCK)):
        cols = scale_data.block(b, words, cents)
        m = min(scale_data.BLOCK, n - b * scale_data.BLOCK)
        names = ("id", "title", "text", "category", "price", "tags", "date")
        out.append([{f: _plain(cols[f][i]) for f in names} for i in range(m)])
    return out


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def build(n: int, folder: Path) -> dict[str, Any]:
    import sleuth

    tmp = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    t = time.perf_counter()
    with sleuth.open(tmp, encoder="hashing") as col:
        for batch in _items(n):
            col.add(batch, progress=False)
            print(f"\r  built {col.count():,} / {n:,}", end="", flush=True)
    seconds = time.perf_counter() - t
    os.replace(tmp, folder)
    print(f" in {seconds:.0f} s")
    return {"items": n, "build_s": seconds, "items_per_s": n / seconds}


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _wchar() -> int:
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("wchar:"):
            return int(line.split()[1])
    return 0


def worker_open(folder: Path) -> dict[str, Any]:
    t = time.perf_counter()
    import sleuth

    imported = time.perf_counter() - t
    t = time.perf_counter()
    col = sleuth.open(folder)
    opened = time.perf_counter() - t
    hits = col.search(QUERY, k=10)
    first = time.perf_counter() - t
    out = {
        "import_s": imported,
        "open_s": opened,
        "to_first_search_s": first,
        "rss_mb": _rss_mb(),
        "hits": len(hits),
    }
    col.close()
    return out


def worker_profile(folder: Path) -> dict[str, Any]:
    import sleuth

    profile = cProfile.Profile()
    profile.enable()
    col = sleuth.open(folder)
    col.search(QUERY, k=10)
    profile.disable()
    col.close()
    text = io.StringIO()
    pstats.Stats(profile, stream=text).sort_stats("cumulative").print_stats(25)
    return {"top": text.getvalue().splitlines()[:60]}


def worker_writes(folder: Path, rounds: int) -> dict[str, Any]:
    import sleuth

    col = sleuth.open(folder)
    n = col.count()
    rng = np.random.default_rng(7)
    usual = []
    for _ in range(10):
        t = time.perf_counter()
        col.search(QUERY, k=10)
        usual.append(time.perf_counter() - t)
    upserts, firsts, wrote = [], [], []
    for r in range(rounds + 1):
        ids = [str(i) for i in rng.choice(n, UPSERT, replace=False)]
        token = f"zqfresh{r}x"
        batch = [
            {
                "id": i,
                "title": f"{token} item {i}",
                "text": f"{token} renewed text {r}",
                "category": "cat01",
                "price": float(r + 1),
                "tags": ["tag0001", "tag0002"],
                "date": "2020-01-01",
            }
            for i in ids
        ]
        before = _wchar()
        t = time.perf_counter()
        col.upsert(batch, progress=False)
        took = time.perf_counter() - t
        written = _wchar() - before
        t = time.perf_counter()
        hits = col.search(token, k=10)
        first = time.perf_counter() - t
        seen = col.search(token, k=10, mode="lexical")  # hybrid's top 10 may fuse others first
        assert hits and seen and token in seen[0].fields["title"], "the write is not seen"
        if r:  # the first round is a warm-up
            upserts.append(took)
            firsts.append(first)
            wrote.append(written)
    filters = {  # tags near Zipf rank 27 are on about 1% of items each
        "tags_in": {"tags": {"in": ["tag0050", "tag0060"]}},
        "tags_eq": {"tags": "tag0027"},
        "category": {"category": "cat07"},
        "price": {"price": {"gte": 500.0, "lte": 509.99}},
    }
    filtered = {}
    for name, where in filters.items():
        runs = []
        for _ in range(21):
            t = time.perf_counter()
            col.search(QUERY, k=10, where=where)
            runs.append(time.perf_counter() - t)
        filtered[name] = {"p50_ms": 1e3 * statistics.median(runs[1:])}
    col.close()
    return {
        "search_p50_ms": 1e3 * statistics.median(usual),
        "upsert_p50_ms": 1e3 * statistics.median(upserts),
        "upsert_max_ms": 1e3 * max(upserts),
        "first_search_p50_ms": 1e3 * statistics.median(firsts),
        "first_search_max_ms": 1e3 * max(firsts),
        "upsert_bytes_written_p50": statistics.median(wrote),
        "upsert_bytes_written_max": max(wrote),
        "filter": filtered,
    }


def _run(*args: str) -> dict[str, Any]:
    out = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True)
    if out.returncode:
        raise RuntimeError(out.stderr)
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def measure(n: int, opens: int, rounds: int) -> dict[str, Any]:
    built = CACHE / str(n) / "built"
    result: dict[str, Any] = {"items": n}
    if not built.exists():
        built.parent.mkdir(parents=True, exist_ok=True)
        result["build"] = build(n, built)
    copy = CACHE / str(n) / "copy"
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(built, copy)
    result["first_open"] = _run("--worker", "open", str(copy))
    runs = [_run("--worker", "open", str(copy)) for _ in range(opens)]
    result["open_runs"] = runs
    result["open"] = {
        key: statistics.median(r[key] for r in runs)
        for key in ("import_s", "open_s", "to_first_search_s", "rss_mb")
    }
    result["profile"] = _run("--worker", "profile", str(copy))["top"]
    result["writes"] = _run("--worker", "writes", str(copy), str(rounds))
    result["disk_mb"] = sum(p.stat().st_size for p in copy.rglob("*") if p.is_file()) / 2**20
    shutil.rmtree(copy)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--label", help="results/open_cost_<label>.json (default open_cost)")
    parser.add_argument("--opens", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        kind, folder, *rest = args.worker
        if kind == "open":
            out = worker_open(Path(folder))
        elif kind == "profile":
            out = worker_profile(Path(folder))
        else:
            out = worker_writes(Path(folder), int(rest[0]))
        print(json.dumps(out))
        return
    started = time.perf_counter()
    sizes = [measure(n, args.opens, args.rounds) for n in args.n]
    rows = []
    for s in sizes:
        w = s["writes"]
        rows.append(
            [
                s["items"],
                s["first_open"]["to_first_search_s"],
                s["open"]["to_first_search_s"],
                s["open"]["rss_mb"],
                w["upsert_p50_ms"],
                w["first_search_p50_ms"],
                w["search_p50_ms"],
                w["upsert_bytes_written_p50"] / 1024,
                w["filter"]["tags_in"]["p50_ms"],
            ]
        )
    print_table(
        f"open and small writes ({args.label or sys.path[0]})",
        [
            "items",
            "first open (s)",
            "open (s)",
            "RSS (MB)",
            "upsert p50 (ms)",
            "first search after (ms)",
            "search p50 (ms)",
            "upsert KiB written",
            "tags-in filter (ms)",
        ],
        rows,
    )
    summary = []
    if len(sizes) == 2:  # each figure at the larger size against the smaller ("peer")
        a, b = sizes
        pairs = [
            ("open to first search (s)", ("open", "to_first_search_s"), 3.0),
            ("RSS after open (MB)", ("open", "rss_mb"), None),
            ("upsert of 100, p50 (ms)", ("writes", "upsert_p50_ms"), 1.5),
            ("first search after it, p50 (ms)", ("writes", "first_search_p50_ms"), 2.0),
            ("hybrid search, p50 (ms)", ("writes", "search_p50_ms"), None),
            ("bytes written by the upsert, p50", ("writes", "upsert_bytes_written_p50"), 1.5),
        ]
        for label, (part, key), target in pairs:
            summary.append(
                summary_row(
                    f"{label}: {b['items']:,} vs {a['items']:,} items",
                    b[part][key],
                    a[part][key],
                    higher_is_better=False,
                    target=target,
                )
            )
        for name in ("tags_in", "tags_eq", "category", "price"):
            summary.append(
                summary_row(
                    f"hybrid with filter {name}, p50 (ms): {b['items']:,} vs {a['items']:,} items",
                    b["writes"]["filter"][name]["p50_ms"],
                    a["writes"]["filter"][name]["p50_ms"],
                    higher_is_better=False,
                )
            )
        print("larger / smaller:", {r["metric"]: round(r["ratio"] or 0, 2) for r in summary})
    write_result(
        "open_cost" if args.label is None else f"open_cost_{args.label}",
        peer="the same sleuth at a tenth of the size (ratios are growth)",
        parameters={
            "sizes": args.n,
            "opens": args.opens,
            "rounds": args.rounds,
            "upsert": UPSERT,
            "sleuth_commit": code_commit(os.environ.get("PYTHONPATH")),
        },
        results={"sizes": sizes},
        summary=summary,
        started=started,
    )


if __name__ == "__main__":
    main()
