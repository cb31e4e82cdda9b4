"""One BLAS thread for thin products.

Products with few columns (one query against a few thousand vectors, one query's tokens against
a hundred documents, MUVERA's per-repetition projections) gain nothing from OpenBLAS's second
thread, and when another process holds a core that thread spin-waits: measured here, one query
against SciFact's vectors took 0.3 ms on one thread and 8 ms on two; reranking 100 documents by
MaxSim 36 ms against 59 ms; MUVERA encoding 1.7-5x faster. Wide products keep every thread.
"""

from __future__ import annotations

from typing import Any

__all__ = ["one_blas_thread"]

_CONTROLLER: Any = None


def one_blas_thread() -> Any:
    """A context limiting BLAS to one thread (the library scan is done once per process)."""
    global _CONTROLLER
    if _CONTROLLER is None:
        from threadpoolctl import ThreadpoolController

        _CONTROLLER = ThreadpoolController()
    return _CONTROLLER.limit(limits=1, user_api="blas")
