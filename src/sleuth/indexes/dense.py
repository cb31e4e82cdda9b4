"""Dense vectors: exact search below a size threshold, an approximate structure above it, over
float32 vectors or compressed codes (``DenseConfig.storage``), by inner product or (``metric``
"l2", named spaces: ``sleuth.spaces``) by negative squared Euclidean distance.

Each vector is held once. float32: a numpy matrix for exact scans; above the threshold the
vectors move to a memory-mapped file beside the index (``sleuth.indexes.vectorfile``) and a
faiss inverted file over int8 codes (``sleuth.indexes.ann_ivf``) finds ``max(k, rescore)``
candidates, scored again from that file. Adding to it is cheap (a product with the list
centroids), which a graph is not, and a save appends the new rows to both files. Compressed
(float16, int8, binary; ``sleuth.indexes.compressed``): the codes are the search structure (a
flat scan, or an HNSW graph above the threshold), and the full-precision vectors stay on disk
in the same kind of file, for rescoring.

A filter that leaves few items is answered exactly over just those (an approximate walk would
starve); a broad filter or tombstones go to the structure as an ID selector, and any query it
leaves short of ``k`` falls back to exact. Deletes are tombstones; once over a fifth of the
rows are dead the index is compacted. The MUVERA index (``sleuth.indexes.fde``) is one of
these over fixed-dimensional encodings.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from sleuth.config import DEFAULT_RESCORE, DenseConfig
from sleuth.errors import CorruptIndex
from sleuth.indexes.ann_ivf import TRAIN_ROWS_PER_LIST, IVFCodes, ListCodes, Prepared, spread
from sleuth.indexes.base import Growable, Index
from sleuth.indexes.compressed import TRAIN_ROWS, Codes, one_omp_thread
from sleuth.indexes.dense_exact import exact_rows, exact_top_k, rescore
from sleuth.indexes.dense_files import compressed_files, hnsw_vectors, names_in
from sleuth.indexes.memory import held
from sleuth.indexes.vectorfile import BLOCK_ROWS, FullVectors, RowFile
from sleuth.types import Candidates

__all__ = ["DenseIndex", "exact_top_k"]

IVF_RESCORE = DEFAULT_RESCORE["int8"]  # the IVF's candidates rescored when ``rescore`` is None


class DenseIndex(Index):
    """Documents are ``float32[n, dim]`` vectors (unit rows for cosine: scores are inner
    products; or scores are ``-||q - x||^2``)."""

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
        distances (faiss ``METRIC_L2`` in every structure)."""
        super().__init__()
        self.config = config
        self.dim = dim
        self.derived_from = derived_from
        self.metric = metric
        self.storage = config.storage
        compressed = self.storage != "float32"
        # float32: the matrix until the IVF is built, then the file and the IVF
        self.vectors: Growable | None = None if compressed else Growable(np.float32, dim)
        self.ivf: IVFCodes | None = None
        # compressed: the codes (flat or graph); and the full-precision rows on disk
        self.codes: Codes | None = None
        self.full: FullVectors | None = FullVectors(dim) if compressed else None
        self._trained_rows = 0  # rows the int8 ranges were learned from
        self._plain: Any = None

    @property
    def ann(self) -> Any:
        """The faiss approximate structure (IVF or HNSW) once built, else None."""
        if self.ivf is not None:
            return self.ivf.index
        return self.codes.index if self.codes is not None and self.codes.graph else None

    # -- writes ------------------------------------------------------------------------------

    def _prepare(self, documents: np.ndarray) -> Prepared:
        """Checked vectors and their IVF codes; the IVF is trained here (outside the lock) when
        this batch takes the index over the threshold."""
        vectors = np.ascontiguousarray(documents, np.float32)
        if vectors.ndim != 2 or vectors.shape[1] != self.dim:
            if vectors.size == 0:
                return Prepared(np.zeros((0, self.dim), np.float32))
            raise ValueError(f"expected vectors of shape (n, {self.dim}), got {vectors.shape}")
        ivf = self.ivf
        threshold = self.config.exact_threshold
        if ivf is None and self.vectors is not None and len(self) + len(vectors) >= threshold:
            ivf = IVFCodes.train(self._sample(vectors), self.config.ivf_lists, self.metric)
        if ivf is None:
            return Prepared(vectors)
        return Prepared(vectors, ivf, ivf.encode(vectors))

    def _sample(self, more: np.ndarray) -> np.ndarray:
        """Rows spread evenly over the matrix and ``more`` after it (what k-means learns from)."""
        assert self.vectors is not None
        held = self.vectors.view
        m = held.shape[0]
        pick = spread(m + more.shape[0], TRAIN_ROWS_PER_LIST * self.config.ivf_lists)
        return np.concatenate([held[pick[pick < m]], more[pick[pick >= m] - m]])

    def _append(self, docnos: np.ndarray, rows: Prepared) -> None:
        self._add_rows(docnos)
        vectors = rows.vectors
        if self.storage == "float32":
            threshold = self.config.exact_threshold
            if self.ivf is None and rows.ivf is not None and len(self) >= threshold:
                assert self.vectors is not None
                self._adopt(rows.ivf, self.vectors.view)
            if self.ivf is None:
                assert self.vectors is not None
                self.vectors.extend(vectors)
                return
            assert self.full is not None
            self.full.extend(vectors)
            codes = rows.codes if rows.ivf is self.ivf else None
            self.ivf.add(self.ivf.encode(vectors) if codes is None else codes)
            return
        assert self.full is not None
        self.full.extend(vectors)
        structure = self.codes
        if structure is not None and structure.graph:
            structure.add(vectors)
        elif len(self) >= self.config.exact_threshold:
            self._build_codes(graph=True)
        elif structure is None or (
            self.storage == "int8" and self.n_rows >= 2 * self._trained_rows
        ):
            self._build_codes(graph=False)  # int8 ranges learned again as the index doubles
        else:
            structure.add(vectors)

    def _adopt(self, ivf: IVFCodes, held: np.ndarray) -> None:
        """Move the float32 rows ``held`` (all but the batch being added) into the file and
        ``ivf``; the matrix goes."""
        full = FullVectors(self.dim)
        for start in range(0, held.shape[0], BLOCK_ROWS):
            block = held[start : start + BLOCK_ROWS]
            full.extend(block)
            ivf.add(ivf.encode(block))
        ivf.remove(np.flatnonzero(~self.row_live.view[: held.shape[0]]))
        self.full, self.ivf, self.vectors = full, ivf, None

    def _forget(self, rows: np.ndarray) -> None:
        if self.ivf is not None:
            self.ivf.remove(rows)

    def _keep(self, live: np.ndarray) -> None:
        # Exact mode too: dead rows cost memory, scan time and file size (upserts add a row).
        if self.storage != "float32":
            assert self.full is not None
            self.full.keep(live)
            self._build_codes(graph=live.size >= self.config.exact_threshold)
            return
        if self.ivf is None:
            assert self.vectors is not None
            self.vectors = Growable(np.float32, width=self.dim, data=self.vectors.view[live])
            return
        assert self.full is not None
        if live.size >= self.config.exact_threshold:
            self.full.keep(live)
            self.ivf.keep(live)
            return
        kept = self.full.rows(live)
        self.full, self.ivf = None, None
        self.vectors = Growable(np.float32, width=self.dim, data=kept)

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

    def vector_of(self, docno: int) -> np.ndarray | None:
        """``float32[dim]``, a copy (the index may change after the caller's read lock)."""
        row = self.docno_row.get(int(docno))
        if row is None:
            return None
        if self.full is not None:
            return self.full.rows(np.array([row]))[0]
        assert self.vectors is not None
        return np.array(self.vectors.view[row])

    # -- search ------------------------------------------------------------------------------

    def _rescore_depth(self) -> int:
        if self.ivf is not None:
            return IVF_RESCORE if self.config.rescore is None else self.config.rescore
        return self.config.rescore_depth

    def search_batch(
        self, queries: np.ndarray, k: int, docno_mask: np.ndarray | None = None
    ) -> Candidates:
        """Top ``k`` docnos by the metric's score. ``queries: float32[nq, dim]``."""
        queries = np.ascontiguousarray(queries, np.float32)
        nq = queries.shape[0]
        out = Candidates.empty(nq, k)
        if len(self) == 0 or nq == 0:
            return out
        depth = self._rescore_depth()
        rows, scores = self._first_pass(queries, max(k, depth), docno_mask)
        if self.full is not None and depth:
            rows, scores = rescore(queries, rows, k, self.full, self.metric)
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
        lean = self.ivf is not None or len(self) == self.n_rows
        if self.ann is not None and not filtered and lean:
            # The common case, kept lean: no filter, no selector (the IVF's lists hold only
            # live rows; a graph's tombstones need one).
            return self._ann_search(queries, k, None)
        allowed = self.allowed_rows(docno_mask)
        n_allowed = int(allowed.sum()) if filtered else len(self)
        if n_allowed == 0:
            return np.full((nq, 0), -1, np.int64), np.zeros((nq, 0), np.float32)
        if self.ann is None or (filtered and n_allowed < self.config.filter_exact_below):
            return self._exact(queries, k, allowed, n_allowed)
        bitmap = np.packbits(allowed, bitorder="little")  # referenced until faiss returns
        sel = faiss.IDSelectorBitmap(allowed.shape[0], faiss.swig_ptr(bitmap))
        rows, scores = self._ann_search(queries, k, sel, n_allowed / len(self))
        short = np.flatnonzero((rows >= 0).sum(1) < min(k, n_allowed))
        if short.size:
            rows[short], scores[short] = self._exact(queries[short], k, allowed, n_allowed)
        return rows, scores

    def _ann_search(
        self, queries: np.ndarray, k: int, sel: Any, share: float = 1.0
    ) -> tuple[Any, Any]:
        """``share``: of the live rows, those ``sel`` allows. The IVF probes ``1 / sqrt(share)``
        times more lists for a filter: a 1% filter scans 10x the lists (most of the allowed
        rows near the query, without scanning the whole index)."""
        if self.ivf is not None:
            nprobe = int(np.ceil(self.config.nprobe / np.sqrt(max(share, 1e-9))))
            with one_omp_thread() if queries.shape[0] < 32 else contextlib.nullcontext():
                return self.ivf.search(queries, k, nprobe, sel)
        assert self.codes is not None
        if sel is None:
            return self.codes.search(queries, k, self._params(k))
        params = faiss.SearchParametersHNSW()  # type: ignore[attr-defined]
        params.efSearch = max(self.config.ef_search, k)
        params.sel = sel
        return self.codes.search(queries, k, params)

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
        """The top ``k`` among the ``allowed`` rows, every one of them scored, padded to ``k``:
        from their vectors, or (codes, or most rows of an IVF allowed) from their codes, which
        rescoring brings to full precision without reading every vector from the file."""
        if self.ivf is not None and n_allowed < allowed.shape[0] // 2:
            full = self.full
            assert full is not None
            return exact_rows(queries, k, allowed, n_allowed, full.rows, None, self.metric)
        if self.ivf is None and self.codes is None:
            assert self.vectors is not None
            matrix = self.vectors.view
            return exact_rows(
                queries, k, allowed, n_allowed, matrix.__getitem__, matrix, self.metric
            )
        sel = None
        if n_allowed < allowed.shape[0]:
            bitmap = np.packbits(allowed, bitorder="little")  # referenced until faiss returns
            sel = faiss.IDSelectorBitmap(allowed.shape[0], faiss.swig_ptr(bitmap))
        if self.ivf is not None:
            with one_omp_thread() if queries.shape[0] < 32 else contextlib.nullcontext():
                return self.ivf.search(queries, k, self.ivf.nlist, sel)
        assert self.codes is not None
        params = None
        if sel is not None:
            params = faiss.SearchParameters()  # type: ignore[attr-defined]
            params.sel = sel
        return self.codes.search(queries, k, params, scan=True)

    def info(self) -> dict[str, Any]:
        kind = "ivf" if self.ivf is not None else "hnsw" if self.ann is not None else "exact"
        return {
            "rows": self.n_rows,
            "live": len(self),
            "kind": kind,
            "storage": self.storage,
            "bytes": self.nbytes,
        }

    def usage(self) -> dict[str, int]:
        """Besides the arrays (row maps, float32 vectors below the threshold, the rows not
        saved yet, and the files of full-precision vectors and IVF codes they are mapped
        from): what faiss holds (the IVF's lists, or the compressed codes and a graph's
        links)."""
        in_faiss = self.codes is not None or self.ivf is not None
        return held(self).to_dict(extra_ram=self.nbytes if in_faiss else 0)

    @property
    def nbytes(self) -> int:
        """Memory of the search structure (vectors or codes, a graph's links, the IVF's lists);
        the full-precision file is on disk (only rows added since the last save are in RAM,
        ``full.ram_bytes``)."""
        if self.ivf is not None:
            return self.ivf.nbytes
        if self.codes is not None:
            return self.codes.nbytes
        return int(self.vectors.view.nbytes) if self.vectors is not None else 0

    # -- persistence -------------------------------------------------------------------------

    def params(self) -> dict[str, Any]:
        config = self.config.to_dict()
        # Fields added after index format 1 enter the file only off their defaults, so a file
        # written before them (with those defaults) still matches; rescore and nprobe are
        # search-time choices: changing them needs no rebuild.
        del config["rescore"], config["nprobe"]
        if config["storage"] == "float32":
            del config["storage"]
        if config["ivf_lists"] == DenseConfig.ivf_lists:
            del config["ivf_lists"]
        out = {"config": config, "dim": self.dim, "derived_from": self.derived_from}
        # null for inner products: files written before l2 existed lack the key, and match
        return {**out, "metric": None if self.metric == "ip" else self.metric}

    def save(self, path: Path) -> None:
        """The index file; first the files it names (appended to, or written anew), and after
        it the files no index file names any more (a compaction below the threshold leaves
        none)."""
        before = names_in(path)
        files: dict[str, RowFile] = {
            "full_vectors": FullVectors(self.dim) if self.full is None else self.full,
            "ivf_codes": ListCodes(1) if self.ivf is None else self.ivf.codes,
        }
        for used in (self.full, self.ivf.codes if self.ivf else None):
            if used is not None:
                used.save(path)
        super().save(path)
        for key, file in files.items():
            file.remove_stale(path, before.get(key))

    def _payload(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        if self.ivf is not None:
            assert self.full is not None
            # written by ``save`` just before
            extra: dict[str, Any] = {
                "full_vectors": self.full.name,
                "ivf_codes": self.ivf.codes.name,
            }
            return extra, {"ivf": self.ivf.trained}
        if self.full is not None:
            extra = {
                "full_vectors": self.full.name,
                "graph": self.ann is not None,
                "trained_rows": self._trained_rows,
            }
            return extra, {} if self.codes is None else {"codes": self.codes.serialize()}
        assert self.vectors is not None
        return {}, {"vectors": self.vectors.view}

    def _restore(self, path: Path, manifest: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        if self.storage != "float32":
            self.full, self.codes, self._trained_rows = compressed_files(
                path, manifest, arrays, self.storage, self.n_rows, self.dim
            )
        elif "ivf" in arrays:
            full = FullVectors.open(path, manifest.get("full_vectors"), self.n_rows, self.dim)
            name = manifest.get("ivf_codes")
            try:
                self.ivf = IVFCodes.restore(
                    arrays["ivf"], path, name, self.n_rows, self.dim, self.metric
                )
            except RuntimeError as exc:
                raise CorruptIndex(f"{path}: unreadable IVF: {exc}", path=str(path)) from None
            self.ivf.remove(np.flatnonzero(~self.row_live.view))
            self.full, self.vectors = full, None
        elif "hnsw" in arrays:  # an HNSW graph of an earlier version: its vectors, re-indexed
            held = hnsw_vectors(path, arrays["hnsw"], self.n_rows, self.dim)
            self.vectors = Growable(np.float32, width=self.dim, data=held)
            if len(self) >= self.config.exact_threshold:
                sample = held[spread(held.shape[0], TRAIN_ROWS_PER_LIST * self.config.ivf_lists)]
                self._adopt(IVFCodes.train(sample, self.config.ivf_lists, self.metric), held)
            self.outdated = True  # saved again in this version's layout
        else:
            vectors = arrays.get("vectors")
            if vectors is None:
                raise CorruptIndex(f"{path}: holds neither vectors nor an index", path=str(path))
            if vectors.ndim != 2 or vectors.shape[1] != self.dim or vectors.shape[0] != self.n_rows:
                raise CorruptIndex(f"{path}: vector matrix does not match its rows")
            self.vectors = Growable(np.float32, width=self.dim, data=vectors)
