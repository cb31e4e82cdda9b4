"""The BM25 scoring loop, compiled with numba: accumulate over postings, then a k-sized heap.

Like bm25s, main's postings carry precomputed weights (idf × normalized tf) and scores go into a
dense array per query; rows added since the last merge (mid and delta), and main's too while its
weights are out of date after a write, are weighted here from their raw term frequencies.
Filters and tombstones only matter when choosing the top k.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def _worse(va, ra, vb, rb):  # type: ignore[no-untyped-def]
    """Is (va, ra) ranked below (vb, rb)? Higher score first, lower row on ties."""
    return va < vb or (va == vb and ra > rb)


@njit(cache=True, nogil=True)
def _sift(heap_v, heap_r, pos, size):  # type: ignore[no-untyped-def]
    v, r = heap_v[pos], heap_r[pos]
    while True:
        child = 2 * pos + 1
        if child >= size:
            break
        if child + 1 < size and _worse(
            heap_v[child + 1], heap_r[child + 1], heap_v[child], heap_r[child]
        ):
            child += 1
        if not _worse(heap_v[child], heap_r[child], v, r):
            break
        heap_v[pos], heap_r[pos] = heap_v[child], heap_r[child]
        pos = child
    heap_v[pos], heap_r[pos] = v, r


@njit(cache=True, nogil=True)
def _top_k(scores, allowed, k, out_rows, out_scores):  # type: ignore[no-untyped-def]
    """The k best allowed rows with a positive score, best first, into the outputs.

    The min-heap starts full of (0, -1) sentinels, so the scan has one well-predicted branch
    (``s > worst``); rows come in ascending order, so a later row with an equal score never
    displaces an earlier one (ties go to the lower row).
    """
    heap_v = np.zeros(k, np.float32)
    heap_r = np.full(k, -1, np.int64)
    for r in range(scores.shape[0]):
        s = scores[r]
        if s > heap_v[0] and allowed[r]:
            heap_v[0], heap_r[0] = s, r
            _sift(heap_v, heap_r, 0, k)
    for last in range(k - 1, -1, -1):  # pop the worst to the back: ends sorted best first
        if heap_r[0] >= 0:
            out_rows[last], out_scores[last] = heap_r[0], heap_v[0]
        heap_v[0], heap_r[0] = heap_v[last], heap_r[last]
        _sift(heap_v, heap_r, 0, last)
    # Sentinels sorted to the front of the output when fewer than k rows scored: shift up.
    found = 0
    for i in range(k):
        if out_rows[i] >= 0:
            out_rows[found], out_scores[found] = out_rows[i], out_scores[i]
            found += 1
    for i in range(found, k):
        out_rows[i], out_scores[i] = -1, -np.inf


@njit(cache=True, nogil=True, inline="always")
def _weigh(scores, ptr, rows, tfs, t, idf, norm):  # type: ignore[no-untyped-def]
    """Add term ``t``'s postings of one segment to ``scores``, weighed from their tfs."""
    if t < ptr.shape[0] - 1:
        w = idf[t]
        for p in range(ptr[t], ptr[t + 1]):
            r = rows[p]
            tf = tfs[p]
            scores[r] += w * tf / (tf + norm[r])


@njit(cache=True, nogil=True)
def search_kernel(  # type: ignore[no-untyped-def]
    main_ptr,
    main_rows,
    main_w,
    main_tfs,
    weighted,
    mid_ptr,
    mid_rows,
    mid_tfs,
    delta_ptr,
    delta_rows,
    delta_tfs,
    idf,
    norm,
    allowed,
    q_ptr,
    q_terms,
    k,
    out_rows,
    out_scores,
):
    """Fill ``out_rows: int64[nq, k]`` (-1 padded) and ``out_scores: float32[nq, k]``.

    ``main_w``: main's per-posting weights idf × tf / (tf + norm) when ``weighted``, else
    they are computed from ``main_tfs``; ``norm: float32[n_rows]`` the length normalization
    k1 (1 - b + b len / avgdl); ``allowed: bool[n_rows]``.
    """
    scores = np.zeros(norm.shape[0], np.float32)
    for qi in range(q_ptr.shape[0] - 1):
        for j in range(q_ptr[qi], q_ptr[qi + 1]):
            t = q_terms[j]
            if weighted and t < main_ptr.shape[0] - 1:
                for p in range(main_ptr[t], main_ptr[t + 1]):
                    scores[main_rows[p]] += main_w[p]
            elif not weighted:
                _weigh(scores, main_ptr, main_rows, main_tfs, t, idf, norm)
            _weigh(scores, mid_ptr, mid_rows, mid_tfs, t, idf, norm)
            _weigh(scores, delta_ptr, delta_rows, delta_tfs, t, idf, norm)
        _top_k(scores, allowed, k, out_rows[qi], out_scores[qi])
        scores[:] = 0.0
