"""The final-list stage of a search: each hit's probability of relevance (the collection's
calibration of the mode), the cut (``min_relevance``, ``cutoff``), diversity (MMR over the
item vectors) and per-attribute caps, and the intra-list diversity of what is served.

It runs after the plan, on the plan's list; with diversity or caps the plan fetches a deeper
list (``Final.depth``) for them to choose ``k`` from.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from sleuth.errors import InvalidInput
from sleuth.rank.calibrate import Calibrator
from sleuth.rank.caps import cap
from sleuth.rank.cutoff import autocut, best_f1_length, relevant_length
from sleuth.rank.diversity import intra_list_diversity, mmr
from sleuth.retrieve import TermStatistics
from sleuth.retrieve.base import Ranked
from sleuth.search.hits import Trace
from sleuth.search.plan import Context, Outcome
from sleuth.store import StoredItem

__all__ = ["DEEPER", "Final", "Served", "finish", "hit_features"]

DEEPER = 5  # diversity and caps choose k among the plan's top DEEPER * k (at least 50)


@dataclass(frozen=True)
class Final:
    """What a request asks of its final list (checked by ``sleuth.limits.check_final``)."""

    min_relevance: float | None = None
    cutoff: str | None = None
    diversity: float = 0.0
    max_per: Mapping[str, int] | None = None

    @property
    def needs_probability(self) -> bool:
        return self.min_relevance is not None or self.cutoff == "auto"

    def depth(self, k: int, limit: int) -> int:
        """How many hits the plan must return for this final list of ``k``."""
        if self.diversity or self.max_per:
            return min(limit, max(DEEPER * k, 50))
        return k


@dataclass(frozen=True)
class Served:
    """The final lists (``results``) and each hit's probability (None: not calibrated)."""

    results: list[Ranked]
    probabilities: list[np.ndarray] | None


def hit_features(
    ctx: Context, texts: list[str] | None, outcome: Outcome
) -> tuple[tuple[str, ...], list[np.ndarray]]:
    """The calibration's features of each query's hits (``float64[n, f]``), named: the final
    score, its gap to the query's best, the log rank, and the raw levels of the retrievers
    the plan ran (BM25 over the query's IDF mass, so that a query of words the collection
    lacks scores low; the dense cosine), each hit's and the query's best."""
    names = ["score", "gap", "log_rank"]
    lexical = "lexical" in outcome.lists and texts is not None
    dense = "dense" in outcome.lists
    if lexical:
        names += ["lexical", "lexical_top", "known"]
    if dense:
        names += ["dense", "dense_top"]
    retriever = ctx.retrievers.get("lexical")
    out = []
    for qi, (docnos, scores) in enumerate(outcome.results):
        n = docnos.size
        cols = [
            scores.astype(np.float64),
            float(scores[0]) - scores if n else scores,
            np.log(np.arange(1, n + 1)),
        ]
        if lexical and texts is not None and isinstance(retriever, TermStatistics):
            known, total = retriever.idf_mass(texts[qi])
            raw = _raw(outcome.lists["lexical"][qi], docnos, 0.0) / max(total, 1e-9)
            top = outcome.lists["lexical"][qi][1]
            best = float(top[0]) / max(total, 1e-9) if top.size else 0.0
            cols += [raw, np.full(n, best), np.full(n, known / max(total, 1e-9))]
        if dense:
            found = outcome.lists["dense"][qi]
            fill = float(found[1].min()) if found[1].size else 0.0
            best = float(found[1][0]) if found[1].size else 0.0
            cols += [_raw(found, docnos, fill), np.full(n, best)]
        out.append(np.column_stack(cols) if n else np.zeros((0, len(names))))
    return tuple(names), out


def _attributes(stored: Mapping[int, StoredItem]) -> Callable[[int], Mapping[str, Any]]:
    return lambda d: stored[d].item.attributes if d in stored else {}


def _raw(found: Ranked, docnos: np.ndarray, fill: float) -> np.ndarray:
    """Each of ``docnos``' score in the list ``found`` (``fill`` where it is absent)."""
    at = {int(d): float(s) for d, s in zip(*found)}
    return np.array([at.get(int(d), fill) for d in docnos.tolist()], np.float64)


def finish(
    ctx: Context,
    texts: list[str] | None,
    outcome: Outcome,
    k: int,
    final: Final,
    calibrator: Calibrator | None,
    fetch: Callable[[list[int]], Mapping[int, StoredItem]],
    trace: Trace,
) -> Served:
    """The served list of each query: probabilities, cut, diversity, caps, top ``k``;
    ``fetch`` reads the items whose attributes the caps read."""
    if calibrator is None and final == Final():  # nothing to do: the trace says nothing
        return Served([(d[:k], s[:k]) for d, s in outcome.results], None)
    start = time.perf_counter()
    probs: list[np.ndarray] | None = None
    if calibrator is not None:
        names, feats = hit_features(ctx, texts, outcome)
        if tuple(calibrator.features) == names:
            probs = [calibrator.predict(x) if len(x) else np.zeros(0) for x in feats]
        elif final.needs_probability:
            raise InvalidInput(
                f"this search has the features {', '.join(names)}, and the mode's calibration "
                f"was fitted on {', '.join(calibrator.features)}: search as it was calibrated "
                "(query text and vector alike), or calibrate again"
            )
    dense = ctx.index("dense")
    results, kept_probs, ild = [], [], []
    wanted = sorted({int(d) for docnos, _ in outcome.results for d in docnos.tolist()})
    stored = fetch(wanted) if final.max_per else None
    for qi, (docnos, scores) in enumerate(outcome.results):
        p = probs[qi] if probs is not None else None
        n = docnos.size
        if final.min_relevance is not None and p is not None:
            n = min(n, relevant_length(p, final.min_relevance))
        if final.cutoff == "auto" and p is not None:
            n = min(n, best_f1_length(p[:k]))
        elif final.cutoff == "autocut":
            n = min(n, autocut(scores[:k]))
        order = np.arange(n)
        if final.diversity and n and dense is not None:
            picked, _ = mmr(dense, docnos[:n], scores[:n], n, final.diversity)
            at = {int(d): i for i, d in enumerate(docnos[:n].tolist())}
            order = np.array([at[int(d)] for d in picked.tolist()], np.int64)
        if stored is not None and final.max_per:
            order = order[cap(docnos[order], _attributes(stored), final.max_per, k)]
        order = order[:k]
        results.append((docnos[order], scores[order]))
        kept_probs.append(p[order] if p is not None else np.zeros(0))
        if dense is not None and (final.diversity or final.max_per):
            ild.append(intra_list_diversity(dense, docnos[order]))
    trace.stage("final", start)
    trace.final = {
        key: value
        for key, value in (
            ("calibrated", probs is not None),
            ("min_relevance", final.min_relevance),
            ("cutoff", final.cutoff),
            ("diversity", final.diversity or None),
            ("max_per", dict(final.max_per) if final.max_per else None),
            ("intra_list_diversity", ild or None),
        )
        if value is not None
    }
    return Served(results, kept_probs if probs is not None else None)
