"""Exact late-interaction (ColBERT MaxSim, a.k.a. Chamfer) scoring over a flat token store.

The token vectors of all documents sit in one matrix ``tokens: float16|int8|float32[n_tokens, d]``
and ``offsets: int64[n_docs + 1]`` says which rows belong to which document: document ``i`` owns
rows ``offsets[i]:offsets[i + 1]``. Int8 storage carries one ``scales: float32[n_tokens]``
per row (symmetric per-vector quantization, value = int8 * scale; see ``to_int8``).

``maxsim`` scores a query against a few hundred given documents (the rerank stage);
``maxsim_all`` scans the whole collection for many queries at once (the exact reference that
approximate late-interaction indexes are measured against). Both do one matrix product per
block of token rows and a segment max per document, never a Python loop per document.

A document with no tokens cannot match anything: ``maxsim`` scores it ``-inf`` (0 would put it
above documents whose best matches are negative), and ``maxsim_all`` never returns it.

    >>> import numpy as np
    >>> tokens = np.eye(3, dtype=np.float32)            # doc 0 owns rows 0-1, doc 1 row 2
    >>> offsets = np.array([0, 2, 3])
    >>> maxsim(np.array([[1, 0, 0], [0, 0, 1]], np.float32), tokens, offsets, np.array([0, 1]))
    array([1., 1.], dtype=float32)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from sleuth._blas import one_blas_thread
from sleuth.errors import InvalidInput

__all__ = ["from_int8", "maxsim", "maxsim_all", "to_int8"]

_STORED = (np.dtype(np.float16), np.dtype(np.float32), np.dtype(np.int8))
# Bytes of float32 similarities one block may hold: big enough for BLAS to run at full speed,
# small enough that a scan of millions of tokens never holds more than this at once.
_BLOCK_BYTES = 64 * 2**20
_QUERY_TOKENS_PER_PASS = 8192


def to_int8(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric per-row int8 quantization: ``float[n, d] -> (int8[n, d], float32[n])``.

    Each row is scaled so its largest magnitude maps to 127, so ``q * scales[:, None]``
    restores it within half a step (``scale / 2``) per entry. All-zero rows get scale 0.
    """
    x = np.asarray(x, dtype=np.float32)
    if x.ndim != 2:
        raise InvalidInput(f"to_int8 needs a 2-d array [n, d], got shape {x.shape}")
    if not np.isfinite(x).all():
        raise InvalidInput("to_int8: the vectors contain NaN or infinity")
    peak = np.abs(x).max(axis=1) if x.shape[1] else np.zeros(x.shape[0], np.float32)
    scales = (peak / 127.0).astype(np.float32)
    safe = np.where(scales > 0, scales, 1.0)[:, None]
    q = np.clip(np.rint(x / safe), -127, 127).astype(np.int8)
    return q, scales


def from_int8(q: np.ndarray, scales: np.ndarray) -> np.ndarray:
    """``(int8[n, d], float32[n]) -> float32[n, d]``, the inverse of ``to_int8`` up to rounding."""
    return np.asarray(q, np.float32) * np.asarray(scales, np.float32)[:, None]


def _check_store(
    tokens: np.ndarray, offsets: np.ndarray, scales: np.ndarray | None, dim: int
) -> tuple[np.ndarray, np.ndarray | None]:
    if tokens.ndim != 2 or tokens.dtype not in _STORED:
        raise InvalidInput(
            f"tokens must be a 2-d float16, float32 or int8 array, got {tokens.dtype}{tokens.shape}"
        )
    if tokens.shape[1] != dim:
        raise InvalidInput(f"query vectors have {dim} dims but the tokens have {tokens.shape[1]}")
    offsets = np.asarray(offsets)
    if offsets.ndim != 1 or offsets.size == 0 or offsets.dtype.kind not in "iu":
        raise InvalidInput("offsets must be a 1-d integer array [n_docs + 1]")
    if offsets[0] != 0 or offsets[-1] != tokens.shape[0]:
        raise InvalidInput(
            f"offsets must start at 0 and end at n_tokens={tokens.shape[0]}, "
            f"got {offsets[0]}..{offsets[-1]}"
        )
    if scales is not None:
        scales = np.asarray(scales, np.float32)
        if scales.shape != (tokens.shape[0],):
            raise InvalidInput(f"scales must be float32[{tokens.shape[0]}], got {scales.shape}")
    elif tokens.dtype == np.int8:
        raise InvalidInput("int8 tokens need their per-row scales (see to_int8)")
    return offsets.astype(np.int64, copy=False), scales


def _check_query(query: np.ndarray, what: str = "query") -> np.ndarray:
    query = np.asarray(query, np.float32)
    if query.ndim != 2 or query.shape[0] == 0:
        raise InvalidInput(f"{what} must be float32[q, d] with q >= 1, got shape {query.shape}")
    return query


def _rows_of(offsets: np.ndarray, docs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Token rows of ``docs`` laid end to end, and each doc's length: ``(int64[t], int64[m])``."""
    starts, lengths = offsets[docs], offsets[docs + 1] - offsets[docs]
    total = int(lengths.sum())
    # Row r of doc j is starts[j] + (r - first output position of doc j).
    shift = np.repeat(starts - (np.cumsum(lengths) - lengths), lengths)
    return shift + np.arange(total, dtype=np.int64), lengths


def _block(tokens: np.ndarray, scales: np.ndarray | None, rows: np.ndarray | slice) -> np.ndarray:
    """``float32[t, d]`` of the given rows; BLAS has no float16/int8 matmul worth using."""
    x = tokens[rows]  # a view when rows is a slice: never write into it
    if scales is not None:
        return np.multiply(x, scales[rows][:, None], dtype=np.float32)
    return x.astype(np.float32, copy=False)


def _segment_max(sims: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Max over each run of ``lengths`` rows: ``float32[t, c] -> float32[len(lengths), c]``;
    an empty run gives -inf."""
    out = np.full((lengths.size, sims.shape[1]), -np.inf, np.float32)
    full = lengths > 0
    if full.any():
        starts = (np.cumsum(lengths) - lengths)[full]
        out[full] = np.maximum.reduceat(sims, starts, axis=0)
    return out


def maxsim(
    query: np.ndarray,
    tokens: np.ndarray,
    offsets: np.ndarray,
    docs: np.ndarray,
    scales: np.ndarray | None = None,
) -> np.ndarray:
    """MaxSim of one query against the given documents: ``float32[m]``.

    ``query: float32[q, d]``, ``docs: int64[m]`` (document numbers, repeats allowed). Score of
    doc ``j`` = sum over query tokens of the max dot product with doc ``j``'s tokens; ``-inf``
    for a doc with no tokens.
    """
    query = _check_query(query)
    offsets, scales = _check_store(tokens, offsets, scales, query.shape[1])
    docs = np.asarray(docs)
    if docs.ndim != 1 or (docs.size and docs.dtype.kind not in "iu"):
        raise InvalidInput(f"docs must be a 1-d integer array, got {docs.dtype}{docs.shape}")
    docs = docs.astype(np.int64, copy=False)
    n_docs = offsets.size - 1
    if docs.size and (docs.min() < 0 or docs.max() >= n_docs):
        raise InvalidInput(f"docs must be in [0, {n_docs}), got {docs.min()}..{docs.max()}")
    if (offsets[docs + 1] < offsets[docs]).any():
        raise InvalidInput("offsets must be non-decreasing")
    rows, lengths = _rows_of(offsets, docs)
    with one_blas_thread():  # a thin product (see sleuth._blas)
        sims = _block(tokens, scales, rows) @ query.T  # float32[doc tokens, query tokens]
    per_token = _segment_max(sims, lengths)
    out = per_token.sum(axis=1)  # -inf rows (empty docs) stay -inf
    return out.astype(np.float32, copy=False)


def _merge_top(
    best_ids: np.ndarray, best: np.ndarray, ids: np.ndarray, scores: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """Keep the k best of the current top-k and a new block; equal scores by lower docno."""
    all_ids = np.concatenate([best_ids, np.broadcast_to(ids, scores.shape)], axis=1)
    all_scores = np.concatenate([best, scores], axis=1)
    order = np.lexsort((all_ids, -all_scores), axis=1)[:, :k]
    return np.take_along_axis(all_ids, order, 1), np.take_along_axis(all_scores, order, 1)


def maxsim_all(
    queries: Sequence[np.ndarray],
    tokens: np.ndarray,
    offsets: np.ndarray,
    k: int,
    allowed: np.ndarray | None = None,
    scales: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-k documents by MaxSim for each query, scanning every token of the collection.

    ``queries``: one ``float32[q_i, d]`` per query. ``allowed: bool[n_docs]``, True = may be
    returned (the convention of every sleuth filter mask).
    Returns ``(docnos: int64[nq, k], scores: float32[nq, k])``, best first, equal scores in
    docno order, padded with -1 / -inf when fewer than ``k`` documents qualify (excluded and
    empty documents never do).

    All queries' tokens go into one matrix so each block of document tokens is read (and
    converted to float32) once per pass; memory stays near ``_BLOCK_BYTES`` however big the
    collection is.
    """
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
        raise InvalidInput(f"k must be a positive integer, got {k!r}")
    if len(queries) == 0:
        raise InvalidInput("maxsim_all needs at least one query")
    qs = [_check_query(q, f"query {i}") for i, q in enumerate(queries)]
    dim = qs[0].shape[1]
    if any(q.shape[1] != dim for q in qs):
        raise InvalidInput("all queries must have the same number of dims")
    offsets, scales = _check_store(tokens, offsets, scales, dim)
    n_docs = offsets.size - 1
    lengths = np.diff(offsets)
    if (lengths < 0).any():
        raise InvalidInput("offsets must be non-decreasing")
    keep = lengths > 0
    if allowed is not None:
        allowed = np.asarray(allowed)
        if allowed.shape != (n_docs,) or allowed.dtype != np.bool_:
            raise InvalidInput(
                f"allowed must be bool[{n_docs}], got {allowed.dtype}{allowed.shape}"
            )
        keep &= allowed
    docs = np.flatnonzero(keep)

    ids = np.full((len(qs), k), -1, np.int64)
    scores = np.full((len(qs), k), -np.inf, np.float32)
    # Passes over groups of queries keep the similarity block's width bounded.
    group: list[int] = []
    groups: list[list[int]] = []
    width = 0
    for i, q in enumerate(qs):
        if group and width + q.shape[0] > _QUERY_TOKENS_PER_PASS:
            groups.append(group)
            group, width = [], 0
        group.append(i)
        width += q.shape[0]
    groups.append(group)
    for members in groups:
        sel = np.asarray(members)
        ids[sel], scores[sel] = _scan(
            [qs[i] for i in members], tokens, offsets, scales, docs, k, ids[sel], scores[sel]
        )
    return ids, scores


def _scan(
    qs: list[np.ndarray],
    tokens: np.ndarray,
    offsets: np.ndarray,
    scales: np.ndarray | None,
    docs: np.ndarray,
    k: int,
    ids: np.ndarray,
    scores: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """One pass over the allowed ``docs`` for a group of queries, merged into their current
    top-k (``ids``, ``scores``)."""
    q_all = np.concatenate(qs)  # float32[total query tokens, d]
    q_starts = np.cumsum([0] + [q.shape[0] for q in qs[:-1]])
    budget = max(256, _BLOCK_BYTES // (4 * q_all.shape[0]))  # document tokens per block
    lengths = offsets[docs + 1] - offsets[docs]
    ends = np.cumsum(lengths)
    first = 0
    while first < docs.size:
        # Whole documents only, so no document's max straddles two blocks; a document longer
        # than the budget gets a block of its own.
        last = max(
            first + 1,
            int(np.searchsorted(ends, ends[first] - lengths[first] + budget, side="right")),
        )
        block_docs = docs[first:last]
        lo, hi = offsets[block_docs[0]], offsets[block_docs[-1] + 1]
        if hi - lo == ends[last - 1] - ends[first] + lengths[first]:
            rows: np.ndarray | slice = slice(lo, hi)  # contiguous docs: a view, no gather
        else:
            rows, _ = _rows_of(offsets, block_docs)
        sims = _block(tokens, scales, rows) @ q_all.T  # float32[block tokens, query tokens]
        per_token = np.maximum.reduceat(
            sims, (ends[first:last] - lengths[first:last]) - (ends[first] - lengths[first]), axis=0
        )
        block_scores = np.add.reduceat(per_token, q_starts, axis=1).T  # float32[nq, docs]
        ids, scores = _merge_top(ids, scores, block_docs[None, :], block_scores, k)
        first = last
    return ids, scores
