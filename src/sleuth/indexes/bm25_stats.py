"""BM25's collection statistics: the live documents, their summed length and each term's
document frequency. One collection reads its own; the shards of a sharded collection each
report theirs for a query's terms, and every shard scores the query with the sums, so that a
document scores what it would in one collection holding every shard's items."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sleuth.config import BM25Config

__all__ = ["BM25Stats", "idf_of", "length_norm"]


@dataclass(frozen=True)
class BM25Stats:
    """``n`` live documents, ``total_len`` their summed length in tokens, ``df``: the document
    frequency of each term (a term the collection knows but no live document holds: 0)."""

    n: int
    total_len: float
    df: Mapping[str, int] = field(default_factory=dict)

    @classmethod
    def summed(cls, parts: Iterable[BM25Stats]) -> BM25Stats:
        """The statistics of the union of disjoint collections (the shards')."""
        n, total, df = 0, 0.0, dict[str, int]()
        for part in parts:
            n += part.n
            total += part.total_len
            for term, count in part.df.items():
                df[term] = df.get(term, 0) + count
        return cls(n, total, df)

    def to_dict(self) -> dict[str, Any]:
        return {"n": self.n, "total_len": self.total_len, "df": dict(self.df)}

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> BM25Stats:
        df = raw["df"]
        return cls(int(raw["n"]), float(raw["total_len"]), {str(t): int(c) for t, c in df.items()})


def idf_of(n: int, df: np.ndarray) -> np.ndarray:
    """``float32[t]``: Lucene's IDF of terms of document frequency ``df`` among ``n`` documents."""
    d = df.astype(np.float64)
    return np.log1p((float(n) - d + 0.5) / (d + 0.5)).astype(np.float32)


def length_norm(row_len: np.ndarray, total_len: float, n: int, config: BM25Config) -> np.ndarray:
    """``float32[rows]``: k1 (1 - b + b len / avgdl) per row, avgdl from ``total_len`` over
    ``n`` documents."""
    avgdl = max(total_len / max(n, 1), 1e-9)
    k1, b = config.k1, config.b
    # k1 (1 - b) + (k1 b / avgdl) len in two passes, no temporaries: recomputed after every
    # write, it is the one O(rows) step of the first search after it
    norm = np.multiply(row_len, np.float32(k1 * b / avgdl), dtype=np.float32)
    norm += np.float32(k1 * (1.0 - b))
    return norm
