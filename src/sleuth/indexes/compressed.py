"""Compressed search structures for dense vectors, in faiss: a flat scan or an HNSW graph over
float16, int8 or binary codes, each answering with rows and similarities (higher is better).

- ``float16``: IEEE half precision (faiss ``QT_fp16``), 2 bytes a dimension.
- ``int8``: one byte a dimension, with an offset and a scale **per dimension** learned from the
  vectors (each dimension's min and max; faiss ``QT_8bit``). Per dimension rather than per
  vector because embedding dimensions differ in spread (in MiniLM's SciFact vectors the widest
  dimension spans several times the median one), so one range per vector would spend most of
  its 256 levels on values the narrow dimensions never take; and faiss's HNSW over scalar codes
  takes per-dimension (or one global) ranges only, so the graph and the flat scan share one
  code. A value outside the learned range (a vector added after training) is clipped to it;
  ``DenseIndex`` learns the ranges again as the index grows.
- ``binary``: the sign bit of each dimension, packed 8 to a byte (``numpy.packbits`` order, the
  last byte zero-padded), compared by Hamming distance ``h``; the query is binarized the same
  way. The score is ``1 - 2 h / dim``, the cosine of the two +-1 vectors. 1/32 of float32.

Rows come back best first with equal scores in row order, so an answer does not depend on the
batch it was asked in.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import faiss
import numpy as np

from sleuth.config import DenseConfig

__all__ = ["Codes", "graph_bytes", "one_omp_thread", "pack_signs"]

_SQ: dict[str, Any] = {
    "float16": faiss.ScalarQuantizer.QT_fp16,
    "int8": faiss.ScalarQuantizer.QT_8bit,
}
TRAIN_ROWS = 1 << 16  # rows the int8 ranges are learned from (spread evenly over the index)


@contextlib.contextmanager
def one_omp_thread() -> Iterator[None]:
    """One OpenMP thread for this thread's faiss calls: a flat scan opens a parallel region
    even for one query, and on a busy machine waiting for the second thread cost 24 ms where
    one thread took 0.17 ms (5,183 int8 codes, measured here). ``omp_set_num_threads`` sets
    the calling thread's setting only, so other threads' searches keep theirs."""
    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(before)


def pack_signs(vectors: np.ndarray) -> np.ndarray:
    """``uint8[n, ceil(dim / 8)]``: bit ``j`` set where ``vectors[:, j] > 0``."""
    return np.packbits(np.asarray(vectors) > 0, axis=1)


def graph_bytes(hnsw: Any) -> int:
    """Memory of a faiss HNSW graph: neighbour lists, their offsets and each node's level."""
    return int(hnsw.neighbors.size() * 4 + hnsw.offsets.size() * 8 + hnsw.levels.size() * 4)


class Codes:
    """One faiss index over ``dim``-dimensional vectors stored as ``storage`` (not float32):
    flat (exact scan) or an HNSW graph whose node storage is that flat index."""

    def __init__(self, storage: str, dim: int, index: Any, graph: bool) -> None:
        self.storage, self.dim, self.index, self.graph = storage, dim, index, graph
        self.binary = storage == "binary"
        # scalar codes may be by squared distance (an l2 space): their scores are its negative
        self.l2 = not self.binary and index.metric_type == faiss.METRIC_L2
        self._flat: Any = None  # the graph's node storage, downcast (made once)

    @classmethod
    def make(cls, storage: str, dim: int, config: DenseConfig | None, metric: str = "ip") -> Codes:
        """An empty structure: an HNSW graph built as ``config`` says, or flat when None;
        ``metric`` "ip" or "l2" (binary codes are compared by Hamming distance either way)."""
        kind = faiss.METRIC_L2 if metric == "l2" else faiss.METRIC_INNER_PRODUCT
        bits = 8 * -(-dim // 8)
        index: Any  # faiss's stubs type each class apart
        if storage == "binary":
            if config is None:
                return cls(storage, dim, faiss.IndexBinaryFlat(bits), False)
            index = faiss.IndexBinaryHNSW(bits, config.hnsw_m)
        elif config is None:
            index = faiss.IndexScalarQuantizer(dim, _SQ[storage], kind)
            return cls(storage, dim, index, False)
        else:
            index = faiss.IndexHNSWSQ(dim, _SQ[storage], config.hnsw_m, kind)
        index.hnsw.efConstruction = config.ef_construction
        return cls(storage, dim, index, True)

    @property
    def ntotal(self) -> int:
        return int(self.index.ntotal)

    @property
    def trained(self) -> bool:
        return bool(self.index.is_trained)

    @property
    def flat(self) -> Any:
        """The flat index of the codes: this one, or the graph's node storage."""
        if not self.graph:
            return self.index
        if self._flat is None:
            down = faiss.downcast_IndexBinary if self.binary else faiss.downcast_index
            self._flat = down(self.index.storage)
        return self._flat

    def train(self, sample: np.ndarray) -> None:
        """Learn the int8 ranges (float16 and binary need nothing)."""
        if not self.trained:
            self.index.train(np.ascontiguousarray(sample, np.float32))

    def add(self, vectors: np.ndarray) -> None:
        self.index.add(self._input(vectors))

    def _input(self, vectors: np.ndarray) -> np.ndarray:
        """What faiss takes: packed signs for binary, float32 rows otherwise."""
        vectors = np.ascontiguousarray(vectors, np.float32)
        return pack_signs(vectors) if self.binary else vectors

    def encode(self, vectors: np.ndarray) -> np.ndarray:
        """``uint8[n, code bytes]``: the codes these vectors are stored as."""
        if self.binary:
            return pack_signs(vectors)
        return np.asarray(self.flat.sa_encode(np.ascontiguousarray(vectors, np.float32)))

    def decode(self, codes: np.ndarray) -> np.ndarray:
        """``float32[n, dim]``: what the codes stand for (binary: +-1)."""
        if self.binary:
            bits = np.unpackbits(codes, axis=1)[:, : self.dim]
            return bits.astype(np.float32) * 2 - 1
        return np.asarray(self.flat.sa_decode(np.ascontiguousarray(codes, np.uint8)))

    @property
    def nbytes(self) -> int:
        """Memory of the codes and, for a graph, its links."""
        flat = self.flat
        size = flat.code_size if self.binary else flat.sa_code_size()
        return int(self.ntotal * size + (graph_bytes(self.index.hnsw) if self.graph else 0))

    # -- search ------------------------------------------------------------------------------

    def search(
        self, queries: np.ndarray, k: int, params: Any, *, scan: bool = False
    ) -> tuple[np.ndarray, np.ndarray]:
        """``(rows int64[nq, k], scores float32[nq, k])``, -1 / -inf where fewer are found.
        ``params``: faiss search parameters (a selector, efSearch) or None; ``scan``: the flat
        codes even when there is a graph (an exact answer over what a filter allows)."""
        index = self.flat if scan else self.index
        with one_omp_thread() if queries.shape[0] < 32 else contextlib.nullcontext():
            distances, rows = index.search(self._input(queries), k, params=params)
        rows = rows.astype(np.int64, copy=False)
        if self.binary:
            scores = 1.0 - (2.0 / self.dim) * distances.astype(np.float32)
        else:
            scores = -np.asarray(distances, np.float32) if self.l2 else np.asarray(distances)
        scores = np.where(rows >= 0, scores, -np.inf).astype(np.float32)
        order = np.lexsort((np.where(rows >= 0, rows, np.iinfo(np.int64).max), -scores), axis=1)
        return np.take_along_axis(rows, order, 1), np.take_along_axis(scores, order, 1)

    # -- persistence -------------------------------------------------------------------------

    def serialize(self) -> np.ndarray:
        if self.binary:
            return np.asarray(faiss.serialize_index_binary(self.index))
        return np.asarray(faiss.serialize_index(self.index))

    @classmethod
    def deserialize(cls, storage: str, dim: int, data: np.ndarray, graph: bool) -> Codes:
        """RuntimeError (faiss's) when ``data`` is not such an index."""
        # faiss returns the concrete class (a downcast of it would not own the index)
        index: Any
        kind: Any
        if storage == "binary":
            index = faiss.deserialize_index_binary(data)
            kind = faiss.IndexBinaryHNSW if graph else faiss.IndexBinaryFlat
        else:
            index = faiss.deserialize_index(data)
            kind = faiss.IndexHNSWSQ if graph else faiss.IndexScalarQuantizer
        out = cls(storage, dim, index, graph)
        bits = 8 * -(-dim // 8)
        if (
            not isinstance(index, kind)
            or index.d != (bits if storage == "binary" else dim)
            or (storage != "binary" and out.flat.sq.qtype != _SQ[storage])
        ):
            raise RuntimeError(f"not a {storage} {'graph' if graph else 'flat'} index of dim {dim}")
        return out
