"""The evaluation before a cutover: the same queries searched three ways, ``old`` (the old
encoder on the old vectors), ``mapped`` (the new encoder's queries, mapped or compatible, on the
old vectors: what is served during the backfill) and ``new`` (the new encoder on its own
vectors), in modes dense and hybrid.

With judgments (``qrels`` and ``queries``): nDCG@10 of each (ranx). Without: how far each
agrees with the old lists, overlap@10 (the share of the old top 10 also in the other's), on
pseudo-queries cut from a seeded sample of the items' texts (their first words).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from sleuth.errors import InvalidInput

__all__ = ["SIDES", "K", "evaluate_lists", "pseudo_queries"]

K = 10
SIDES = ("old", "mapped", "new")
MODES = ("dense", "hybrid")
QUERY_WORDS = 12

# (side, mode, query texts) -> per query the ids found, best first
Searcher = Callable[[str, str, list[str]], list[list[str]]]


def pseudo_queries(texts: Sequence[str], n: int, seed: int = 0) -> list[str]:
    """Up to ``n`` queries: the first words of a seeded sample of ``texts`` (blank ones
    skipped)."""
    order = np.random.default_rng(seed).permutation(len(texts))
    out: list[str] = []
    for i in order.tolist():
        words = texts[i].split()[:QUERY_WORDS]
        if words:
            out.append(" ".join(words))
        if len(out) == n:
            break
    return out


def _overlap(a: list[list[str]], b: list[list[str]]) -> float:
    shares = [len(set(x[:K]) & set(y[:K])) / max(min(len(x), K), 1) for x, y in zip(a, b)]
    return float(np.mean(shares)) if shares else 0.0


def _ndcg(qrels: Mapping[str, Mapping[str, int]], ids: list[str], found: list[list[str]]) -> float:
    from ranx import Qrels, Run, evaluate

    run = {q: {d: float(K - r) for r, d in enumerate(hits[:K])} for q, hits in zip(ids, found)}
    judged = {q: {d: int(g) for d, g in qrels[q].items()} for q in ids}
    value = evaluate(Qrels(judged), Run(run), f"ndcg@{K}", make_comparable=True)
    return round(float(value), 4)


def evaluate_lists(
    search: Searcher,
    *,
    qrels: Mapping[str, Mapping[str, int]] | None = None,
    queries: Mapping[str, str] | None = None,
    texts: Sequence[str] = (),
    n: int = 200,
) -> dict[str, Any]:
    """The report: per mode and side nDCG@10 (judgments given) or overlap@10 with ``old``
    (``texts``: the items' texts the pseudo-queries come from)."""
    if (qrels is None) != (queries is None):
        raise InvalidInput("give qrels and queries together, or neither")
    if qrels is not None and queries is not None:
        ids = [q for q in qrels if q in queries and any(g > 0 for g in qrels[q].values())]
        if not ids:
            raise InvalidInput("no query of qrels has a text in queries and a positive grade")
        asked = [queries[q] for q in ids]
        metric = f"ndcg@{K}"
    else:
        asked = pseudo_queries(texts, n)
        if not asked:
            raise InvalidInput("the collection has no text to make queries from")
        metric = f"overlap@{K} with old"
    report: dict[str, Any] = {"metric": metric, "queries": len(asked), "k": K}
    for mode in MODES:
        found = {side: search(side, mode, asked) for side in SIDES}
        if qrels is not None:
            report[mode] = {side: _ndcg(qrels, ids, found[side]) for side in SIDES}
        else:
            report[mode] = {side: round(_overlap(found["old"], found[side]), 4) for side in SIDES}
    return report
