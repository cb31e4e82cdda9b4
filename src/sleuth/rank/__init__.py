"""Rank: rankers over a short candidate list (``Ranker``; MaxSim rerank) and the exact
late-interaction (MaxSim) kernels they and the token index score with."""

from __future__ import annotations

from sleuth.rank.base import Ranker, Ranking
from sleuth.rank.maxsim import from_int8, maxsim, maxsim_all, to_int8

__all__ = ["Ranker", "Ranking", "from_int8", "maxsim", "maxsim_all", "to_int8"]
