"""Features of each (query, candidate) pair for the learned ranker, computed for a whole batch
at once from every stage the collection has.

Per candidate, in ``FeatureSpec.names()`` order:

- ``<list>_score``, ``<list>_rank`` for each stage list the plan produced (``lexical``,
  ``dense``, the fused ``hybrid``): the list's score and 1-based rank of the candidate. A
  candidate missing from a list has score NaN (LightGBM's missing value: the trees learn which
  side it goes) and rank ``len(list) + 1`` (just past the list's end).
- ``bm25``, ``cosine``: the exact BM25 score of the item (all text fields) and the exact cosine
  of its dense vector, for every candidate, in a list or not (no fill needed);
  ``maxsim``: the exact late-interaction score when the collection has token vectors.
- ``bm25_<field>`` for each text field (``title``, ``text``): BM25 of that field alone, with the
  collection's IDF and the field's mean length among the training candidates (saved with the
  model, so serving computes the very same number).
- ``query_terms``, ``query_mean_idf``, ``query_max_idf``: the query's analyzed terms the
  collection knows, and their IDF; ``doc_length``: the item's analyzed length (all fields).
- ``attr_<name>``: the numeric (number, bool, datetime) attributes the user named; NaN where
  the item has none.

The heavy parts (term frequencies, BM25 sums, cosines, list lookups) are numpy over all of a
query's candidates; what loops over candidates is the analysis of a field text, once per item
and cached by content hash (``FieldCache``).
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from sleuth.encoders.late import LateInteraction
    from sleuth.indexes.bm25 import BM25Index
    from sleuth.retrieve.base import QueryBatch, Ranked
    from sleuth.store import StoredItem

__all__ = ["FeatureSpec", "Featurizer", "FieldCache"]

_CACHE_ITEMS = 200_000  # analyzed items kept per loaded model (a few hundred bytes each)


@dataclass(frozen=True, kw_only=True)
class FeatureSpec:
    """Which features a model reads: ``lists`` (stage lists whose rank and score it takes),
    ``fields`` (text fields scored alone, with their mean lengths ``field_lengths``),
    ``attributes`` (numeric attributes), ``maxsim`` (late interaction)."""

    lists: tuple[str, ...]
    fields: tuple[str, ...]
    field_lengths: tuple[float, ...] = ()
    attributes: tuple[str, ...] = ()
    maxsim: bool = False

    def names(self) -> list[str]:
        out = [f"{name}_{what}" for name in self.lists for what in ("score", "rank")]
        out += ["bm25", "cosine"] + (["maxsim"] if self.maxsim else [])
        out += [f"bm25_{name}" for name in self.fields]
        out += ["query_terms", "query_mean_idf", "query_max_idf", "doc_length"]
        return out + [f"attr_{name}" for name in self.attributes]

    def to_dict(self) -> dict[str, Any]:
        return {
            "lists": list(self.lists),
            "fields": list(self.fields),
            "field_lengths": list(self.field_lengths),
            "attributes": list(self.attributes),
            "maxsim": self.maxsim,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FeatureSpec:
        return cls(
            lists=tuple(data["lists"]),
            fields=tuple(data["fields"]),
            field_lengths=tuple(float(x) for x in data["field_lengths"]),
            attributes=tuple(data["attributes"]),
            maxsim=bool(data["maxsim"]),
        )


@dataclass
class FieldCache:
    """Analyzed text fields by docno: ``(content hash, per field (term ids, tfs, length))``,
    term ids in the BM25 vocabulary (unknown terms count in the length only)."""

    entries: dict[int, tuple[str, list[tuple[np.ndarray, np.ndarray, float]]]] = field(
        default_factory=dict
    )
    lock: threading.Lock = field(default_factory=threading.Lock)

    def terms(
        self, index: BM25Index, fields: Sequence[str], items: Mapping[int, StoredItem]
    ) -> dict[int, list[tuple[np.ndarray, np.ndarray, float]]]:
        out = {}
        for docno, stored in items.items():
            hit = self.entries.get(docno)
            if hit is None or hit[0] != stored.hash:
                hit = (stored.hash, [_analyze(index, stored.item.fields.get(f)) for f in fields])
                with self.lock:
                    if len(self.entries) >= _CACHE_ITEMS:
                        self.entries.clear()
                    self.entries[docno] = hit
            out[docno] = hit[1]
        return out


def _analyze(index: BM25Index, text: str | None) -> tuple[np.ndarray, np.ndarray, float]:
    tokens = index.analyzer(text) if text else []
    ids = np.asarray([index.vocab.get(t, -1) for t in tokens], np.int64)
    terms, tfs = np.unique(ids[ids >= 0], return_counts=True)
    return terms, tfs.astype(np.float32), float(len(tokens))


@dataclass(frozen=True)
class Featurizer:
    """What the features read of a collection at one state: its BM25 and dense indexes, the
    token index and recipe (None without late interaction), and ``fetch`` (docnos -> stored
    items, for field texts and attributes)."""

    bm25: BM25Index
    dense: Any
    fetch: Callable[[list[int]], Mapping[int, StoredItem]]
    cache: FieldCache
    late: LateInteraction | None = None
    tokens: Any = None

    def matrix(
        self,
        spec: FeatureSpec,
        queries: QueryBatch,
        candidates: Sequence[Ranked],
        lists: Mapping[str, Sequence[Ranked]],
    ) -> list[np.ndarray]:
        """``float32[n_i, len(spec.names())]`` per query: the features of its candidates, in
        the order of ``candidates[i][0]``."""
        docnos = sorted({int(d) for c, _ in candidates for d in c})
        items = self.fetch(docnos)
        fields = self.cache.terms(self.bm25, spec.fields, items)
        vectors = self._vectors(docnos)
        qvecs = queries.vectors
        qtokens = self.late.queries(queries.tokens) if spec.maxsim and self.late else None
        idf = self.bm25.idf()
        out = []
        for i, (cands, _) in enumerate(candidates):
            d = np.asarray(cands, np.int64)
            columns: list[np.ndarray] = []
            for name in spec.lists:
                columns.extend(_lookup(lists[name][i], d))
            q_terms, q_counts = np.unique(
                self.bm25.query_terms(queries.texts[i]), return_counts=True
            )
            columns.append(self._bm25_exact(d, q_terms, q_counts, idf))
            columns.append(_cosines(d, vectors, qvecs[i]))
            if spec.maxsim:
                columns.append(self._maxsim(d, None if qtokens is None else qtokens[i]))
            for f, mean_len in enumerate(spec.field_lengths):
                per_doc = [fields[int(x)][f] if int(x) in fields else _NONE for x in d]
                columns.append(self._bm25_field(per_doc, q_terms, q_counts, idf, mean_len))
            q_idf = idf[self.bm25.query_terms(queries.texts[i])]
            n = d.size
            columns.append(np.full(n, q_idf.size, np.float32))
            columns.append(np.full(n, q_idf.mean() if q_idf.size else 0.0, np.float32))
            columns.append(np.full(n, q_idf.max() if q_idf.size else 0.0, np.float32))
            columns.append(self._lengths(d))
            for name in spec.attributes:
                columns.append(np.asarray([_number(items, int(x), name) for x in d], np.float32))
            out.append(np.stack(columns, axis=1).astype(np.float32, copy=False))
        return out

    # -- the columns ---------------------------------------------------------------------------

    def _vectors(self, docnos: list[int]) -> dict[int, np.ndarray]:
        out = {}
        for docno in docnos:
            vector = self.dense.vector_of(docno)
            if vector is not None:
                out[docno] = vector
        return out

    def _lengths(self, d: np.ndarray) -> np.ndarray:
        rows = self.bm25.docno_row.rows_of(d)
        lengths = self.bm25.row_len.view[np.maximum(rows, 0)]
        return np.where(rows >= 0, lengths, np.nan).astype(np.float32)

    def _bm25_exact(
        self, d: np.ndarray, q_terms: np.ndarray, q_counts: np.ndarray, idf: np.ndarray
    ) -> np.ndarray:
        """The item's BM25 over all fields, from the index's forward postings: exactly the
        score the lexical retriever gives it (0 when it holds no query term)."""
        index = self.bm25
        rows = index.docno_row.rows_of(d)
        ok = rows >= 0
        ptr = index.fwd_ptr.view
        safe = np.where(ok, rows, 0)
        starts, ends = ptr[safe], np.where(ok, ptr[safe + 1], ptr[safe])
        owner, at = _spans(starts, ends)
        terms, tfs = index.fwd_terms.view[at], index.fwd_tfs.view[at]
        avgdl = max(index.total_len / max(len(index), 1), 1e-9)
        lengths = index.row_len.view[safe]
        out = _bm25(owner, terms, tfs, lengths, d.size, q_terms, q_counts, idf, index, avgdl)
        return np.where(ok, out, np.nan).astype(np.float32)

    def _bm25_field(
        self,
        per_doc: list[tuple[np.ndarray, np.ndarray, float]],
        q_terms: np.ndarray,
        q_counts: np.ndarray,
        idf: np.ndarray,
        mean_len: float,
    ) -> np.ndarray:
        n = len(per_doc)
        sizes = np.fromiter((t.size for t, _, _ in per_doc), np.int64, n)
        owner = np.repeat(np.arange(n), sizes)
        terms = np.concatenate([t for t, _, _ in per_doc]) if n else np.zeros(0, np.int64)
        tfs = np.concatenate([f for _, f, _ in per_doc]) if n else np.zeros(0, np.float32)
        lengths = np.fromiter((length for _, _, length in per_doc), np.float32, n)
        return _bm25(
            owner, terms, tfs, lengths, n, q_terms, q_counts, idf, self.bm25, max(mean_len, 1e-9)
        )

    def _maxsim(self, d: np.ndarray, query: np.ndarray | None) -> np.ndarray:
        out = np.full(d.size, np.nan, np.float32)
        if query is None or self.tokens is None:
            return out
        scored, scores = self.tokens.rerank(query, d)
        order = np.argsort(d, kind="stable")
        pos = np.searchsorted(d[order], scored)
        out[order[pos]] = scores
        return out


_NONE = (np.zeros(0, np.int64), np.zeros(0, np.float32), 0.0)


def _spans(starts: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For ranges ``[starts[i], ends[i])``: the range number and the position of each element."""
    sizes = ends - starts
    owner = np.repeat(np.arange(starts.size), sizes)
    first = np.repeat(np.cumsum(sizes) - sizes, sizes)
    return owner, np.repeat(starts, sizes) + (np.arange(owner.size) - first)


def _bm25(
    owner: np.ndarray,
    terms: np.ndarray,
    tfs: np.ndarray,
    lengths: np.ndarray,
    n: int,
    q_terms: np.ndarray,
    q_counts: np.ndarray,
    idf: np.ndarray,
    index: BM25Index,
    avgdl: float,
) -> np.ndarray:
    """Σ over the query's terms (repeats counted) of idf · tf / (tf + k1 (1 - b + b len/avgdl)),
    the Lucene BM25 the index scores with, for ``n`` documents given as postings
    ``(owner, terms, tfs)``."""
    out = np.zeros(n, np.float64)
    if not q_terms.size or not terms.size:
        return out.astype(np.float32)
    pos = np.minimum(np.searchsorted(q_terms, terms), q_terms.size - 1)
    hit = q_terms[pos] == terms
    owner, terms, tfs, pos = owner[hit], terms[hit], tfs[hit].astype(np.float64), pos[hit]
    k1, b = index.config.k1, index.config.b
    norm = k1 * (1.0 - b + b * lengths.astype(np.float64)[owner] / avgdl)
    np.add.at(out, owner, q_counts[pos] * idf[terms] * tfs / (tfs + norm))
    return out.astype(np.float32)


def _lookup(ranked: Ranked, d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The score (NaN if absent) and 1-based rank (``len + 1`` if absent) of each of ``d`` in
    one ranked list."""
    docnos, scores = ranked
    order = np.argsort(docnos, kind="stable")
    sorted_docnos = docnos[order]
    pos = np.minimum(np.searchsorted(sorted_docnos, d), max(docnos.size - 1, 0))
    found = sorted_docnos[pos] == d if docnos.size else np.zeros(d.size, bool)
    where = order[pos] if docnos.size else np.zeros(d.size, np.int64)
    score = np.where(found, scores[where] if docnos.size else 0.0, np.nan)
    rank = np.where(found, where + 1, docnos.size + 1)
    return score.astype(np.float32), rank.astype(np.float32)


def _cosines(d: np.ndarray, vectors: Mapping[int, np.ndarray], query: np.ndarray) -> np.ndarray:
    out = np.full(d.size, np.nan, np.float32)
    known = [i for i, x in enumerate(d.tolist()) if x in vectors]
    if known:
        matrix = np.stack([vectors[int(d[i])] for i in known])
        out[known] = matrix @ query
    return out


def _number(items: Mapping[int, StoredItem], docno: int, name: str) -> float:
    stored = items.get(docno)
    value = None if stored is None else stored.item.attributes.get(name)
    if isinstance(value, bool | int | float):
        return float(value)
    if isinstance(value, dt.datetime):
        return value.timestamp()
    return float("nan")
