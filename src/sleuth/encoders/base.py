"""The encoder contract: texts in, L2-normalized float32 vectors out, batched."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np

__all__ = ["Encoded", "Encoder"]


@dataclass(frozen=True)
class Encoded:
    """``vectors: float32[n, dim]`` (unit length) and how many inputs were truncated."""

    vectors: np.ndarray
    truncated: int = 0


class Encoder(ABC):
    #: Stable identity, stored with the collection: vectors from different ids never mix.
    id: str
    dim: int
    #: Inputs longer than this many model tokens are cut to it (None: no limit).
    max_tokens: int | None = None

    @property
    def spec(self) -> str:
        """The name ``get_encoder`` recreates this encoder from (default: its id)."""
        return self.id

    @abstractmethod
    def encode(self, texts: list[str], *, batch_size: int = 32) -> Encoded:
        """Encode documents. ``texts`` are encoded in the order given."""

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        return self.encode(texts).vectors
