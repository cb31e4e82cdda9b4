"""A migration's state, kept in the store's metadata under ``migration`` (one JSON value,
written in the same transaction as whatever it describes: a backfill batch's vectors, the
cutover's switch of the active encoder).

Phases: ``backfill`` (the other encoder's vectors are being computed; queries use the old space
through the mapped or compatible query) → ``ready`` (every item has both; evaluate, then cut
over) → ``switched`` (the new encoder is active; the old vectors are kept, writes still encode
with both, ``rollback`` goes back to ``ready``) → ``finished`` (``drop_old`` deleted the old
vectors; the record stays for the evaluation it holds, and a new migration may start). Before
the cutover, ``cancel_migration`` ends it as ``cancelled`` (the new vectors deleted).
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from typing import Any

from sleuth.encoders.base import Encoder

__all__ = ["ACTIVE", "META_KEY", "PHASES", "Side", "State"]

META_KEY = "migration"
PHASES = ("backfill", "ready", "switched", "finished", "cancelled")
ACTIVE = ("backfill", "ready", "switched")  # phases in which writes encode with both
QUERIES = ("mapped", "compatible", "old")


@dataclass(frozen=True)
class Side:
    """One encoder of the migration: its spec (``get_encoder`` recreates it), id and dim."""

    spec: str
    id: str
    dim: int

    @staticmethod
    def of(encoder: Encoder) -> Side:
        return Side(encoder.spec, encoder.id, encoder.dim)


@dataclass(frozen=True, kw_only=True)
class State:
    """``old``/``new``: the encoders migrated from and to; ``query``: how queries are encoded
    while the old vectors are searched ("mapped", "compatible": the new model as is, "old");
    ``map``: the query map's report and file; ``cursor``: the docno the backfill's main pass
    reached; ``encoded``: texts it encoded; ``evaluation``: the last report."""

    old: Side
    new: Side
    phase: str = "backfill"
    query: str = "mapped"
    map: dict[str, Any] | None = None
    cursor: int = 0
    encoded: int = 0
    started: float = field(default_factory=time.time)
    backfilled: float | None = None
    switched: float | None = None
    evaluation: dict[str, Any] | None = None

    @property
    def active(self) -> bool:
        return self.phase in ACTIVE

    def replace(self, **changes: Any) -> State:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @staticmethod
    def from_dict(value: dict[str, Any]) -> State:
        given = dict(value)
        old, new = Side(**given.pop("old")), Side(**given.pop("new"))
        return State(old=old, new=new, **given)
