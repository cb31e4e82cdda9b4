"""Whether two rankings agree as exactly as floats allow: what a sharded collection's answer
must be to one collection's holding the same items (the tests and ``benchmarks/sharded.py``
check it). Each breaks ties by its own docnos, so tied items may come in another order."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from sleuth.types import Hit

__all__ = ["same_ranking"]


def same_ranking(ref: Sequence[Hit], got: Sequence[Hit], *, tol: float = 1e-4) -> str | None:
    """None when ``got`` ranks as ``ref``: as many hits, the same score at each position
    (within ``tol``, relative and absolute), the same ids in each run of tied scores (the last
    run of the list may hold other items of that score: the ones the cut at ``k`` left out
    differ too); else what differs."""
    if len(got) != len(ref):
        return f"{len(got)} hits, not {len(ref)}"
    a = np.array([h.score for h in ref], np.float64)
    b = np.array([h.score for h in got], np.float64)
    off = np.flatnonzero(np.abs(a - b) > tol * np.maximum(1.0, np.abs(a)))
    if off.size:
        i = int(off[0])
        return f"score at rank {i + 1}: {b[i]!r}, not {a[i]!r}"
    start = 0
    while start < len(ref):
        end = start + 1
        while end < len(ref) and abs(a[end] - a[start]) <= tol * max(1.0, abs(a[start])):
            end += 1
        if end < len(ref) and {h.id for h in ref[start:end]} != {h.id for h in got[start:end]}:
            return f"ids at ranks {start + 1}-{end}: {[h.id for h in got[start:end]]}, not " + str(
                [h.id for h in ref[start:end]]
            )
        start = end
    return None
