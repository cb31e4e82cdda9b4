"""The BM25 scoring loop, compiled with numba: accumulate over postings, then top-k."""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def _accumulate(ptr, rows, tfs, t, w, norm, eager, allowed, scores, touched, n):  # type: ignore[no-untyped-def]
    if t >= ptr.shape[0] - 1:
        return n
    for p in range(ptr[t], ptr[t + 1]):
        r = rows[p]
        if not allowed[r]:
            continue
        if eager:
            s = w * tfs[p]
        else:
            s = w * tfs[p] / (tfs[p] + norm[r])
        if scores[r] == 0.0:
            touched[n] = r
            n += 1
        scores[r] += s
    return n


@njit(cache=True, nogil=True)
def search_kernel(  # type: ignore[no-untyped-def]
    main_ptr, main_rows, main_tfn, delta_ptr, delta_rows, delta_tfs,
    idf, row_len, allowed, avgdl, k1, b, q_ptr, q_terms, k, out_rows, out_scores,
):
    """Fill ``out_rows: int64[nq, k]`` (-1 padded) and ``out_scores: float32[nq, k]``.

    ``main_tfn`` holds main's term frequencies already length-normalized (tf / (tf + norm));
    the delta's raw frequencies are normalized here.
    """
    n_rows = row_len.shape[0]
    # The length normalization of each row, once per batch instead of once per posting.
    norm = (k1 * (1.0 - b + b * row_len / avgdl)).astype(np.float32)
    scores = np.zeros(n_rows, np.float32)
    touched = np.empty(n_rows, np.int64)
    for qi in range(q_ptr.shape[0] - 1):
        n = 0
        for j in range(q_ptr[qi], q_ptr[qi + 1]):
            t = q_terms[j]
            w = idf[t]
            n = _accumulate(main_ptr, main_rows, main_tfn, t, w, norm, True, allowed, scores,
                            touched, n)
            n = _accumulate(delta_ptr, delta_rows, delta_tfs, t, w, norm, False, allowed, scores,
                            touched, n)
        cand = touched[:n]
        vals = np.empty(n, np.float32)
        for i in range(n):
            vals[i] = scores[cand[i]]
        m = _top_k(cand, vals, k, out_rows[qi], out_scores[qi])
        for i in range(n):
            scores[cand[i]] = 0.0


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
        if child + 1 < size and _worse(heap_v[child + 1], heap_r[child + 1], heap_v[child],
                                       heap_r[child]):
            child += 1
        if not _worse(heap_v[child], heap_r[child], v, r):
            break
        heap_v[pos], heap_r[pos] = heap_v[child], heap_r[child]
        pos = child
    heap_v[pos], heap_r[pos] = v, r


@njit(cache=True, nogil=True)
def _top_k(cand, vals, k, out_rows, out_scores):  # type: ignore[no-untyped-def]
    """Write the k best (score desc, row asc on ties) into the outputs with a k-sized min-heap."""
    n = cand.shape[0]
    m = min(k, n)
    if m == 0:
        return 0
    heap_v = vals[:m].copy()
    heap_r = cand[:m].copy()
    for pos in range(m // 2 - 1, -1, -1):
        _sift(heap_v, heap_r, pos, m)
    for i in range(m, n):
        if _worse(heap_v[0], heap_r[0], vals[i], cand[i]):
            heap_v[0], heap_r[0] = vals[i], cand[i]
            _sift(heap_v, heap_r, 0, m)
    for size in range(m - 1, -1, -1):  # pop the worst to the back: ends sorted best first
        out_rows[size], out_scores[size] = heap_r[0], heap_v[0]
        heap_v[0], heap_r[0] = heap_v[size], heap_r[size]
        _sift(heap_v, heap_r, 0, size)
    return m
