"""``sleuth eval beir``: build (or reuse) a collection from a BEIR folder, run its test queries
in each mode, and report nDCG@10, Recall@100, MRR@10 (ranx), latency and indexing throughput.

The collection is cached under ``cache_dir`` keyed by the corpus content, text fields and
encoder, so a second run only searches.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from sleuth.config import CollectionConfig
from sleuth.engine import Collection
from sleuth.errors import InvalidInput
from sleuth.indexes.segments import saved_files
from sleuth.io.readers import read_beir
from sleuth.opening import open_collection
from sleuth.search import LATE_MODES, MODES, TRAINED_MODES

__all__ = ["default_cache_dir", "evaluate_beir", "parse_modes", "run_queries"]

METRICS = ("ndcg@10", "recall@100", "mrr@10")
# The index files each mode reads (their size per item is the mode's memory cost).
READS = {
    "lexical": ("bm25",),
    "dense": ("dense",),
    "hybrid": ("bm25", "dense"),
    "hybrid+maxsim": ("bm25", "dense", "tokens"),
    "muvera": ("muvera", "tokens"),
    "maxsim-exact": ("tokens",),
    "ranked": ("bm25", "dense"),  # and the model in ranker/
}


def default_cache_dir() -> Path:
    return Path(os.environ.get("SLEUTH_CACHE", Path.home() / ".cache" / "sleuth")) / "eval"


def parse_modes(spec: str, known: Sequence[str] = MODES, *, trained: bool = False) -> list[str]:
    """``"lexical,dense"`` or ``"all"`` -> mode names; unknown names list the known ones.
    ``"all"`` holds the modes that need a trained ranker only when one is ``trained``."""
    if spec.strip() == "all":
        return [m for m in known if trained or m not in TRAINED_MODES]
    modes = [m.strip() for m in spec.split(",") if m.strip()]
    unknown = [m for m in modes if m not in known]
    if unknown or not modes:
        raise InvalidInput(
            f"unknown mode(s) {', '.join(unknown) or '(none given)'}; allowed: "
            f"{', '.join(known)} or all"
        )
    return modes


def _fingerprint(path: Path, encoder: str, config: CollectionConfig) -> str:
    digest = hashlib.sha256()
    with open(path / "corpus.jsonl", "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    digest.update(encoder.encode())
    settings = config.to_dict()
    if not config.late.enabled:  # caches built before late interaction existed stay valid
        settings.pop("late")
    for key, default in (("storage", "float32"), ("rescore", None)):  # and before these
        if settings["dense"][key] == default:
            del settings["dense"][key]
    if settings["fusion"]["trust"]:  # a search-time setting: the built collection is the same
        del settings["fusion"]["trust"]
    digest.update(json.dumps(settings, sort_keys=True).encode())
    return digest.hexdigest()[:12]


def run_queries(
    col: Collection,
    queries: dict[str, str],
    mode: str,
    k: int = 100,
) -> tuple[dict[str, dict[str, float]], list[float]]:
    """A ranx-style run ``{qid: {doc id: score}}`` and per-query latencies in ms (one caller)."""
    run: dict[str, dict[str, float]] = {}
    latencies = []
    for qid, text in queries.items():
        start = time.perf_counter()
        hits = col.search(text, k=k, mode=mode)
        latencies.append((time.perf_counter() - start) * 1000)
        run[qid] = {h.id: float(h.score) for h in hits}
    return run, latencies


def evaluate_beir(
    path: str | Path,
    modes: Sequence[str] = MODES,
    *,
    encoder: str = "minilm",
    config: CollectionConfig | None = None,
    cache_dir: Path | None = None,
    progress: bool | None = None,
    ranker_qrels: str | None = None,
) -> dict[str, Any]:
    """Evaluate every mode on the BEIR folder ``path``; returns the JSON report (see CLI docs).
    Mode ``ranked`` first trains the collection's ranker on ``qrels/<ranker_qrels>.tsv``
    (a split other than the test split it is scored on)."""
    from ranx import Qrels, Run, evaluate

    folder = Path(path)
    data = read_beir(folder)
    if any(m in TRAINED_MODES for m in modes) and ranker_qrels in (None, "test"):
        raise InvalidInput(
            "mode ranked trains its ranker on judgments other than the test split it is "
            "scored on: give --ranker-qrels SPLIT (e.g. train, for qrels/train.tsv)"
        )
    config = config or CollectionConfig(encoder=encoder)
    if any(m in LATE_MODES for m in modes) and not config.late.enabled:
        config = replace(config, late=replace(config.late, enabled=True))
    cache = (cache_dir or default_cache_dir()) / (
        f"{folder.resolve().name}-{_fingerprint(folder, encoder, config)}"
    )
    stats_file = cache / "eval-build.json"
    if not stats_file.exists() and cache.exists():  # an interrupted build: start over cleanly
        import shutil

        shutil.rmtree(cache)
    with open_collection(cache, encoder=encoder, config=config) as col:
        if stats_file.exists() and col.count() == len(data.corpus):
            build = json.loads(stats_file.read_text())
        else:
            start = time.perf_counter()
            col.upsert(data.corpus, progress=progress)
            col.save()
            seconds = time.perf_counter() - start
            build = {
                "items": len(data.corpus),
                "seconds": seconds,
                "items_per_s": len(data.corpus) / seconds,
            }
            stats_file.write_text(json.dumps(build))
        qrels = Qrels(data.qrels)
        runs: dict[str, Any] = {}
        ranker = None
        if any(m in TRAINED_MODES for m in modes):
            start = time.perf_counter()
            manifest = col.train_ranker(
                folder / "qrels" / f"{ranker_qrels}.tsv", folder / "queries.jsonl"
            )
            ranker = {
                "qrels": f"{ranker_qrels}.tsv",
                "seconds": round(time.perf_counter() - start, 2),
                "queries": manifest["trained_from"]["queries"],
            }
        for mode in modes:
            col.search(next(iter(data.queries.values())), k=10, mode=mode)  # warm up (JIT, model)
            run, latencies = run_queries(col, data.queries, mode)
            scores = evaluate(qrels, Run(run), list(METRICS), make_comparable=True)
            runs[mode] = {m: round(float(scores[m]), 4) for m in METRICS}
            runs[mode]["p50_ms"] = round(float(np.percentile(latencies, 50)), 2)
            runs[mode]["p95_ms"] = round(float(np.percentile(latencies, 95)), 2)
            files = [f for name in READS[mode] for f in saved_files(col.path / "index", name)]
            runs[mode]["bytes_per_item"] = round(sum(f.stat().st_size for f in files) / col.count())
    return {
        "dataset": folder.resolve().name,
        "docs": len(data.corpus),
        "queries": len(data.queries),
        "encoder": encoder,
        "collection": str(cache),
        "index": {
            "items_per_s": round(build["items_per_s"], 1),
            "seconds": round(build["seconds"], 2),
        },
        "runs": runs,
        **({"ranker": ranker} if ranker else {}),
    }
