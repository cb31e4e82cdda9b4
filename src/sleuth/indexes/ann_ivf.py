"""The approximate search structure of float32 dense indexes above the exact threshold: a faiss
inverted file (IVF) over int8 codes, whose candidates ``DenseIndex`` rescores from the
full-precision vectors.

Why IVF and not HNSW: adding a row to an IVF is one product with the list centroids and an
append, ~100,000 rows/s here, where building faiss's HNSW (M 32, efConstruction 200) ran at
~330 rows/s, so a million rows took most of an hour under the write lock. The lists are learned
once (k-means over the rows when the index first crosses the threshold); every later row only
joins its nearest list. int8 codes (one byte a dimension, ranges per dimension, not residuals)
keep the lists at a quarter of the vectors' size, and the vectors stay on disk, memory-mapped
(``sleuth.indexes.vectorfile``): one copy of each, the rescoring of ``max(k, rescore)``
candidates brings the answer to full precision. An l2 index (``DenseIndex(metric="l2")``) is
the same structure by faiss ``METRIC_L2`` (an L2 coarse quantizer, distances to the int8
codes), its distances negated into scores.

On disk: the trained, empty index (centroids and int8 ranges, a few MB) in the index file, and
each row's code, prefixed by its list number (faiss ``sa_encode``), in a ``RowFile`` that a save
appends to. Opening hands those codes to faiss's lists in one call (no distance is computed);
compaction does the same with the survivors.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from sleuth.indexes.compressed import one_omp_thread
from sleuth.indexes.vectorfile import RowFile

__all__ = ["TRAIN_ROWS_PER_LIST", "IVFCodes", "ListCodes", "Prepared", "spread"]

MIN_ROWS_PER_LIST = 16  # k-means needs this many training rows per list (faiss's own minimum)
TRAIN_ROWS_PER_LIST = 64  # and learns from at most this many (a sample spread over the rows)
# A search scans at least this many rows (more lists than ``nprobe`` in a small index): with
# fewer, recall depends on how well the few lists probed fit the data.
MIN_SCAN_ROWS = 4096
SMALL_BATCH = 1024  # rows encoded with one OpenMP thread (see ``one_omp_thread``)


class ListCodes(RowFile):
    """``uint8[n, code bytes]``: each row's list number and int8 code, in row order
    (``<index>.ivf.<token>.u8``)."""

    tag, ext, dtype = "ivf", "u8", np.uint8


class IVFCodes:
    """A faiss ``IndexIVFScalarQuantizer`` (int8, inner product or L2) whose ids are the
    index's live rows (dead ones are removed from the lists: ``remove``), and the codes of
    every row (``ListCodes``) it is saved as."""

    def __init__(self, index: Any, codes: ListCodes, trained: np.ndarray) -> None:
        self.index = index
        self.codes = codes
        self.trained = trained  # the centroids and int8 ranges, serialized without the lists
        self.l2 = index.metric_type == faiss.METRIC_L2  # scores are negated distances

    @classmethod
    def train(cls, sample: np.ndarray, nlist: int, metric: str = "ip") -> IVFCodes:
        """An empty structure with at most ``nlist`` lists learned from ``sample``
        (``float32[m, dim]``; fewer lists when it is small), by ``metric`` "ip" or "l2"."""
        dim = sample.shape[1]
        nlist = max(1, min(nlist, sample.shape[0] // MIN_ROWS_PER_LIST))
        l2 = metric == "l2"
        index = faiss.IndexIVFScalarQuantizer(
            faiss.IndexFlatL2(dim) if l2 else faiss.IndexFlatIP(dim),
            dim,
            nlist,
            faiss.ScalarQuantizer.QT_8bit,
            faiss.METRIC_L2 if l2 else faiss.METRIC_INNER_PRODUCT,
            False,  # codes of the vectors, not residuals: a code does not depend on its list
        )
        index.cp.min_points_per_centroid = MIN_ROWS_PER_LIST
        index.cp.max_points_per_centroid = TRAIN_ROWS_PER_LIST
        index.cp.seed = 1234
        index.cp.niter = 10  # faiss's 25 cost seconds at the threshold, for no recall here
        index.train(np.ascontiguousarray(sample, np.float32))
        return cls(index, ListCodes(index.sa_code_size()), faiss.serialize_index(index))

    @property
    def ntotal(self) -> int:
        return int(self.index.ntotal)

    @property
    def nlist(self) -> int:
        return int(self.index.nlist)

    def encode(self, vectors: np.ndarray) -> np.ndarray:
        """``uint8[n, code bytes]``: list numbers and codes (the slow half of an add)."""
        with one_omp_thread() if vectors.shape[0] < SMALL_BATCH else contextlib.nullcontext():
            return np.asarray(self.index.sa_encode(np.ascontiguousarray(vectors, np.float32)))

    def add(self, codes: np.ndarray) -> None:
        """Append rows ``len(codes)..`` with these codes (from ``encode``)."""
        self._lists(codes, len(self.codes))
        self.codes.extend(codes)

    def _lists(self, codes: np.ndarray, start: int) -> None:
        ids = np.arange(start, start + codes.shape[0], dtype=np.int64)
        self.index.add_sa_codes(np.ascontiguousarray(codes), ids)

    def _fill(self) -> None:
        """The lists hold every row of the codes file."""
        start = 0
        for block in self.codes.blocks():
            self._lists(block, start)
            start += block.shape[0]

    def remove(self, rows: np.ndarray) -> None:
        """Take these rows out of the lists (their codes stay in the file, for the row
        numbers): a search then needs no selector to skip them. Each row's list is the prefix
        of its code, so only those lists are rewritten: a small write's cost does not grow
        with the index (faiss's ``remove_ids`` scans every list: 20-100 ms at a million)."""
        rows = np.unique(np.asarray(rows, np.int64))
        if not rows.size:
            return
        prefix = self.codes.rows(rows)[:, : self.index.coarse_code_size()].astype(np.int64)
        lists = np.zeros(rows.size, np.int64)
        for byte in range(prefix.shape[1]):  # the list number, little-endian (faiss)
            lists |= prefix[:, byte] << (8 * byte)
        invlists, width = self.index.invlists, int(self.index.code_size)
        removed = 0
        order = np.argsort(lists, kind="stable")
        starts = np.flatnonzero(np.diff(lists[order], prepend=-1))
        for group, number in zip(np.split(rows[order], starts[1:]), lists[order][starts].tolist()):
            size = int(invlists.list_size(number))
            ids = faiss.rev_swig_ptr(invlists.get_ids(number), size)  # a view of the list
            codes = faiss.rev_swig_ptr(invlists.get_codes(number), size * width)
            found = np.flatnonzero((ids[:, None] == group[None, :]).any(axis=1))
            for at in found[::-1].tolist():  # from the end: the last entry is never one to go
                last = size - 1
                if at < last:  # the last entry moves into the hole
                    code = np.ascontiguousarray(codes[last * width : size * width])
                    invlists.update_entry(number, at, int(ids[last]), faiss.swig_ptr(code))
                invlists.resize(number, last)
                size = last
                removed += 1
        self.index.ntotal = self.ntotal - removed

    def keep(self, live: np.ndarray) -> None:
        """Keep rows ``live`` (ascending), numbered 0.. again."""
        self.codes.keep(live)
        self.index.reset()
        self._fill()

    def search(self, queries: np.ndarray, k: int, nprobe: int, sel: Any = None) -> tuple[Any, Any]:
        """``(rows int64[nq, k], scores float32[nq, k])`` by the int8 codes, best first, -1 /
        -inf where fewer are found, from the ``nprobe`` nearest lists, or more: as many as hold
        ``MIN_SCAN_ROWS`` rows on average. ``sel``: a faiss ID selector over rows, or None."""
        params = faiss.SearchParametersIVF()  # type: ignore[attr-defined]
        covering = -(-self.nlist * MIN_SCAN_ROWS // max(self.ntotal, 1))
        params.nprobe = min(max(nprobe, covering), self.nlist)
        if sel is not None:
            params.sel = sel
        scores, rows = self.index.search(np.ascontiguousarray(queries), k, params=params)
        scores = -scores if self.l2 else scores  # faiss gives squared distances
        return rows, np.where(rows >= 0, scores, -np.inf).astype(np.float32)

    @property
    def nbytes(self) -> int:
        """Memory of the lists: codes and row ids, and the centroids."""
        per_row = int(self.index.code_size) + 8
        return self.ntotal * per_row + self.nlist * int(self.index.d) * 4

    # -- persistence -------------------------------------------------------------------------

    @classmethod
    def restore(
        cls, trained: np.ndarray, index_path: Path, name: object, n: int, dim: int, metric: str
    ) -> IVFCodes:
        """The structure of ``trained`` holding the ``n`` rows of the codes file ``name``
        beside ``index_path``; RuntimeError (faiss's, or when they do not fit) or CorruptIndex
        (the codes file)."""
        index = faiss.deserialize_index(trained)
        kind = faiss.METRIC_L2 if metric == "l2" else faiss.METRIC_INNER_PRODUCT
        if (
            not isinstance(index, faiss.IndexIVFScalarQuantizer)
            or index.d != dim
            or index.ntotal
            or index.metric_type != kind
        ):
            raise RuntimeError(f"not an empty int8 {metric} IVF of dim {dim}")
        out = cls(index, ListCodes.open(index_path, name, n, int(index.sa_code_size())), trained)
        out._fill()
        return out


@dataclass(frozen=True)
class Prepared:
    """Rows a dense index is to add: the vectors and, once its IVF exists, their codes in it."""

    vectors: np.ndarray  # float32[n, dim]
    ivf: IVFCodes | None = None  # the structure ``codes`` belong to
    codes: np.ndarray | None = None  # uint8[n, code bytes]

    def __len__(self) -> int:
        return int(self.vectors.shape[0])


def spread(n: int, limit: int) -> np.ndarray:
    """``int64[min(n, limit)]``: rows ``0..n-1`` spread evenly, ascending (a training sample)."""
    return np.unique(np.linspace(0, n - 1, min(n, limit)).astype(np.int64))
