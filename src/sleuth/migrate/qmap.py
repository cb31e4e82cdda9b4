"""The learned query map (Query Drift Compensation): a linear map from the new encoder's query
vectors into the old encoder's space, fitted on texts both models encoded, so that the new
model can search vectors the old one indexed before any of them is re-encoded.

Two fits, chosen by measurement on a held-out fifth of the sample (how well the mapped vector
of a text finds the old model's vector of the same text among the others': mean reciprocal
rank):

- ``lstsq``: ridge least squares ``W = argmin ||X W - Y||² + λ||W||²``; any dimensions.
- ``procrustes``: the orthogonal (semi-orthogonal when the dimensions differ) ``W = U Vᵀ`` of
  the SVD of ``Xᵀ Y``; keeps the new space's geometry, needs fewer texts.

A map is saved as ``.npz`` (the matrix and its report) next to the collection's store.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sleuth.encoders.base import Encoded, Encoder
from sleuth.errors import CorruptIndex, InvalidInput

__all__ = ["KINDS", "MIN_SAMPLE", "MappedQueries", "QueryMap", "fit_map"]

KINDS = ("lstsq", "procrustes")
MIN_SAMPLE = 20  # texts encoded by both models; fewer cannot measure a map


def _unit(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return (x / np.maximum(norms, 1e-12)).astype(np.float32)


def _fit(kind: str, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``float32[d_new, d_old]``: the map of ``kind`` from rows ``x`` onto rows ``y``."""
    x64, y64 = x.astype(np.float64), y.astype(np.float64)
    if kind == "procrustes":
        u, _, vt = np.linalg.svd(x64.T @ y64, full_matrices=False)
        return (u @ vt).astype(np.float32)
    gram = x64.T @ x64
    ridge = 1e-3 * float(np.trace(gram)) / max(gram.shape[0], 1)
    w = np.linalg.solve(gram + ridge * np.eye(gram.shape[0]), x64.T @ y64)
    return w.astype(np.float32)


def _agreement(w: np.ndarray, x: np.ndarray, y: np.ndarray) -> float:
    """How well mapped rows of ``x`` find their own row of ``y`` among all of ``y``: the mean
    reciprocal rank (a retrieval measure; a mean cosine rewards a map that moves every vector
    toward the space's common direction and ranks worse: on SciFact, MiniLM <- e5, Procrustes
    had the higher held-out cosine, 0.50 vs 0.42, and half the nDCG@10 of least squares)."""
    return _own_rank(_unit(x @ w), y)


def _own_rank(queries: np.ndarray, docs: np.ndarray) -> float:
    """The mean reciprocal rank of each row of ``docs`` for the same row of ``queries``."""
    scores = _unit(queries) @ _unit(docs).T
    own = np.diag(scores)[:, None]
    ranks = 1 + np.sum(scores > own, axis=1)
    return float(np.mean(1.0 / ranks))


@dataclass(frozen=True)
class QueryMap:
    """``matrix: float32[d_new, d_old]``; ``report``: the sample size and held-out mean
    reciprocal rank of each fit (``heldout``), and which was chosen."""

    kind: str
    matrix: np.ndarray
    report: dict[str, Any] = field(default_factory=dict)

    def apply(self, vectors: np.ndarray) -> np.ndarray:
        """``float32[n, d_old]`` unit rows from new-space ``float32[n, d_new]`` ones."""
        return _unit(np.asarray(vectors, np.float32) @ self.matrix)

    def save(self, path: Path) -> None:
        """Write atomically (a temp file renamed into place)."""
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        with open(tmp, "wb") as f:
            np.savez(f, matrix=self.matrix, kind=self.kind, report=json.dumps(self.report))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)

    @staticmethod
    def load(path: Path, dims: tuple[int, int]) -> QueryMap:
        """The map saved in ``path``; ``CorruptIndex`` when unreadable or not ``dims``."""
        try:
            with np.load(path, allow_pickle=False) as data:
                matrix = np.asarray(data["matrix"], np.float32)
                kind, report = str(data["kind"]), json.loads(str(data["report"]))
        except (OSError, ValueError, KeyError) as exc:
            raise CorruptIndex(f"{path}: the query map is unreadable ({exc})") from None
        if matrix.shape != dims or kind not in KINDS:
            raise CorruptIndex(f"{path}: the query map is not {dims[0]}x{dims[1]} ({kind})")
        return QueryMap(kind, matrix, report)


def fit_map(
    new: np.ndarray,
    old: np.ndarray,
    kind: str = "auto",
    *,
    queries: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]] | None = None,
    seed: int = 0,
) -> QueryMap:
    """Fit the map from ``new: float32[n, d_new]`` onto ``old: float32[n, d_old]`` (the same
    ``n`` texts, each model's unit vectors). ``kind``: "lstsq", "procrustes" or "auto" (the
    one with the better held-out reciprocal rank); both are measured on a held-out fifth, and the
    chosen one is refitted on every text.

    ``queries(rows)``: the pseudo-queries of those texts, encoded by the new and by the old
    model's query side; asked for the held-out fifth only. The report's ``queries`` then
    says how well each finds its own text's old vector there (reciprocal rank): the old
    model's own queries against the new model's mapped ones, which tells whether mapping is
    worth it while the old model is still loaded.

    >>> rng = np.random.default_rng(0)
    >>> x = _unit(rng.normal(size=(200, 8)))
    >>> fit_map(x, x).report["heldout"]["procrustes"] > 0.99
    True
    """
    if kind not in ("auto", *KINDS):
        raise InvalidInput(f"map must be auto, {' or '.join(KINDS)}, got {kind!r:.40}")
    n = len(new)
    if n < MIN_SAMPLE or len(old) != n:
        raise InvalidInput(
            f"a query map needs at least {MIN_SAMPLE} texts encoded by both models, got {n}"
        )
    order = np.random.default_rng(seed).permutation(n)
    test, train = order[: max(n // 5, 1)], order[max(n // 5, 1) :]
    heldout = {
        k: round(_agreement(_fit(k, new[train], old[train]), new[test], old[test]), 4)
        for k in KINDS
    }
    chosen = max(KINDS, key=lambda k: heldout[k]) if kind == "auto" else kind
    report: dict[str, Any] = {"sample": n, "heldout": heldout, "chosen": chosen, "asked": kind}
    if queries is not None:
        new_q, old_q = queries(test)
        w = _fit(chosen, new[train], old[train])
        report["queries"] = {
            "old": round(_own_rank(old_q, old[test]), 4),
            "mapped": round(_own_rank(new_q @ w, old[test]), 4),
        }
    return QueryMap(chosen, _fit(chosen, new, old), report)


class MappedQueries(Encoder):
    """The new encoder's queries in the old space: what a collection searches by while its
    vectors are the old encoder's (queries only; documents are never encoded by it)."""

    def __init__(self, encoder: Encoder, query_map: QueryMap | None, dim: int) -> None:
        self.inner = encoder
        self.map = query_map
        self.id = f"{encoder.id}->{'compatible' if query_map is None else query_map.kind}"
        self.dim = dim
        self.max_tokens = encoder.max_tokens

    def encode(self, texts: list[str], *, batch_size: int = 32, tokens: bool = False) -> Encoded:
        return Encoded(self.encode_queries(texts))

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        vectors = self.inner.encode_queries(texts)  # a model may encode queries otherwise
        return vectors if self.map is None else self.map.apply(vectors)
