"""The ranker contract: a batch of candidate lists (one per query) -> a new order of them."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

if TYPE_CHECKING:  # the token index imports this package: no runtime import of these
    from collections.abc import Callable, Mapping, Sequence

    import numpy as np

    from sleuth.encoders.late import LateInteraction
    from sleuth.rank.cross_saved import RerankerState
    from sleuth.rank.learned import RankerState
    from sleuth.retrieve.base import QueryBatch, Ranked

__all__ = ["Ranker", "Ranking", "Sources", "Stage"]


@dataclass(frozen=True)
class Ranking:
    """A ranker's answer for a batch, per query: ``lists`` (the new order, top ``k``),
    ``scores`` (its own score of each candidate it could score: what ``explain`` shows under
    its name) and ``unscored`` (what ``explain`` says of a candidate missing from ``scores``);
    ``features``: the names and, per query, ``(docnos: int64[n], values: float32[n, f])`` of
    what it read of each candidate (``explain`` shows a hit's values), or None."""

    lists: list[Ranked]
    scores: list[Ranked]
    unscored: list[str]
    timings_ms: dict[str, float] = field(default_factory=dict)
    features: tuple[tuple[str, ...], list[tuple[np.ndarray, np.ndarray]]] | None = None


class Sources(Protocol):
    """What a ranker may read of a collection (``sleuth.search.Context`` is one)."""

    @property
    def late(self) -> LateInteraction | None:
        """The collection's token recipe (None without late interaction)."""

    def index(self, name: str) -> Any:
        """The derived index saved as ``name`` (``"tokens"``…), or None."""

    @property
    def ranker(self) -> RankerState:
        """The collection's trained ranker (or why there is none)."""

    @property
    def reranker(self) -> RerankerState:
        """The collection's trained cross-encoder (or why there is none)."""

    @property
    def fetch(self) -> Callable[[list[int]], Mapping[int, Any]]:
        """Docnos -> the stored items (their fields and attributes)."""


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
    def rank(
        self,
        queries: QueryBatch,
        candidates: list[Ranked],
        k: int,
        lists: Mapping[str, Sequence[Ranked]] | None = None,
    ) -> Ranking:
        """The top ``k`` of each query's ``candidates`` (best first) in the ranker's order;
        ``lists``: every earlier stage's list per query, by stage name."""


class Stage(Protocol):
    """What a plan's ``rankers`` hold: a ``Ranker`` class, or a stage a request configured
    (``sleuth.rank.cross.CrossStage``); either builds the ranker for each request."""

    def build(self, sources: Sources) -> Ranker: ...
