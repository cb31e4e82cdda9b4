"""Label-free domain tuning (``Collection.tune``) on SciFact and Cranfield, judgments used only
to score, never to train or to choose settings (those are fixed, or picked by the label-free
validation signal: the epoch kept is the one with the best signal).

Parts (``python benchmarks/tune.py PART [DATASET...]``; each writes
results/tune-<part>-<datasets>.json):

- ``main``: tune with every pair source; nDCG@10 of dense and hybrid before and after, through
  ``search`` on a collection built with the tuned model (``encoder=PATH``), tuning time, and
  the validation signal against the held-out judgments at every epoch's checkpoint.
- ``compatible``: tune with ``compatible=True``; old queries on old documents, new queries on
  the old documents (the stored vectors, queried with ``search(vector=...)``), new on new.
- ``ablation``: one source at a time (disagreement, titles, crops).

The peer is the base model (all-MiniLM-L6-v2) in the same run. The collection tuned is a copy
of the base MiniLM collection (SciFact: the shared benchmarks/.cache/scifact-minilm; others
built once under benchmarks/.cache/tune/), so tuning writes its model into the copy; the
collections of tuned models are built under benchmarks/.cache/tune/eval and deleted after.
``--minutes M`` sets the budget (default 40); ``--resume`` goes on from an interrupted run's
checkpoints (its mined pairs and last epoch) instead of starting afresh.
"""

from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path
from typing import Any

from _common import CACHE_DIR, open_cached, print_table, require_data, summary_row, write_result
from ranx import Qrels, Run, evaluate

import sleuth
from sleuth.encoders import get_encoder
from sleuth.io.readers import read_beir

MODES = ["dense", "hybrid"]
WORK = CACHE_DIR / "tune"
TARGETS = {
    "scifact": {"dense": 0.68, "hybrid": 0.745},
    "cranfield": {"dense": 0.382, "hybrid": 0.416},
}
RESUME = "--resume" in sys.argv
BUILDS = "--builds" in sys.argv  # also re-encode the corpus for every epoch / ablation model
SETTINGS: dict[str, Any] = {"minutes": 40.0, "seed": 0}


def ndcg(col: sleuth.Collection, data: Any, mode: str, vectors: Any = None) -> float:
    """nDCG@10 of the test queries through ``search_batch`` (one batch: the queries are
    encoded together, which on this shared machine is minutes faster than one by one)."""
    qids = list(data.queries)
    texts = None if vectors is not None and mode == "dense" else [data.queries[q] for q in qids]
    hits = col.search_batch(texts, 100, vectors=vectors, mode=mode)
    run = {q: {h.id: float(h.score) for h in found} for q, found in zip(qids, hits)}
    return round(float(evaluate(Qrels(data.qrels), Run(run), "ndcg@10", make_comparable=True)), 4)


def scores(path: Path, data: Any) -> dict[str, float]:
    with sleuth.open(path) as col:
        return {m: ndcg(col, data, m) for m in MODES}


def base_collection(dataset: str, data: Any) -> Path:
    """The shared MiniLM SciFact collection (benchmarks/.cache/scifact-minilm); another dataset
    is built once under benchmarks/.cache/tune/ (not in the eval cache other runs share)."""
    if dataset == "scifact":
        open_cached(None, data.corpus).close()
        return CACHE_DIR / "scifact-minilm"
    path = WORK / f"{dataset}-minilm"
    with sleuth.open(path, encoder="minilm") as col:
        if col.count() != len(data.corpus):
            col.upsert(data.corpus, progress=True)
    return path


def private_copy(source: Path, name: str) -> Path:
    """A copy of ``source`` to tune. With ``--resume``, an earlier copy is kept with its
    checkpoints (an interrupted run goes on from them: its mined pairs, its last epoch)."""
    dest = WORK / name
    if RESUME and dest.exists():
        for model in (dest / "models").glob("encoder-*"):
            shutil.rmtree(model)
        return dest
    if dest.exists():
        shutil.rmtree(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copytree(source, dest, ignore=shutil.ignore_patterns("write.lock", "models"))
    return dest


def tuned_eval(data: Any, model: str, name: str) -> dict[str, float]:
    """nDCG@10 through ``search`` on a collection of the dataset built with ``model``."""
    dest = WORK / "eval" / name
    if dest.exists():
        shutil.rmtree(dest)
    start = time.perf_counter()
    with sleuth.open(dest, encoder=model) as col:
        col.upsert(data.corpus, progress=True)
        found = {m: ndcg(col, data, m) for m in MODES}
    found["build_seconds"] = round(time.perf_counter() - start, 1)
    shutil.rmtree(dest)
    return found


def old_vectors_eval(base: dict[str, Any], model: str) -> dict[str, float]:
    """nDCG@10 of ``model``'s queries on the base collection's stored (old) vectors: dense, and
    hybrid (the same BM25 list fused with that dense list); no document is re-encoded."""
    data = base["data"]
    vectors = get_encoder(model).encode_queries(list(data.queries.values()))
    with sleuth.open(base["collection"]) as col:
        return {m: ndcg(col, data, m, vectors=vectors) for m in MODES}


def tune(copy: Path, **options: Any) -> tuple[dict[str, Any], float]:
    start = time.perf_counter()
    with sleuth.open(copy) as col:
        manifest = col.tune(**SETTINGS, progress=True, **options)
    return manifest, time.perf_counter() - start


def main_part(
    dataset: str, base: dict[str, Any], summary: list[Any], rows: list[Any]
) -> dict[str, Any]:
    copy = private_copy(base["collection"], f"{dataset}-main")
    manifest, seconds = tune(copy, keep_checkpoints=True)
    before, per_epoch = base["scores"], []
    best = manifest["best_epoch"]
    for entry in manifest["validation"]["per_epoch"]:
        epoch = entry["epoch"]
        found: dict[str, Any] = {"old_d": dict(before)}
        if epoch == 0:
            found.update(before)
        else:
            ckpt = next((copy / "models" / "checkpoints").glob("tune-*")) / f"epoch-{epoch}"
            found["old_d"] = old_vectors_eval(base, str(ckpt))
            if epoch == best or BUILDS:
                found.update(tuned_eval(base["data"], str(ckpt), f"{dataset}-epoch-{epoch}"))
        per_epoch.append({"epoch": epoch, "signal": entry["signal"], **found})
        rows.append(
            [
                dataset,
                f"epoch {epoch}",
                entry["signal"],
                found.get("dense", "-"),
                found.get("hybrid", "-"),
                found["old_d"]["dense"],
                found["old_d"]["hybrid"],
            ]
        )
        print(f"  epoch {epoch}: signal {entry['signal']}, {found}", flush=True)
    after = next(e for e in per_epoch if e["epoch"] == best)
    for mode in MODES:
        summary.append(
            summary_row(
                f"{dataset} {mode} nDCG@10, tuned vs base",
                after[mode],
                before[mode],
                higher_is_better=True,
                target=TARGETS[dataset][mode],
                target_on="value",
            )
        )
    summary.append(
        summary_row(
            f"{dataset} tuning minutes",
            seconds / 60,
            None,
            higher_is_better=False,
            target=30.0,
            target_on="value",
            unit="min",
        )
    )
    return {
        "before": before,
        "after": after,
        "best_epoch": manifest["best_epoch"],
        "tuning_seconds": round(seconds, 1),
        "per_epoch": per_epoch,
        "manifest": manifest,
    }


def compatible_part(
    dataset: str, base: dict[str, Any], summary: list[Any], rows: list[Any]
) -> dict[str, Any]:
    data = base["data"]
    copy = private_copy(base["collection"], f"{dataset}-compatible")
    manifest, seconds = tune(copy, compatible=True)
    new_new = tuned_eval(data, manifest["path"], f"{dataset}-compatible")["dense"]
    vectors = get_encoder(manifest["path"]).encode_queries(list(data.queries.values()))
    with sleuth.open(base["collection"]) as col:  # the stored (old) vectors, new queries
        new_old = ndcg(col, data, "dense", vectors=vectors)
    old_old = base["scores"]["dense"]
    rows += [
        [dataset, "old q / old d", old_old],
        [dataset, "new q / old d", new_old],
        [dataset, "new q / new d", new_new],
    ]
    gain = new_new - old_old
    share = (new_old - old_old) / gain if gain > 0 else None
    summary.append(
        summary_row(
            f"{dataset} compatible new-q/old-d vs old dense nDCG@10",
            new_old,
            old_old,
            higher_is_better=True,
            target=1.0,
        )
    )
    summary.append(
        summary_row(
            f"{dataset} compatible: share of the gain on old vectors",
            share,
            None,
            higher_is_better=True,
            target=0.5,
            target_on="value",
        )
    )
    return {
        "old_q_old_d": old_old,
        "new_q_old_d": new_old,
        "new_q_new_d": new_new,
        "share_of_gain": share,
        "tuning_seconds": round(seconds, 1),
        "manifest": manifest,
    }


def ablation_part(
    dataset: str, base: dict[str, Any], summary: list[Any], rows: list[Any]
) -> dict[str, Any]:
    out: dict[str, Any] = {"base": base["scores"]}
    b = base["scores"]
    rows.append([dataset, "base", b["dense"], b["hybrid"], b["dense"], b["hybrid"]])
    for source in ("disagreement", "titles", "crops"):
        copy = private_copy(base["collection"], f"{dataset}-{source}")
        manifest, seconds = tune(copy, sources=[source])
        found: dict[str, Any] = {"old_d": old_vectors_eval(base, manifest["path"])}
        if BUILDS:
            found.update(tuned_eval(base["data"], manifest["path"], f"{dataset}-{source}"))
        out[source] = {
            **found,
            "pairs": manifest["data"]["pairs"],
            "tuning_seconds": round(seconds, 1),
            "best_epoch": manifest["best_epoch"],
            "signal": manifest["validation"]["per_epoch"],
        }
        rows.append(
            [
                dataset,
                f"{source} only",
                found.get("dense", "-"),
                found.get("hybrid", "-"),
                found["old_d"]["dense"],
                found["old_d"]["hybrid"],
            ]
        )
        print(f"  {source}: {found}", flush=True)
    return out


PARTS = {"main": main_part, "compatible": compatible_part, "ablation": ablation_part}
COLUMNS = {
    "main": ["dataset", "checkpoint", "signal", "dense", "hybrid", "dense old-d", "hybrid old-d"],
    "compatible": ["dataset", "queries / documents", "dense nDCG@10"],
    "ablation": ["dataset", "pairs", "dense", "hybrid", "dense old-d", "hybrid old-d"],
}


def main() -> None:
    started = time.perf_counter()
    args = [a for a in sys.argv[1:] if a not in ("--resume", "--builds")]
    if "--minutes" in args:  # a smaller budget when the shared machine is busy
        at = args.index("--minutes")
        SETTINGS["minutes"] = float(args[at + 1])
        del args[at : at + 2]
    part = args[0] if args else "main"
    datasets = args[1:] or ["scifact", "cranfield"]
    if part not in PARTS:
        sys.exit(f"unknown part {part!r}; known: {', '.join(PARTS)}")
    summary: list[Any] = []
    rows: list[Any] = []
    results: dict[str, Any] = {}
    for dataset in datasets:
        path = require_data("beir", dataset)
        data = read_beir(path)
        collection = base_collection(dataset, data)
        base = {"collection": collection, "data": data, "scores": scores(collection, data)}
        print(f"{dataset} base: {base['scores']}", flush=True)
        results[dataset] = PARTS[part](dataset, base, summary, rows)
    print_table(f"tune: {part}", COLUMNS[part], rows)
    write_result(
        f"tune-{part}-{'-'.join(datasets)}",
        peer="the base model (all-MiniLM-L6-v2)",
        parameters={**SETTINGS, "modes": MODES},
        results=results,
        summary=summary,
        started=started,
        notes=[
            "judgments score only; the epoch kept is chosen by the label-free validation signal",
            "CPU shared with other jobs: see load_avg",
        ],
    )


if __name__ == "__main__":
    main()
