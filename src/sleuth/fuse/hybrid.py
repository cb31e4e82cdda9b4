"""The hybrid fusion of one query's lexical and dense lists, as ``FusionConfig`` says: RRF, or
normalize (the lexical list among as many candidates as the dense one holds) and the convex
sum. ``Collection.search`` and ``benchmarks/fusion.py`` both call it."""

from __future__ import annotations

import numpy as np

from sleuth.config import FusionConfig
from sleuth.fuse.adaptive import adaptive_alpha
from sleuth.fuse.combine import Ranked, rrf, weighted_sum
from sleuth.fuse.normalize import NORMALIZERS, normalize_among
from sleuth.fuse.trust import trusted_alpha

__all__ = ["fuse_hybrid"]


def fuse_hybrid(
    lexical: Ranked,
    dense: Ranked,
    config: FusionConfig,
    *,
    term_idf: np.ndarray | None = None,
    n_docs: int = 1,
    match: float = 1.0,
) -> Ranked:
    """``lexical`` and ``dense`` fused; ``term_idf`` (the IDF of the query's known terms) and
    ``n_docs`` are read only when ``config.adaptive``, ``match`` (how much of the query the
    best lexical hit matches, ``sleuth.fuse.trust.lexical_match``) only when ``config.trust``.

    >>> lex = (np.array([500]), np.array([3.0]))  # one document holds the query's part number
    >>> den = (np.arange(100), np.linspace(1.0, 0.0, 100))  # the dense top 100 lacks it
    >>> fuse_hybrid(lex, den, FusionConfig())[0][:3].tolist()
    [500, 0, 1]
    """
    if config.method == "rrf":
        return rrf([lexical, dense], k=config.rrf_k, weights=config.weights)
    alpha = config.alpha
    if config.adaptive:
        idf = term_idf if term_idf is not None else np.zeros(0)
        alpha = adaptive_alpha(idf, max(n_docs, 1), config.alpha)
    if config.trust:
        alpha = trusted_alpha(alpha, match)
    norm = NORMALIZERS[config.normalization]
    # BM25 returns only matching documents, the others score 0: its list is normalized among
    # as many candidates as the dense list holds, so a query's only exact match (a part
    # number) is not a flat, uninformative list.
    lex_scores, no_match = normalize_among(norm, lexical[1], dense[0].size)
    return weighted_sum(
        [(lexical[0], lex_scores), (dense[0], norm(dense[1]))],
        [1.0 - alpha, alpha],
        missing=[no_match, None],
    )
