"""Dense vectors: exact inner-product search below a size threshold, faiss HNSW above it, over
float32 vectors or compressed codes (``DenseConfig.storage``) with full-precision rescoring.

Each vector is held once. float32: a numpy matrix for exact scans until HNSW is built, then
the graph's own node storage, which exact scans and ``vector_of`` read in place (a second float
matrix beside faiss's used to double the memory). Compressed (float16, int8, binary;
``sleuth.indexes.compressed``): the codes are the search structure, and the full-precision
vectors stay on disk in a memory-mapped file beside the index (``sleuth.indexes.vectorfile``):
the first pass fetches ``max(k, rescore)`` candidates, which are scored again from that file.

A filter that leaves few items is answered exactly over just those (a graph walk would
starve); a broad filter or tombstones go to HNSW as an ID selector, and any query HNSW leaves
short of ``k`` falls back to exact. Deletes are tombstones; once over a fifth of the rows are
dead the index is compacted. The MUVERA index (``sleuth.indexes.fde``) is one of these over
fixed-dimensional encodings.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from sleuth._blas import one_blas_thread
from sleuth.config import DenseConfig
from sleuth.errors import CorruptIndex
from sleuth.indexes.base import Growable, Index
from sleuth.indexes.compressed import TRAIN_ROWS, Codes, graph_bytes
from sleuth.indexes.vectorfile import FullVectors
from sleuth.types import Candidates

__all__ = ["DenseIndex", "exact_top_k"]

_FAISS_METRIC = {"ip": faiss.METRIC_INNER_PRODUCT, "l2": faiss.METRIC_L2}


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


def _full_vectors_of(path: Path) -> str | None:
    """The full-precision file the index file at ``path`` names, if any (its manifest only)."""
    try:
        with np.load(path, allow_pickle=False) as data:
            name = json.loads(data["__manifest__"].tobytes()).get("full_vectors")
    except Exception:  # absent, damaged, of another kind: names nothing to keep
        return None
    return name if isinstance(name, str) else None


class DenseIndex(Index):
    """Documents are ``float32[n, dim]`` vectors (unit rows: scores are inner products)."""

    kind = "dense"

    def __init__(
        self,
        config: DenseConfig,
        dim: int,
        *,
        derived_from: dict[str, Any] | None = None,
        metric: str = "ip",
    ) -> None:
        """``derived_from``: how the vectors were made when that is not the collection's encoder
        (MUVERA encodings: the token recipe); saved, and a file made otherwise is not loaded.
        ``metric``: "ip" (inner product) or "l2", whose scores are negative squared Euclidean
        distances (faiss ``METRIC_L2``; ``sleuth.spaces``)."""
        super().__init__()
        self.config = config
        self.dim = dim
        self.derived_from = derived_from
        self.metric = metric
        self.storage = config.storage
        compressed = self.storage != "float32"
        # float32: the matrix until HNSW is built, then the graph (IndexHNSWFlat) alone
        self.vectors: Growable | None = None if compressed else Growable(np.float32, dim)
        self._graph: Any = None
        # compressed: the codes (flat or graph), and the full-precision rows on disk
        self.codes: Codes | None = None
        self.full: FullVectors | None = FullVectors(dim) if compressed else None
        self._trained_rows = 0  # rows the int8 ranges were learned from
        self._plain: Any = None

    @property
    def hnsw(self) -> Any:
        """The faiss HNSW index once built, else None."""
        if self.codes is not None:
            return self.codes.index if self.codes.graph else None
        return self._graph

    def _prepare(self, documents: np.ndarray) -> np.ndarray:
        vectors = np.ascontiguousarray(documents, np.float32)
        if vectors.ndim != 2 or vectors.shape[1] != self.dim:
            if vectors.size == 0:
                return np.zeros((0, self.dim), np.float32)
            raise ValueError(f"expected vectors of shape (n, {self.dim}), got {vectors.shape}")
        return vectors

    def _append(self, docnos: np.ndarray, vectors: np.ndarray) -> None:
        self._add_rows(docnos)
        if self.full is None:
            if self._graph is not None:
                self._graph.add(vectors)
            else:
                assert self.vectors is not None
                self.vectors.extend(vectors)
                if len(self) >= self.config.exact_threshold:
                    self._build_float_graph(self.vectors.view)
            return
        self.full.extend(vectors)
        codes = self.codes
        if codes is not None and codes.graph:
            codes.add(vectors)
        elif len(self) >= self.config.exact_threshold:
            self._build_codes(graph=True)
        elif codes is None or (self.storage == "int8" and self.n_rows >= 2 * self._trained_rows):
            self._build_codes(graph=False)  # int8 ranges learned again as the index doubles
        else:
            codes.add(vectors)

    def _keep(self, live: np.ndarray) -> None:
        # Exact mode too: dead rows cost memory, scan time and file size (upserts add a row).
        if self.full is not None:
            self.full.keep(live)
            self._build_codes(graph=live.size >= self.config.exact_threshold)
            return
        kept = self._matrix()[live]  # a copy: the old graph is freed before the new is built
        self._graph = None
        self.vectors = Growable(np.float32, width=self.dim, data=kept)
        if live.size >= self.config.exact_threshold:
            self._build_float_graph(kept)

    def _build_float_graph(self, vectors: np.ndarray) -> None:
        index = faiss.IndexHNSWFlat(self.dim, self.config.hnsw_m, _FAISS_METRIC[self.metric])
        index.hnsw.efConstruction = self.config.ef_construction
        index.add(vectors)
        self._graph, self.vectors = index, None  # the graph holds the only copy now

    def _build_codes(self, *, graph: bool) -> None:
        """The codes of every row again, from the full-precision file (learning int8 ranges)."""
        assert self.full is not None
        self.codes = None
        n = len(self.full)  # the rows after a compaction (``_keep`` runs before renumbering)
        if n == 0:
            return
        codes = Codes.make(self.storage, self.dim, self.config if graph else None, self.metric)
        codes.train(self.full.sample(TRAIN_ROWS))
        self._trained_rows = n
        for block in self.full.blocks():
            codes.add(block)
        self.codes = codes

    def _matrix(self) -> np.ndarray:
        """float32: ``float32[n_rows, dim]``, the search structure's own vectors (no copy; valid
        until the next write)."""
        if self._graph is None:
            assert self.vectors is not None
            return self.vectors.view
        n = int(self._graph.ntotal)
        storage: Any = faiss.downcast_index(self._graph.storage)
        return faiss.rev_swig_ptr(storage.get_xb(), n * self.dim).reshape(n, self.dim)

    def vector_of(self, docno: int) -> np.ndarray | None:
        """``float32[dim]``, a copy (the index may change after the caller's read lock)."""
        row = self.docno_row.get(int(docno))
        if row is None:
            return None
        if self.full is not None:
            return self.full.rows(np.array([row]))[0]
        return np.array(self._matrix()[row])

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
        depth = max(k, self.config.rescore_depth)
        rows, scores = self._first_pass(queries, depth, docno_mask)
        if self.full is not None and self.config.rescore_depth:
            rows, scores = self._rescore(queries, rows, k)
        m = min(k, rows.shape[1])
        rows, scores = rows[:, :m], scores[:, :m]
        found = rows >= 0
        out.docnos[:, :m][found] = self.row_docno.view[rows[found]]
        out.scores[:, :m][found] = scores[found]
        return out

    def _first_pass(
        self, queries: np.ndarray, k: int, docno_mask: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """``(rows int64[nq, k'], scores float32[nq, k'])`` best first, -1 / -inf padded."""
        nq = queries.shape[0]
        filtered = docno_mask is not None
        if self.hnsw is not None and not filtered and len(self) == self.n_rows:
            # The common case, kept lean: no filter, no tombstones, no selector.
            return self._graph_search(queries, k, self._params(k))
        allowed = self.allowed_rows(docno_mask)
        n_allowed = int(allowed.sum()) if filtered else len(self)
        if n_allowed == 0:
            return np.full((nq, 0), -1, np.int64), np.zeros((nq, 0), np.float32)
        if self.hnsw is None or (filtered and n_allowed < self.config.filter_exact_below):
            return self._exact(queries, k, allowed, n_allowed)
        params = faiss.SearchParametersHNSW()  # type: ignore[attr-defined]
        params.efSearch = max(self.config.ef_search, k)
        bitmap = np.packbits(allowed, bitorder="little")
        params.sel = faiss.IDSelectorBitmap(allowed.shape[0], faiss.swig_ptr(bitmap))
        rows, scores = self._graph_search(queries, k, params)
        short = np.flatnonzero((rows >= 0).sum(1) < min(k, n_allowed))
        if short.size:
            rows[short], scores[short] = self._exact(queries[short], k, allowed, n_allowed)
        return rows, scores

    def _graph_search(self, queries: np.ndarray, k: int, params: Any) -> tuple[Any, Any]:
        if self.codes is not None:
            return self.codes.search(queries, k, params)
        scores, rows = self._graph.search(queries, k, params=params)
        scores = -scores if self.metric == "l2" else scores  # faiss gives squared distances
        return rows, np.where(rows >= 0, scores, -np.inf).astype(np.float32)

    def _params(self, k: int) -> Any:
        """Selector-free search parameters, made once per efSearch (SWIG objects are costly)."""
        ef = max(self.config.ef_search, k)
        if self._plain is None or self._plain.efSearch != ef:
            self._plain = faiss.SearchParametersHNSW()  # type: ignore[attr-defined]
            self._plain.efSearch = ef
        return self._plain

    def _exact(
        self, queries: np.ndarray, k: int, allowed: np.ndarray, n_allowed: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """The top ``k`` among the ``allowed`` rows, every one of them scored, padded to ``k``."""
        if self.codes is not None:
            if n_allowed == allowed.shape[0]:
                return self.codes.search(queries, k, None, scan=True)
            params = faiss.SearchParameters()  # type: ignore[attr-defined]
            bitmap = np.packbits(allowed, bitorder="little")  # referenced until faiss returns
            params.sel = faiss.IDSelectorBitmap(allowed.shape[0], faiss.swig_ptr(bitmap))
            return self.codes.search(queries, k, params, scan=True)
        matrix = self._matrix()
        # a small batch is a thin product: one BLAS thread (see sleuth._blas)
        with one_blas_thread() if queries.shape[0] < 32 else contextlib.nullcontext():
            if n_allowed < allowed.shape[0] // 2:
                subset = np.flatnonzero(allowed)
                scores = self._scores(queries, matrix[subset])
            else:
                subset = None
                scores = self._scores(queries, matrix)
                scores[:, ~allowed] = -np.inf
        idx, vals = exact_top_k(scores, min(k, n_allowed))
        if subset is not None:
            idx = subset[idx]
        pad = k - idx.shape[1]
        return (
            np.pad(idx, ((0, 0), (0, pad)), constant_values=-1),
            np.pad(vals, ((0, 0), (0, pad)), constant_values=-np.inf),
        )

    def _scores(self, queries: np.ndarray, matrix: np.ndarray) -> np.ndarray:
        """``float32[nq, n]``: inner products, or for l2 ``-||q - x||^2``."""
        scores = queries @ matrix.T
        if self.metric == "l2":
            scores *= 2
            scores -= np.einsum("nd,nd->n", matrix, matrix)[None, :]
            scores -= np.einsum("qd,qd->q", queries, queries)[:, None]
        return scores

    def _rescore(self, queries: np.ndarray, rows: np.ndarray, k: int) -> tuple[Any, Any]:
        """The top ``k`` of the candidate ``rows`` by full-precision inner product; equal
        scores in row order."""
        assert self.full is not None
        found = rows >= 0
        safe = np.where(found, rows, 0)
        vectors = self.full.rows(safe.ravel()).reshape(*rows.shape, self.dim)
        if self.metric == "l2":
            scores = -np.square(queries[:, None, :] - vectors).sum(-1, dtype=np.float32)
        else:
            scores = np.einsum("qd,qkd->qk", queries, vectors)
        scores[~found] = -np.inf
        order = np.lexsort((np.where(found, rows, np.iinfo(np.int64).max), -scores), axis=1)
        order = order[:, :k]
        return np.take_along_axis(rows, order, 1), np.take_along_axis(scores, order, 1)

    def info(self) -> dict[str, Any]:
        kind = "hnsw" if self.hnsw is not None else "exact"
        return {
            "rows": self.n_rows,
            "live": len(self),
            "kind": kind,
            "storage": self.storage,
            "bytes": self.nbytes,
        }

    @property
    def nbytes(self) -> int:
        """Memory of the search structure (vectors or codes, and the graph's links); the
        full-precision file of compressed storage is on disk (only rows added since the last
        save are in RAM, ``full.ram_bytes``)."""
        if self.codes is not None:
            return self.codes.nbytes
        if self._graph is not None:
            return int(self._graph.ntotal) * self.dim * 4 + graph_bytes(self._graph.hnsw)
        return int(self.vectors.view.nbytes) if self.vectors is not None else 0

    # -- persistence -------------------------------------------------------------------------

    def params(self) -> dict[str, Any]:
        config = self.config.to_dict()
        # Fields added after index format 1 enter the file only off their defaults, so a file
        # written before them (with those defaults) still matches; rescore is a search-time
        # choice: changing it needs no rebuild.
        del config["rescore"]
        if config["storage"] == "float32":
            del config["storage"]
        # null for inner products: files written before l2 existed lack the key, and match
        metric = None if self.metric == "ip" else self.metric
        return {
            "config": config,
            "dim": self.dim,
            "derived_from": self.derived_from,
            "metric": metric,
        }

    def save(self, path: Path) -> None:
        """The index file; for compressed storage, first the full-precision file it names."""
        if self.full is None:
            super().save(path)
            return
        replaced = _full_vectors_of(path)
        self.full.save(path)
        super().save(path)
        self.full.remove_stale(path, replaced)

    def _payload(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        if self.full is not None:
            extra = {
                "full_vectors": self.full.name,  # written by ``save`` just before
                "graph": self.hnsw is not None,
                "trained_rows": self._trained_rows,
            }
            return extra, {} if self.codes is None else {"codes": self.codes.serialize()}
        if self._graph is not None:  # the graph holds the vectors: no second copy on disk
            return {}, {"hnsw": faiss.serialize_index(self._graph)}
        assert self.vectors is not None
        return {}, {"vectors": self.vectors.view}

    def _restore(self, path: Path, manifest: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        if self.full is not None:
            self._restore_codes(path, manifest, arrays)
            return
        if "hnsw" in arrays:  # files before this version also hold the vectors: not needed
            try:
                graph = faiss.deserialize_index(arrays["hnsw"])
            except RuntimeError as exc:
                raise CorruptIndex(f"{path}: unreadable HNSW graph: {exc}") from None
            if graph.ntotal != self.n_rows or graph.d != self.dim:
                raise CorruptIndex(f"{path}: HNSW graph does not match its rows")
            self._graph, self.vectors = graph, None
            return
        vectors = arrays.get("vectors")
        if vectors is None:
            raise CorruptIndex(f"{path}: holds neither vectors nor an HNSW graph", path=str(path))
        if vectors.ndim != 2 or vectors.shape[1] != self.dim or vectors.shape[0] != self.n_rows:
            raise CorruptIndex(f"{path}: vector matrix does not match its rows")
        self.vectors = Growable(np.float32, width=self.dim, data=vectors)

    def _restore_codes(
        self, path: Path, manifest: dict[str, Any], arrays: dict[str, np.ndarray]
    ) -> None:
        self.full = FullVectors.open(path, manifest.get("full_vectors"), self.n_rows, self.dim)
        trained = manifest.get("trained_rows")
        if not isinstance(trained, int) or ("codes" in arrays) != (self.n_rows > 0):
            raise CorruptIndex(f"{path}: its codes do not match its rows", path=str(path))
        self._trained_rows = trained
        if self.n_rows == 0:
            return
        try:
            codes = Codes.deserialize(
                self.storage, self.dim, arrays["codes"], bool(manifest.get("graph"))
            )
        except RuntimeError as exc:
            raise CorruptIndex(f"{path}: unreadable {self.storage} codes: {exc}") from None
        if codes.ntotal != self.n_rows:
            raise CorruptIndex(f"{path}: its codes do not match its rows", path=str(path))
        self.codes = codes
