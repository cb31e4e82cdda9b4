"""The search modes: mode name -> ``Plan``. A new mode is one more entry here; a new ranker is
a ``sleuth.rank.Ranker`` subclass named in a plan's ``rankers``; a new retriever is a
``sleuth.retrieve.Retriever`` that ``retrievers_for`` builds, named in a plan's ``retrievers``."""

from __future__ import annotations

from typing import Any

from sleuth.errors import InvalidInput
from sleuth.rank.learned import LearnedRanker
from sleuth.rank.rerank import MaxSimRanker
from sleuth.search.fusion import HybridFusion
from sleuth.search.plan import Plan

__all__ = ["BASE_MODES", "LATE_MODES", "MODES", "PLANS", "TRAINED_MODES", "plan_for"]


HYBRID = HybridFusion()

PLANS: dict[str, Plan] = {
    "lexical": Plan(retrievers=("lexical",)),
    "dense": Plan(retrievers=("dense",)),
    "hybrid": Plan(retrievers=("lexical", "dense"), fusion=HYBRID),
    "hybrid+maxsim": Plan(
        retrievers=("lexical", "dense"), fusion=HYBRID, rankers=(MaxSimRanker,), late=True
    ),
    "muvera": Plan(retrievers=("muvera",), late=True),
    "maxsim-exact": Plan(retrievers=("maxsim-exact",), late=True),
    # the fused top 100 reordered by the collection's trained model (Collection.train_ranker)
    "ranked": Plan(
        retrievers=("lexical", "dense"), fusion=HYBRID, rankers=(LearnedRanker,), trained=True
    ),
}
MODES = tuple(PLANS)
BASE_MODES = tuple(mode for mode, plan in PLANS.items() if not plan.late and not plan.trained)
LATE_MODES = tuple(mode for mode, plan in PLANS.items() if plan.late)  # LateConfig(enabled=True)
TRAINED_MODES = tuple(mode for mode, plan in PLANS.items() if plan.trained)  # train_ranker


def plan_for(mode: Any, *, late: bool) -> Plan:
    """The plan of ``mode`` for a collection with (``late``) or without late interaction."""
    plan = PLANS.get(mode) if isinstance(mode, str) else None
    if plan is None:
        raise InvalidInput(f"unknown mode {mode!r}; allowed: {', '.join(PLANS)}", mode=mode)
    if plan.late and not late:
        raise InvalidInput(
            f"mode {mode!r} needs late interaction, which this collection was created "
            "without; create one with config late.enabled = true",
            mode=mode,
        )
    return plan
