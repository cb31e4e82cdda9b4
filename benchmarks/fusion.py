"""Fusion, two parts.

``python benchmarks/fusion.py`` (the default, ``trust``): the default hybrid with label-free
trust (``FusionConfig(trust=True)`` after ``Collection.fit_fusion()``) against the fixed 0.5/0.5
hybrid it replaces, RRF (k=60) and each single retriever, per collection: SciFact and Cranfield
(cached MiniLM collections) and the stress sets of ``_stress_data.py`` (parts, entities,
paraphrase). nDCG@10 (ranx) on the train and test queries (the settings were chosen on train
splits and on pseudo-queries; test is reported, never tuned on), the fusion stage's time per
request (its trace, median over single-query searches, trust on vs off, interleaved) and the
time ``fit_fusion`` takes. Every list is a ``search_batch`` call, as users search; the query
vectors are encoded once and passed as ``vectors=`` so that each mode reads the same ones.
Each eval collection is copied to a scratch folder first, so ``fit_fusion`` writes only there.
Writes results/fusion_trust.json.

``python benchmarks/fusion.py --sweep``: how the fixed hybrid was chosen: fusion configurations
on SciFact (train and test) and Cranfield, from the same BM25 and MiniLM candidate lists (top
100 each), with ranx's fusion (RRF, and z-score "zmuv" + weighted sum) run on the same lists as
the reference; the lists are fused by the engine's one fusion (``sleuth.fuse.fuse_hybrid``),
the adaptive configurations by the hybrid mode with that ``fusion=`` for the request. Writes
results/fusion.json.

Both build (or reuse) the eval collections under benchmarks/.cache.
"""

from __future__ import annotations

import os
import shutil
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from _common import CACHE_DIR, print_table, require_data, summary_row, write_result
from _stress_data import NAMES as STRESS
from _stress_data import write as write_stress
from ranx import Qrels, Run, evaluate, fuse

import sleuth
from sleuth.config import FusionConfig
from sleuth.evaluate.beir import evaluate_beir
from sleuth.fuse import fuse_hybrid
from sleuth.io.readers import read_beir

DEPTH = 100


# Every configuration tried: a FusionConfig, fused by the engine's own fuse_hybrid (on the
# lists, or by the engine's hybrid mode when adaptive).
CONFIGS: dict[str, FusionConfig] = {
    **{f"rrf k={k}": FusionConfig(method="rrf", rrf_k=k) for k in (10, 30, 60, 100)},
    **{
        f"{norm} a={alpha}" + (" adaptive" if adaptive else ""): FusionConfig(
            normalization=norm, alpha=alpha, adaptive=adaptive
        )
        for norm in ("minmax", "zscore")
        for alpha in (0.3, 0.4, 0.5, 0.6, 0.7)
        for adaptive in (False, True)
    },
}


def ranked(hits: list[sleuth.Hit], codes: dict[str, int]) -> tuple[np.ndarray, np.ndarray]:
    """A list of hits as (codes, scores), the arrays fusion takes."""
    return (
        np.array([codes.setdefault(h.id, len(codes)) for h in hits], np.int64),
        np.array([h.score for h in hits], np.float32),
    )


def sweep() -> None:
    started = time.perf_counter()
    results: dict[str, dict[str, float]] = {}
    for name, splits in (("scifact", ("train", "test")), ("cranfield", ("test",))):
        path = require_data("beir", name)
        report = evaluate_beir(path, ["lexical"], cache_dir=CACHE_DIR / "eval")
        with sleuth.open(report["collection"]) as col:
            for split in splits:
                data = read_beir(path, split=split)
                qids = list(data.queries)
                texts = [data.queries[q] for q in qids]
                codes: dict[str, int] = {}  # item id -> the int fusion sorts ties by
                lex = [ranked(h, codes) for h in col.search_batch(texts, DEPTH, mode="lexical")]
                den = [ranked(h, codes) for h in col.search_batch(texts, DEPTH, mode="dense")]
                ids = {code: item for item, code in codes.items()}
                qrels = Qrels(data.qrels)
                column = f"{name} {split}"

                def to_run(rows: list[Any], ids: dict[int, str] = ids,
                           qids: list[str] = qids) -> Run:
                    return Run({q: {ids[int(d)]: float(s) for d, s in zip(*rows[i])}
                                for i, q in enumerate(qids)})

                for label, rows in (("lexical", lex), ("dense", den)):
                    ndcg = evaluate(qrels, to_run(rows), "ndcg@10", make_comparable=True)
                    results.setdefault(label, {})[column] = round(float(ndcg), 4)
                for label, config in CONFIGS.items():
                    if config.adaptive:  # the per-query balance reads BM25's IDF: the engine's
                        served = col.search_batch(texts, DEPTH, mode="hybrid", fusion=config)
                        rows = [ranked(h, codes) for h in served]  # among the lists' items
                    else:
                        rows = [fuse_hybrid(lex[i], den[i], config) for i in range(len(qids))]
                    ndcg = evaluate(qrels, to_run(rows), "ndcg@10", make_comparable=True)
                    results.setdefault(label, {})[column] = round(float(ndcg), 4)
                lex_run, den_run = to_run(lex), to_run(den)
                for label, kwargs in (
                    ("ranx rrf k=60", {"method": "rrf", "params": {"k": 60}}),
                    ("ranx zmuv+wsum 0.5", {"norm": "zmuv", "method": "wsum",
                                            "params": {"weights": [0.5, 0.5]}}),
                ):
                    fused = fuse(runs=[lex_run, den_run], **kwargs)
                    ndcg = evaluate(qrels, fused, "ndcg@10", make_comparable=True)
                    results.setdefault(label, {})[column] = round(float(ndcg), 4)
    columns = ["scifact train", "scifact test", "cranfield test"]
    print_table("nDCG@10 by fusion configuration", ["configuration", *columns],
                [[label, *(r.get(c) for c in columns)] for label, r in results.items()])
    default = results["zscore a=0.5"]
    write_result(
        "fusion", peer="ranx fusion on the same candidate lists",
        parameters={"depth": DEPTH, "encoder": "minilm", "chosen_on": "scifact train"},
        results={"ndcg@10": results},
        summary=[summary_row(f"nDCG@10 {c} (default hybrid vs ranx RRF k=60)", default[c],
                             results["ranx rrf k=60"][c], higher_is_better=True) for c in columns],
        notes=["sleuth default = zscore a=0.5 (non-adaptive); peer row = ranx RRF k=60"],
        started=started,
    )


# -- trust: the default hybrid against its parts ------------------------------------------------

RUNS = {  # label -> search_batch arguments beyond the queries and their vectors
    "lexical": {"mode": "lexical"},
    "dense": {"mode": "dense"},
    "rrf k=60": {"fusion": FusionConfig(method="rrf", rrf_k=60)},
    "hybrid fixed 0.5": {"fusion": FusionConfig(trust=False)},
    "trust per query": {"fusion": FusionConfig()},  # before fit_fusion: the per-query part
}
TIMED = 100  # single-query searches per fusion for the stage time
SCRATCH = Path(os.environ.get("SLEUTH_SCRATCH", CACHE_DIR / "fusion"))  # gitignored


def _scored(col: sleuth.Collection, qrels: dict[str, dict[str, int]], qids: list[str],
            texts: list[str], vectors: np.ndarray, **kwargs: Any) -> float:
    served = col.search_batch(texts, 10, vectors=vectors, **kwargs)
    run = Run({q: {h.id: float(h.score) for h in hits} or {"-": 0.0}
               for q, hits in zip(qids, served)})
    return round(float(evaluate(Qrels(qrels), run, "ndcg@10", make_comparable=True)), 4)


def _fuse_ms(col: sleuth.Collection, texts: list[str], vectors: np.ndarray) -> dict[str, float]:
    """Median fusion-stage time of single-query searches, trust off and on, interleaved."""
    runs: dict[str, list[float]] = {"fixed": [], "trust": []}
    for i, text in enumerate(texts[:TIMED]):
        for label, config in (("fixed", FusionConfig(trust=False)), ("trust", FusionConfig()))[
            :: 1 if i % 2 else -1
        ]:
            hits = col.search(text, 10, vector=vectors[i], fusion=config)
            runs[label].append(hits.trace.timings_ms["fuse_ms"])
    return {label: round(statistics.median(v), 4) for label, v in runs.items()}


def trust() -> None:
    started = time.perf_counter()
    sets = {name: require_data("beir", name) for name in ("scifact", "cranfield")}
    sets.update({name: write_stress(name) for name in STRESS})
    results: dict[str, dict[str, Any]] = {}
    for name, path in sets.items():
        built = (CACHE_DIR / "scifact-minilm" if name == "scifact"  # the cached MiniLM vectors
                 else evaluate_beir(path, ["lexical"], cache_dir=CACHE_DIR / "eval")["collection"])
        copy = SCRATCH / name
        shutil.rmtree(copy, ignore_errors=True)
        shutil.copytree(built, copy, ignore=shutil.ignore_patterns("write.lock", "models"))
        with sleuth.open(copy) as col:
            splits = {}
            for split in ("train", "test"):
                if (path / "qrels" / f"{split}.tsv").exists():
                    data = read_beir(path, split=split)
                    qids = list(data.queries)
                    texts = [data.queries[q] for q in qids]
                    splits[split] = (data.qrels, qids, texts, col.encoder.encode_queries(texts))
            row: dict[str, Any] = {}
            for split, (qrels, qids, texts, vectors) in splits.items():
                for label, kwargs in RUNS.items():
                    row.setdefault(label, {})[split] = _scored(col, qrels, qids, texts, vectors,
                                                               **kwargs)
            start = time.perf_counter()
            manifest = col.fit_fusion()
            row["fit_fusion"] = {"seconds": round(time.perf_counter() - start, 2),
                                 "alpha": manifest["alpha"], **manifest["stats"]}
            for split, (qrels, qids, texts, vectors) in splits.items():
                row.setdefault("trust (default)", {})[split] = _scored(
                    col, qrels, qids, texts, vectors, fusion=FusionConfig())
            _, _, texts, vectors = splits["test"]
            row["fuse_ms"] = _fuse_ms(col, texts, vectors)
        shutil.rmtree(copy)
        results[name] = row
        print(name, row, flush=True)
    labels = ["lexical", "dense", "rrf k=60", "hybrid fixed 0.5", "trust per query",
              "trust (default)"]
    rows = []
    for name, row in results.items():
        for split in ("train", "test"):
            if split in row["lexical"]:
                best = max(row["lexical"][split], row["dense"][split])
                rows.append([f"{name} {split}", *(row[label][split] for label in labels),
                             round(row["trust (default)"][split] - best, 4)])
    print_table("nDCG@10: the default hybrid with trust against its parts",
                ["collection", *labels, "trust - best part"], rows)
    print_table("fusion stage per request (ms, median) and fit_fusion",
                ["collection", "fixed", "trust", "alpha learned", "fit s"],
                [[n, r["fuse_ms"]["fixed"], r["fuse_ms"]["trust"], r["fit_fusion"]["alpha"],
                  r["fit_fusion"]["seconds"]] for n, r in results.items()])
    write_result(
        "fusion_trust",
        peer="the fixed 0.5/0.5 hybrid (and RRF, each retriever) on the same collection",
        parameters={"depth": DEPTH, "encoder": "minilm", "timed_queries": TIMED},
        results=results,
        summary=[summary_row(f"nDCG@10 {n} test (trust vs fixed hybrid)",
                             r["trust (default)"]["test"], r["hybrid fixed 0.5"]["test"],
                             higher_is_better=True) for n, r in results.items()],
        notes=["settings (MATCH_NONE, MATCH_FULL, MARGIN) chosen on the train splits of the "
               "stress sets and SciFact's train queries; test columns never tuned on"],
        started=started,
    )


if __name__ == "__main__":
    if "--sweep" in sys.argv[1:]:
        sweep()
    else:
        trust()
