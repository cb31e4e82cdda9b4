"""A collection's learned trust in its two retrievers: the dense weight of its hybrid, chosen on
pseudo-queries made from its own items (``sleuth.search.calibration.pseudo_queries``: a thinned
span of an item's text asks for that item), by the reciprocal rank each weight's fusion gives
the item (``sleuth.fuse.trust.choose_alpha``).

Saved as ``models/fusion.json`` (format, library version, the collection's change sequence
number, the chosen weight and the measurements behind it), written atomically, loaded on open.
Without it the hybrid starts from ``FusionConfig.alpha``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from sleuth._version import __version__
from sleuth.config import FusionConfig
from sleuth.errors import InvalidInput
from sleuth.fuse import fuse_hybrid
from sleuth.fuse.trust import ALPHAS, choose_alpha
from sleuth.retrieve.base import Ranked
from sleuth.search.calibration import PSEUDO_QUERIES, pseudo_queries
from sleuth.search.saved import load_json, save_json
from sleuth.store import Store

__all__ = ["FILE", "FusionTrust", "fit_trust"]

FILE = "fusion.json"
FORMAT = 1
RANK_CUT = 10  # reciprocal rank at 10: a source item found below that counts 0

# texts -> per query: the lexical list, the dense list and its lexical match (fuse.trust)
Lists = Callable[[list[str]], list[tuple[Ranked, Ranked, float]]]


@dataclass(frozen=True)
class FusionTrust:
    """``alpha``: the collection's dense weight; ``seq``: the change it was fitted at;
    ``stats``: pseudo-queries, mean reciprocal rank of each list alone and of each weight."""

    alpha: float
    seq: int
    stats: dict[str, Any] = field(default_factory=dict)
    encoder: str | None = None  # whose dense scores it was fitted on

    def manifest(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "sleuth": __version__,
            "seq": self.seq,
            "encoder": self.encoder,
            "alpha": self.alpha,
            "stats": self.stats,
        }

    def save(self, folder: Path) -> Path:
        return save_json(folder / FILE, self.manifest())

    @classmethod
    def load(cls, folder: Path, encoder: str) -> FusionTrust | None:
        """The saved trust, or None (absent; unreadable or fitted with another encoder than
        ``encoder``: warned, as if absent)."""
        return load_json(folder / FILE, FORMAT, cls._parse, "run fit_fusion again", encoder)

    @classmethod
    def _parse(cls, raw: dict[str, Any]) -> FusionTrust:
        alpha = float(raw["alpha"])
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"alpha {alpha!r} is outside [0, 1]")
        return cls(alpha, int(raw["seq"]), raw.get("stats", {}), raw.get("encoder"))


def _reciprocal_rank(docnos: np.ndarray, source: int) -> float:
    hit = np.flatnonzero(docnos[:RANK_CUT] == source)
    return 1.0 / (1 + int(hit[0])) if hit.size else 0.0


def fit_trust(
    store: Store,
    live: np.ndarray,
    text_fields: Sequence[str],
    lists: Lists,
    config: FusionConfig,
    *,
    window: int | None = None,
    seed: int = 0,
) -> FusionTrust:
    """Pseudo-queries of up to ``PSEUDO_QUERIES`` items drawn (seeded) among ``live``, their
    ``lists``, and the weight of ``ALPHAS`` whose fusion (``config`` with per-query trust)
    ranks the source items best, if one retriever fails here and that weight is clearly better
    than the neutral one.

    ``window``: the words of an item the encoder reads (an item's vector holds its first
    ``max_tokens`` model tokens; None: all). Spans come from those only: a span past them asks
    the dense list for text its vector never saw, and would make every long-text collection
    look lexical."""
    docnos = np.flatnonzero(live)
    pick = np.random.default_rng(seed).choice(
        docnos, min(PSEUDO_QUERIES, docnos.size), replace=False
    )
    stored = store.items(sorted(pick.tolist()))
    texts, relevant = pseudo_queries(list(stored.values()), text_fields, window=window)
    asked = [q for q in texts if relevant[q]]  # the background queries ask for nothing
    if not asked:
        raise InvalidInput("the collection has no item with enough text to learn fusion from")
    found = lists([texts[q] for q in asked])
    sources = [next(iter(relevant[q])) for q in asked]
    rr: dict[float, float] = {}
    for alpha in ALPHAS:
        fusion = replace(config, method="score", alpha=alpha, trust=True)
        rr[alpha] = float(
            np.mean(
                [
                    _reciprocal_rank(fuse_hybrid(lex, den, fusion, match=m)[0], source)
                    for (lex, den, m), source in zip(found, sources)
                ]
            )
        )
    single = {
        "lexical": float(np.mean([_reciprocal_rank(f[0][0], s) for f, s in zip(found, sources)])),
        "dense": float(np.mean([_reciprocal_rank(f[1][0], s) for f, s in zip(found, sources)])),
    }
    stats = {
        "pseudo_queries": len(asked),
        "mrr@10": {
            **{name: round(v, 4) for name, v in single.items()},
            **{f"alpha={a}": round(v, 4) for a, v in rr.items()},
        },
    }
    chosen = choose_alpha(rr, single["lexical"], single["dense"])
    return FusionTrust(chosen, store.last_seq(), stats)
