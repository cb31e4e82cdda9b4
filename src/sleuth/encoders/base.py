"""The encoder contract: texts in, L2-normalized float32 vectors out, batched; and, for
encoders that support late interaction, each text's token vectors from the same forward pass."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from sleuth.errors import InvalidInput

if TYPE_CHECKING:
    from sleuth.encoders.tokens import Tokens

__all__ = ["Encoded", "Encoder"]


@dataclass(frozen=True)
class Encoded:
    """``vectors: float32[n, dim]`` (unit length), how many inputs were truncated, and with
    ``tokens=True`` each input's token vectors."""

    vectors: np.ndarray
    truncated: int = 0
    tokens: list[Tokens] | None = None


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

    #: Whether ``encode(..., tokens=True)`` works (late interaction).
    supports_tokens: bool = False
    #: False for ``encoder="none"``: every item and dense query brings its own vector.
    encodes_text: bool = True

    @abstractmethod
    def encode(self, texts: list[str], *, batch_size: int = 32, tokens: bool = False) -> Encoded:
        """Encode documents. ``texts`` are encoded in the order given."""

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        return self.encode(texts).vectors

    def encode_query_tokens(self, texts: list[str]) -> Encoded:
        """Query vectors and token vectors, from one pass where the model allows."""
        return self.encode(texts, tokens=True)

    def check_tokens(self, tokens: bool) -> None:
        """InvalidInput when ``tokens`` are wanted and this encoder cannot produce them."""
        if tokens and not self.supports_tokens:
            raise InvalidInput(
                f"encoder {self.id} does not produce token vectors, so late interaction is "
                "not available with it; use minilm, a sentence-transformers folder or hashing"
            )
