"""Token vectors per item for late interaction, stored flat: ``float16`` (or ``int8`` with a
per-vector scale) rows, one run of rows per item.

Like the other indexes it is derived from the store (rebuildable from the items' texts), saved
atomically with a manifest (config, dimension, change-log sequence) and caught up from the
change log on open. Rows of deleted or replaced items are tombstones until ``compact``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sleuth.config import LateConfig
from sleuth.errors import CorruptIndex
from sleuth.indexes.base import Growable, Index
from sleuth.rank.maxsim import maxsim, maxsim_all, to_int8
from sleuth.types import Candidates

__all__ = ["TokenIndex"]


class TokenIndex(Index):
    """Documents are token sets; item ``row`` owns token rows ``offsets[row]:offsets[row + 1]``
    of ``tokens``."""

    kind = "tokens"
    required = ("tokens", "offsets")

    def __init__(self, config: LateConfig, dim: int) -> None:
        super().__init__()
        self.config = config
        self.dim = dim
        self.dtype = np.dtype(np.int8 if config.dtype == "int8" else np.float16)
        self.tokens = Growable(self.dtype, width=dim)
        self.scales = Growable(np.float32)  # int8 only
        self.offsets = Growable(np.int64, data=np.zeros(1, np.int64))

    @property
    def n_tokens(self) -> int:
        return self.tokens.size

    @property
    def _scales(self) -> np.ndarray | None:
        return self.scales.view if self.dtype == np.int8 else None

    def _prepare(self, documents: list[np.ndarray]) -> _Rows:
        """``documents[i]: float32[n_i, dim]`` (unit rows), quantized to what is stored."""
        for x in documents:
            if x.ndim != 2 or x.shape[1] != self.dim:
                raise ValueError(f"expected token vectors of shape (n, {self.dim}), got {x.shape}")
        lengths = np.array([x.shape[0] for x in documents], np.int64)
        if not documents:
            return _Rows(np.zeros((0, self.dim), self.dtype), np.zeros(0, np.float32), lengths)
        flat = np.concatenate(documents).astype(np.float32, copy=False)
        if self.dtype == np.int8:
            q, scales = to_int8(flat)
            return _Rows(q, scales, lengths)
        return _Rows(flat.astype(np.float16), np.zeros(0, np.float32), lengths)

    def _append(self, docnos: np.ndarray, rows: _Rows) -> None:
        self.tokens.extend(rows.tokens)
        if self.dtype == np.int8:
            self.scales.extend(rows.scales)
        self.offsets.extend((self.offsets.view[-1] + np.cumsum(rows.lengths)).astype(np.int64))
        self._add_rows(docnos)

    def _keep(self, live: np.ndarray) -> None:
        offsets = self.offsets.view
        lengths = offsets[live + 1] - offsets[live]
        keep = np.repeat(self.row_live.view, np.diff(offsets))  # token rows of live items
        self.tokens = Growable(self.dtype, width=self.dim, data=self.tokens.view[keep])
        if self.dtype == np.int8:
            self.scales = Growable(np.float32, data=self.scales.view[keep])
        self.offsets = Growable(np.int64, data=np.concatenate([[0], np.cumsum(lengths)]))

    def tokens_of(self, docno: int) -> np.ndarray | None:
        """``float32[n, dim]`` of one item, or None."""
        row = self.docno_row.get(int(docno))
        if row is None:
            return None
        a, b = self.offsets.view[row], self.offsets.view[row + 1]
        x = self.tokens.view[a:b].astype(np.float32)
        return x * self.scales.view[a:b, None] if self.dtype == np.int8 else x

    def bytes_per_item(self) -> float:
        stored = self.tokens.view.nbytes + (
            self.scales.view.nbytes if self._scales is not None else 0
        )
        return (stored + self.offsets.view.nbytes) / max(self.n_rows, 1)

    # -- scoring -----------------------------------------------------------------------------

    def rerank(self, query: np.ndarray, docnos: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """MaxSim of ``query: float32[q, dim]`` against ``docnos``: ``(docnos, scores)`` best
        first, equal scores by docno. Items without token vectors, or with an empty set (e.g.
        a text of punctuation only, which the encoder gives no tokens), are dropped: MaxSim has
        nothing to score them by (``maxsim`` would say ``-inf``, which no caller may serve)."""
        ds = np.asarray(docnos, np.int64).reshape(-1)
        rows = self.docno_row.rows_of(ds)
        offsets = self.offsets.view
        known = rows >= 0
        known[known] = offsets[rows[known] + 1] > offsets[rows[known]]
        ds, rows = ds[known], rows[known]
        if not ds.size or query.shape[0] == 0:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        scores = maxsim(query, self.tokens.view, self.offsets.view, rows, self._scales)
        order = np.lexsort((ds, -scores))
        return ds[order], scores[order]

    def search_batch(
        self, queries: list[np.ndarray], k: int, docno_mask: np.ndarray | None = None
    ) -> Candidates:
        """Exact MaxSim over every live item passing ``docno_mask`` (the reference)."""
        out = Candidates.empty(len(queries), k)
        allowed = self.allowed_rows(docno_mask)
        usable = [i for i, q in enumerate(queries) if q.shape[0]]
        if not usable or not allowed.any():
            return out
        rows, scores = maxsim_all(
            [queries[i] for i in usable],
            self.tokens.view,
            self.offsets.view,
            k,
            allowed=allowed,
            scales=self._scales,
        )
        found = rows >= 0
        docnos = np.where(found, self.row_docno.view[np.where(found, rows, 0)], -1)
        out.docnos[usable] = docnos
        out.scores[usable] = np.where(found, scores, -np.inf)
        return out

    def info(self) -> dict[str, Any]:
        return {
            "rows": self.n_rows,
            "live": len(self),
            "vectors": self.n_tokens,
            "bytes_per_item": round(self.bytes_per_item()),
        }

    # -- persistence -------------------------------------------------------------------------

    def params(self) -> dict[str, Any]:
        return {"config": self.config.to_dict(), "dim": self.dim}

    def _payload(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        arrays = {"tokens": self.tokens.view, "offsets": self.offsets.view}
        if self._scales is not None:
            arrays["scales"] = self._scales
        return {}, arrays

    def _restore(self, path: Path, manifest: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        tokens, offsets = arrays["tokens"], arrays["offsets"]
        if (
            tokens.ndim != 2
            or tokens.shape[1] != self.dim
            or tokens.dtype != self.dtype
            or offsets.shape != (self.n_rows + 1,)
            or offsets[0] != 0
            or offsets[-1] != tokens.shape[0]
            or (self.dtype == np.int8 and arrays.get("scales", np.zeros(0)).shape != (len(tokens),))
        ):
            raise CorruptIndex(f"{path}: token vectors do not match their rows")
        self.tokens = Growable(self.dtype, width=self.dim, data=tokens)
        if self.dtype == np.int8:
            self.scales = Growable(np.float32, data=arrays["scales"])
        self.offsets = Growable(np.int64, data=offsets)


@dataclass(frozen=True)
class _Rows:
    """Token vectors prepared for ``TokenIndex``: stored rows, int8 scales, count per item."""

    tokens: np.ndarray
    scales: np.ndarray
    lengths: np.ndarray

    def __len__(self) -> int:
        return int(self.lengths.size)
