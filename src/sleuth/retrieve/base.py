"""The retriever contract: a batch of queries -> ``Candidates`` (docnos, scores) per query."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from sleuth.encoders.base import Encoded
from sleuth.encoders.tokens import Tokens
from sleuth.types import Candidates

__all__ = ["QueryBatch", "Retriever"]


@dataclass
class QueryBatch:
    """Query texts, with their vectors encoded once, on first use, for every dense retriever.

    With ``encode_tokens`` (late interaction) and ``tokens_first``, the first use encodes
    vectors and token vectors in one model pass."""

    texts: list[str]
    encode: Callable[[list[str]], np.ndarray]
    encode_tokens: Callable[[list[str]], Encoded] | None = None
    tokens_first: bool = False
    _vectors: np.ndarray | None = field(default=None, repr=False)
    _tokens: list[Tokens] | None = field(default=None, repr=False)

    @property
    def vectors(self) -> np.ndarray:
        if self._vectors is None:
            if self.tokens_first and self.encode_tokens is not None:
                return self._encode_both()[0]
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


class Retriever(ABC):
    name: str

    @abstractmethod
    def retrieve(self, queries: QueryBatch, k: int, docno_mask: np.ndarray | None) -> Candidates:
        """Top ``k`` per query among live items passing ``docno_mask`` (bool over docnos)."""
