"""Compressed dense storage: quality, memory and latency of float32, float16, int8 and binary
search structures, with and without full-precision rescoring, against faiss with the same
quantizer in the same run.

1. SciFact with MiniLM vectors, through ``Collection.search(mode="dense")`` (the served path):
   one small collection per ``DenseConfig``, built from the same items and the vectors of the
   cached SciFact collection (an encoder object that looks vectors up instead of running the
   model, with the model's id: nothing is encoded again), reopened, so the full-precision vectors
   are read from their memory-mapped file. nDCG@10 (ranx), the search structure's bytes
   (``info()``), p50 latency of one query (medians of interleaved rounds).
2. 100k synthetic vectors (``_scale_data.py``'s clustered set: the same seeded vectors and
   queries; generated with its functions when its cache is absent): ``DenseIndex`` exact and
   HNSW, saved and loaded back, recall@10 against exact float search, bytes, p50 of one query
   on one thread, and faiss with the same quantizer (IndexFlatIP / IndexScalarQuantizer /
   IndexBinaryFlat, and their HNSW forms), which has no rescoring.
3. RSS of a process that opens the 100k float32 HNSW index (and each storage): anonymous memory
   (the process's own) and file-backed memory (the mapped full-precision file) apart. With
   ``--before-src`` the float32 figure is also taken with another checkout's code.

    python benchmarks/quantize.py                      # everything (~15 min here)
    python benchmarks/quantize.py --skip-synthetic     # SciFact only
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import _scale_data as scale_data
import faiss
import numpy as np
from _common import (
    CACHE_DIR,
    code_commit,
    open_cached,
    print_table,
    require_data,
    summary_row,
    write_result,
)

import sleuth
from sleuth.config import CollectionConfig, DenseConfig
from sleuth.encoders.base import Encoded, Encoder
from sleuth.indexes.dense import DenseIndex
from sleuth.io.readers import read_beir

NAME = "quantize"
K = 10
# (label, storage, rescore): the SciFact and synthetic runs
CONFIGS = [
    ("float32", "float32", None),
    ("float16", "float16", 0),
    ("int8", "int8", 0),
    ("int8 + rescore 100", "int8", 100),
    ("binary", "binary", 0),
    ("binary + rescore 100", "binary", 100),
    ("binary + rescore 200", "binary", 200),
]
TARGETS = {"int8": 0.99, "binary + rescore 100": 0.95}  # share of float32's quality kept
MEMORY_TARGETS = {"int8": 4.0, "binary + rescore 100": 32.0}  # float32 bytes / these bytes


class Precomputed(Encoder):
    """The vectors a model made, looked up by text: same id and dimension as that model."""

    def __init__(self, model_id: str, dim: int, vectors: dict[str, np.ndarray]) -> None:
        self.id, self.dim, self.vectors = model_id, dim, vectors

    def encode(self, texts: list[str], *, batch_size: int = 32, tokens: bool = False) -> Encoded:
        return Encoded(np.stack([self.vectors[t] for t in texts]).astype(np.float32))


def text_of(item: Any, fields: tuple[str, ...]) -> str:
    return " ".join(item.fields[f] for f in fields if item.fields.get(f))  # as the cache does


def interleaved_p50(fns: dict[str, Any], queries: list[Any], repeat: int) -> dict[str, Any]:
    """Per-query wall-clock ms of each function over ``queries``, rounds in alternating order."""
    times: dict[str, list[float]] = {name: [] for name in fns}
    names = list(fns)
    for name in names:  # warm-up
        for q in queries[:20]:
            fns[name](q)
    for r in range(repeat):
        for name in names if r % 2 == 0 else names[::-1]:
            fn, out = fns[name], times[name]
            for q in queries:
                t = time.perf_counter()
                fn(q)
                out.append((time.perf_counter() - t) * 1000)
    return {
        n: {"p50_ms": float(np.median(v)), "p95_ms": float(np.percentile(v, 95))}
        for n, v in times.items()
    }


# -- SciFact --------------------------------------------------------------------------------


def scifact(repeat: int, work: Path) -> dict[str, Any]:
    from ranx import Qrels, Run, evaluate

    path = require_data("beir", "scifact")
    data = read_beir(path)
    source = open_cached(path, data.corpus)
    fields = CollectionConfig().text_fields
    ids = [item.id for item in data.corpus]
    with source:
        vectors = source.vectors(ids)
        qids = list(data.queries)
        qtexts = [data.queries[q] for q in qids]
        qvectors = source.encoder.encode_queries(qtexts)
        model_id, dim = source.encoder.id, source.dim
    lookup = {text_of(item, fields): v for item, v in zip(data.corpus, vectors, strict=True)}
    lookup.update(zip(qtexts, qvectors, strict=True))
    encoder = Precomputed(model_id, dim, lookup)
    cols: dict[str, sleuth.Collection] = {}
    for label, storage, rescore in CONFIGS:
        folder = work / f"scifact-{label.replace(' ', '_')}"
        config = CollectionConfig(dense=DenseConfig(storage=storage, rescore=rescore))
        with sleuth.open(folder, encoder=encoder, config=config) as col:
            col.upsert(data.corpus)
        cols[label] = sleuth.open(folder, encoder=encoder)  # reopened: the file is mapped
    qrels = Qrels(data.qrels)
    out: dict[str, Any] = {}
    for label, col in cols.items():
        run = {
            q: {h.id: float(h.score) for h in col.search(t, k=100, mode="dense")}
            for q, t in zip(qids, qtexts, strict=True)
        }
        scores = evaluate(qrels, Run(run), ["ndcg@10", "recall@100"], make_comparable=True)
        info = col.info()["indexes"]["dense"]
        out[label] = {
            "ndcg@10": float(scores["ndcg@10"]),
            "recall@100": float(scores["recall@100"]),
            "bytes": info["bytes"],
            "kind": info["kind"],
        }
    latency = interleaved_p50(
        {label: (lambda t, c=col: c.search(t, k=K, mode="dense")) for label, col in cols.items()},
        qtexts,
        repeat,
    )
    for label, col in cols.items():
        out[label].update(latency[label])
        col.close()
    return {"docs": len(ids), "queries": len(qids), "dim": dim, "encoder": model_id, "configs": out}


# -- 100k synthetic -------------------------------------------------------------------------


def synthetic_vectors(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``_scale_data``'s vectors, query vectors and exact top-10 (its cache, else made here with
    its functions and seeds into benchmarks/.cache/quantize/<n>)."""
    for folder in (scale_data.CACHE / str(n), CACHE_DIR / NAME / str(n)):
        if (folder / "truth.npy").exists():
            return (
                np.load(folder / "vectors.npy", mmap_mode="r"),
                np.load(folder / "query_vectors.npy"),
                np.load(folder / "truth.npy"),
            )
    print(f"generating {n:,} synthetic vectors into {folder} (_scale_data's seeds)")
    folder.mkdir(parents=True, exist_ok=True)
    words, cents = scale_data.vocabulary(), scale_data.centers()
    vectors = np.empty((n, scale_data.DIM), np.float32)
    for b in range(-(-n // scale_data.BLOCK)):
        lo, hi = b * scale_data.BLOCK, min(n, (b + 1) * scale_data.BLOCK)
        vectors[lo:hi] = scale_data.block(b, words, cents)["vectors"][: hi - lo]
    rng = np.random.default_rng([scale_data.SEED, 4])  # as scale_data._queries draws them
    rows = np.sort(rng.choice(n, scale_data.N_QUERIES, replace=False))
    noise = rng.normal(0, scale_data.QUERY_SIGMA, (scale_data.N_QUERIES, scale_data.DIM))
    queries = scale_data._normalize(vectors[rows] + noise)
    truth = scale_data.top_k(queries, vectors)
    np.save(folder / "vectors.npy", vectors)
    np.save(folder / "query_vectors.npy", queries)
    np.save(folder / "truth.npy", truth)
    return np.load(folder / "vectors.npy", mmap_mode="r"), queries, truth


def faiss_peer(storage: str, dim: int, graph: bool, m: int, ef_c: int) -> Any:
    sq = {"float16": faiss.ScalarQuantizer.QT_fp16, "int8": faiss.ScalarQuantizer.QT_8bit}
    ip = faiss.METRIC_INNER_PRODUCT
    if storage == "binary":
        index = faiss.IndexBinaryHNSW(dim, m) if graph else faiss.IndexBinaryFlat(dim)
    elif storage == "float32":
        index = faiss.IndexHNSWFlat(dim, m, ip) if graph else faiss.IndexFlatIP(dim)
    else:
        index = (
            faiss.IndexHNSWSQ(dim, sq[storage], m, ip)
            if graph
            else faiss.IndexScalarQuantizer(dim, sq[storage], ip)
        )
    if graph:
        index.hnsw.efConstruction = ef_c
    return index


def peer_bytes(index: Any, storage: str) -> int:
    n = index.ntotal
    if storage == "binary":
        flat = faiss.downcast_IndexBinary(index.storage) if hasattr(index, "hnsw") else index
        size = flat.code_size
    else:
        flat = faiss.downcast_index(index.storage) if hasattr(index, "hnsw") else index
        size = flat.sa_code_size()
    links = 0
    if hasattr(index, "hnsw"):
        h = index.hnsw
        links = h.neighbors.size() * 4 + h.offsets.size() * 8 + h.levels.size() * 4
    return int(n * size + links)


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    return sum(len(set(f.tolist()) & set(t.tolist())) for f, t in zip(found, truth)) / truth.size


def synthetic(n: int, repeat: int, time_queries: int, ef_c: int, work: Path) -> dict[str, Any]:
    vectors, queries, truth = synthetic_vectors(n)
    dim = vectors.shape[1]
    out: dict[str, Any] = {}
    timed = list(range(time_queries))
    for graph in (False, True):
        mode = "hnsw" if graph else "exact"
        for storage in ("float32", "float16", "int8", "binary"):
            base = DenseConfig(
                storage=storage, exact_threshold=1 if graph else 10**9, ef_construction=ef_c
            )
            path = work / f"{mode}-{storage}" / "dense.npz"
            path.parent.mkdir(parents=True, exist_ok=True)
            faiss.omp_set_num_threads(os.cpu_count() or 1)  # builds on every core, both sides
            t = time.perf_counter()
            built = DenseIndex(base, dim)
            for start in range(0, n, 20_000):
                built.add(np.arange(start, min(n, start + 20_000)), vectors[start : start + 20_000])
            built.save(path)
            build_s = time.perf_counter() - t
            del built
            t = time.perf_counter()
            peer = faiss_peer(storage, dim, graph, base.hnsw_m, ef_c)
            data = np.packbits(vectors > 0, axis=1) if storage == "binary" else vectors
            if storage == "int8":
                peer.train(np.asarray(vectors[np.linspace(0, n - 1, 1 << 16).astype(int)]))
            peer.add(np.ascontiguousarray(data))
            peer_build_s = time.perf_counter() - t
            if graph:
                peer.hnsw.efSearch = base.ef_search
            faiss.omp_set_num_threads(1)  # searches: one thread, one query at a time
            labels = [(lb, r) for lb, s, r in CONFIGS if s == storage]
            indexes = {
                lb: DenseIndex.load(path, DenseConfig(**{**base.to_dict(), "rescore": r}), dim)
                for lb, r in labels
            }
            qpeer = np.packbits(queries > 0, axis=1) if storage == "binary" else queries
            peer_rows = np.concatenate(
                [peer.search(qpeer[i : i + 100], K)[1] for i in range(0, len(queries), 100)]
            )
            fns = {
                lb: (lambda i, ix=ix: ix.search_batch(queries[i : i + 1], K))
                for lb, ix in indexes.items()
            }
            fns["faiss"] = lambda i, p=peer, qs=qpeer: p.search(qs[i : i + 1], K)
            latency = interleaved_p50(fns, timed, repeat)
            for label, ix in indexes.items():
                found = np.concatenate(
                    [
                        ix.search_batch(queries[i : i + 100], K).docnos
                        for i in range(0, len(queries), 100)
                    ]
                )
                info = ix.info()
                out[f"{mode} {label}"] = {
                    "mode": mode,
                    "storage": storage,
                    "rescore": ix.config.rescore_depth,
                    "recall@10": recall(found, truth),
                    "bytes": info["bytes"],
                    **latency[label],
                    "build_s": build_s,
                    "faiss": {
                        "recall@10": recall(peer_rows, truth),
                        "bytes": peer_bytes(peer, storage),
                        **latency["faiss"],
                        "build_s": peer_build_s,
                    },
                }
                print(
                    f"  {mode} {label}: recall {out[f'{mode} {label}']['recall@10']:.4f}, "
                    f"{info['bytes'] / 2**20:.1f} MiB, p50 {latency[label]['p50_ms']:.3f} ms"
                )
            del indexes, peer
    return {
        "n": n,
        "dim": dim,
        "queries": len(queries),
        "timed_queries": time_queries,
        "configs": out,
    }


# -- RSS of a process that opens an index ---------------------------------------------------

CHILD = """
import json, sys, numpy as np
from pathlib import Path
from sleuth.config import DenseConfig
from sleuth.indexes.dense import DenseIndex
def rss():
    fields = dict(l.split(':', 1) for l in Path('/proc/self/status').read_text().splitlines())
    return {k: int(fields[k].split()[0]) * 1024 for k in ('VmRSS', 'RssAnon', 'RssFile')}
path, storage, ef_c, vectors, queries, step = sys.argv[1:7]
extra = {} if storage == 'float32' else {'storage': storage}  # code before storage existed
config = DenseConfig(exact_threshold=1, ef_construction=int(ef_c), **extra)
if step == 'build':
    data = np.load(vectors, mmap_mode='r')
    index = DenseIndex(config, data.shape[1])
    for start in range(0, data.shape[0], 20_000):
        index.add(np.arange(start, min(data.shape[0], start + 20_000)), data[start:start + 20_000])
    index.save(Path(path))
    print(json.dumps({"built": rss()}))
else:
    base = rss()
    index = DenseIndex.load(Path(path), config, 384)
    opened = rss()
    q = np.load(queries)
    for i in range(0, len(q)):
        index.search_batch(q[i:i + 1], 10)
    print(json.dumps({"base": base, "opened": opened, "searched": rss()}))
"""


def rss(src: Path, storage: str, ef_c: int, path: Path, folder: Path, build: bool) -> Any:
    """RSS of a fresh process (code from ``src``) that opens the HNSW index ``path`` (built
    first by another fresh process when ``build``) and searches 1,000 queries one by one."""
    env = {**os.environ, "PYTHONPATH": str(src)}
    path.parent.mkdir(parents=True, exist_ok=True)
    out = {}
    for step in ("build", "open") if build else ("open",):
        done = subprocess.run(
            [
                sys.executable,
                "-c",
                CHILD,
                str(path),
                storage,
                str(ef_c),
                str(folder / "vectors.npy"),
                str(folder / "query_vectors.npy"),
                step,
            ],
            env=env,
            check=True,
            capture_output=True,
            text=True,
        )
        out.update(json.loads(done.stdout.strip().splitlines()[-1]))
    out["opened_minus_base"] = {k: out["opened"][k] - out["base"][k] for k in out["base"]}
    out["searched_minus_base"] = {k: out["searched"][k] - out["base"][k] for k in out["base"]}
    return out


def summarize(
    configs: dict[str, Any], where: str, metric: str, summary: list[dict[str, Any]]
) -> list[list[Any]]:
    """Table rows, and README rows into ``summary``: quality against float32's (the targets),
    memory against float32's, p50 against faiss with the same quantizer (synthetic) or against
    float32 (SciFact, where no peer serves the same path)."""
    ref = configs["float32"]
    rows = []
    for label, r in configs.items():
        r["kept"], r["memory_ratio"] = r[metric] / ref[metric], ref["bytes"] / r["bytes"]
        peer = r.get("faiss")
        rows.append(
            [
                label,
                r[metric],
                r["kept"],
                r["bytes"] / 2**20,
                r["memory_ratio"],
                r["p50_ms"],
                (peer or ref)["p50_ms"],
            ]
        )
        summary.append(
            summary_row(
                f"{where} {metric}, {label} (ratio: kept vs float32)",
                r[metric],
                ref[metric],
                higher_is_better=True,
                target=TARGETS.get(label),
            )
        )
        memory_target = MEMORY_TARGETS.get(label)
        summary.append(
            summary_row(
                f"{where} search structure MiB, {label} (vs float32)",
                r["bytes"] / 2**20,
                ref["bytes"] / 2**20,
                higher_is_better=False,
                target=1 / memory_target if memory_target else None,
                unit="MiB",
            )
        )
        summary.append(
            summary_row(
                f"{where} p50 of 1 query, {label} (vs {'faiss' if peer else 'float32'})",
                r["p50_ms"],
                (peer or ref)["p50_ms"],
                higher_is_better=False,
                unit="ms",
            )
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5, help="interleaved timed rounds (>= 5)")
    parser.add_argument(
        "--time-queries",
        type=int,
        default=200,
        help="synthetic queries timed per round (recall uses all 1,000)",
    )
    parser.add_argument("--ef-construction", type=int, default=200)
    parser.add_argument("--skip-synthetic", action="store_true")
    parser.add_argument("--skip-scifact", action="store_true")
    parser.add_argument(
        "--before-src",
        type=Path,
        help="another checkout's src/: the float32 RSS before this change",
    )
    args = parser.parse_args()
    if args.repeat < 5:
        parser.error("--repeat must be at least 5")
    started = time.perf_counter()
    results: dict[str, Any] = {}
    summary: list[dict[str, Any]] = []
    CACHE_DIR.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(dir=CACHE_DIR) as tmp:
        work = Path(tmp)
        if not args.skip_scifact:
            results["scifact"] = sci = scifact(args.repeat, work)
            rows = summarize(sci["configs"], "SciFact", "ndcg@10", summary)
            print_table(
                f"SciFact dense (MiniLM, {sci['docs']:,} docs, exact), Collection.search",
                ["storage", "nDCG@10", "kept", "MiB", "x smaller", "p50 ms", "float32 p50 ms"],
                rows,
            )
        if not args.skip_synthetic:
            results["synthetic"] = syn = synthetic(
                args.n, args.repeat, args.time_queries, args.ef_construction, work
            )
            for mode in ("exact", "hnsw"):
                configs = {
                    k.split(" ", 1)[1]: r for k, r in syn["configs"].items() if r["mode"] == mode
                }
                rows = summarize(configs, f"{args.n // 1000}k {mode}", "recall@10", summary)
                print_table(
                    f"{args.n:,} x {syn['dim']} synthetic, {mode}, 1 thread (faiss: the same "
                    "quantizer, no rescoring)",
                    ["storage", "recall@10", "kept", "MiB", "x smaller", "p50 ms", "faiss p50 ms"],
                    rows,
                )
            folder = next(
                f
                for f in (scale_data.CACHE / str(args.n), CACHE_DIR / NAME / str(args.n))
                if (f / "truth.npy").exists()
            )
            src, ef_c = Path(sleuth.__file__).resolve().parents[1], args.ef_construction
            measured = {
                s: rss(src, s, ef_c, work / f"hnsw-{s}" / "dense.npz", folder, False)
                for s in ("float32", "float16", "int8", "binary")
            }
            if args.before_src:
                measured["float32 (before)"] = rss(
                    args.before_src, "float32", ef_c, work / "before" / "dense.npz", folder, True
                )
            results["rss"] = measured
            print_table(
                f"RSS opening a {args.n:,} x 384 HNSW index and searching (MiB)",
                [
                    "index",
                    "anon after open",
                    "file after open",
                    "anon after 1,000 queries",
                    "file after 1,000 queries",
                ],
                [
                    [
                        name,
                        m["opened_minus_base"]["RssAnon"] / 2**20,
                        m["opened_minus_base"]["RssFile"] / 2**20,
                        m["searched_minus_base"]["RssAnon"] / 2**20,
                        m["searched_minus_base"]["RssFile"] / 2**20,
                    ]
                    for name, m in measured.items()
                ],
            )
    write_result(
        NAME,
        peer=f"faiss-cpu {faiss.__version__}, same quantizer (no rescoring)",
        parameters={
            **{k: code_commit(v) if k == "before_src" else v for k, v in vars(args).items()},
            "k": K,
            "configs": CONFIGS,
        },
        results=results,
        summary=summary,
        started=started,
        notes=[
            "SciFact: 5,183 docs are below exact_threshold, so each storage is an exact scan "
            "of its codes; bytes are those of the search structure (info()['bytes']).",
            "Synthetic HNSW bytes include the graph's links (about 260 bytes a vector at M=32), "
            "which compression does not shrink: binary codes are 1/32 of float32, the whole "
            "HNSW structure much less so.",
            "RSS: RssAnon is the process's own memory; RssFile the mapped full-precision file "
            "(page cache, dropped under memory pressure) and the libraries.",
        ],
    )


if __name__ == "__main__":
    main()
