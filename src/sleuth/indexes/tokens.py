"""Token vectors per item for late interaction, stored flat: ``float16`` (or ``int8`` with a
per-vector scale) rows, one run of rows per item.

Like the other indexes it is derived from the store (rebuildable from the items' texts), saved
atomically with a manifest (config, dimension, change-log sequence) and caught up from the
change log on open. Rows of deleted or replaced items are tombstones until ``compact``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from sleuth.config import LateConfig
from sleuth.errors import CorruptIndex
from sleuth.indexes.base import Growable, RowIndex, read_npz, write_npz
from sleuth.rank.maxsim import maxsim, maxsim_all, to_int8
from sleuth.types import Candidates

__all__ = ["TokenIndex"]


class TokenIndex(RowIndex):
    """Item ``row`` owns token rows ``offsets[row]:offsets[row + 1]`` of ``tokens``."""

    kind = "tokens"

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

    def add(self, docnos: np.ndarray, per_item: list[np.ndarray]) -> None:
        """``per_item[i]: float32[n_i, dim]`` (unit rows) are item ``docnos[i]``'s vectors."""
        if not per_item:
            return
        for x in per_item:
            if x.ndim != 2 or x.shape[1] != self.dim:
                raise ValueError(f"expected token vectors of shape (n, {self.dim}), got {x.shape}")
        flat = np.concatenate(per_item).astype(np.float32, copy=False)
        if self.dtype == np.int8:
            q, scales = to_int8(flat)
            self.tokens.extend(q)
            self.scales.extend(scales)
        else:
            self.tokens.extend(flat.astype(np.float16))
        ends = self.offsets.view[-1] + np.cumsum([x.shape[0] for x in per_item])
        self.offsets.extend(ends.astype(np.int64))
        self._add_rows(np.asarray(docnos, np.int64))

    def remove(self, docnos: np.ndarray | list[int]) -> np.ndarray:
        rows = super().remove(docnos)
        if self.dead_fraction() > 0.2:
            self.compact()
        return rows

    def compact(self) -> None:
        live = np.flatnonzero(self.row_live.view)
        offsets = self.offsets.view
        lengths = offsets[live + 1] - offsets[live]
        keep = np.repeat(self.row_live.view, np.diff(offsets))  # token rows of live items
        self.tokens = Growable(self.dtype, width=self.dim, data=self.tokens.view[keep])
        if self.dtype == np.int8:
            self.scales = Growable(np.float32, data=self.scales.view[keep])
        self.offsets = Growable(np.int64, data=np.concatenate([[0], np.cumsum(lengths)]))
        self._renumber(live)

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
        known = [(int(d), self.docno_row[int(d)]) for d in docnos if int(d) in self.docno_row]
        offsets = self.offsets.view
        known = [(d, r) for d, r in known if offsets[r + 1] > offsets[r]]
        if not known or query.shape[0] == 0:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        ds = np.array([d for d, _ in known], np.int64)
        rows = np.array([r for _, r in known], np.int64)
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

    # -- persistence -------------------------------------------------------------------------

    def save(self, path: Path) -> None:
        arrays = {
            "tokens": self.tokens.view,
            "offsets": self.offsets.view,
            "row_docno": self.row_docno.view,
            "row_live": self.row_live.view,
        }
        if self._scales is not None:
            arrays["scales"] = self._scales
        manifest = {**self.manifest(), "config": self.config.to_dict(), "dim": self.dim}
        write_npz(path, manifest, arrays)

    @classmethod
    def load(cls, path: Path, config: LateConfig, dim: int) -> TokenIndex | None:
        """The saved index, or None when built with another configuration or dimension."""
        manifest, arrays = read_npz(path, cls.kind, ("tokens", "offsets", "row_docno", "row_live"))
        if manifest.get("config") != config.to_dict() or manifest.get("dim") != dim:
            return None
        index = cls(config, dim)
        index.seq = int(manifest["seq"])
        tokens, offsets, rows = arrays["tokens"], arrays["offsets"], arrays["row_docno"].shape[0]
        if (
            tokens.ndim != 2
            or tokens.shape[1] != dim
            or tokens.dtype != index.dtype
            or offsets.shape != (rows + 1,)
            or offsets[0] != 0
            or offsets[-1] != tokens.shape[0]
            or arrays["row_live"].shape != (rows,)
            or (
                index.dtype == np.int8 and arrays.get("scales", np.zeros(0)).shape != (len(tokens),)
            )
        ):
            raise CorruptIndex(f"{path}: token vectors do not match their rows")
        index.tokens = Growable(index.dtype, width=dim, data=tokens)
        if index.dtype == np.int8:
            index.scales = Growable(np.float32, data=arrays["scales"])
        index.offsets = Growable(np.int64, data=offsets)
        index.row_docno = Growable(np.int64, data=arrays["row_docno"])
        index.row_live = Growable(np.bool_, data=arrays["row_live"])
        live = np.flatnonzero(index.row_live.view)
        index.docno_row = dict(zip(index.row_docno.view[live].tolist(), live.tolist()))
        return index
