"""Hits and explain, built in one place, and the one trace of a request.

A request's stage timings, its mode and ``k`` and the number of candidates each retriever
returned are its ``Trace``, carried once by the ``Hits`` of each query (not copied into every
hit). A hit's ``explain`` holds what is particular to it: each list's rank and score of it,
its final score, and why a ranker could not score it.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sleuth.retrieve.base import Ranked
from sleuth.store import StoredItem
from sleuth.timing import ms_since as _ms
from sleuth.types import Hit

__all__ = ["Hits", "Trace", "build_hits", "recommended_hits"]


@dataclass
class Trace:
    """What one request did: ``timings_ms`` per stage in the order they ran (``filter_ms``,
    one per retriever, ``fuse_ms``, the rankers', ``fetch_ms``) and ``total_ms``; ``candidates``
    each retriever returned, summed over the request's queries; ``final``: what the final-list
    stage did (calibrated or not, the cut, diversity, caps, each list's intra-list diversity)."""

    mode: str | None
    k: int | None
    queries: int
    timings_ms: dict[str, float] = field(default_factory=dict)
    candidates: dict[str, int] = field(default_factory=dict)
    final: dict[str, Any] = field(default_factory=dict)
    start: float = field(default_factory=time.perf_counter, repr=False, compare=False)

    def stage(self, name: str, since: float) -> None:
        """Record ``name`` as having run from ``since`` (a ``time.perf_counter()``) until now."""
        self.timings_ms[f"{name}_ms"] = _ms(since)

    def to_dict(self) -> dict[str, Any]:
        out = {
            "mode": self.mode,
            "k": self.k,
            "queries": self.queries,
            "candidates": dict(self.candidates),
            "timings_ms": dict(self.timings_ms),
        }
        if self.final:
            out["final"] = dict(self.final)
        return out


class Hits(list[Hit]):
    """One query's hits, best first, with the request's ``trace``."""

    def __init__(self, hits: Iterable[Hit], trace: Trace) -> None:
        super().__init__(hits)
        self.trace = trace


def build_hits(
    fetch: Callable[[list[int]], Mapping[int, StoredItem]],
    results: Sequence[Ranked],
    trace: Trace,
    lists: Mapping[str, Sequence[Ranked]] | None = None,
    unscored: Mapping[str, Sequence[str]] | None = None,
    probabilities: Sequence[np.ndarray] | None = None,
    features: Mapping[str, tuple[tuple[str, ...], list[tuple[Any, Any]]]] | None = None,
) -> list[Hits]:
    """The ``Hits`` of each query's ``results`` (docnos and final scores), with the items
    ``fetch`` reads (a docno it does not find was deleted meanwhile and is left out).

    ``lists`` (explain): each stage's list per query, whose rank and score of a hit its
    ``explain`` shows (None where the list lacks it); ``unscored``: per ranker and query, what
    ``explain`` says of a hit missing from that ranker's list; ``probabilities``: each hit's
    calibrated probability of relevance, per query (``Hit.probability``); ``features``: per
    ranker, the names and per query ``(docnos, values[n, f])`` it read, which a hit's
    ``explain`` shows under ``features`` (NaN, a missing value, as None). A score that is not
    finite is never served: the hit is left out, with a warning.
    """
    start = time.perf_counter()
    stored = fetch(sorted({int(d) for docnos, _ in results for d in docnos}))
    trace.stage("fetch", start)
    trace.stage("total", trace.start)
    out = []
    left_out: list[str] = []
    for qi, (docnos, scores) in enumerate(results):
        ranks = None
        if lists is not None:
            ranks = {
                name: {int(d): (r + 1, float(s)) for r, (d, s) in enumerate(zip(*rows[qi]))}
                for name, rows in lists.items()
            }
        hits = []
        probs = probabilities[qi].tolist() if probabilities is not None else [None] * len(docnos)
        for docno, score, p in zip(docnos.tolist(), scores.tolist(), probs):
            item = stored.get(docno)
            if item is None:  # deleted by another process since the search: skip it
                continue
            if not math.isfinite(score):  # the last guard: NaN/inf is never served
                left_out.append(item.item.id)
                continue
            explain = None if ranks is None else _explain(docno, score, ranks, unscored, qi)
            if explain is not None and p is not None:
                explain["probability"] = p
            if explain is not None and features:
                explain["features"] = _features(docno, features, qi)
            hits.append(
                Hit(
                    id=item.item.id,
                    score=score,
                    fields=item.item.fields,
                    attributes=item.item.attributes,
                    explain=explain,
                    probability=p,
                )
            )
        out.append(Hits(hits, trace))
    if left_out:
        warnings.warn(
            f"left out {len(left_out)} hits whose score was not finite (a bug; please "
            f"report it): {', '.join(map(repr, left_out[:5]))}",
            RuntimeWarning,
            stacklevel=3,
        )
    return out


def _explain(
    docno: int,
    score: float,
    ranks: dict[str, dict[int, tuple[int, float]]],
    unscored: Mapping[str, Sequence[str]] | None,
    qi: int,
) -> dict[str, Any]:
    explain: dict[str, Any] = {
        "retrievers": {
            name: {"rank": r[docno][0], "score": r[docno][1]} if docno in r else None
            for name, r in ranks.items()
        },
        "score": score,
    }
    for name, notes in (unscored or {}).items():
        if docno not in ranks.get(name, {}):
            explain[name] = notes[qi]
    return explain


def _features(
    docno: int, features: Mapping[str, tuple[tuple[str, ...], list[tuple[Any, Any]]]], qi: int
) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    for names, per_query in features.values():
        docnos, values = per_query[qi]
        rows = (docnos == docno).nonzero()[0]
        if rows.size:
            out.update(
                (name, float(v) if math.isfinite(v) else None)
                for name, v in zip(names, values[rows[0]].tolist())
            )
    return out


def recommended_hits(
    fetch: Callable[[list[int]], Mapping[int, StoredItem]],
    results: Sequence[Ranked],
    per_source: Mapping[str, Sequence[Ranked]] | None,
    timings: dict[str, float],
    t0: float,
) -> list[list[Hit]]:
    """The hits of ``similar`` and ``recommend`` (no mode, no k): ``build_hits`` with a trace
    of their ``timings`` since ``t0``."""
    trace = Trace(mode=None, k=None, queries=len(results), timings_ms=timings, start=t0)
    return [*build_hits(fetch, results, trace, per_source)]
