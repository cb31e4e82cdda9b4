"""Run every benchmark (each in its own process) and regenerate ``benchmarks/README.md`` from the
JSON files in ``benchmarks/results/``.

    python benchmarks/run_all.py                      # all of them (about 15-25 minutes)
    python benchmarks/run_all.py --only lexical dense
    python benchmarks/run_all.py --skip ingest
    python benchmarks/run_all.py --readme-only        # just rebuild the README from the JSON
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from _common import BENCH_DIR, RESULTS_DIR

# name -> (what it measures, peer)
BENCHMARKS: dict[str, tuple[str, str]] = {
    "lexical": ("BM25 queries/s (batch and one at a time) and index build, SciFact + Cranfield",
                "bm25s (numba)"),
    "dense": ("HNSW recall@10 and queries/s over an efSearch sweep, 100k x 384 synthetic",
              "faiss IndexHNSWFlat"),
    "ingest": ("items/s adding 1,000 SciFact documents with MiniLM", "sentence-transformers"),
    "latency": ("single-caller search latency, SciFact, hybrid / lexical / dense",
                "sentence-transformers query encode"),
    "recs": ("HR@10 / NDCG@10 on MovieLens-100K, leave-one-out, full ranking",
             "implicit (ALS, BPR, item-item cosine)"),
    "load": ("32 HTTP clients for 30 s, 90% hybrid search / 10% upserts of 10, SciFact",
             "the engine without HTTP, one caller"),
    "late": ("late interaction on SciFact + Cranfield: modes, FDE size sweep, pooling, int8",
             "maxsim-exact and float32 brute force"),
    "muvera_peer": ("MUVERA FDE recall@100 vs exact MaxSim and encode time, same token vectors",
                    "FastEmbed MUVERA"),
    "quantize": ("dense storage float32/float16/int8/binary +- rescoring: SciFact nDCG@10, 100k "
                 "synthetic recall@10, bytes, p50", "faiss, same quantizer"),
    "byo_vectors": ("col.add items/s with precomputed vectors at 10k and 100k items",
                    "faiss IndexHNSWFlat.add"),
    "open_cost": ("open, RSS, 100-item upsert and filtered search at two sizes 10x apart",
                  "the same at the other size"),
    # the peers first: scale.py compares with their latest results (``_scale_data.py`` makes the
    # catalog both read; ``--n 1000000`` for the size)
    "scale_peer": ("the scale benchmark's peers: ingest, open, dense/hybrid/full-text/filtered "
                   "search, upserts; 100k synthetic items x 384", "LanceDB, Chroma, faiss"),
    "scale": ("the same work for sleuth, sleuth/peer ratios, the issue's targets and the "
              "growth 1M/100k; results per size", "LanceDB, Chroma, faiss"),
    "migrate": ("MiniLM -> another encoder on SciFact while serving: nDCG@10 old / mapped "
                "(lstsq, Procrustes) / new, backfill items/s, search p50 during vs idle",
                "re-embed, then switch"),
    "ray_ingest": ("SciFact with MiniLM, fresh cache: plain add vs 1 and 2 Ray workers; Ray's "
                   "start-up and per-item overhead; items/s per worker", "plain sleuth add"),
    "sharded": ("S = 1, 2, 4 shards in one process: identical answers counted, p50/p95; SciFact "
                "and the 100k synthetic catalog (search), MovieLens-100K (recommend, similar)",
                "one collection of the same items (and events)"),
    "sharded_ray": ("shards behind Ray actors and Serve: p50/p95, HTTP throughput with R = 1, 2",
                    "one collection; shards in one process"),
    "tune": ("label-free tuning of MiniLM: dense/hybrid nDCG@10 before/after, signal, time; "
             "SciFact, Cranfield", "the base model in the same run"),
}


def discover() -> list[str]:
    """Every benchmark script here: the known ones first, then any other ``<name>.py``."""
    found = sorted(p.stem for p in BENCH_DIR.glob("*.py")
                   if not p.stem.startswith("_") and p.stem != "run_all")
    return [n for n in BENCHMARKS if n in found] + [n for n in found if n not in BENCHMARKS]


def result_files(name: str) -> list[Path]:
    """The results of benchmark ``name``: ``<name>.json`` and ``<name>_<label>.json`` (one per
    size or label), except those of a benchmark with a longer name (``scale_peer_*`` is not
    ``scale``'s)."""
    names = discover()
    out = []
    for path in sorted(RESULTS_DIR.glob(f"{name}*.json")):
        owners = [n for n in names if path.stem == n or path.stem.startswith(f"{n}_")]
        if owners and max(owners, key=len) == name:
            out.append(path)
    return out


def run(name: str) -> dict[str, Any]:
    script = BENCH_DIR / f"{name}.py"
    started = time.time()
    print(f"\n=== {name} ===", flush=True)
    t = time.perf_counter()
    proc = subprocess.run([sys.executable, str(script)], cwd=BENCH_DIR.parent, check=False)
    took = time.perf_counter() - t
    updated = any(p.stat().st_mtime > started for p in result_files(name))
    status = "ok" if proc.returncode == 0 and updated else (
        "skipped" if proc.returncode == 0 else f"failed (exit {proc.returncode})")
    print(f"=== {name}: {status} in {took:.0f} s ===", flush=True)
    return {"name": name, "status": status, "seconds": took}


def _num(value: Any, unit: str) -> str:
    if value is None:
        return "—"
    if unit in ("q/s", "items/s"):
        return f"{value:,.0f}" if value >= 100 else f"{value:,.1f}"
    if unit == "ms":
        return f"{value:.2f} ms"
    if unit == "s":
        return f"{value:.2f} s"
    return f"{value:.3g}"


def _target(row: dict[str, Any]) -> str:
    target = row.get("target")
    if target is None:
        return ""
    sign = "≥" if row["higher_is_better"] else "≤"
    what = f"ratio {sign} {target}" if row.get("target_on", "ratio") == "ratio" else (
        f"{sign} {_num(target, row['unit'])}")
    mark = {True: "✅", False: "❌", None: ""}[row.get("target_met")]
    return f"{what} {mark}".strip()


def render_readme(results: dict[str, dict[str, Any]]) -> str:
    lines = [
        "# Benchmarks",
        "",
        "Scripts, not tests. Each prints a table and writes `results/<name>.json` with the",
        "machine, library versions, parameters, every timed run, medians and the ratio",
        "sleuth/peer, the peer measured in the same process with runs interleaved.",
        "`python benchmarks/run_all.py` runs them all and regenerates this file",
        "(`--readme-only` rebuilds it from the JSON). The shared datasets are read from",
        "`../shared/data`; a script whose data is absent says so and exits.",
        "`benchmarks/.cache/` (encoded collections) is git-ignored; `results/` is committed.",
        "",
        "| script | measures | peer |",
        "| --- | --- | --- |",
    ]
    for name in discover():
        what, peer = BENCHMARKS.get(name, ("see the script's docstring", ""))
        if name in results and not peer:
            peer = results[name].get("peer", "")
        lines.append(f"| `{name}.py` | {what} | {peer} |")
    now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    lines += ["", "## Latest results", "", f"Table generated {now} from the JSON files.", ""]
    if not results:
        return "\n".join([*lines, "No results yet: run `python benchmarks/run_all.py`.", ""])
    first = next(iter(results.values()))
    m, v = first["machine"], first["versions"]
    lines += [
        f"Machine: {m.get('cpu')}, {m.get('cores')} cores, {m.get('ram_gb')} GB RAM, "
        f"{m.get('os')}, Python {m.get('python')}. The machine is shared and noisy: each "
        "result records the load average at its start and end.",
        "",
        "Versions: " + ", ".join(f"{k} {val}" for k, val in v.items() if val) + ".",
        "",
    ]
    for name, data in results.items():
        load = data["machine"].get("load_avg_at_start")
        lines += [
            f"### {name}",
            "",
            f"{data['date']} · peer: {data['peer']} · took {data.get('duration_s')} s · "
            f"load average {load} → {data.get('load_avg_at_end')} · "
            f"[`results/{name}.json`](results/{name}.json)",
            "",
            "| measure | sleuth | peer | sleuth/peer | target |",
            "| --- | ---: | ---: | ---: | --- |",
        ]
        for row in data["summary"]:
            r = row.get("ratio")
            lines.append(
                f"| {row['metric']} | {_num(row['sleuth'], row['unit'])} | "
                f"{_num(row['peer'], row['unit'])} | {'—' if r is None else f'{r:.2f}'} | "
                f"{_target(row)} |"
            )
        lines.append("")
    return "\n".join(lines)


def load_results() -> dict[str, dict[str, Any]]:
    """Every result file, by file name (``scale_100000``), in the benchmarks' order."""
    return {path.stem: json.loads(path.read_text())
            for name in discover() for path in result_files(name)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    names = discover()
    parser.add_argument("--only", nargs="+", choices=names, default=names)
    parser.add_argument("--skip", nargs="+", choices=names, default=[])
    parser.add_argument("--readme-only", action="store_true")
    args = parser.parse_args()
    todo = [n for n in args.only if n not in args.skip]
    statuses = [] if args.readme_only else [run(name) for name in todo]
    readme = BENCH_DIR / "README.md"
    readme.write_text(render_readme(load_results()))
    print(f"\nwrote {readme.relative_to(BENCH_DIR.parent)}")
    for s in statuses:
        print(f"  {s['name']:<8} {s['status']} ({s['seconds']:.0f} s)")
    if any(s["status"].startswith("failed") for s in statuses):
        sys.exit(1)


if __name__ == "__main__":
    main()
