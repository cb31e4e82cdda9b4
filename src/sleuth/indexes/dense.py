"""Dense vectors: exact inner-product search below a size threshold, faiss HNSW above it.

The float32 matrix is kept as the source for exact scans, so a filter that leaves few items
is answered exactly over just those (a graph walk would starve); a broad filter or tombstones
go to HNSW as an ID selector, and any query HNSW leaves short of ``k`` falls back to exact.
Deletes are tombstones; once over a fifth of the rows are dead the index is compacted.
The MUVERA index (``sleuth.indexes.fde``) is one of these over fixed-dimensional encodings.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from sleuth._blas import one_blas_thread
from sleuth.config import DenseConfig
from sleuth.errors import CorruptIndex
from sleuth.indexes.base import Growable, Index
from sleuth.types import Candidates

__all__ = ["DenseIndex", "exact_top_k"]


def exact_top_k(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Column indices and values of the k largest entries per row, best first; equal scores
    in column order, so the answer does not depend on how the rows were laid out.

    ``scores: float32[nq, n]`` -> ``(int64[nq, min(k, n)], float32[nq, min(k, n)])``.
    """
    n = scores.shape[1]
    m = min(k, n)
    if m == 0:
        return np.zeros((scores.shape[0], 0), np.int64), np.zeros((scores.shape[0], 0), np.float32)
    part = (
        np.argpartition(-scores, m - 1, axis=1)[:, :m]
        if m < n
        else np.tile(np.arange(n), (scores.shape[0], 1))
    )
    vals = np.take_along_axis(scores, part, 1)
    if m < n:  # equal scores cut at the k-th place: keep the lowest columns, as a sort would
        last = vals.min(axis=1, keepdims=True)
        cut = np.flatnonzero((scores == last).sum(1) > (vals == last).sum(1))
        for i in cut:
            above = np.flatnonzero(scores[i] > last[i])
            ties = np.flatnonzero(scores[i] == last[i])[: m - above.size]
            part[i] = np.concatenate([above, ties])
            vals[i] = scores[i, part[i]]
    order = np.lexsort((part, -vals), axis=1)  # best first; equal scores by column
    return np.take_along_axis(part, order, 1), np.take_along_axis(vals, order, 1)


class DenseIndex(Index):
    """Documents are ``float32[n, dim]`` vectors (unit rows: scores are inner products)."""

    kind = "dense"
    required = ("vectors",)

    def __init__(
        self, config: DenseConfig, dim: int, *, derived_from: dict[str, Any] | None = None
    ) -> None:
        """``derived_from``: how the vectors were made when that is not the collection's encoder
        (MUVERA encodings: the token recipe); saved, and a file made otherwise is not loaded."""
        super().__init__()
        self.config = config
        self.dim = dim
        self.derived_from = derived_from
        self.vectors = Growable(np.float32, width=dim)
        self.hnsw: Any = None  # faiss.IndexHNSWFlat once built
        self._plain: Any = None

    def _prepare(self, documents: np.ndarray) -> np.ndarray:
        vectors = np.ascontiguousarray(documents, np.float32)
        if vectors.ndim != 2 or vectors.shape[1] != self.dim:
            if vectors.size == 0:
                return np.zeros((0, self.dim), np.float32)
            raise ValueError(f"expected vectors of shape (n, {self.dim}), got {vectors.shape}")
        return vectors

    def _append(self, docnos: np.ndarray, vectors: np.ndarray) -> None:
        self._add_rows(docnos)
        self.vectors.extend(vectors)
        if self.hnsw is not None:
            self.hnsw.add(vectors)
        elif len(self) >= self.config.exact_threshold:
            self._build_hnsw()

    def _keep(self, live: np.ndarray) -> None:
        # Exact mode too: dead rows cost memory, scan time and file size (upserts add a row).
        self.vectors = Growable(np.float32, width=self.dim, data=self.vectors.view[live])
        self.hnsw = None
        if live.size >= self.config.exact_threshold:
            self._build_hnsw()

    def _build_hnsw(self) -> None:
        index = faiss.IndexHNSWFlat(self.dim, self.config.hnsw_m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = self.config.ef_construction
        index.add(self.vectors.view)
        self.hnsw = index

    def vector_of(self, docno: int) -> np.ndarray | None:
        row = self.docno_row.get(int(docno))
        return None if row is None else self.vectors.view[row]

    # -- search ------------------------------------------------------------------------------

    def search_batch(
        self, queries: np.ndarray, k: int, docno_mask: np.ndarray | None = None
    ) -> Candidates:
        """Top ``k`` docnos by inner product. ``queries: float32[nq, dim]``."""
        queries = np.ascontiguousarray(queries, np.float32)
        nq = queries.shape[0]
        out = Candidates.empty(nq, k)
        if len(self) == 0 or nq == 0:
            return out
        filtered = docno_mask is not None
        if self.hnsw is not None and not filtered and len(self) == self.n_rows:
            # The common case, kept lean: no filter, no tombstones, no selector.
            scores, rows = self.hnsw.search(queries, k, params=self._params(k))
            if rows.min() >= 0:
                return Candidates(self.row_docno.view[rows], scores)
            found = rows >= 0
            out.docnos[found] = self.row_docno.view[rows[found]]
            out.scores[found] = scores[found]
            return out
        allowed = self.allowed_rows(docno_mask)
        n_allowed = int(allowed.sum()) if filtered else len(self)
        if n_allowed == 0:
            return out
        if self.hnsw is None or (filtered and n_allowed < self.config.filter_exact_below):
            self._exact(queries, k, allowed, n_allowed, out, np.arange(nq))
            return out
        params = faiss.SearchParametersHNSW()  # type: ignore[attr-defined]
        params.efSearch = max(self.config.ef_search, k)
        bitmap = np.packbits(allowed, bitorder="little")
        params.sel = faiss.IDSelectorBitmap(allowed.shape[0], faiss.swig_ptr(bitmap))
        scores, rows = self.hnsw.search(queries, k, params=params)
        found = rows >= 0
        out.docnos[found] = self.row_docno.view[rows[found]]
        out.scores[found] = scores[found]
        short = np.flatnonzero(found.sum(1) < min(k, n_allowed))
        if short.size:
            self._exact(queries[short], k, allowed, n_allowed, out, short)
        return out

    def _params(self, k: int) -> Any:
        """Selector-free search parameters, made once per efSearch (SWIG objects are costly)."""
        ef = max(self.config.ef_search, k)
        if self._plain is None or self._plain.efSearch != ef:
            self._plain = faiss.SearchParametersHNSW()  # type: ignore[attr-defined]
            self._plain.efSearch = ef
        return self._plain

    def _exact(
        self,
        queries: np.ndarray,
        k: int,
        allowed: np.ndarray,
        n_allowed: int,
        out: Candidates,
        where: np.ndarray,
    ) -> None:
        # a small batch is a thin product: one BLAS thread (see sleuth._blas)
        with one_blas_thread() if queries.shape[0] < 32 else contextlib.nullcontext():
            if n_allowed < allowed.shape[0] // 2:
                rows = np.flatnonzero(allowed)
                scores = queries @ self.vectors.view[rows].T
            else:
                rows = None
                scores = queries @ self.vectors.view.T
                scores[:, ~allowed] = -np.inf
        idx, vals = exact_top_k(scores, min(k, n_allowed))
        if rows is not None:
            idx = rows[idx]
        m = idx.shape[1]
        out.docnos[where, :m] = self.row_docno.view[idx]
        out.scores[where, :m] = vals
        out.docnos[where, m:] = -1
        out.scores[where, m:] = -np.inf

    def info(self) -> dict[str, Any]:
        kind = "hnsw" if self.hnsw is not None else "exact"
        return {"rows": self.n_rows, "live": len(self), "kind": kind}

    # -- persistence -------------------------------------------------------------------------

    def params(self) -> dict[str, Any]:
        return {"config": self.config.to_dict(), "dim": self.dim, "derived_from": self.derived_from}

    def _payload(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        arrays = {"vectors": self.vectors.view}
        if self.hnsw is not None:
            arrays["hnsw"] = faiss.serialize_index(self.hnsw)
        return {}, arrays

    def _restore(self, path: Path, manifest: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        vectors = arrays["vectors"]
        if vectors.ndim != 2 or vectors.shape[1] != self.dim or vectors.shape[0] != self.n_rows:
            raise CorruptIndex(f"{path}: vector matrix does not match its rows")
        self.vectors = Growable(np.float32, width=self.dim, data=vectors)
        if "hnsw" in arrays:
            try:
                self.hnsw = faiss.deserialize_index(arrays["hnsw"])
            except RuntimeError as exc:
                raise CorruptIndex(f"{path}: unreadable HNSW graph: {exc}") from None
            if self.hnsw.ntotal != vectors.shape[0]:
                raise CorruptIndex(f"{path}: HNSW graph does not match its vectors")
