"""Exact MaxSim against every item's token vectors: brute force, slow, the reference that the
approximate late-interaction modes are measured against."""

from __future__ import annotations

import numpy as np

from sleuth.encoders.late import LateInteraction
from sleuth.indexes.tokens import TokenIndex
from sleuth.retrieve.base import QueryBatch, Retriever
from sleuth.types import Candidates

__all__ = ["MaxSimRetriever"]


class MaxSimRetriever(Retriever):
    name = "maxsim-exact"

    def __init__(self, late: LateInteraction, tokens: TokenIndex) -> None:
        self.late, self.tokens = late, tokens

    @property
    def size(self) -> int:
        return len(self.tokens)

    def search_batch(self, queries: QueryBatch, k: int, mask: np.ndarray | None) -> Candidates:
        return self.tokens.search_batch(self.late.queries(queries.tokens), k, mask)
