"""The report of ``scale.py``: sleuth's figures beside the peers' (``scale_peer.py``), the
ratios, the issue's targets (stated for 1M items) and the growth between sizes; the README rows
and ``results/scale_<n>.json``."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import _scale_data as data
from _common import RESULTS_DIR, print_table, summary_row, write_result

NAME = "scale"
PEERS = ("lancedb", "chroma", "faiss", "faiss_ivf")
UPSERT_SIZE = 100
RECALL = 0.95
# The targets at 1M items; see ``targets``.
TARGET_OPEN_S, TARGET_UPSERT_MS, TARGET_UPSERT_GROWTH = 2.0, 50.0, 1.5
TARGET_INGEST, TARGET_DENSE_MS, TARGET_HYBRID_MS, TARGET_FILTER_MS, TARGET_RSS = (
    20_000, 3.0, 10.0, 15.0, 1.3)

# (label, unit, higher is better, sleuth's figure, the peer's figure)
FIGURES: list[tuple[str, str, bool, Callable[[dict], Any], Callable[[dict], Any]]] = [
    ("ingest items/s", "items/s", True, lambda s: s["ingest"]["items_per_s"],
     lambda p: p["ingest_items_per_s"]),
    ("RSS after ingest MB", "MB", False, lambda s: s["ingest"]["rss_mb"]["VmRSS"],
     lambda p: p["rss_after_ingest_mb"]["VmRSS"]),
    ("disk MB", "MB", False, lambda s: s["ingest"]["disk_bytes"] / 2**20,
     lambda p: p["disk_bytes"] / 2**20),
    ("open to first answer s", "s", False, lambda s: s["open"]["open_s"],
     lambda p: p["open"]["open_s"]),
    ("RSS after open + 1 query MB", "MB", False, lambda s: s["open"]["rss_mb"],
     lambda p: p["open"]["rss_mb"]),
    ("dense p50 ms", "ms", False, lambda s: s["query"]["dense"]["p50_ms"],
     lambda p: p["dense"]["p50_ms"]),
    ("dense p95 ms", "ms", False, lambda s: s["query"]["dense"]["p95_ms"],
     lambda p: p["dense"]["p95_ms"]),
    ("dense recall@10", "", True, lambda s: s["query"]["dense"]["recall@10"],
     lambda p: p["dense"]["recall@10"]),
    ("hybrid p50 ms", "ms", False, lambda s: s["query"]["hybrid"]["p50_ms"],
     lambda p: p["hybrid"]["p50_ms"]),
    ("lexical p50 ms (peer: full text)", "ms", False, lambda s: s["query"]["lexical"]["p50_ms"],
     lambda p: p["fts"]["p50_ms"]),
    *[row for kind in data.FILTER_KINDS for row in (
        (f"filter {kind} p50 ms", "ms", False,
         lambda s, k=kind: s["query"]["filtered"][k]["p50_ms"],
         lambda p, k=kind: p["filtered"][k]["p50_ms"]),
        (f"filter {kind} hits of 10", "", True,
         lambda s, k=kind: s["query"]["filtered"][k]["mean_hits"],
         lambda p, k=kind: p["filtered"][k]["mean_hits"]),
        (f"filter {kind} recall@10", "", True,
         lambda s, k=kind: s["query"]["filtered"][k]["recall@10"],
         lambda p, k=kind: p["filtered"][k]["recall@10"]))],
    (f"upsert of {UPSERT_SIZE} p50 ms", "ms", False, lambda s: s["upsert"]["upsert"]["p50_ms"],
     lambda p: p["upsert"]["p50_ms"]),
    ("first search after write ms", "ms", False,
     lambda s: s["upsert"]["first_search_after"]["p50_ms"],
     lambda p: p["first_search_after"]["p50_ms"]),
    ("first search sees the write", "", True, lambda s: s["upsert"]["first_search_sees_write"],
     lambda p: p["first_search_sees_write"]),
]


def _get(fn: Callable[[dict], Any], d: dict[str, Any]) -> Any:
    try:
        return fn(d)
    except (KeyError, TypeError):
        return None


def figures(phases: dict[str, Any], peers: dict[str, Any]) -> dict[str, Any]:
    """Each figure: sleuth's value, each peer's, and sleuth/peer."""
    out = {}
    for label, unit, higher, mine, theirs in FIGURES:
        value = _get(mine, phases)
        others = {p: v for p, r in peers.items() if (v := _get(theirs, r)) is not None}
        out[label] = {"unit": unit, "higher_is_better": higher, "sleuth": value, "peers": others,
                      "ratios": {p: value / v for p, v in others.items() if value is not None
                                 and v}}
    return out


def targets(phases: dict[str, Any], smaller: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The issue's targets (stated for 1M items), each with the figure and whether it is met."""
    q, u = phases.get("query", {}), phases.get("upsert", {})
    dense = q.get("dense", {})
    out = [
        ("open to first search <= 2 s", _get(lambda s: s["open"]["open_s"], phases),
         TARGET_OPEN_S, False),
        ("upsert of 100 p50 <= 50 ms", _get(lambda s: s["upsert"]["p50_ms"], u),
         TARGET_UPSERT_MS, False),
        ("first search after the upsert sees it", u.get("first_search_sees_write"), 1.0, True),
        ("first search after the upsert <= 2x dense p50",
         _get(lambda s: s["first_search_after"]["p50_ms"] / dense["p50_ms"], u), 2.0, False),
        ("bulk ingest >= 20,000 items/s", _get(lambda s: s["ingest"]["items_per_s"], phases),
         TARGET_INGEST, True),
        ("dense p50 <= 3 ms", dense.get("p50_ms"), TARGET_DENSE_MS, False),
        ("dense recall@10 >= 0.95", dense.get("recall@10"), RECALL, True),
        ("hybrid p50 <= 10 ms", _get(lambda s: s["hybrid"]["p50_ms"], q), TARGET_HYBRID_MS,
         False),
        *[(f"filter {kind} p50 <= 15 ms", _get(lambda s, k=kind: s["filtered"][k]["p50_ms"], q),
           TARGET_FILTER_MS, False) for kind in data.FILTER_KINDS],
        *[(f"filter {kind} returns k hits", _get(
            lambda s, k=kind: s["filtered"][k]["mean_hits"], q), float(data.K), True)
          for kind in data.FILTER_KINDS],
        ("RSS <= 1.3x (vector bytes + postings)",
         _get(lambda s: s["memory"]["rss_over_needed"], q), TARGET_RSS, False),
    ]
    if smaller is not None:
        out.append((f"upsert p50 within 1.5x of {smaller['n']:,} items", _get(
            lambda s: s["upsert"]["upsert"]["p50_ms"] / smaller["figures"][
                f"upsert of {UPSERT_SIZE} p50 ms"]["sleuth"], phases), TARGET_UPSERT_GROWTH,
            False))
    return [{"target": name, "value": value, "limit": limit, "floor": floor,
             "met": None if value is None else (value >= limit if floor else value <= limit)}
            for name, value, limit, floor in out]


def growth(mine: dict[str, Any], other: dict[str, Any]) -> dict[str, float]:
    """This size's figures over the other size's (e.g. 1M / 100k)."""
    return {label: f["sleuth"] / other[label]["sleuth"] for label, f in mine.items()
            if f["sleuth"] is not None and other.get(label, {}).get("sleuth")}


def summary(figs: dict[str, Any], goals: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The README rows: each figure against the best peer at it (every ratio is in the JSON),
    then the targets."""
    rows = []
    for label, f in figs.items():
        if "hits of" in label or "p95" in label:
            continue  # in the JSON; the rows keep to the targets' figures
        pick = max if f["higher_is_better"] else min
        best = pick(f["peers"], key=f["peers"].get) if f["peers"] else None
        rows.append(summary_row(f"{label}" + (f" (best peer: {best})" if best else ""),
                                f["sleuth"], f["peers"][best] if best else None,
                                higher_is_better=f["higher_is_better"],
                                unit=f["unit"] if f["unit"] in ("ms", "s", "items/s") else ""))
    for g in goals:
        rows.append(summary_row(f"target: {g['target']}", g["value"], None,
                                higher_is_better=g["floor"], target=g["limit"],
                                target_on="value"))
    return rows


def report(n: int, state: dict[str, Any], parameters: dict[str, Any], started: float,
           machine: dict[str, Any]) -> None:
    """Print the tables and write ``results/scale_<n>.json``."""
    phases = state["phases"]
    peer_file = RESULTS_DIR / f"scale_peer_{n}.json"
    peer_data = json.loads(peer_file.read_text()) if peer_file.exists() else None
    peers = {p: r for p, r in (peer_data or {"results": {"peers": {}}})["results"]["peers"].items()
             if "ingest_capped" not in r}  # a capped peer measured nothing else
    figs = figures(phases, peers)
    other_n = 100_000 if n != 100_000 else 1_000_000
    other_file = RESULTS_DIR / f"{NAME}_{other_n}.json"
    other = json.loads(other_file.read_text())["results"] if other_file.exists() else None
    smaller = other if other is not None and other_n < n else None
    goals = targets(phases, smaller and {"n": other_n, **smaller})
    sizes = None
    if other is not None:
        big, small = (figs, other["figures"]) if n > other_n else (other["figures"], figs)
        sizes = {"of": f"{max(n, other_n):,} / {min(n, other_n):,} items",
                 "ratios": growth(big, small)}
    print_table(f"scale: sleuth vs peers, {n:,} items x {data.DIM} (p50 of single calls)",
                ["measure", "sleuth", *PEERS, *[f"/{p}" for p in PEERS]],
                [[label, f["sleuth"], *[f["peers"].get(p) for p in PEERS],
                  *[f["ratios"].get(p) for p in PEERS]] for label, f in figs.items()])
    print_table("targets (the issue's, for 1M items)", ["target", "value", "limit", "met"],
                [[g["target"], g["value"], g["limit"], g["met"]] for g in goals])
    if sizes:
        print_table(f"growth {sizes['of']}", ["measure", "ratio"], list(sizes["ratios"].items()))
    write_result(
        f"{NAME}_{n}",
        peer=peer_data["peer"] if peer_data else "none (run scale_peer.py --n N first)",
        parameters={"n": n, "dim": data.DIM, "k": data.K, "data_format": data.FORMAT,
                    **parameters, "upsert_size": UPSERT_SIZE, "recall_target": RECALL,
                    "config": "encoder none, dim 384, defaults otherwise",
                    "sleuth_commit": state.get("commit"),
                    "peer_file": peer_file.name if peer_data else None,
                    "peer_date": peer_data["date"] if peer_data else None},
        results={"n": n, "phases": phases, "figures": figs, "targets": goals,
                 "sizes": sizes},
        summary=summary(figs, goals),
        notes=["Each phase ran in its own process; phases kept from an earlier run of the same "
               "collection say when they were measured (phases.<name>.measured).",
               "Targets are the issue's, stated for 1M items; at other sizes they are shown "
               "for reference.",
               "The peers' figures are from scale_peer.py's latest run at this size (another "
               "process, another time: compare ratios, not single figures, on a busy machine).",
               "dense.ef_search is set at creation and cannot change on open, so there is no "
               "sweep: the default configuration is measured."],
        started=started,
        machine=machine,
    )
