"""Seeded string hashing and partial selection, vectorized over a batch: what the id tables
(``sleuth.recommend.idtable``) place and evict rows with."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["fingerprints", "mix", "smallest"]

_FNV_PRIME = np.uint64(0x100000001B3)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def mix(x: np.ndarray) -> np.ndarray:
    """splitmix64's finalizer, elementwise on uint64 (wrapping arithmetic is intended)."""
    x = x + _GOLDEN
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def fingerprints(ids: Sequence[str], seed: int = 0) -> np.ndarray:
    """uint64[len(ids)]: a seeded hash of each string, vectorized over the batch (FNV-1a over
    code points, then splitmix64); stable across processes, unlike ``hash``."""
    arr = np.asarray(ids, dtype=str)
    n, width = arr.shape[0], arr.dtype.itemsize // 4
    basis = mix(np.array([seed & 0xFFFFFFFFFFFFFFFF], np.uint64))[0]
    h = np.full(n, basis, np.uint64)
    if n and width:
        # numpy pads with NUL code points; skipping zeros makes the hash independent of the
        # batch's widest string (an id with a NUL inside merely shares a fingerprint)
        codes = np.ascontiguousarray(arr).view(np.uint32).reshape(n, width).astype(np.uint64)
        for j in range(width):
            c = codes[:, j]
            h = np.where(c != 0, (h ^ c) * _FNV_PRIME, h)
    return mix(h)


def smallest(cand: np.ndarray, keys: list[np.ndarray], n: int) -> np.ndarray:
    """The ``n`` entries of ``cand`` smallest by ``keys`` (lexicographic, first key first), in no
    particular order: a partition per key on the tied remainder instead of sorting all rows,
    which matters when many rows share a key (one ``now`` for a whole batch)."""
    if n >= cand.size or not keys:
        return cand[:n]
    if n == 0:
        return cand[:0]
    primary = keys[0][cand]
    cut = np.partition(primary, n - 1)[n - 1]
    below = cand[primary < cut]
    tied = cand[primary == cut]
    return np.concatenate([below, smallest(tied, keys[1:], n - below.size)])
