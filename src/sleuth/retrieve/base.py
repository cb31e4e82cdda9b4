"""The retriever contract: a batch of queries -> ``Candidates`` (docnos, scores) per query."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from sleuth.types import Candidates

__all__ = ["QueryBatch", "Retriever"]


@dataclass
class QueryBatch:
    """Query texts, with their vectors encoded once, on first use, for every dense retriever."""

    texts: list[str]
    encode: Callable[[list[str]], np.ndarray]
    _vectors: np.ndarray | None = field(default=None, repr=False)

    @property
    def vectors(self) -> np.ndarray:
        if self._vectors is None:
            self._vectors = self.encode(self.texts)
        return self._vectors


class Retriever(ABC):
    name: str

    @abstractmethod
    def retrieve(self, queries: QueryBatch, k: int, docno_mask: np.ndarray | None) -> Candidates:
        """Top ``k`` per query among live items passing ``docno_mask`` (bool over docnos)."""
