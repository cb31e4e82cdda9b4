"""Search: a plan per mode (retrievers, fusion, rankers) from a registry, and the hits with
one trace per request."""

from __future__ import annotations

from sleuth.search.hits import Hits, Trace, build_hits
from sleuth.search.plan import Context, Outcome, Plan
from sleuth.search.plans import BASE_MODES, LATE_MODES, MODES, PLANS, TRAINED_MODES, plan_for

__all__ = [
    "BASE_MODES",
    "LATE_MODES",
    "MODES",
    "PLANS",
    "TRAINED_MODES",
    "Context",
    "Hits",
    "Outcome",
    "Plan",
    "Trace",
    "build_hits",
    "plan_for",
]
