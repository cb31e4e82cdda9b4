"""How the default hybrid was chosen: fusion configurations on SciFact (train and test) and
Cranfield, from the same BM25 and MiniLM candidate lists (top 100 each), with ranx's fusion
(RRF, and z-score "zmuv" + weighted sum) run on the same lists as the reference.

Everything goes through the engine's public API: the candidate lists are ``search_batch`` in
the lexical and dense modes, fused by the engine's one fusion (``sleuth.fuse.fuse_hybrid``);
the adaptive configurations, which need the query terms' IDF, are the hybrid mode itself with
that ``fusion=`` for the request: what a user asking for them is served.

Writes results/fusion.json. Builds (or reuses) the eval collections under benchmarks/.cache.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from _common import CACHE_DIR, print_table, require_data, summary_row, write_result
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


def main() -> None:
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


if __name__ == "__main__":
    main()
