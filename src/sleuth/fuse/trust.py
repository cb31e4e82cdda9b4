"""How much to trust each list of the hybrid, without judgments: per collection, a dense weight
chosen on the collection's own pseudo-queries (``choose_alpha``), and per query, how much of
the query the best lexical hit matches (``lexical_match``), which scales the lexical weight
(``trusted_alpha``).

Why these two. Score fusion at fixed weights loses to its better part where one retriever is
much weaker: the weak list's z-scores are noise of the same size as the strong list's, and they
reorder its ranks. Where the weakness belongs to the collection (a dense model that cannot hold
an entity list, identifiers it reads as word pieces), the collection can measure it on itself:
a pseudo-query made from an item asks for that item, so each weight's reciprocal rank is known
(read with care: such spans favour BM25, see ``choose_alpha``).
Where it belongs to the query (a paraphrase: the words are the collection's, but not those of
the items it asks for), even BM25's best hit matches a small part of the query's IDF mass;
where BM25 is right (a part number, a name, a claim's terms) its best hit matches most of it.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

__all__ = ["ALPHAS", "NEUTRAL", "choose_alpha", "lexical_match", "trusted_alpha"]

NEUTRAL = 0.5  # the dense weight where the collection gives no clear reason to move
ALPHAS = tuple(round(a, 2) for a in np.linspace(0.0, 1.0, 11))  # the weights choose_alpha tries
MARGIN = 0.02  # the pseudo-query gain in mean reciprocal rank a move away from NEUTRAL needs
WEAK = 0.25  # a retriever this far below the other on pseudo-queries is taken as failing here
# The lexical weight is whole from a match of MATCH_FULL up, none at MATCH_NONE or below, linear
# between: chosen on the train queries of SciFact (0.7310 fixed -> 0.7294) and of the paraphrase
# stress set (0.060 -> 0.206), where a full match is about 1 and a paraphrase's about 0.5.
MATCH_NONE, MATCH_FULL = 0.5, 0.7


def lexical_match(top: float, known_idf: float, k1: float) -> float:
    """How much of a query the best lexical hit matches: its BM25 score ``top`` over the score
    of an item of average length holding each of the query's known terms once (their summed
    IDF ``known_idf`` over ``1 + k1``, as BM25 scores one occurrence). About 1 for a full
    match, less for a partial one; 1.0 when the query has no known term (nothing to say).

    >>> lexical_match(4.0, 10.0, 1.5)
    1.0
    >>> lexical_match(1.0, 10.0, 1.5)
    0.25
    """
    if known_idf <= 0:
        return 1.0
    return float(top) * (1.0 + k1) / float(known_idf)


def trusted_alpha(alpha: float, match: float) -> float:
    """The dense weight of one query: the lexical weight ``1 - alpha`` scaled by how fully its
    best hit matches it (``match``, ``lexical_match``: whole from ``MATCH_FULL``, none at
    ``MATCH_NONE``, linear between), the two renormalized to sum to 1.

    >>> trusted_alpha(0.5, 1.2)
    0.5
    >>> round(trusted_alpha(0.5, 0.6), 3)
    0.667
    >>> trusted_alpha(0.5, 0.4)
    1.0
    """
    scale = float(np.clip((match - MATCH_NONE) / (MATCH_FULL - MATCH_NONE), 0.0, 1.0))
    lexical = (1.0 - alpha) * scale
    total = lexical + alpha
    return float(alpha / total) if total > 0 else 1.0


def choose_alpha(
    rr: Mapping[float, float], lexical: float, dense: float, *, margin: float = MARGIN
) -> float:
    """The collection's dense weight from ``rr`` (weight -> mean reciprocal rank its fusion gives
    the pseudo-queries) and each retriever's own (``lexical``, ``dense``): ``NEUTRAL`` unless
    the weaker retriever is nearly useless here (under ``WEAK`` times the stronger) and another
    weight beats ``NEUTRAL`` by more than ``margin``; then the best one (ties: the one nearer
    ``NEUTRAL``). Pseudo-queries are spans of the items' own words, which favour BM25 (SciFact:
    BM25 0.81, MiniLM 0.34 on them; 0.69 and 0.65 nDCG@10 on its real queries), so only a
    collapse of one side is read as the collection's.

    >>> choose_alpha({0.0: 0.9, 0.5: 0.7, 1.0: 0.1}, 0.9, 0.1)
    0.0
    >>> choose_alpha({0.0: 0.9, 0.5: 0.7, 1.0: 0.4}, 0.9, 0.4)
    0.5
    """
    if min(lexical, dense) >= WEAK * max(lexical, dense):
        return NEUTRAL
    base = rr.get(NEUTRAL, -np.inf)
    best = max(rr, key=lambda a: (rr[a], -abs(a - NEUTRAL)))
    return float(best) if rr[best] > base + margin else NEUTRAL
