"""The retriever contract: a batch of queries -> one ranked list per query.

The base owns what every retriever shares: one call per batch, ``k`` clamped to the live items
the retriever can return, the filter mask, the timing, and the lists ``explain`` shows.
Subclasses implement ``size`` and ``search_batch`` (the search itself) only.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from sleuth.encoders.base import Encoded
from sleuth.encoders.tokens import Tokens
from sleuth.errors import InvalidInput
from sleuth.timing import ms_since
from sleuth.types import Candidates

__all__ = ["QueryBatch", "Ranked", "Retrieved", "Retriever"]

# One query's list: ``(docnos: int64[n], scores: float32[n])``, best first, no padding.
Ranked = tuple[np.ndarray, np.ndarray]


@dataclass
class QueryBatch:
    """Query texts and/or the queries' own vectors; the vectors are the given ones, or encoded
    from the texts once, on first use, for every dense retriever.

    ``given``: ``float32[nq, dim]`` unit rows (None: encode the texts). ``query_texts`` None:
    the queries are vectors only, and a stage that reads text (BM25, token vectors) is an
    ``InvalidInput``. With ``encode_tokens`` (late interaction) and ``tokens_first``, the first
    use encodes vectors and token vectors in one model pass."""

    query_texts: list[str] | None
    encode: Callable[[list[str]], np.ndarray]
    encode_tokens: Callable[[list[str]], Encoded] | None = None
    tokens_first: bool = False
    given: np.ndarray | None = None
    _vectors: np.ndarray | None = field(default=None, repr=False)
    _tokens: list[Tokens] | None = field(default=None, repr=False)

    def __len__(self) -> int:
        if self.query_texts is not None:
            return len(self.query_texts)
        return 0 if self.given is None else int(self.given.shape[0])

    @property
    def texts(self) -> list[str]:
        if self.query_texts is None:
            raise InvalidInput(
                "this search mode reads the query text (BM25, or token vectors for late "
                'interaction), and only vector= was given: pass query= too, or mode="dense"'
            )
        return self.query_texts

    @property
    def vectors(self) -> np.ndarray:
        if self._vectors is None:
            if self.given is not None:
                self._vectors = self.given
            elif self.tokens_first and self.encode_tokens is not None:
                return self._encode_both()[0]
            else:
                self._vectors = self.encode(self.texts)
        return self._vectors

    @property
    def tokens(self) -> list[Tokens]:
        if self._tokens is None:
            return self._encode_both()[1]
        return self._tokens

    def _encode_both(self) -> tuple[np.ndarray, list[Tokens]]:
        if self.encode_tokens is None:
            raise ValueError("this query batch has no token encoder")
        encoded = self.encode_tokens(self.texts)
        if encoded.tokens is None:
            raise ValueError("the token encoder returned no token vectors")
        self._tokens = encoded.tokens
        if self._vectors is None:
            self._vectors = encoded.vectors
        return self._vectors, self._tokens


@dataclass(frozen=True)
class Retrieved:
    """What a retriever returned for a batch: one ranked list per query (what ``explain``
    shows) and the time the batch took."""

    name: str
    lists: list[Ranked]
    ms: float

    @property
    def candidates(self) -> int:
        """How many candidates it returned, over all the batch's queries."""
        return sum(int(docnos.size) for docnos, _ in self.lists)


class Retriever(ABC):
    """Top ``k`` items per query from one index (or one index pair)."""

    name: ClassVar[str]

    @property
    @abstractmethod
    def size(self) -> int:
        """How many live items it can return."""

    @abstractmethod
    def search_batch(self, queries: QueryBatch, k: int, mask: np.ndarray | None) -> Candidates:
        """The search itself: ``k`` (1 to ``size``) best per query among live items passing
        ``mask`` (bool over docnos; None: all), as ``Candidates``."""

    def retrieve(self, queries: QueryBatch, k: int, mask: np.ndarray | None = None) -> Retrieved:
        """The ``k`` best per query (fewer when fewer live items pass ``mask``), in one
        ``search_batch`` call for the whole batch."""
        start = time.perf_counter()
        n = len(queries)
        if mask is not None and (mask.dtype != np.bool_ or mask.ndim != 1):
            raise ValueError(f"mask must be bool[n], got {mask.dtype}{mask.shape}")
        k = min(k, self.size)
        if n == 0 or k < 1 or (mask is not None and not mask.any()):
            lists = [(np.zeros(0, np.int64), np.zeros(0, np.float32))] * n
        else:
            found = self.search_batch(queries, k, mask)
            lists = [found.row(i) for i in range(n)]
        return Retrieved(self.name, lists, ms_since(start))
