"""Distributed ingest on Ray: plain ``Collection.upsert`` against ``sleuth.distributed.add``
with 1 worker and with 2 workers of 1 torch thread each, on SciFact with MiniLM, every run
into a fresh collection with an empty embedding cache (nothing is reused between runs).

The peer is plain ``sleuth add`` (one process, torch on every core). Each Ray run starts a
local cluster and stops it; its time is split into Ray's start-up, the workers' model load,
their encoding (``busy``), the driver's writes, and what is left: scheduling and moving
texts and vectors between processes (serialisation). A second, cheap pair of runs with the
hashing encoder (encoding costs ~nothing) shows that overhead per item directly.

From the per-worker rate and the driver's write rate it derives how the job would grow with
nodes: the workers scale out, the driver (one SQLite writer) does not.

    python benchmarks/ray_ingest.py                # all 5,183 documents, 3 rounds
    python benchmarks/ray_ingest.py --docs 1000 --repeat 1
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import time
from pathlib import Path
from typing import Any

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from _common import (
    CACHE_DIR,
    machine_info,
    print_table,
    ratio,
    require_data,
    summary_row,
    write_result,
)

NAME = "ray_ingest"


def plain(folder: Path, items: list[Any], encoder: str) -> dict[str, Any]:
    import sleuth

    started = time.perf_counter()
    with sleuth.open(folder, encoder=encoder) as col:
        opened = time.perf_counter()
        col.encoder.dim  # noqa: B018  (the model loads here, timed apart)
        loaded = time.perf_counter()
        col.upsert(items)
        wrote = time.perf_counter()
    return {
        "total_s": time.perf_counter() - started,
        "load_s": loaded - opened,
        "add_s": wrote - loaded,
        "encoded": len(items),
    }


def on_ray(
    folder: Path, items: list[Any], encoder: str, workers: int, batch: int
) -> dict[str, Any]:
    from sleuth.distributed import add

    started = time.perf_counter()
    report = add(
        folder,
        items,
        encoder=encoder,
        workers=workers,
        worker_cpus=1,
        threads=1,
        batch=batch,
        progress=False,
    )
    total = time.perf_counter() - started
    t = report.timings
    per_worker_busy = t["busy"] / max(len(report.per_worker), 1)
    per_worker_load = t["load"] / max(len(report.per_worker), 1)
    # the pipeline's wall time less what the workers did (in parallel) and the driver wrote
    overhead = t["pipeline"] - per_worker_busy - per_worker_load - t["write"]
    return {
        "total_s": total,
        "cluster_s": t["cluster"],
        "pipeline_s": t["pipeline"],
        "worker_load_s": per_worker_load,
        "worker_busy_s": per_worker_busy,
        "driver_write_s": t["write"],
        "overhead_s": overhead,
        "first_batch_s": t.get("first_batch"),
        # after the first batch: the steady state, workers up and models loaded
        "steady_items_per_s": (report.encoded - batch) / (t["pipeline"] - t["first_batch"])
        if report.encoded > batch and t["pipeline"] > t["first_batch"]
        else None,
        "encoded": report.encoded,
        "per_worker": report.to_dict()["per_worker"],
        "restarts": report.restarts,
        "items_per_s_per_worker": report.encoded / max(len(report.per_worker), 1) / per_worker_busy
        if per_worker_busy
        else None,
        "driver_items_per_s": len(items) / t["write"] if t["write"] else None,
    }


def median(runs: list[dict[str, Any]], key: str) -> float | None:
    values = [r[key] for r in runs if r.get(key) is not None]
    return statistics.median(values) if values else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--docs", type=int, default=None, help="first N documents (default all)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument(
        "--scratch",
        type=Path,
        default=CACHE_DIR / "ray_ingest",
        help="where the fresh collections go (deleted after each run)",
    )
    parser.add_argument(
        "--summarise",
        type=Path,
        default=None,
        help="print the tables of a saved result file and write it again (no runs)",
    )
    args = parser.parse_args()
    started = time.perf_counter()
    if args.summarise is not None:
        saved = json.loads(args.summarise.read_text())
        p = saved["parameters"]
        results = saved["results"]
        loads = [r["load_avg"] for rs in results["minilm"].values() for r in rs]
        report(results, p["docs"], p["repeat"], p["batch"], loads, saved["machine"], started)
        return
    machine = machine_info()
    from sleuth.io.readers import read_beir

    corpus = read_beir(require_data("beir", "scifact")).corpus[: args.docs]
    n = len(corpus)
    print(f"SciFact: {n:,} documents; load {os.getloadavg()[0]:.2f}")
    configs = {
        "plain": lambda f, enc: plain(f, corpus, enc),
        "ray-1x1": lambda f, enc: on_ray(f, corpus, enc, 1, args.batch),
        "ray-2x1": lambda f, enc: on_ray(f, corpus, enc, 2, args.batch),
    }
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in configs}
    overhead: dict[str, list[dict[str, Any]]] = {"plain": [], "ray-2x1": []}
    loads: list[float] = []

    def run(name: str, encoder: str, into: dict[str, list[dict[str, Any]]]) -> None:
        folder = args.scratch / f"{name}-{encoder}"
        shutil.rmtree(folder, ignore_errors=True)
        loads.append(os.getloadavg()[0])
        result = configs[name](folder, encoder)
        result["load_avg"] = loads[-1]
        into[name].append(result)
        shutil.rmtree(folder, ignore_errors=True)
        print(f"  {name} ({encoder}): {result['total_s']:.1f} s (load {loads[-1]:.2f})", flush=True)

    for r in range(args.repeat):  # interleaved, the order reversed every other round
        names = list(configs) if r % 2 == 0 else list(configs)[::-1]
        print(f"round {r + 1} of {args.repeat}")
        for name in names:
            run(name, "minilm", runs)
        for name in ["plain", "ray-2x1"] if r % 2 == 0 else ["ray-2x1", "plain"]:
            run(name, "hashing", overhead)
    shutil.rmtree(args.scratch, ignore_errors=True)
    results = {"minilm": runs, "hashing_overhead": overhead}
    report(results, n, args.repeat, args.batch, loads, machine, started)


def excluding_start(run: dict[str, Any]) -> float:
    """A run's seconds without its fixed costs: plain's model load; Ray's start-up and the
    time to its first batch (actors started, models loaded): what a long job amortizes."""
    if "add_s" in run:
        return float(run["add_s"])
    return float(run["total_s"] - run["cluster_s"] - (run.get("first_batch_s") or 0.0))


def rate_row(metric: str, n: int, ours: float | None, peer: float | None) -> dict[str, Any]:
    return summary_row(
        metric,
        n / ours if ours else None,
        n / peer if peer else None,
        higher_is_better=True,
        unit="items/s",
    )


def report(
    results: dict[str, Any],
    n: int,
    repeat: int,
    batch: int,
    loads: list[float],
    machine: dict[str, Any],
    started: float,
) -> None:
    """Tables, the scaling arithmetic, and the result file, from the runs."""
    runs, overhead = results["minilm"], results["hashing_overhead"]
    for rs in runs.values():
        for r in rs:
            r["excluding_start_s"] = excluding_start(r)
    plain_total = median(runs["plain"], "total_s")
    plain_steady = median(runs["plain"], "excluding_start_s")
    rows = []
    for name, rs in runs.items():
        total, steady = median(rs, "total_s"), median(rs, "excluding_start_s")
        rows.append(
            [
                name,
                total,
                n / total if total else None,
                ratio(plain_total, total) if total else None,
                steady,
                ratio(plain_steady, steady) if steady else None,
                median(rs, "cluster_s"),
                median(rs, "worker_load_s"),
                median(rs, "worker_busy_s"),
                median(rs, "driver_write_s"),
                median(rs, "overhead_s"),
                median(rs, "items_per_s_per_worker"),
            ]
        )
    print_table(
        f"SciFact ({n:,} docs), MiniLM, fresh cache; medians of {repeat}",
        [
            "run",
            "total s",
            "items/s",
            "speed-up vs plain",
            "excl. start-up s",
            "speed-up excl. start-up",
            "Ray start s",
            "model load s/worker",
            "encode s/worker",
            "driver write s",
            "Ray overhead s",
            "items/s/worker (encoding)",
        ],
        rows,
    )
    plain_hash = median(overhead["plain"], "total_s")
    steady = median(overhead["ray-2x1"], "steady_items_per_s")
    print_table(
        "Ray's own overhead (hashing encoder: encoding costs ~nothing)",
        ["run", "total s", "Ray start s", "pipeline s", "first batch s", "ms/item after it"],
        [
            ["plain", plain_hash, None, None, None, 1000 * plain_hash / n if plain_hash else None],
            [
                "ray-2x1",
                median(overhead["ray-2x1"], "total_s"),
                median(overhead["ray-2x1"], "cluster_s"),
                median(overhead["ray-2x1"], "pipeline_s"),
                median(overhead["ray-2x1"], "first_batch_s"),
                1000 / steady if steady else None,
            ],
        ],
    )
    two, one = runs["ray-2x1"], runs["ray-1x1"]
    worker_rate = median(two, "items_per_s_per_worker")
    driver_rate = median(two, "driver_items_per_s")
    fixed = (median(two, "cluster_s") or 0.0) + (median(two, "first_batch_s") or 0.0)
    scaling: dict[str, Any] = {}
    if worker_rate and driver_rate:
        ceiling = driver_rate / worker_rate
        scaling = {
            "items_per_s_per_worker": worker_rate,
            "driver_items_per_s": driver_rate,
            "workers_until_the_driver_limits": ceiling,
            "formula": "items/s = min(G x items_per_s_per_worker, driver_items_per_s); "
            "time = fixed (Ray start + first batch) + N / items/s",
            "fixed_s": fixed,
            "examples": {
                f"{g} workers": {
                    "items_per_s": min(g * worker_rate, driver_rate),
                    "hours_for_1M": round(
                        (fixed + 1e6 / min(g * worker_rate, driver_rate)) / 3600, 2
                    ),
                }
                for g in (1, 2, 8, 32, 128)
            },
        }
        print(
            f"\nper worker (1 thread, encoding only): {worker_rate:.1f} items/s; the driver "
            f"writes {driver_rate:.0f} items/s, so it limits past ~{ceiling:.0f} such workers"
        )
    results["scaling"] = scaling
    summary = [
        rate_row(
            "SciFact ingest, 2 Ray workers x 1 thread vs plain add (end to end)",
            n,
            median(two, "total_s"),
            plain_total,
        ),
        rate_row(
            "SciFact ingest, 2 Ray workers x 1 thread vs plain add (excluding start-up)",
            n,
            median(two, "excluding_start_s"),
            plain_steady,
        ),
        rate_row(
            "SciFact ingest, 2 Ray workers vs 1 (end to end)",
            n,
            median(two, "total_s"),
            median(one, "total_s"),
        ),
    ]
    notes = [
        "Every run into a fresh folder: the embedding cache starts empty (no run reuses another's "
        "vectors).",
        "plain: one process, torch on every core; its model load is timed apart (add_s). Ray runs "
        "include starting the local cluster and loading the model in every worker.",
        "excluding start-up: plain's add_s; Ray's total less its start-up and the time to its "
        "first batch (actors started, models loaded): what a long job amortizes.",
        "overhead_s = pipeline - per-worker encode - per-worker load - driver writes: Ray Data "
        "scheduling and moving texts/vectors between processes (with 2 workers the driver's "
        "writes overlap the workers', so this is a lower bound).",
        f"2 cores shared with other sessions; load average per run in each run's load_avg "
        f"(median {statistics.median(loads):.2f}).",
    ]
    write_result(
        NAME,
        peer="plain sleuth add (one process)",
        parameters={"docs": n, "repeat": repeat, "batch": batch, "threads_per_worker": 1},
        results=results,
        summary=summary,
        notes=notes,
        started=started,
        machine=machine,
    )


if __name__ == "__main__":
    main()
