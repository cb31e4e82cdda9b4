"""MUVERA fixed-dimensional encodings (FDEs): one vector per token set whose inner product
approximates late-interaction (Chamfer / MaxSim) similarity, so that an ordinary single-vector
index can fetch candidates for exact MaxSim reranking.

Dhulipala et al., "MUVERA: Multi-Vector Retrieval via Fixed Dimensional Encodings", NeurIPS
2024; this follows the reference C++ (google/graph-mining, ``sketching/point_cloud/
fixed_dimensional_encoding.cc``) except where noted. Per repetition (``r_reps`` of them, each
with its own random draws, concatenated):

1. **SimHash partition.** ``k_sim`` Gaussian hyperplanes split space into ``2**k_sim`` buckets,
   so tokens that are close tend to share a bucket: a query token then meets, in its bucket,
   the document tokens most likely to be its MaxSim match. Bucket ids are the inverse Gray code
   of the sign pattern (as in the reference); a bucket's sign pattern is ``gray(id)``.
2. **Asymmetric aggregation.** A query block is the SUM of the query's tokens in the bucket, a
   document block the AVERAGE of the document's tokens there. The query side is then linear
   (each query token counts once, as in MaxSim's sum over query tokens) and the document side
   stands in for "the" matching token, whatever the document's length.
3. **Filling (documents only).** A document bucket with no token takes the token whose sign
   pattern is nearest in Hamming distance to the bucket's (ties: the earliest token), so a
   query token whose bucket the document misses still meets its likeliest neighbour instead
   of zero. Queries never fill: that would add spurious terms to the sum.
4. **Inner projection.** Each block is mapped to ``d_proj`` dims by a random +-1 matrix scaled
   by ``1/sqrt(d_proj)`` (an AMS sketch, dense as in the paper; the reference C++ uses a
   sparse one-entry-per-row variant), which preserves inner products in expectation; identity
   when ``d_proj`` equals the token dim.
5. **Final projection (optional).** A count sketch of the whole FDE to ``final_dim``.

The FDE layout is ``[repetition][bucket][d_proj]`` before the final projection. Every random
matrix is a pure function of ``seed`` (and the token dim), drawn from PCG64's raw output, whose
stream numpy keeps stable across versions, so a query encoded by another process or a later
install matches the stored documents.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import sparse

from sleuth._blas import one_blas_thread
from sleuth.checks import is_int
from sleuth.config import MuveraConfig
from sleuth.errors import InvalidInput
from sleuth.indexes.base import check_offsets

__all__ = ["Muvera"]

# Work arrays per block of documents stay near this many float32/int64 entries.
_BLOCK_ENTRIES = 1 << 21  # (1 << 19 .. 1 << 23 measured within 20%; this was the fastest)
_PROJECT_FIRST_UP_TO = 32  # d_proj up to which tokens are projected before bucketing
_SIMHASH, _AMS, _COUNT_SKETCH = 0, 1, 2  # keys separating the random streams by purpose


def _raw(seed: int, *key: int, n: int) -> np.ndarray:
    """``uint64[n]`` from PCG64 seeded by (seed, *key): one independent stream per purpose."""
    return np.random.PCG64(np.random.SeedSequence([seed, *key])).random_raw(n)


def _gaussians(seed: int, *key: int, n: int) -> np.ndarray:
    """``float64[n]`` standard normal by Box-Muller on raw bits (``Generator.normal``'s
    algorithm is not promised to stay the same across numpy versions)."""
    u = (_raw(seed, *key, n=2 * n) >> np.uint64(11)) * 2.0**-53  # uniform in [0, 1)
    return np.sqrt(-2.0 * np.log1p(-u[:n])) * np.cos(2.0 * np.pi * u[n:])


def _signs(seed: int, *key: int, n: int) -> np.ndarray:
    """``float32[n]`` of independent +-1."""
    return np.where(_raw(seed, *key, n=n) >> np.uint64(63), 1.0, -1.0).astype(np.float32)


class Muvera:
    """Encodes token sets of dim ``dim`` into ``float32[fde_dim]`` vectors (see the module).

    >>> import numpy as np
    >>> m = Muvera(MuveraConfig(k_sim=2, d_proj=4, r_reps=3), dim=8)
    >>> m.encode_documents([np.ones((5, 8), np.float32)]).shape
    (1, 48)
    """

    def __init__(self, config: MuveraConfig, dim: int) -> None:
        if not is_int(dim) or dim < 1:
            raise InvalidInput(f"muvera: the token dim must be a positive integer, got {dim!r}")
        if config.d_proj > dim:
            raise InvalidInput(
                f"muvera.d_proj must be in [1, {dim}] (the token dim), got {config.d_proj}"
            )
        self.config, self.dim = config, int(dim)
        c, seed = config, config.seed
        # All repetitions' hyperplanes side by side: one matmul hashes every token for every
        # repetition (k_sim columns at a time would leave BLAS idle).
        self._hyperplanes = np.concatenate(
            [
                _gaussians(seed, _SIMHASH, r, n=dim * c.k_sim).reshape(dim, c.k_sim)
                for r in range(c.r_reps)
            ],
            axis=1,
        ).astype(np.float32)  # float32[dim, r_reps * k_sim]
        self._ams: np.ndarray | None = None  # float32[r_reps, dim, d_proj]
        if c.d_proj != dim:
            scale = np.float32(1.0 / np.sqrt(c.d_proj))
            self._ams = np.stack(
                [
                    _signs(seed, _AMS, r, n=dim * c.d_proj).reshape(dim, c.d_proj) * scale
                    for r in range(c.r_reps)
                ]
            )
        self._sketch: sparse.csr_matrix | None = None  # count sketch, float32[raw, final_dim]
        raw = c.r_reps * 2**c.k_sim * c.d_proj
        if c.final_dim is not None:
            where = _raw(seed, _COUNT_SKETCH, n=raw) % np.uint64(c.final_dim)
            self._sketch = sparse.csr_matrix(
                (_signs(seed, _COUNT_SKETCH, 1, n=raw), (np.arange(raw), where.astype(np.int64))),
                shape=(raw, c.final_dim),
            )
        buckets = np.arange(2**c.k_sim)
        self._bucket_pattern = buckets ^ (buckets >> 1)  # gray(id): the bucket's sign pattern
        self._popcount = np.array([bin(v).count("1") for v in buckets], np.int64)
        pattern = self._bucket_pattern
        self._bucket_distance = self._popcount[pattern[:, None] ^ pattern[None, :]]
        if self._ams is not None:  # hyperplanes and every repetition's projection, one GEMM
            flat_ams = self._ams.transpose(1, 0, 2).reshape(dim, c.r_reps * c.d_proj)
            self._joint = np.concatenate([self._hyperplanes, flat_ams], axis=1)

    @property
    def fde_dim(self) -> int:
        return self.config.fde_dim

    def encode_documents(self, docs: Sequence[np.ndarray]) -> np.ndarray:
        """``[float32[n_i, dim]] -> float32[len(docs), fde_dim]``; averages, empty buckets
        filled when ``config.fill_empty``. A document with no tokens encodes to zeros."""
        return self.encode_flat(*self._flatten(docs), query=False)

    def encode_queries(self, queries: Sequence[np.ndarray]) -> np.ndarray:
        """``[float32[n_i, dim]] -> float32[len(queries), fde_dim]``; sums, never filled."""
        return self.encode_flat(*self._flatten(queries), query=True)

    def encode_flat(self, tokens: np.ndarray, offsets: np.ndarray, *, query: bool) -> np.ndarray:
        """Encode token sets stored flat (item ``i`` owns ``tokens[offsets[i]:offsets[i + 1]]``,
        ``tokens: float[n_tokens, dim]``, ``offsets: int64[n + 1]``) -> ``float32[n, fde_dim]``."""
        tokens = np.asarray(tokens)
        offsets = np.asarray(offsets)
        if tokens.ndim != 2 or tokens.shape[1] != self.dim or tokens.dtype.kind != "f":
            raise InvalidInput(
                f"muvera: token vectors must be float[n, {self.dim}], got "
                f"{tokens.dtype}{tokens.shape}"
            )
        offsets = check_offsets(offsets, tokens.shape[0], "muvera: offsets")
        n = offsets.size - 1
        out = np.empty((n, self.fde_dim), np.float32)
        # Blocks of items bound the work arrays: per item and repetition, its buckets (in
        # token space when projected late); per token and repetition, its hashes,
        # projection and distance to every bucket.
        c, buckets = self.config, 2**self.config.k_sim
        per_item = c.r_reps * buckets * self.dim
        per_token = max(c.r_reps * max(buckets, c.k_sim + c.d_proj), self.dim)
        max_items = max(1, _BLOCK_ENTRIES // per_item)
        with one_blas_thread():  # GEMMs of a few hundred columns (see sleuth._blas)
            first = 0
            while first < n:
                end = offsets[first] + _BLOCK_ENTRIES // per_token
                last = int(np.searchsorted(offsets, end, side="right")) - 1
                last = min(max(last, first + 1), first + max_items, n)
                block = tokens[offsets[first] : offsets[last]].astype(np.float32, copy=False)
                if not np.isfinite(block).all():
                    raise InvalidInput("muvera: the token vectors contain NaN or infinity")
                out[first:last] = self._encode_block(
                    block, offsets[first : last + 1] - offsets[first], query
                )
                first = last
        return out

    def _flatten(self, items: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        arrays = [np.asarray(x) for x in items]
        for i, x in enumerate(arrays):
            if x.ndim != 2 or x.shape[1] != self.dim:
                raise InvalidInput(
                    f"muvera: item {i} must be float[n, {self.dim}], got shape {x.shape}"
                )
        offsets = np.zeros(len(arrays) + 1, np.int64)
        np.cumsum([x.shape[0] for x in arrays], out=offsets[1:])
        tokens = (
            np.concatenate(arrays).astype(np.float32, copy=False)
            if arrays
            else np.zeros((0, self.dim), np.float32)
        )
        return tokens, offsets

    def _encode_block(self, x: np.ndarray, offsets: np.ndarray, query: bool) -> np.ndarray:
        """``float32[t, dim]`` of ``n`` items -> ``float32[n, fde_dim]``, every repetition at
        once (a loop over them costs more than the work for one short query)."""
        c = self.config
        n, t, reps, buckets = offsets.size - 1, x.shape[0], c.r_reps, 2**c.k_sim
        lengths = np.diff(offsets)
        owner = np.repeat(np.arange(n), lengths)
        # Averaging commutes with the projection, so the order is free: project the tokens
        # first when the projection is narrow (one GEMM for every repetition, after which the
        # scatter moves d_proj floats a token instead of dim), else sum the tokens in dim space
        # and project the buckets (measured: the GEMM wins up to about 32 columns).
        early = self._ams is not None and c.d_proj <= _PROJECT_FIRST_UP_TO
        hashed = x @ (self._joint if early else self._hyperplanes)
        bits = hashed[:, : reps * c.k_sim].reshape(t, reps, c.k_sim) > 0  # first plane first
        weights = 1 << np.arange(c.k_sim - 1, -1, -1)
        # Inverse Gray code: id bit j is the XOR of the pattern's bits above and at j, so
        # buckets next in id order differ in one hyperplane (as in the reference).
        bucket = np.logical_xor.accumulate(bits, axis=2) @ weights  # int64[t, reps]
        # Each token's cell (item, repetition, bucket) in every repetition, in FDE order.
        cell = (owner[:, None] * reps + np.arange(reps)) * buckets + bucket  # int64[t, reps]
        if early:  # row j * reps + r: token j projected by repetition r
            vectors = hashed[:, reps * c.k_sim :].reshape(t * reps, c.d_proj)
            column = np.arange(t * reps)
        else:
            vectors, column = x, np.repeat(np.arange(t), reps)
        member = sparse.csr_matrix(
            (np.ones(t * reps, np.float32), (cell.ravel(), column)),
            shape=(n * reps * buckets, vectors.shape[0]),
        )
        blocks = np.asarray(member @ vectors, np.float32)  # sums, float32[cells, width]
        if not query:  # documents: the centroid of each bucket, and filling
            count = np.bincount(cell.ravel(), minlength=n * reps * buckets)
            blocks /= np.maximum(count, 1)[:, None].astype(np.float32)
            empty = (count.reshape(n, reps, buckets) == 0) & (lengths > 0)[:, None, None]
            if c.fill_empty and c.k_sim > 0 and empty.any():
                source = self._nearest_tokens(cell, bits @ weights, lengths)[empty]
                if early:
                    source = source * reps + np.nonzero(empty)[1]  # that repetition's row
                blocks.reshape(n, reps, buckets, -1)[empty] = vectors[source]
        if self._ams is not None and not early:  # float32[reps, n * buckets, d_proj]
            per_rep = blocks.reshape(n, reps, buckets, self.dim).transpose(1, 0, 2, 3)
            projected = np.matmul(per_rep.reshape(reps, n * buckets, self.dim), self._ams)
            blocks = projected.reshape(reps, n, buckets, c.d_proj).transpose(1, 0, 2, 3)
        flat = np.ascontiguousarray(blocks).reshape(n, -1)
        if self._sketch is None:
            return flat
        return np.asarray(flat @ self._sketch, np.float32)  # sparse product: float32[n, final]

    def _nearest_tokens(
        self, cell: np.ndarray, pattern: np.ndarray, lengths: np.ndarray
    ) -> np.ndarray:
        """For each item, repetition and bucket, the row of the item's token whose sign
        ``pattern: int64[t, reps]`` is nearest in Hamming distance to the bucket's, earliest
        on ties: ``int64[n, reps, buckets]`` (meaningless for items without tokens)."""
        (t, reps), n, buckets = pattern.shape, lengths.size, self._bucket_pattern.size
        if n * buckets <= t:
            # Tokens in one bucket share its pattern, so compare buckets, not tokens: the
            # earliest token of each occupied bucket, then the nearest occupied bucket.
            first = np.full(n * reps * buckets, t, np.int64)
            np.minimum.at(first, cell.ravel(), np.repeat(np.arange(t), reps))
            absent = (self._bucket_distance.max() + 1) * (t + 1)  # never the minimum
            first = np.where(first < t, first, absent).reshape(n, reps, 1, buckets)
            key = self._bucket_distance * (t + 1) + first  # int64[n, reps, buckets, buckets]
            return key.min(axis=3) % (t + 1)
        dist = self._popcount[pattern[:, :, None] ^ self._bucket_pattern]  # [t, reps, buckets]
        key = dist * t + np.arange(t)[:, None, None]  # min key = min distance, then lowest row
        out = np.zeros((n, reps, buckets), np.int64)
        has = lengths > 0
        if has.any():
            starts = (np.cumsum(lengths) - lengths)[has]
            out[has] = np.minimum.reduceat(key, starts, axis=0) % t
        return out
