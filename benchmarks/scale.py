"""sleuth's side of the scale benchmark (the peers' side is ``scale_peer.py``).

The same work as ``scale_peer.py`` makes LanceDB, Chroma and faiss do, on the same catalog
(``_scale_data.py``: items, vectors, queries and exact truth in ``benchmarks/.cache/scale/<n>/``),
through the public API, compared with the peers' latest ``results/scale_peer_<n>.json`` and
with the issue's targets (they are stated for 1M items).

The collection (``encoder="none"``, dim 384, default configuration) is built in ``--work``
(default ``benchmarks/.cache/scale/<n>/sleuth``). Each phase runs in a fresh process (so its RSS
is sleuth's own) and its figures are kept in ``<work>/phases.json`` as soon as it ends: a run
that stops (or is stopped) resumes at the phase it was in; ``--fresh`` starts over, ``--redo``
measures named phases again. Phases:

- ``ingest``: ``col.add(batch, vectors=...)`` per batch of 10,000 (the Parquet rows as an Arrow
  RecordBatch and a slice of the memory-mapped ``vectors.npy``) until ``close()`` has saved the indexes:
  items/s, and items per CPU second of the process (what a busy machine distorts least); the
  process's RSS (VmRSS, peak VmHWM) after it; disk bytes of the folder. sleuth
  builds its indexes as it goes (no separate index build).
- ``cli_ingest``: the same file through ``sleuth add <dir> items.parquet --vectors vectors.npy
  --encoder none --dim 384`` (one process, one batch, imports included): items/s. Run by default
  up to 200,000 items (``--cli`` forces it; the folder is deleted after).
- ``open``: 5 fresh processes, each timing ``sleuth.open`` (after the imports, timed apart) to
  the first dense query answered; median, and the RSS there.
- ``query``: one process opens the collection, then dense (1,000 query vectors: recall@10
  against the exact top-10, p50, p95), hybrid (query text + vector) and lexical (query text),
  the three interleaved query by query; then filtered dense search (200 queries per kind,
  interleaved: category equality, price range, tag contained in ``tags``: p50, mean hits of
  10, recall@10 against ``truth_<kind>.npy``); then its RSS against
  the vector bytes (n x 384 x 4) plus the BM25 postings (``info()["usage"]``).
  The dense search parameter (``dense.ef_search``) is fixed at creation (opening with another
  configuration is refused), so there is no sweep: the default is measured.
- ``upsert``: 20 timed rounds (after 1 untimed) of 100 existing items with new vectors and
  prices (the rows, vectors and prices the peers get: same seed), end to end; after each, the
  first dense query for one of the new vectors: latency, and whether that item comes first;
  then those queries again with no write between (what they cost without a write before them).
  The items are then written back as they were, so the collection stays the catalog and phases
  can be re-run on it.

Latencies are ``time.perf_counter`` around one call (one caller, warm page cache). Writes
``results/scale_<n>.json``: every figure, sleuth/peer ratios per figure and peer, the targets met
or not, and, when the other size's result exists, the 1M/100k ratios.

    python benchmarks/scale.py --n 100000          # after scale_peer.py --n 100000
    nice python benchmarks/scale.py --n 1000000 --work /path/with/10GB/free --clean

How long: the ingest phase is n / (items/s) (the issue's target, 20,000 items/s, is under a
minute at 1M; sleuth before the 1M work took about 140 items/s at 100k on two busy cores, so
2 hours at 1M), the opens 5 x the open time, the queries 3,600 searches (about a minute at
the targets' latencies), the upserts 21 rounds; each phase prints its progress and the time
left, and the estimate from the last run of another size. A stopped run resumes at the phase
it was in: run the same command again.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import _scale_data as data
import numpy as np
from _common import RESULTS_DIR, code_commit, machine_info
from _scale_report import UPSERT_SIZE, report

import sleuth

NAME = "scale"
BATCH = 10_000
OPENS = 5
UPSERTS = 20
CLI_UP_TO = 200_000
DISK_PER_ITEM = 9_000  # bytes a collection took per item (8.7 GB at 1M before the 1M work)
PHASES = ("ingest", "cli_ingest", "open", "query", "upsert")


def interleaved(fns: dict[str, Callable[[int], list[int]]], count: int,
                ) -> dict[str, tuple[list[float], list[list[int]]]]:
    """Time ``fns[name](i)`` for ``i < count``, the kinds interleaved (query i runs them in
    order, query i + 1 in reverse, so a slow patch of the machine hits them alike), after one
    untimed call each; prints progress and the time left."""
    for fn in fns.values():
        fn(0)
    out: dict[str, tuple[list[float], list[list[int]]]] = {name: ([], []) for name in fns}
    names, started = list(fns), time.perf_counter()
    for i in range(count):
        for name in names if i % 2 == 0 else names[::-1]:
            t = time.perf_counter()
            found = fns[name](i)
            out[name][0].append(time.perf_counter() - t)
            out[name][1].append(found)
        if (i + 1) % 100 == 0 or i + 1 == count:
            left = (time.perf_counter() - started) / (i + 1) * (count - i - 1)
            p50 = ", ".join(f"{n} {statistics.median(out[n][0]) * 1000:.2f}" for n in names)
            print(f"\r  {i + 1:,} / {count:,} queries (p50 ms so far: {p50}; {left:.0f} s left)",
                  end="", flush=True)
    print(flush=True)
    return out


def rows_of(hits: Iterable[Any]) -> list[int]:
    return [int(h.id) for h in hits]  # the catalog's ids are its row numbers


def where_of(spec: dict[str, Any]) -> dict[str, Any]:
    """A filter of ``meta["filters"]`` in sleuth's filter language."""
    if "category" in spec:
        return {"category": spec["category"]}
    if "tag" in spec:
        return {"tags": spec["tag"]}  # a list attribute: eq is "contains"
    return {"price": {"gte": spec["price_min"], "lte": spec["price_max"]}}


# -- the phases (each returns its figures) ---------------------------------------------------


def ingest(folder: Path, path: Path) -> dict[str, Any]:
    n = data.load_meta(folder)["n"]
    col = sleuth.open(path, config=sleuth.CollectionConfig(encoder="none", dim=data.DIM))
    started, cpu, done = time.perf_counter(), time.process_time(), 0
    for batch, vectors in data.item_batches(folder, BATCH):
        col.add(batch, vectors=vectors, progress=False)  # the Arrow batch: column by column
        done += batch.num_rows
        took = time.perf_counter() - started
        print(f"\r  ingest: {done:,} / {n:,} items, {done / took:,.0f} items/s, "
              f"{took / done * (n - done):.0f} s left", end="", flush=True)
    added = time.perf_counter() - started
    count = col.count()
    col.close()
    took, cpu = time.perf_counter() - started, time.process_time() - cpu
    print(f"\n  ingest: {took:.1f} s ({n / took:,.0f} items/s), close {took - added:.1f} s; "
          f"CPU {cpu:.1f} s ({n / cpu:,.0f} items per CPU second)", flush=True)
    assert count == n, (count, n)
    return {"items": n, "batch": BATCH, "seconds": took, "add_seconds": added,
            "close_seconds": took - added, "items_per_s": n / took,
            # on a shared machine the CPU time says more than the wall clock (faiss's threads
            # included; fsync waits are not CPU)
            "cpu_seconds": cpu, "items_per_cpu_s": n / cpu, "rss_mb": data.rss_mb(),
            "disk_bytes": data.disk_bytes(path)}


def cli_ingest(folder: Path, path: Path) -> dict[str, Any]:
    n = data.load_meta(folder)["n"]
    shutil.rmtree(path, ignore_errors=True)
    command = [sys.executable, "-m", "sleuth.cli", "add", str(path),
               str(folder / "items.parquet"), "--vectors", str(folder / "vectors.npy"),
               "--encoder", "none", "--dim", str(data.DIM), "--no-upsert"]
    started = time.perf_counter()
    subprocess.run(command, check=True)
    took = time.perf_counter() - started
    size = data.disk_bytes(path)
    shutil.rmtree(path)
    print(f"  sleuth add: {took:.1f} s ({n / took:,.0f} items/s)", flush=True)
    return {"command": "sleuth add DIR items.parquet --vectors vectors.npy --encoder none "
            f"--dim {data.DIM} --no-upsert", "seconds": took, "items_per_s": n / took,
            "disk_bytes": size}


def open_once(folder: Path, path: Path) -> dict[str, Any]:
    """In a fresh process: import, open, answer the first dense query."""
    q = np.load(folder / "query_vectors.npy", mmap_mode="r")[0].copy()
    t = time.perf_counter()
    import sleuth as fresh

    imported = time.perf_counter()
    imported_rss = data.rss_mb()["VmRSS"]
    col = fresh.open(path)
    col.search(vector=q, k=data.K, mode="dense")
    done = time.perf_counter()
    out = {"import_s": imported - t, "open_s": done - imported, "rss_mb": data.rss_mb()["VmRSS"],
           "rss_after_import_mb": imported_rss}
    col.close()
    return out


def query(folder: Path, path: Path, limit: int | None = None) -> dict[str, Any]:
    """Dense, hybrid, lexical and filtered search, then memory (``limit``: fewer queries)."""
    meta = data.load_meta(folder)
    queries = np.load(folder / "query_vectors.npy")[:limit]
    texts = meta["query_texts"][: len(queries)]
    truth = np.load(folder / "truth.npy")[: len(queries)]
    col = sleuth.open(path)
    k = data.K
    res: dict[str, Any] = {"queries": len(queries),
                           "dense_config": col.info()["config"]["dense"]}

    def dense(i: int, where: dict[str, Any] | None = None) -> list[int]:
        return rows_of(col.search(vector=queries[i], k=k, mode="dense", where=where))

    runs = interleaved({
        "dense": dense,
        "hybrid": lambda i: rows_of(col.search(texts[i], vector=queries[i], k=k, mode="hybrid")),
        "lexical": lambda i: rows_of(col.search(texts[i], k=k, mode="lexical")),
    }, len(queries))
    times, found = runs["dense"]
    res["dense"] = {"recall@10": data.recall(found, truth), **data.latency(times)}
    for mode in ("hybrid", "lexical"):
        times, found = runs[mode]
        res[mode] = {"mean_hits": float(np.mean([len(f) for f in found])), **data.latency(times)}
    specs = {kind: meta["filters"][kind][: len(queries)] for kind in data.FILTER_KINDS}
    runs = interleaved({kind: lambda i, kind=kind: dense(i, where_of(specs[kind][i]))
                        for kind in data.FILTER_KINDS}, len(specs["category"]))
    res["filtered"] = {}
    for kind, (times, found) in runs.items():
        kind_truth = np.load(folder / f"truth_{kind}.npy")[: len(found)]
        res["filtered"][kind] = {"mean_hits": float(np.mean([len(f) for f in found])),
                                 "recall@10": data.recall(found, kind_truth), **data.latency(times)}
    info = col.info()
    res["rss_mb"] = data.rss_mb()
    res["memory"] = memory(meta["n"], res["rss_mb"]["VmRSS"], info.get("usage", {}))
    col.close()
    return res


def memory(n: int, rss: float, usage: dict[str, Any]) -> dict[str, Any]:
    """RSS against what must be in memory: one float32 copy of each vector and the postings."""
    vector_bytes = n * data.DIM * 4
    parts = usage.get("memory", {})
    postings = parts.get("bm25")
    out: dict[str, Any] = {"rss_mb": rss, "vector_bytes": vector_bytes,
                           "postings_bytes": postings, "parts_bytes": parts}
    if postings is not None:
        out["rss_over_needed"] = rss * 2**20 / (vector_bytes + postings)
    return out


def upsert(folder: Path, path: Path, rounds: int = UPSERTS) -> dict[str, Any]:
    """``rounds`` timed upserts of ``UPSERT_SIZE`` items (the peers' rows, vectors and prices),
    then the touched items written back as they were."""
    import pyarrow.parquet as pq

    col = sleuth.open(path)
    write_s, search_s, seen, touched = [], [], [], set()
    for r, (rows, part, new) in enumerate(data.upserts(folder, rounds + 1, UPSERT_SIZE)):
        batch = part  # the Arrow table
        touched.update(rows.tolist())
        t = time.perf_counter()
        col.upsert(batch, vectors=new, progress=False)
        took = time.perf_counter() - t
        t = time.perf_counter()
        top = rows_of(col.search(vector=new[0], k=data.K, mode="dense"))
        first = time.perf_counter() - t
        if r:  # round 0 is the untimed warm-up
            write_s.append(took)
            search_s.append(first)
            seen.append(bool(top) and top[0] == int(rows[0]))
        print(f"\r  upsert: round {r} / {rounds}, {took * 1000:.1f} ms", end="", flush=True)
    # the same first queries again, no write between: how much of the first search's time is
    # the write's doing, and how much these queries' own (a p50 of other queries is not theirs)
    again = []
    for r, (_, _, new) in enumerate(data.upserts(folder, rounds + 1, UPSERT_SIZE)):
        t = time.perf_counter()
        col.search(vector=new[0], k=data.K, mode="dense")
        if r:
            again.append(time.perf_counter() - t)
    back = np.array(sorted(touched))
    items = pq.read_table(folder / "items.parquet").take(back).to_pylist()
    col.upsert(items, vectors=np.load(folder / "vectors.npy", mmap_mode="r")[back], progress=False)
    col.close()
    print(flush=True)
    return {"upsert": data.latency(write_s), "first_search_after": data.latency(search_s),
            "same_search_without_write": data.latency(again),
            "first_search_sees_write": float(np.mean(seen)), "rounds": rounds,
            "size": UPSERT_SIZE}


# -- the driver ------------------------------------------------------------------------------


def _phase(name: str, n: int, work: Path) -> dict[str, Any]:
    """Run one phase in a fresh process; its figures."""
    out = work / f".{name}.json"
    out.unlink(missing_ok=True)
    subprocess.run([sys.executable, __file__, "--phase", name, "--n", str(n), "--dir",
                    str(work), "--out", str(out)], check=True)
    res: dict[str, Any] = json.loads(out.read_text())
    out.unlink()
    return res


def worker(name: str, n: int, work: Path, out: Path) -> None:
    folder, col = data.CACHE / str(n), work / "collection"
    if name == "ingest":
        shutil.rmtree(col, ignore_errors=True)
        res = ingest(folder, col)
    elif name == "cli_ingest":
        res = cli_ingest(folder, work / "cli")
    elif name == "open":
        res = open_once(folder, col)
    elif name == "query":
        res = query(folder, col)
    else:
        res = upsert(folder, col)
    out.write_text(json.dumps(res))


def run_open(n: int, work: Path) -> dict[str, Any]:
    runs = []
    for i in range(OPENS):
        runs.append(_phase("open", n, work))
        print(f"  open {i + 1}: {runs[-1]['open_s']:.3f} s to the first answer", flush=True)
    return {"runs": runs, **{k: statistics.median(r[k] for r in runs)
                             for k in ("open_s", "import_s", "rss_mb", "rss_after_import_mb")}}


def estimate(phase: str, n: int) -> str:
    """A guess at the phase's duration from the latest run of another size (ingest scaled by
    the sizes' ratio, the rest taken as is: they should not grow with the collection)."""
    for m in (100_000, 1_000_000, 10_000):
        path = RESULTS_DIR / f"{NAME}_{m}.json"
        if m == n or not path.exists():
            continue
        took = json.loads(path.read_text())["results"]["phases"].get(phase, {}).get("phase_s")
        if took:
            scale = n / m if phase in ("ingest", "cli_ingest") else 1.0
            return f" (estimate from the {m:,}-item run: ~{took * scale / 60:.1f} min)"
    return ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000, help="items (default %(default)s)")
    parser.add_argument("--work", type=Path, help="where the collection is built (default: "
                        "benchmarks/.cache/scale/<n>/sleuth); <work>/<n>/ when given")
    parser.add_argument("--fresh", action="store_true", help="discard the kept phases and "
                        "the collection, start over")
    parser.add_argument("--redo", nargs="+", choices=PHASES, default=[],
                        help="measure these phases again (ingest: every phase)")
    parser.add_argument("--cli", action=argparse.BooleanOptionalAction, default=None,
                        help=f"also time `sleuth add` (default: up to {CLI_UP_TO:,} items)")
    parser.add_argument("--clean", action="store_true", help="delete the collection at the end")
    parser.add_argument("--phase", choices=PHASES, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--dir", type=Path, help=argparse.SUPPRESS)  # a phase's <work>/<n>
    args = parser.parse_args()
    if args.phase:
        worker(args.phase, args.n, args.dir, args.out)
        return
    work = (args.work / str(args.n)) if args.work else data.CACHE / str(args.n) / "sleuth"
    machine, started = machine_info(), time.perf_counter()
    data.ensure(args.n)
    if args.fresh:
        shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(work).free
    if free < args.n * DISK_PER_ITEM:
        print(f"warning: {free / 2**30:.1f} GiB free in {work}; a collection of {args.n:,} items "
              f"took about {args.n * DISK_PER_ITEM / 2**30:.1f} GiB (see --work)")
    state_file = work / "phases.json"
    state = json.loads(state_file.read_text()) if state_file.exists() else {"phases": {}}
    commit = code_commit(Path(sleuth.__file__).parent)
    if state["phases"] and state.get("commit") != commit:
        print(f"note: the kept phases were measured by sleuth {state.get('commit')}, this is "
              f"{commit}; --fresh measures everything again")
    state.setdefault("commit", commit)
    redo = set(PHASES) if "ingest" in args.redo else set(args.redo)
    if "ingest" not in state["phases"]:
        redo = set(PHASES)  # a new collection: every figure is of it
    cli = args.cli if args.cli is not None else args.n <= CLI_UP_TO
    for phase in PHASES:
        if phase == "cli_ingest" and not cli:
            continue
        if phase in state["phases"] and phase not in redo:
            print(f"\n{phase}: kept from {state['phases'][phase]['measured']['date']}")
            continue
        print(f"\n{phase}, {args.n:,} items{estimate(phase, args.n)}", flush=True)
        t = time.perf_counter()
        res = run_open(args.n, work) if phase == "open" else _phase(phase, args.n, work)
        res["phase_s"] = time.perf_counter() - t
        res["measured"] = {"date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                           "load_avg": [round(x, 2) for x in os.getloadavg()],
                           "commit": commit}
        state["phases"][phase] = res
        state["commit"] = commit if phase == "ingest" else state["commit"]
        tmp = state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(state))
        os.replace(tmp, state_file)
    report(args.n, state, {"batch": BATCH, "opens": OPENS, "upsert_rounds": UPSERTS},
           started, machine)
    if args.clean:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
