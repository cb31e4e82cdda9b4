"""Late interaction on SciFact and Cranfield with the bundled MiniLM's token states:

- the search modes as ``sleuth eval beir`` reports them: hybrid, hybrid+maxsim, muvera (FDE top
  ``rerank_depth`` reranked by MaxSim) and maxsim-exact (brute force), with nDCG@10, p50/p95
  latency (one caller) and index bytes per item;
- FDE size sweep (1,280 to 10,240 dims): candidate recall@100 of the FDE top-100 against the
  maxsim-exact top-100, nDCG@10 after MaxSim reranking of the FDE top-100, and latency;
- token pooling (factor 1-4) and int8 storage: vectors kept, bytes per item, exact nDCG@10.

The peer comparison of the FDE itself (FastEmbed's MUVERA on the same token vectors) is
``benchmarks/muvera_peer.py``. Writes results/late.json.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from _common import CACHE_DIR, print_table, require_data, summary_row, write_result
from ranx import Qrels, Run, evaluate

import sleuth
from sleuth.config import MuveraConfig
from sleuth.evaluate.beir import evaluate_beir
from sleuth.indexes.muvera import Muvera
from sleuth.indexes.pooling import pool_tokens
from sleuth.indexes.tokens import TokenIndex
from sleuth.io.readers import read_beir

MODES = ["hybrid", "hybrid+maxsim", "muvera", "maxsim-exact"]
FDE_SIZES = {  # (k_sim, d_proj, r_reps)
    1280: (4, 16, 5),
    2560: (4, 16, 10),  # Weaviate's defaults
    5120: (5, 16, 10),
    10240: (5, 16, 20),  # the paper's
}
CANDIDATES = 100


def _ndcg(qrels: Qrels, ids: list[str], qids: list[str], docnos: np.ndarray,
          scores: np.ndarray) -> float:
    run = Run({q: {ids[d]: float(s) for d, s in zip(docnos[i], scores[i]) if d >= 0}
               for i, q in enumerate(qids)})
    return round(float(evaluate(qrels, run, "ndcg@10", make_comparable=True)), 4)


def _float32_bound(tokens: TokenIndex, queries: list[np.ndarray]) -> float:
    """Per-query latency of the fastest plain brute force we know: every token vector kept in
    float32 (twice the memory of the float16 store), one BLAS product, a segment max per item.
    maxsim-exact streams the float16 store instead, converting it block by block."""
    flat = tokens.tokens.view.astype(np.float32)
    offsets = tokens.offsets.view
    starts = offsets[:-1][np.diff(offsets) > 0]
    times = []
    for q in queries:
        t = time.perf_counter()
        per_item = np.maximum.reduceat(flat @ q.T, starts, axis=0).sum(1)
        np.argpartition(-per_item, 10)[:10]
        times.append((time.perf_counter() - t) * 1000)
    return round(float(np.median(times)), 2)


def sweeps(path: Any, collection: str) -> dict[str, Any]:
    data = read_beir(path)
    qids = list(data.queries)
    qrels = Qrels(data.qrels)
    with sleuth.open(collection) as col:
        late = col.late
        if late is None:
            raise SystemExit(f"{collection} has no token vectors")
        col.save()  # the token index as saved is what this sweep reads, not the engine's memory
        tokens = TokenIndex.load(col.path / "index" / "tokens.npz", col.config.late, late.dim)
        if tokens is None:
            raise SystemExit(f"{collection}: its token index was built with another recipe")
        docnos = np.array(sorted(tokens.docno_row), np.int64)
        ids_of = {s.docno: s.item.id for b in col.store.iter_items() for s in b}
        ids = [ids_of.get(int(d), "") for d in range(docnos.max() + 1)]
        docs = [tokens.tokens_of(int(d)) for d in docnos]
        encoded = col.encoder.encode_query_tokens([data.queries[q] for q in qids])
        queries = late.queries(encoded.tokens or [])
    exact = tokens.search_batch(queries, CANDIDATES)
    out: dict[str, Any] = {"exact_ndcg@10": _ndcg(qrels, ids, qids, exact.docnos, exact.scores)}
    out["exact_float32_p50_ms"] = _float32_bound(tokens, queries[:50])
    fde_rows = []
    for dim, (k_sim, d_proj, r_reps) in FDE_SIZES.items():
        muvera = Muvera(MuveraConfig(k_sim=k_sim, d_proj=d_proj, r_reps=r_reps), late.dim)
        t = time.perf_counter()
        doc_fde = muvera.encode_documents(docs)
        encode_ms = (time.perf_counter() - t) * 1000 / len(docs)
        latencies, top, reranked = [], [], []
        for q in queries:
            t = time.perf_counter()
            sims = doc_fde @ muvera.encode_queries([q])[0]
            cand = np.argpartition(-sims, CANDIDATES)[:CANDIDATES]
            cand = docnos[cand[np.argsort(-sims[cand])]]
            ds, ss = tokens.rerank(q, cand)
            latencies.append((time.perf_counter() - t) * 1000)
            top.append(cand)
            reranked.append((ds[:CANDIDATES], ss[:CANDIDATES]))
        recall = np.mean([np.isin(exact.docnos[i][exact.docnos[i] >= 0], top[i]).mean()
                          for i in range(len(queries))])
        d = np.full((len(queries), CANDIDATES), -1, np.int64)
        s = np.full((len(queries), CANDIDATES), -np.inf, np.float32)
        for i, (ds, ss) in enumerate(reranked):
            d[i, : ds.size], s[i, : ss.size] = ds, ss
        fde_rows.append({
            "fde_dim": dim, "k_sim": k_sim, "d_proj": d_proj, "r_reps": r_reps,
            "recall@100_vs_exact": round(float(recall), 4),
            "ndcg@10_reranked": _ndcg(qrels, ids, qids, d, s),
            "p50_ms": round(float(np.median(latencies)), 2),
            "encode_ms_per_doc": round(encode_ms, 3),
            "fde_bytes_per_item": dim * 4,
        })
    out["fde"] = fde_rows
    storage = []
    for name, factor, dtype in (("float16", 1, "float16"), ("int8", 1, "int8"),
                                ("pool 2", 2, "float16"), ("pool 3", 3, "float16"),
                                ("pool 4", 4, "float16")):
        config = sleuth.config.LateConfig(enabled=True, pool_factor=factor, dtype=dtype)
        index = TokenIndex(config, late.dim)
        pooled = [pool_tokens(x, factor) if factor > 1 and len(x) > 1 else x for x in docs]
        index.add(docnos, pooled)
        t = time.perf_counter()
        found = index.search_batch(queries, 10)
        storage.append({
            "storage": name, "vectors": index.n_tokens,
            "vectors_per_item": round(index.n_tokens / len(docs), 1),
            "bytes_per_item": round(index.bytes_per_item()),
            "ndcg@10_exact": _ndcg(qrels, ids, qids, found.docnos, found.scores),
            "exact_s": round(time.perf_counter() - t, 1),
        })
    out["storage"] = storage
    return out


def main() -> None:
    started = time.perf_counter()
    results: dict[str, Any] = {}
    summary, mode_rows, fde_rows, storage_rows = [], [], [], []
    for name in ("scifact", "cranfield"):
        path = require_data("beir", name)
        report = evaluate_beir(path, MODES, cache_dir=CACHE_DIR / "eval")
        extra = sweeps(path, report.pop("collection"))
        results[name] = {"modes": report, **extra}
        runs = report["runs"]
        for mode, r in runs.items():
            mode_rows.append([name, mode, r["ndcg@10"], r["recall@100"], r["p50_ms"], r["p95_ms"],
                              r["bytes_per_item"]])
        for r in extra["fde"]:
            fde_rows.append([name, r["fde_dim"], r["recall@100_vs_exact"], r["ndcg@10_reranked"],
                             r["p50_ms"], r["encode_ms_per_doc"]])
        for r in extra["storage"]:
            storage_rows.append([name, r["storage"], r["vectors_per_item"], r["bytes_per_item"],
                                 r["ndcg@10_exact"]])
        exact, muvera = runs["maxsim-exact"], runs["muvera"]
        summary += [
            summary_row(f"{name} nDCG@10, muvera vs maxsim-exact (target ≥ 0.95)",
                        muvera["ndcg@10"], exact["ndcg@10"], higher_is_better=True, target=0.95),
            summary_row(f"{name} p50 latency, muvera vs maxsim-exact (target ≤ 0.1)",
                        muvera["p50_ms"], exact["p50_ms"], higher_is_better=False, target=0.1,
                        unit="ms"),
            summary_row(f"{name} p50 latency, muvera vs float32 brute force (scoring only)",
                        muvera["p50_ms"], extra["exact_float32_p50_ms"],
                        higher_is_better=False, unit="ms"),
            summary_row(f"{name} nDCG@10, hybrid+maxsim vs hybrid (target +0.01)",
                        runs["hybrid+maxsim"]["ndcg@10"], runs["hybrid"]["ndcg@10"],
                        higher_is_better=True),
        ]
    print_table("late interaction, MiniLM token states",
                ["dataset", "mode", "nDCG@10", "Recall@100", "p50 ms", "p95 ms", "bytes/item"],
                mode_rows)
    print_table("MUVERA FDE size (candidates: FDE top-100)",
                ["dataset", "FDE dims", "recall@100 vs exact", "nDCG@10 reranked", "p50 ms",
                 "encode ms/doc"], fde_rows)
    print_table("token storage", ["dataset", "storage", "vectors/item", "bytes/item",
                                  "nDCG@10 exact"], storage_rows)
    write_result("late", peer="maxsim-exact (brute force) as the reference; FastEmbed MUVERA in "
                 "muvera_peer.json", parameters={"encoder": "minilm", "candidates": CANDIDATES,
                                                 "fde_sizes": FDE_SIZES},
                 results=results, summary=summary, started=started)


if __name__ == "__main__":
    main()
