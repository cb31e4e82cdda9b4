"""Retrieval quality of every search mode, as ``sleuth eval beir`` reports it, on SciFact and
Cranfield, next to the peers computed in the same run on the same data:

- bm25s (numba, PyStemmer english, stopwords en) for lexical,
- exact numpy inner-product search over the very MiniLM vectors sleuth stored, for dense,
- ranx's RRF (k=60) of those two runs, the usual hybrid baseline.

Writes results/quality.json. Builds (or reuses) the eval collections under benchmarks/.cache.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from _common import CACHE_DIR, print_table, require_data, summary_row, write_result
from ranx import Qrels, Run, evaluate, fuse

import sleuth
from sleuth.evaluate.beir import METRICS, evaluate_beir
from sleuth.io.readers import read_beir

K = 100


def peers(path: Any, collection: str) -> dict[str, dict[str, float]]:
    import bm25s
    import Stemmer

    data = read_beir(path)
    qids = list(data.queries)
    texts = [" ".join(v for v in (d.fields.get("title"), d.fields.get("text")) if v)
             for d in data.corpus]
    ids = [d.id for d in data.corpus]
    stemmer = Stemmer.Stemmer("english")
    model = bm25s.BM25(backend="numba")
    model.index(bm25s.tokenize(texts, stopwords="en", stemmer=stemmer, show_progress=False),
                show_progress=False)
    tokens = bm25s.tokenize([data.queries[q] for q in qids], stopwords="en", stemmer=stemmer,
                            show_progress=False)
    docs, scores = model.retrieve(tokens, k=K, n_threads=1, show_progress=False)
    lexical = Run({q: {ids[d]: float(s) for d, s in zip(docs[i], scores[i])}
                   for i, q in enumerate(qids)})
    with sleuth.open(collection) as col:
        stored = {s.item.id: s for batch in col.store.iter_items() for s in batch}
        vectors = col.store.vectors(col.encoder.id, [stored[i].hash for i in ids], col.dim)
        matrix = np.stack([vectors[stored[i].hash] for i in ids])
        queries = col.encoder.encode_queries([data.queries[q] for q in qids])
    sims = queries @ matrix.T
    top = np.argsort(-sims, axis=1)[:, :K]
    dense = Run({q: {ids[d]: float(sims[i, d]) for d in top[i]} for i, q in enumerate(qids)})
    qrels = Qrels(data.qrels)
    out = {}
    for name, run in (("bm25s", lexical), ("numpy exact (MiniLM)", dense),
                      ("ranx RRF k=60", fuse([lexical, dense], method="rrf",
                                             params={"k": 60}))):
        scores_ = evaluate(qrels, run, list(METRICS), make_comparable=True)
        out[name] = {m: round(float(scores_[m]), 4) for m in METRICS}
    return out


def main() -> None:
    started = time.perf_counter()
    results: dict[str, Any] = {}
    summary = []
    rows = []
    for name in ("scifact", "cranfield"):
        path = require_data("beir", name)
        report = evaluate_beir(path, ["lexical", "dense", "hybrid"], cache_dir=CACHE_DIR / "eval")
        peer = peers(path, report["collection"])
        report.pop("collection")
        results[name] = {"sleuth": report, "peers": peer}
        for mode, r in report["runs"].items():
            rows.append([name, f"sleuth {mode}", r["ndcg@10"], r["recall@100"], r["mrr@10"]])
        for label, r in peer.items():
            rows.append([name, label, r["ndcg@10"], r["recall@100"], r["mrr@10"]])
        runs = report["runs"]
        for mode, label in (("lexical", "bm25s"), ("dense", "numpy exact (MiniLM)"),
                            ("hybrid", "ranx RRF k=60")):
            summary.append(summary_row(f"{name} nDCG@10, sleuth {mode} vs {label}",
                                       runs[mode]["ndcg@10"], peer[label]["ndcg@10"],
                                       higher_is_better=True))
    print_table("retrieval quality", ["dataset", "run", "nDCG@10", "Recall@100", "MRR@10"], rows)
    write_result("quality", peer="bm25s, numpy exact search over the same vectors, ranx RRF",
                 parameters={"encoder": "minilm", "k": K}, results=results, summary=summary,
                 started=started)


if __name__ == "__main__":
    main()
