"""How the default hybrid was chosen: fusion configurations on SciFact (train and test) and
Cranfield, from the same BM25 and MiniLM candidate lists (top 100 each), with ranx's fusion
(RRF, and z-score "zmuv" + weighted sum) run on the same lists as the reference.

Writes results/fusion.json. Builds (or reuses) the eval collections under benchmarks/.cache.
"""

from __future__ import annotations

import time
from typing import Any

from _common import CACHE_DIR, print_table, require_data, summary_row, write_result
from ranx import Qrels, Run, evaluate, fuse

import sleuth
from sleuth.evaluate.beir import evaluate_beir
from sleuth.fuse import NORMALIZERS, adaptive_alpha, normalize_among, rrf, weighted_sum
from sleuth.io.readers import read_beir
from sleuth.retrieve import QueryBatch

DEPTH = 100


def configs(col: sleuth.Collection) -> dict[str, Any]:
    n_docs = len(col.bm25)

    def score(norm: str, alpha: float, adaptive: bool = False) -> Any:
        def run(text: str, lex: Any, den: Any) -> Any:
            a = alpha
            if adaptive:
                a = adaptive_alpha(col.bm25.idf()[col.bm25.query_terms(text)], n_docs, alpha)
            f = NORMALIZERS[norm]
            lexical, no_match = normalize_among(f, lex[1], den[0].size)  # as Collection._hybrid
            return weighted_sum([(lex[0], lexical), (den[0], f(den[1]))], [1 - a, a],
                                missing=[no_match, None])
        return run

    out: dict[str, Any] = {
        "lexical": lambda t, lex, den: lex,
        "dense": lambda t, lex, den: den,
    }
    def reciprocal(k: int) -> Any:
        return lambda text, lex, den: rrf([lex, den], k=k)

    for k in (10, 30, 60, 100):
        out[f"rrf k={k}"] = reciprocal(k)
    for norm in ("minmax", "zscore"):
        for alpha in (0.3, 0.4, 0.5, 0.6, 0.7):
            out[f"{norm} a={alpha}"] = score(norm, alpha)
            out[f"{norm} a={alpha} adaptive"] = score(norm, alpha, adaptive=True)
    return out


def main() -> None:
    started = time.perf_counter()
    results: dict[str, dict[str, float]] = {}
    for name, splits in (("scifact", ("train", "test")), ("cranfield", ("test",))):
        path = require_data("beir", name)
        report = evaluate_beir(path, ["lexical"], cache_dir=CACHE_DIR / "eval")
        with sleuth.open(report["collection"]) as col:
            ids = {s.docno: s.item.id for batch in col.store.iter_items() for s in batch}
            for split in splits:
                data = read_beir(path, split=split)
                qids = list(data.queries)
                texts = [data.queries[q] for q in qids]
                batch = QueryBatch(texts, col.encoder.encode_queries)
                lex = col.retrievers["lexical"].retrieve(batch, DEPTH, None)
                den = col.retrievers["dense"].retrieve(batch, DEPTH, None)
                qrels = Qrels(data.qrels)
                column = f"{name} {split}"

                def to_run(rows: list[Any], ids: dict[int, str] = ids,
                           qids: list[str] = qids) -> Run:
                    return Run({q: {ids[int(d)]: float(s) for d, s in zip(*rows[i])}
                                for i, q in enumerate(qids)})

                for label, fn in configs(col).items():
                    rows = [fn(texts[i], lex.row(i), den.row(i)) for i in range(len(qids))]
                    ndcg = evaluate(qrels, to_run(rows), "ndcg@10", make_comparable=True)
                    results.setdefault(label, {})[column] = round(float(ndcg), 4)
                lex_run = to_run([lex.row(i) for i in range(len(qids))])
                den_run = to_run([den.row(i) for i in range(len(qids))])
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
