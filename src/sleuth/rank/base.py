"""The ranker contract: a batch of candidate lists (one per query) -> a new order of them."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

if TYPE_CHECKING:  # the token index imports this package: no runtime import of these
    from sleuth.encoders.late import LateInteraction
    from sleuth.retrieve.base import QueryBatch, Ranked

__all__ = ["Ranker", "Ranking", "Sources"]


@dataclass(frozen=True)
class Ranking:
    """A ranker's answer for a batch, per query: ``lists`` (the new order, top ``k``),
    ``scores`` (its own score of each candidate it could score: what ``explain`` shows under
    its name) and ``unscored`` (what ``explain`` says of a candidate missing from ``scores``)."""

    lists: list[Ranked]
    scores: list[Ranked]
    unscored: list[str]
    timings_ms: dict[str, float] = field(default_factory=dict)


class Sources(Protocol):
    """What a ranker may read of a collection (``sleuth.search.Context`` is one)."""

    @property
    def late(self) -> LateInteraction | None:
        """The collection's token recipe (None without late interaction)."""

    def index(self, name: str) -> Any:
        """The derived index saved as ``name`` (``"tokens"``…), or None."""


class Ranker(ABC):
    """Reorders the candidates a plan's retrievers (and fusion) found. Its time is the trace's
    ``<name>_ms`` (and any sub-stages its ``Ranking`` reports)."""

    name: ClassVar[str]

    @classmethod
    @abstractmethod
    def build(cls, sources: Sources) -> Ranker:
        """The ranker over a collection's current state, made for each request."""

    @abstractmethod
    def depth(self, k: int) -> int:
        """How many candidates per query it takes to rank the top ``k``."""

    @abstractmethod
    def rank(self, queries: QueryBatch, candidates: list[Ranked], k: int) -> Ranking:
        """The top ``k`` of each query's ``candidates`` (best first) in the ranker's order."""
