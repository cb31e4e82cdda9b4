"""Stage timings, as traces and responses report them."""

from __future__ import annotations

import time

__all__ = ["ms_since"]


def ms_since(start: float) -> float:
    """Milliseconds (3 decimals) from ``start``, a ``time.perf_counter()`` reading, to now."""
    return round((time.perf_counter() - start) * 1000, 3)
