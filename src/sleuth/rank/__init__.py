"""Rank: exact scoring of a short candidate list (late interaction / MaxSim)."""

from __future__ import annotations

from sleuth.rank.maxsim import from_int8, maxsim, maxsim_all, to_int8

__all__ = ["from_int8", "maxsim", "maxsim_all", "to_int8"]
