"""The scatter-gather of a sharded search: retrievers that ask every shard for its top lists and
merge them into the one list a single collection holding every item would return.

A shard's docno ``d`` of shard ``s`` is the global docno ``d * S + s``. Lexical scores are
exact across shards because every shard scores with the BM25 statistics summed over all of
them (one round trip gathers them); each retriever's per-shard top ``k`` lists then merge into
its global top ``k`` (the union holds it: every item of the global top ``k`` is in its
shard's top ``k``) **before** the plan fuses and reranks them, as on one node. ANN lists merge
the same way: the union of the shards' approximate lists.

The retrievers of one plan share one ``Gather``: the first to run fetches every retriever's
lists in one scatter (the plan asks each for the same depth of the same batch).
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from sleuth.indexes.bm25_stats import BM25Stats, idf_of
from sleuth.indexes.tokenize import Analyzer
from sleuth.retrieve.base import QueryBatch, Ranked, Retriever
from sleuth.shards.group import ShardGroup
from sleuth.shards.layout import route
from sleuth.store import StoredItem
from sleuth.types import Candidates

__all__ = [
    "Gather",
    "ShardedDense",
    "ShardedLexical",
    "docnos_of",
    "fetch_items",
    "mask_of",
    "merge",
    "split",
]


def split(docnos: Sequence[int], shards: int) -> list[list[int]]:
    """Global docnos as each shard's own, per shard."""
    out: list[list[int]] = [[] for _ in range(shards)]
    for d in docnos:
        out[int(d) % shards].append(int(d) // shards)
    return out


def docnos_of(group: ShardGroup, ids: Sequence[str]) -> dict[str, int]:
    """The global docnos of the ``ids`` some shard holds (each asked of its shard)."""
    ids, shards = list(ids), group.size
    parts = route(ids, shards)
    found = group.scatter("docnos", [(([ids[i] for i in rows],), {}) for rows in parts])
    return {i: d * shards + s for s, part in enumerate(found) for i, d in part.items()}


def mask_of(group: ShardGroup, where: dict[str, Any] | None) -> np.ndarray:
    """bool[global docnos]: the live items ``where`` keeps, the shards' masks interleaved
    (shard ``s``'s at ``s::S``)."""
    parts = group.scatter("mask", ((where,), {}))
    out = np.zeros(max(p.size for p in parts) * group.size, bool)
    for s, part in enumerate(parts):
        out[s :: group.size][: part.size] = part
    return out


def merge(per_shard: Sequence[Sequence[Ranked]], k: int) -> Candidates:
    """The top ``k`` per query of the shards' lists (``per_shard[s][q]``, shard docnos), with
    global docnos: best score first, ties to the lower global docno."""
    shards, nq = len(per_shard), len(per_shard[0]) if per_shard else 0
    out = Candidates.empty(nq, k)
    for q in range(nq):
        docnos = np.concatenate([lists[q][0] * shards + s for s, lists in enumerate(per_shard)])
        scores = np.concatenate([lists[q][1] for lists in per_shard]).astype(np.float32)
        order = np.lexsort((docnos, -scores))[:k]
        out.docnos[q, : order.size] = docnos[order]
        out.scores[q, : order.size] = scores[order]
    return out


def fetch_items(group: ShardGroup, docnos: list[int]) -> dict[int, StoredItem]:
    """The live items of global ``docnos`` (``Context.fetch``, ``build_hits``), by docno."""
    shards = group.size
    found = group.scatter("items", [((part,), {}) for part in split(docnos, shards)])
    return {
        row["docno"] * shards + s: StoredItem(row["docno"] * shards + s, row["item"], row["hash"])
        for s, rows in enumerate(found)
        for row in rows
    }


class Gather:
    """One plan's retriever lists from every shard: ``names`` the plan's retrievers, ``where``
    the filter, ``space`` the named vector space (None: the default one), ``analyzer`` and
    ``k1`` the collection's BM25 settings."""

    def __init__(
        self,
        group: ShardGroup,
        names: Sequence[str],
        where: dict[str, Any] | None,
        space: str | None,
        analyzer: Analyzer,
        k1: float,
    ) -> None:
        self.group, self.names, self.where, self.space = group, tuple(names), where, space
        self.analyzer, self.k1 = analyzer, k1
        self.stats: BM25Stats | None = None
        self._texts: set[str] = set()  # the texts whose terms ``stats`` has
        self._done: tuple[int, int, dict[str, Candidates]] | None = None

    def statistics(self, texts: list[str]) -> BM25Stats:
        """BM25's statistics summed over the shards, with the frequencies of ``texts``'s terms
        (kept for the request: the fusion's trust and adaptive balance read them too; asked
        again, with the texts seen before, when ``texts`` holds one not seen yet)."""
        if self.stats is None or not set(texts) <= self._texts:
            self._texts |= set(texts)
            parts = self.group.scatter("stats", ((sorted(self._texts),), {}))
            self.stats = BM25Stats.summed(BM25Stats.from_dict(p) for p in parts)
        return self.stats

    def lists(self, name: str, queries: QueryBatch, k: int) -> Candidates:
        if self._done is None or self._done[:2] != (id(queries), k):
            lexical = "lexical" in self.names
            texts = queries.texts if lexical else queries.query_texts
            # one shard's own statistics are the sums: no round trip for them
            summed = lexical and texts is not None and self.group.size > 1
            stats = self.statistics(texts).to_dict() if summed and texts is not None else None
            part = {
                "retrievers": list(self.names),
                "texts": texts,
                "vectors": queries.vectors if "dense" in self.names else None,
                "k": k,
                "where": self.where,
                "space": self.space,
            }
            found = self.group.scatter("retrieve", ((part, stats), {}))
            merged = {n: merge([f[n] for f in found], k) for n in self.names}
            self._done = (id(queries), k, merged)
        return self._done[2][name]


class _Sharded(Retriever):
    """A retriever whose lists come from every shard (``Gather``). Its ``size`` is unknown
    before the scatter: each shard clamps ``k`` to its own items, the merge keeps the best."""

    def __init__(self, gather: Gather) -> None:
        self.gather = gather

    @property
    def size(self) -> int:
        return sys.maxsize

    def search_batch(self, queries: QueryBatch, k: int, mask: np.ndarray | None) -> Candidates:
        return self.gather.lists(self.name, queries, k)


class ShardedDense(_Sharded):
    name = "dense"


class ShardedLexical(_Sharded):
    """BM25 over every shard; its term statistics (``TermStatistics``) are the summed ones."""

    name = "lexical"

    @property
    def n_docs(self) -> int:
        return self._stats([]).n

    @property
    def k1(self) -> float:
        return self.gather.k1

    def _stats(self, texts: list[str]) -> BM25Stats:
        return self.gather.statistics(texts)

    def term_idf(self, text: str) -> np.ndarray:
        stats = self._stats([text])
        known = [stats.df[t] for t in self.gather.analyzer(text) if t in stats.df]
        return idf_of(stats.n, np.array(known, np.int64))

    def idf_mass(self, text: str) -> tuple[float, float]:
        stats = self._stats([text])
        idf = self.term_idf(text)
        unknown = len(self.gather.analyzer(text)) - idf.size
        n = float(stats.n)
        return float(idf.sum()), float(idf.sum()) + unknown * float(np.log1p((n + 0.5) / 0.5))


def retrievers(gather: Gather) -> Mapping[str, Retriever]:
    """The sharded retrievers of ``gather``'s plan, by name."""
    kinds: dict[str, type[_Sharded]] = {"lexical": ShardedLexical, "dense": ShardedDense}
    return {name: kinds[name](gather) for name in gather.names}
