"""Sharded collections against one collection holding the same items, in the same run: how many
answers are identical (the same ids in the same order up to ties, the same scores within 1e-4:
``sleuth.shards.compare``) and the latency of single queries (p50, p95), for S = 1, 2, 4
shards in this process (``LocalGroup``; the Ray actors' figures are ``shardray``'s).

Data: BEIR SciFact (5,183 documents; the items bring their MiniLM vectors, read from the
cached ``scifact-minilm`` collection; the 300 test queries encoded once by MiniLM and given
with their text), and the synthetic scale catalog (``benchmarks/_scale_data.py``: 100,000
items with vectors, 1,000 query texts and vectors, filters passing ~1% of the items). Modes:
lexical, dense, hybrid, and on the scale catalog hybrid filtered by category. Above
``dense.exact_threshold`` (20,000 items) dense search is HNSW on each side: the sharded answer
is the union of the shards' approximate lists, so "identical" is then not expected; recall@10
against the exact truth is reported for both.

Recommendations (``--data movielens``, ``sharded_recs.py``): MovieLens-100K's movies and
ratings, ``recommend`` (plain and filtered) and ``similar``, counted and timed the same way.

    python benchmarks/sharded.py                      # every data set, S = 1, 2, 4
    python benchmarks/sharded.py --data scifact --queries 100
    python benchmarks/sharded.py --data movielens --users 300
    python benchmarks/sharded.py --data scale --scale-size 1000000 --shards 2 --out sharded_1m
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _scale_data as data
import sharded_recs
from _common import CACHE_DIR, DATA_DIR, print_table, require_data, write_result

import sleuth
from sleuth.shards.compare import same_ranking

K = 10
SHARDS = (1, 2, 4)
WORK = CACHE_DIR / "sharded"  # --work: elsewhere (each collection is deleted when measured)


def scifact(limit: int, work: Path) -> dict[str, Any]:
    """Items (with vectors) and queries (texts, vectors) of SciFact."""
    from sleuth.encoders import get_encoder
    from sleuth.io.readers import read_beir

    beir = read_beir(require_data("beir", "scifact"))
    copy = work / "scifact-source"
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(CACHE_DIR / "scifact-minilm", copy)  # the shared cache is never written
    with sleuth.open(copy) as cached:
        ids = [item.id for item in beir.corpus]
        vectors = cached.vectors(ids)
    shutil.rmtree(copy)
    items = [{"id": it.id, **it.fields} for it in beir.corpus]
    texts = list(beir.queries.values())[:limit]
    qvec = get_encoder("minilm").encode_queries(texts)
    return {
        "name": "scifact",
        "items": items,
        "vectors": vectors,
        "texts": texts,
        "qvec": qvec,
        "where": None,
        "truth": None,
    }


def scale(limit: int, size: int = 100_000) -> dict[str, Any]:
    folder = data.ensure(size)
    meta = data.load_meta(folder)
    batches = list(data.item_batches(folder, 10_000))
    items = [row for batch, _ in batches for row in batch.to_pylist()]
    vectors = np.concatenate([v for _, v in batches])
    filters = meta["filters"]["category"][:limit]
    return {
        "name": f"scale-{size // 1000}k",
        "items": items,
        "vectors": vectors,
        "texts": meta["query_texts"][:limit],
        "qvec": np.load(folder / "query_vectors.npy")[:limit],
        "where": [{"category": f["category"]} for f in filters],
        "truth": np.load(folder / "truth.npy")[:limit],
    }


def build(path: Path, dataset: dict[str, Any], shards: int | None) -> tuple[Any, float]:
    shutil.rmtree(path, ignore_errors=True)
    config = sleuth.CollectionConfig(encoder="none", dim=int(dataset["vectors"].shape[1]))
    col = sleuth.open(path, config=config, shards=shards)
    items, vectors = dataset["items"], dataset["vectors"]
    t = time.perf_counter()
    for start in range(0, len(items), 10_000):
        col.add(items[start : start + 10_000], vectors=vectors[start : start + 10_000])
    col.save()
    return col, time.perf_counter() - t


def requests(dataset: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Per mode, each query's search arguments."""
    texts, qvec = dataset["texts"], dataset["qvec"]
    out = {
        "lexical": [{"query": t, "mode": "lexical"} for t in texts],
        "dense": [{"vector": v, "mode": "dense"} for v in qvec],
        "hybrid": [{"query": t, "vector": v, "mode": "hybrid"} for t, v in zip(texts, qvec)],
    }
    if dataset["where"] is not None:
        out["hybrid filtered"] = [
            {"query": t, "vector": v, "mode": "hybrid", "where": w}
            for t, v, w in zip(texts, qvec, dataset["where"])
        ]
    return out


def run(col: Any, calls: list[dict[str, Any]]) -> tuple[list[Any], list[float]]:
    hits, seconds = [], []
    for call in calls:
        t = time.perf_counter()
        hits.append(col.search(k=K, **call))
        seconds.append(time.perf_counter() - t)
    return hits, seconds


def recall(hits: list[Any], truth: np.ndarray) -> float:
    return data.recall([[int(h.id) for h in found] for found in hits], truth)


def measure(dataset: dict[str, Any], shard_counts: tuple[int, ...], work: Path) -> dict[str, Any]:
    name = dataset["name"]
    one, one_build = build(work / f"{name}-one", dataset, None)
    print(f"{name}: one collection built in {one_build:.1f} s", flush=True)
    out: dict[str, Any] = {
        "items": len(dataset["items"]),
        "queries": len(dataset["texts"]),
        "one": {"build_s": one_build},
        "sharded": {},
    }
    modes = requests(dataset)
    for s in shard_counts:
        sharded, took = build(work / f"{name}-s{s}", dataset, s)
        print(f"{name}: {s} shards built in {took:.1f} s", flush=True)
        per_mode = {}
        for mode, calls in modes.items():
            row, ref1, got1, got2 = sharded_recs.compared(one, sharded, calls, run, warm=20)
            row["identical_strict_order"] = sum(
                [h.id for h in r] == [h.id for h in g] for r, g in zip(ref1, got1)
            )
            row["sharded_repeatable"] = sum(same_ranking(a, b) is None for a, b in zip(got1, got2))
            if dataset["truth"] is not None and mode == "dense":
                row["recall_one"] = recall(ref1, dataset["truth"])
                row["recall_sharded"] = recall(got1, dataset["truth"])
            per_mode[mode] = row
            print(
                f"  S={s} {mode}: identical {row['identical']}/{len(calls)}, p50 "
                f"{row['sharded_p50_ms']:.2f} ms vs {row['one_p50_ms']:.2f} ms",
                flush=True,
            )
        out["sharded"][str(s)] = {"build_s": took, "modes": per_mode}
        sharded.close()
        shutil.rmtree(work / f"{name}-s{s}")
    one.close()
    shutil.rmtree(work / f"{name}-one")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--data", choices=["scifact", "scale", "movielens", "both", "all"], default="all",
        help="both: scifact and scale; all: the three",
    )
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--users", type=int, default=300, help="movielens: users (and items)")
    parser.add_argument("--shards", type=int, nargs="+", default=list(SHARDS))
    parser.add_argument("--work", type=Path, default=WORK)
    parser.add_argument("--scale-size", type=int, default=100_000, choices=[100_000, 1_000_000])
    parser.add_argument("--out", default="sharded", help="the results file's name")
    args = parser.parse_args()
    started = time.perf_counter()
    args.work.mkdir(parents=True, exist_ok=True)
    results = {}
    if args.data in ("scifact", "both", "all"):
        if not (DATA_DIR / "beir" / "scifact").exists():
            sys.exit(f"SciFact not found under {DATA_DIR}")
        results["scifact"] = measure(
            scifact(args.queries, args.work), tuple(args.shards), args.work
        )
    if args.data in ("scale", "both", "all"):
        catalog = scale(args.queries, args.scale_size)
        results[catalog["name"]] = measure(catalog, tuple(args.shards), args.work)
    if args.data in ("movielens", "all"):
        results["movielens"] = sharded_recs.measure(tuple(args.shards), args.work, args.users)
    rows, summary = [], []
    for name, res in results.items():
        for s, part in res["sharded"].items():
            for mode, row in part["modes"].items():
                rows.append(
                    [
                        name,
                        s,
                        mode,
                        f"{row['identical']}/{row['of']}",
                        row["sharded_p50_ms"],
                        row["one_p50_ms"],
                        row["sharded_p95_ms"],
                        row["one_p95_ms"],
                        row["p50_ratio"],
                    ]
                )
                summary.append(
                    {
                        "metric": f"{name} S={s} {mode}: identical answers",
                        "sleuth": row["identical"] / row["of"],
                        "peer": 1.0,
                        "unit": "share",
                        "higher_is_better": True,
                    }
                )
    print_table(
        "sharded vs one collection (LocalGroup, this process)",
        ["data", "S", "mode", "identical", "p50 ms", "one p50", "p95 ms", "one p95", "p50 ratio"],
        rows,
    )
    write_result(
        args.out,
        peer="one sleuth collection holding the same items",
        parameters={
            "k": K,
            "shards": args.shards,
            "queries": args.queries,
            "users": args.users,
            "scale_size": args.scale_size,
            "group": "LocalGroup",
            "tolerance": 1e-4,
        },
        results=results,
        summary=summary,
        started=started,
        notes=[
            "identical: same ids in the same order up to ties (each side breaks "
            "ties by its own docnos), scores within 1e-4",
            "latency: single queries, two interleaved passes per side",
        ],
    )


if __name__ == "__main__":
    main()
