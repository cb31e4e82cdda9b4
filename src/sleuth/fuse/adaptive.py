"""Per-query balance between lexical and dense, from how rare the query's terms are.

Queries made of rare terms (names, codes, jargon) are where exact matching shines; queries of
common words are where the dense model's paraphrase matching helps. The signal is the mean IDF
of the query's known terms, relative to the largest possible IDF in the collection.
"""

from __future__ import annotations

import numpy as np

__all__ = ["adaptive_alpha"]


def adaptive_alpha(
    term_idf: np.ndarray, n_docs: int, alpha: float, *, strength: float = 0.5, pivot: float = 0.5
) -> float:
    """The dense weight for one query (``alpha`` is the fixed default it moves around).

    No known term: the lexical list is empty, the weight goes to dense (1.0). Otherwise the
    weight moves by ``strength * (pivot - rarity)``, clipped to [0.05, 0.95].

    >>> adaptive_alpha(np.array([]), 100, 0.5)
    1.0
    """
    if term_idf.size == 0:
        return 1.0
    rarity = float(term_idf.mean()) / float(np.log1p(n_docs + 0.5))
    return float(np.clip(alpha + strength * (pivot - rarity), 0.05, 0.95))
