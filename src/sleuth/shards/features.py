"""What the learned ranker's features read of a sharded collection, so that the one
``sleuth.rank.features.Featurizer`` computes on the coordinator the very numbers one collection
holding the same items computes: BM25 (all fields, and each field alone) with the global
statistics (N, total length, document frequencies summed over the shards, as the sharded
lexical retriever scores), the item's analyzed length, its dense vector, its attributes.

``ShardedBM25`` stands for the BM25 index: the candidates' forward postings (terms, their
frequencies, the item's length) are read from their shards when the featurizer first asks for
them (one scatter for every candidate the request fetched), with terms numbered by
``Terms``, the coordinator's own vocabulary (stable across requests: a ranker's
``FieldCache`` keeps analyses by these numbers); ``idf()`` is the global IDF of the request's
query terms. ``ShardedVectors`` reads the candidates' vectors the same way.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from sleuth.config import BM25Config
from sleuth.indexes.bm25_stats import BM25Stats, idf_of
from sleuth.indexes.tokenize import Analyzer
from sleuth.shards.gather import fetch_items, split
from sleuth.shards.group import ShardGroup

__all__ = ["Candidates", "ShardedBM25", "Terms"]


class Terms(dict[str, int]):
    """Terms numbered in order of first sight; ``get`` numbers a term it has not seen (the
    featurizer's field analysis looks every term up: none is unknown here)."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()

    def get(self, term: str, default: Any = None) -> int:  # type: ignore[override]
        found = super().get(term)
        if found is None:
            with self._lock:
                found = self.setdefault(term, len(self))
        return found


class _View:
    """``.view``: an array, as the index's growable columns give theirs."""

    def __init__(self, array: np.ndarray) -> None:
        self.view = array


class Candidates:
    """The items one request scores: fetched from their shards (``fetch``, which the
    featurizer calls first with every candidate), then their postings and vectors read on
    first use in one scatter each."""

    def __init__(self, group: ShardGroup, terms: Terms) -> None:
        self.group, self.terms, self.shards = group, terms, group.size
        self.pending: dict[str, set[int]] = {"postings": set(), "vectors_by_docno": set()}
        self.row: dict[int, int] = {}
        self.ptr: list[int] = [0]
        self.ids: list[np.ndarray] = []
        self.tfs: list[np.ndarray] = []
        self.lengths: list[float] = []
        self.vectors: dict[int, np.ndarray | None] = {}

    def fetch(self, docnos: list[int]) -> Mapping[int, Any]:
        for wanted in self.pending.values():
            wanted.update(int(d) for d in docnos)
        return fetch_items(self.group, docnos)

    def expect(self, docnos: Sequence[int]) -> None:
        """Read the vectors of ``docnos`` with the next one asked for (the final stage's)."""
        self.pending["vectors_by_docno"].update(int(d) for d in docnos)

    def _read(self, method: str, docnos: Sequence[int], have: Mapping[int, Any]) -> Any:
        """``method``'s answers for ``docnos`` and the pending ones not in ``have``, in one
        scatter: ``(global docno, answer)`` pairs."""
        wanted = {int(d) for d in docnos} | self.pending[method]
        self.pending[method] = set()
        missing = sorted(d for d in wanted if d not in have)
        parts = split(missing, self.shards)
        found = self.group.scatter(method, [((p,), {}) for p in parts]) if missing else []
        return [
            (d * self.shards + s, answer)
            for s, (part, answers) in enumerate(zip(parts, found))
            for d, answer in zip(part, answers)
        ]

    def rows_of(self, docnos: np.ndarray) -> np.ndarray:
        """``int64[m]``: each docno's row in the postings read (-1: no live item)."""
        if any(int(d) not in self.row for d in docnos.tolist()):
            for d, entry in self._read("postings", docnos.tolist(), self.row):
                self.row[d] = -1 if entry is None else self._add(entry)
        return np.array([self.row[int(d)] for d in docnos.tolist()], np.int64)

    def _add(self, entry: tuple[list[str], np.ndarray, float]) -> int:
        words, tfs, length = entry
        self.ids.append(np.array([self.terms.get(w) for w in words], np.int32))
        self.tfs.append(np.asarray(tfs, np.float32))
        self.lengths.append(float(length))
        self.ptr.append(self.ptr[-1] + len(words))
        return len(self.lengths) - 1

    def vector_of(self, docno: int) -> np.ndarray | None:
        if docno not in self.vectors:
            self.vectors.update(self._read("vectors_by_docno", [docno], self.vectors))
        return self.vectors.get(docno)


class ShardedBM25:
    """The part of ``BM25Index`` the featurizer reads, over ``candidates`` with the global
    statistics of ``texts`` (``stats``: texts -> the summed ``BM25Stats``)."""

    def __init__(
        self,
        config: BM25Config,
        analyzer: Analyzer,
        candidates: Candidates,
        stats: Callable[[list[str]], BM25Stats],
        texts: Sequence[str],
    ) -> None:
        self.config, self.analyzer, self.candidates = config, analyzer, candidates
        self.vocab = candidates.terms
        self.docno_row = candidates
        self._stats = stats(list(texts))
        self._idf: np.ndarray | None = None
        for text in texts:  # numbered before any idf() is made
            for term in self.analyzer(text):
                if term in self._stats.df:
                    self.vocab.get(term)

    def __len__(self) -> int:
        return self._stats.n

    @property
    def total_len(self) -> float:
        return self._stats.total_len

    def idf(self) -> np.ndarray:
        """``float32[terms]``: the global IDF of each query term (0 for the other terms)."""
        if self._idf is None:
            known = {self.vocab.get(t): c for t, c in self._stats.df.items()}
            df = np.zeros(max(len(self.vocab), 1), np.int64)
            df[list(known)] = list(known.values())
            out = idf_of(self._stats.n, df)
            keep = np.zeros(out.size, bool)
            keep[list(known)] = True
            self._idf = np.where(keep, out, 0).astype(np.float32)
        return self._idf

    def query_terms(self, query: str) -> np.ndarray:
        """int32 ids of the query's tokens some shard knows (repeats kept), as the index's."""
        df = self._stats.df
        return np.asarray([self.vocab.get(t) for t in self.analyzer(query) if t in df], np.int32)

    # one more row than read, of no terms: where the featurizer looks for an item with none
    @property
    def fwd_ptr(self) -> _View:
        ptr = self.candidates.ptr
        return _View(np.asarray([*ptr, ptr[-1]], np.int64))

    @property
    def fwd_terms(self) -> _View:
        ids = self.candidates.ids
        return _View(np.concatenate(ids) if ids else np.zeros(0, np.int32))

    @property
    def fwd_tfs(self) -> _View:
        tfs = self.candidates.tfs
        return _View(np.concatenate(tfs) if tfs else np.zeros(0, np.float32))

    @property
    def row_len(self) -> _View:
        return _View(np.asarray([*self.candidates.lengths, 0.0], np.float32))
