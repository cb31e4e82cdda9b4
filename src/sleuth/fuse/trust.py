"""How much to trust each list of the hybrid, without judgments: per collection, a dense weight
chosen on the collection's own pseudo-queries (``choose_alpha``), and per query, the share of
the query's IDF mass on terms the collection holds (its lexical *reach*: what BM25 can match
at all, ``LexicalRetriever.idf_mass``), which scales the lexical weight (``trusted_alpha``).

Why these two. Score fusion at fixed weights loses to its better part where one retriever is
much weaker: the weak list's z-scores are noise of the same size as the strong list's, and they
reorder its ranks. Where the weakness belongs to the collection (a dense model that cannot hold
an entity list, identifiers it reads as word pieces), the collection can measure it on itself:
a pseudo-query made from an item asks for that item, so each weight's reciprocal rank is known.
Where it belongs to the query (words the collection never uses: a paraphrase), BM25 scores
nothing for those words, and the IDF the collection gives the rest says how much of the query
BM25 saw.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

__all__ = ["ALPHAS", "NEUTRAL", "choose_alpha", "trusted_alpha"]

NEUTRAL = 0.5  # the dense weight where the collection gives no clear reason to move
ALPHAS = tuple(round(a, 2) for a in np.linspace(0.0, 1.0, 11))  # the weights choose_alpha tries
MARGIN = 0.02  # the pseudo-query gain in mean reciprocal rank a move away from NEUTRAL needs


def trusted_alpha(alpha: float, reach: float) -> float:
    """The dense weight of one query: the lexical weight ``1 - alpha`` scaled by the query's
    ``reach`` (the share of its IDF mass BM25 can match), the two renormalized to sum to 1.

    >>> trusted_alpha(0.5, 1.0)
    0.5
    >>> trusted_alpha(0.5, 0.25)
    0.8
    """
    lexical = (1.0 - alpha) * float(np.clip(reach, 0.0, 1.0))
    total = lexical + alpha
    return float(alpha / total) if total > 0 else 1.0


def choose_alpha(rr: Mapping[float, float], *, margin: float = MARGIN) -> float:
    """The collection's dense weight from ``rr`` (weight -> mean reciprocal rank its fusion gives
    the pseudo-queries): ``NEUTRAL`` unless another weight beats it by more than ``margin``;
    then the best one (ties: the one nearer ``NEUTRAL``).

    >>> choose_alpha({0.0: 0.9, 0.5: 0.7, 1.0: 0.2})
    0.0
    >>> choose_alpha({0.0: 0.71, 0.5: 0.7, 1.0: 0.2})
    0.5
    """
    base = rr.get(NEUTRAL, -np.inf)
    best = max(rr, key=lambda a: (rr[a], -abs(a - NEUTRAL)))
    return float(best) if rr[best] > base + margin else NEUTRAL
