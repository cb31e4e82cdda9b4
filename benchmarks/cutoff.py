"""The calibrated relevance cutoff and search diversity, measured.

On SciFact (MiniLM vectors of the cached collection), Cranfield (the MiniLM collection
``benchmarks/quality.py`` evaluates) and a LIMIT-small-like stress set built here (46 people,
"Who likes X?" with exactly two answers, Weller et al. 2025), mode hybrid:

- expected calibration error (ECE, 10 bins) of each served hit's probability, top 10 of the
  test queries: calibrated from judgments (SciFact: the 809 train queries; Cranfield and
  LIMIT: 5-fold cross-validation over their queries) and label-free (``calibrate()`` without
  judgments: the collection's own pseudo-queries);
- F1 of the served set against the judged set and the mean list length, for fixed k = 10,
  Weaviate's autocut (reimplemented: ``cutoff="autocut"``), ``min_relevance=0.5`` and
  ``cutoff="auto"`` (best expected F1);
- queries the collection cannot answer: gibberish words, random real words (MovieLens
  titles), and another dataset's queries; the share that gets no hit at p = 0.5 (target 90%);
- diversity: nDCG@10 and intra-list diversity (from the trace) at diversity 0 to 0.7.

The calibration method (platt or isotonic) is chosen by 3-fold cross-validation on SciFact's
*train* queries, never on a test split. Collections are copied to a scratch folder first, so
the shared caches are never written. Writes results/cutoff.json.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np
from _common import (
    CACHE_DIR,
    DATA_DIR,
    machine_info,
    open_cached,
    print_table,
    require_data,
    summary_row,
    write_result,
)
from ranx import Qrels, Run, evaluate

import sleuth
from sleuth.evaluate.beir import evaluate_beir
from sleuth.io.readers import read_beir
from sleuth.rank.calibrate import expected_calibration_error

MODE = "hybrid"
K = 10
P = 0.5
SCRATCH = Path(os.environ.get("SLEUTH_SCRATCH", CACHE_DIR / "cutoff"))  # gitignored
STRATEGIES = {
    "k=10": {},
    "autocut (Weaviate)": {"cutoff": "autocut"},
    f"min_relevance={P}": {"min_relevance": P},
    "cutoff=auto": {"cutoff": "auto"},
}


def copy_of(folder: Path, name: str) -> Path:
    target = SCRATCH / name
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(folder, target, ignore=shutil.ignore_patterns("write.lock", "models"))
    return target


def relevant_of(qrels: dict[str, dict[str, int]]) -> dict[str, set[str]]:
    return {q: {d for d, g in j.items() if g > 0} for q, j in qrels.items()}


def served(col: Any, texts: list[str], **options: Any) -> list[Any]:
    return col.search_batch(texts, k=K, mode=MODE, **options)


def cut_metrics(
    col: Any, queries: dict[str, str], qrels: dict[str, dict[str, int]]
) -> dict[str, Any]:
    """ECE of the top-10 probabilities and each strategy's F1 and list length."""
    qids = list(queries)
    texts = [queries[q] for q in qids]
    rel = relevant_of(qrels)
    top = served(col, texts)
    p = np.array([h.probability for hits in top for h in hits])
    y = np.array([h.id in rel[q] for q, hits in zip(qids, top) for h in hits])
    out: dict[str, Any] = {
        "ece": round(expected_calibration_error(p, y), 4),
        "mean_probability": round(float(p.mean()), 4),
        "relevant_rate": round(float(y.mean()), 4),
        "queries": len(qids),
    }
    for name, options in STRATEGIES.items():
        lists = served(col, texts, **options)
        f1 = [
            2 * len({h.id for h in hits} & rel[q]) / (len(hits) + len(rel[q]))
            for q, hits in zip(qids, lists)
        ]
        out[name] = {
            "f1": round(float(np.mean(f1)), 4),
            "mean_length": round(float(np.mean([len(h) for h in lists])), 2),
            "empty": round(float(np.mean([len(h) == 0 for h in lists])), 4),
        }
    return out


def pooled_cv(
    col: Any, queries: dict[str, str], qrels: dict[str, dict[str, int]], method: str, folds: int = 5
) -> dict[str, Any]:
    """Cross-validated judgments calibration: each fold scored by the calibration fitted on the
    others; ECE over the pooled hits, F1 and lengths averaged over folds (weighted by size)."""
    qids = sorted(queries)
    rng = np.random.default_rng(0)
    rng.shuffle(qids)
    parts = [qids[i::folds] for i in range(folds)]
    probs: list[float] = []
    labels: list[bool] = []
    per: dict[str, list[tuple[int, dict[str, float]]]] = {s: [] for s in STRATEGIES}
    rel = relevant_of(qrels)
    for i, test in enumerate(parts):
        train = [q for j, part in enumerate(parts) if j != i for q in part]
        col.calibrate(
            {q: qrels[q] for q in train},
            {q: queries[q] for q in train},
            modes=[MODE],
            method=method,
        )
        hits = served(col, [queries[q] for q in test])
        probs += [h.probability for hs in hits for h in hs]
        labels += [h.id in rel[q] for q, hs in zip(test, hits) for h in hs]
        m = cut_metrics(col, {q: queries[q] for q in test}, {q: qrels[q] for q in test})
        for s in STRATEGIES:
            per[s].append((len(test), m[s]))
    out: dict[str, Any] = {
        "ece": round(expected_calibration_error(np.array(probs), np.array(labels)), 4),
        "folds": folds,
        "queries": len(qids),
    }
    for s, rows in per.items():
        n = sum(w for w, _ in rows)
        out[s] = {key: round(sum(w * r[key] for w, r in rows) / n, 4) for key in rows[0][1]}
    return out


def unanswerable(col: Any, sets: dict[str, list[str]]) -> dict[str, Any]:
    """Per set of queries the collection cannot answer: the share with no hit at p = 0.5 and
    with cutoff=auto, and the mean top-1 probability."""
    out = {}
    for name, texts in sets.items():
        at_p = served(col, texts, min_relevance=P)
        auto = served(col, texts, cutoff="auto")
        top = served(col, texts)
        out[name] = {
            "queries": len(texts),
            "no_hit_at_p": round(float(np.mean([len(h) == 0 for h in at_p])), 4),
            "no_hit_auto": round(float(np.mean([len(h) == 0 for h in auto])), 4),
            "top1_probability": round(float(np.mean([h[0].probability for h in top if h])), 4),
        }
    return out


def label_free(
    col: Any,
    queries: dict[str, str],
    qrels: dict[str, dict[str, int]],
    ooc_sets: dict[str, list[str]],
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Calibrate ``col`` without judgments; its cut metrics and unanswerable-query figures
    (then close it)."""
    t = time.perf_counter()
    col.calibrate(modes=[MODE])
    seconds = time.perf_counter() - t
    metrics = {**cut_metrics(col, queries, qrels), "calibrate_s": round(seconds, 1)}
    out = metrics, unanswerable(col, ooc_sets)
    col.close()
    return out


def gibberish(n: int, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    syllables = ["ka", "zu", "mir", "tov", "ple", "quon", "dra", "vek", "sil", "obu", "rha", "nix"]
    return [
        " ".join(
            "".join(rng.choice(syllables, rng.integers(2, 4))) for _ in range(rng.integers(3, 8))
        )
        for _ in range(n)
    ]


def movie_words() -> list[str]:
    path = DATA_DIR / "movielens" / "ml-100k" / "u.item"
    words: set[str] = set()
    for line in path.read_text(encoding="latin-1").splitlines():
        title = line.split("|")[1].rsplit("(", 1)[0]
        words.update(
            w.lower() for w in title.replace(",", " ").split() if w.isalpha() and len(w) > 3
        )
    return sorted(words)


def random_words(words: list[str], n: int, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    return [" ".join(rng.choice(words, rng.integers(3, 9))) for _ in range(n)]


def limit_small(
    words: list[str],
) -> tuple[list[dict[str, Any]], dict[str, str], dict[str, dict[str, int]], list[str]]:
    """46 people, one attribute per pair of them (1,035 pairs; 1,000 queries), as LIMIT-small:
    "Who likes X?" has exactly two answers. Returns corpus, queries, qrels and the unused words."""
    rng = np.random.default_rng(1)
    names = [f"Person{i:02d}" for i in range(46)]
    pairs = [(a, b) for a in range(46) for b in range(a + 1, 46)]
    order = rng.permutation(len(pairs))[:1000]
    pool = list(rng.permutation(words))
    attrs = pool[:1000]
    likes: dict[int, list[str]] = {i: [] for i in range(46)}
    queries, qrels = {}, {}
    for qi, (pair, attr) in enumerate(zip([pairs[i] for i in order], attrs)):
        for person in pair:
            likes[person].append(attr)
        queries[f"q{qi}"] = f"Who likes {attr}?"
        qrels[f"q{qi}"] = {names[pair[0]]: 1, names[pair[1]]: 1}
    corpus = [
        {"id": names[i], "text": f"{names[i]} likes " + ", ".join(rng.permutation(likes[i])) + "."}
        for i in range(46)
    ]
    return corpus, queries, qrels, pool[1000:]


def diversity_sweep(
    col: Any, queries: dict[str, str], qrels: dict[str, dict[str, int]]
) -> dict[str, Any]:
    qids = list(queries)
    texts = [queries[q] for q in qids]
    out = {}
    for d in (0.0, 0.3, 0.5, 0.7):
        hits = col.search_batch(texts, k=K, mode=MODE, diversity=d)
        run = Run({q: {h.id: float(K - r) for r, h in enumerate(hs)} for q, hs in zip(qids, hits)})
        ndcg = float(evaluate(Qrels(qrels), run, "ndcg@10", make_comparable=True))
        ild = [ild_of(col.vectors([h.id for h in hs])) for hs in hits if len(hs) > 1]
        if d:  # what the trace reports is what the benchmark computes
            traced = [x for x in hits[0].trace.final["intra_list_diversity"] if x is not None]
            assert np.allclose(traced, ild, atol=1e-4)
        out[str(d)] = {
            "ndcg@10": round(ndcg, 4),
            "intra_list_diversity": round(float(np.mean(ild)), 4),
            "final_ms": round(hits[0].trace.timings_ms["final_ms"] / len(texts), 3),
        }
    return out


def ild_of(v: np.ndarray) -> float:
    sim = v @ v.T
    return float(1 - (sim.sum() - np.trace(sim)) / (len(v) * (len(v) - 1)))


def choose_method(col: Any, train: Any) -> tuple[str, dict[str, float]]:
    """platt or isotonic, by 3-fold cross-validated ECE on the train queries."""
    cv = {
        m: pooled_cv(col, train.queries, train.qrels, m, folds=3)["ece"]
        for m in ("platt", "isotonic")
    }
    return min(cv, key=cv.__getitem__), cv


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--method",
        choices=("platt", "isotonic"),
        help="skip the choice by cross-validation on the train queries",
    )
    args = parser.parse_args()
    started = time.perf_counter()
    machine = machine_info()  # the load at the start
    SCRATCH.mkdir(parents=True, exist_ok=True)
    sf_dir, cr_dir = require_data("beir", "scifact"), require_data("beir", "cranfield")
    sf_train, sf_test, cr = read_beir(sf_dir, split="train"), read_beir(sf_dir), read_beir(cr_dir)
    words = movie_words()
    results: dict[str, Any] = {}
    rows, ooc_rows, summary = [], [], []

    # -- SciFact --------------------------------------------------------------------------------
    open_cached(None, sf_test.corpus).close()
    sf = sleuth.open(copy_of(CACHE_DIR / "scifact-minilm", "scifact"))
    method, cv = (args.method, {}) if args.method else choose_method(sf, sf_train)
    print(f"calibration method by 3-fold CV on SciFact train: {method} {cv}")
    t = time.perf_counter()
    sf.calibrate(sf_train.qrels, sf_train.queries, modes=[MODE], method=method)
    fit_s = time.perf_counter() - t
    sf_judged = cut_metrics(sf, sf_test.queries, sf_test.qrels)
    ooc_sets = {
        "gibberish": gibberish(200, 0),
        "random words": random_words(words, 200, 0),
        "Cranfield queries": list(cr.queries.values()),
    }
    sf_ooc = unanswerable(sf, ooc_sets)
    div = diversity_sweep(sf, sf_test.queries, sf_test.qrels)
    sf_self, sf_self_ooc = label_free(sf, sf_test.queries, sf_test.qrels, ooc_sets)
    results["scifact"] = {
        "method": method,
        "method_cv_ece": cv,
        "judgments": sf_judged,
        "judgments_unanswerable": sf_ooc,
        "self": sf_self,
        "self_unanswerable": sf_self_ooc,
        "calibrate_s": round(fit_s, 1),
        "diversity": div,
    }

    # -- Cranfield ------------------------------------------------------------------------------
    built = evaluate_beir(cr_dir, [], cache_dir=CACHE_DIR / "eval")
    cr_col = sleuth.open(copy_of(Path(built["collection"]), "cranfield"))
    cr_judged = pooled_cv(cr_col, cr.queries, cr.qrels, method)
    cr_ooc_sets = {
        "gibberish": gibberish(200, 1),
        "random words": random_words(words, 200, 1),
        "SciFact queries": list(sf_test.queries.values()),
    }
    cr_ooc = unanswerable(cr_col, cr_ooc_sets)  # the last fold's calibration
    cr_self, cr_self_ooc = label_free(cr_col, cr.queries, cr.qrels, cr_ooc_sets)
    results["cranfield"] = {
        "judgments_cv": cr_judged,
        "judgments_unanswerable": cr_ooc,
        "self": cr_self,
        "self_unanswerable": cr_self_ooc,
    }

    # -- LIMIT-small-like -----------------------------------------------------------------------
    corpus, lq, lqrels, unused = limit_small(words)
    path = SCRATCH / "limit-small"
    if path.exists():
        shutil.rmtree(path)
    lim = sleuth.open(path, encoder="minilm")
    lim.add(corpus, progress=False)
    lim_judged = pooled_cv(lim, lq, lqrels, method)
    lim_ooc_sets = {
        "gibberish": gibberish(200, 2),
        "who likes (unused word)": [f"Who likes {w}?" for w in unused[:200]],
        "Cranfield queries": list(cr.queries.values()),
    }
    lim_ooc = unanswerable(lim, lim_ooc_sets)
    lim_self, lim_self_ooc = label_free(lim, lq, lqrels, lim_ooc_sets)
    shutil.rmtree(path)
    results["limit-small"] = {
        "docs": len(corpus),
        "queries": len(lq),
        "judgments_cv": lim_judged,
        "judgments_unanswerable": lim_ooc,
        "self": lim_self,
        "self_unanswerable": lim_self_ooc,
    }

    for data, judged, label in (
        ("scifact", sf_judged, "train→test"),
        ("cranfield", cr_judged, "5-fold CV"),
        ("limit-small", lim_judged, "5-fold CV"),
    ):
        selfcal = results[data]["self"]
        for source, m in ((f"judgments ({label})", judged), ("label-free (self)", selfcal)):
            rows.append(
                [
                    data,
                    source,
                    m["ece"],
                    *(x for s in STRATEGIES for x in (m[s]["f1"], m[s]["mean_length"])),
                ]
            )
        best_peer = max(judged["k=10"]["f1"], judged["autocut (Weaviate)"]["f1"])
        summary.append(
            summary_row(
                f"{data} F1 at the cut, cutoff=auto (judgments) vs the better of k=10 and autocut",
                judged["cutoff=auto"]["f1"],
                best_peer,
                higher_is_better=True,
                target=1.0,
            )
        )
        summary.append(
            summary_row(
                f"{data} ECE of the probabilities (judgments)",
                judged["ece"],
                None,
                higher_is_better=False,
            )
        )
        summary.append(
            summary_row(
                f"{data} ECE of the probabilities (label-free)",
                selfcal["ece"],
                None,
                higher_is_better=False,
            )
        )
        for source in ("judgments_unanswerable", "self_unanswerable"):
            for name, m in results[data][source].items():
                ooc_rows.append(
                    [
                        data,
                        source.split("_")[0],
                        name,
                        m["no_hit_at_p"],
                        m["no_hit_auto"],
                        m["top1_probability"],
                    ]
                )
                summary.append(
                    summary_row(
                        f"{data} {name}: no hit at p=0.5 ({source.split('_')[0]})",
                        m["no_hit_at_p"],
                        None,
                        higher_is_better=True,
                        target=0.9,
                        target_on="value",
                    )
                )
    print_table(
        f"calibrated cutoff, mode {MODE} (F1 / mean length; test queries)",
        ["data", "calibration", "ECE", *(f"{s} {x}" for s in STRATEGIES for x in ("F1", "len"))],
        rows,
    )
    print_table(
        "queries the collection cannot answer",
        ["data", "calibration", "queries", f"no hit p={P}", "no hit auto", "top-1 p"],
        ooc_rows,
    )
    print_table(
        "diversity on SciFact test (hybrid)",
        ["diversity", "nDCG@10", "ILD", "final ms/query"],
        [[d, r["ndcg@10"], r["intra_list_diversity"], r["final_ms"]] for d, r in div.items()],
    )
    for d, r in div.items():
        summary.append(
            summary_row(
                f"scifact nDCG@10 at diversity {d} vs 0",
                r["ndcg@10"],
                div["0.0"]["ndcg@10"],
                higher_is_better=True,
            )
        )
    write_result(
        "cutoff",
        peer="fixed k=10 and Weaviate's autocut (score-curve jump), same lists",
        parameters={"mode": MODE, "k": K, "p": P, "encoder": "minilm", "method": method},
        results=results,
        summary=summary,
        started=started,
        machine=machine,
        notes=[
            "Cranfield judgments OOC figures use the last CV fold's calibration.",
            f"median load during run: {statistics.median(os.getloadavg()):.2f}",
        ],
    )


if __name__ == "__main__":
    main()
