"""No encoder: a collection whose items and queries bring their own vectors (``encoder="none"``,
``dim=N``). Asking it to encode text is an ``InvalidInput`` that says what to give instead."""

from __future__ import annotations

import numpy as np

from sleuth.encoders.base import Encoded, Encoder
from sleuth.errors import InvalidInput
from sleuth.vectors import MAX_DIM

__all__ = ["NoEncoder"]


class NoEncoder(Encoder):
    """Vectors of ``dim`` numbers, all given: ``id`` and ``spec`` are ``"none:<dim>"``."""

    encodes_text = False

    def __init__(self, dim: int) -> None:
        if isinstance(dim, bool) or not isinstance(dim, int) or not 1 <= dim <= MAX_DIM:
            raise InvalidInput(
                f"dim must be an integer from 1 to {MAX_DIM} (the length of the vectors the "
                f"items bring), got {dim!r:.20}",
                allowed=[1, MAX_DIM],
            )
        self.dim = dim
        self.id = f"none:{dim}"

    def encode(self, texts: list[str], *, batch_size: int = 32, tokens: bool = False) -> Encoded:
        raise InvalidInput(
            f"this collection has no text encoder (encoder {self.id!r}): every item must bring "
            f'its "vector" ({self.dim} numbers)',
            encoder=self.id,
        )

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        raise InvalidInput(
            f"this collection has no text encoder (encoder {self.id!r}): a dense or hybrid "
            f"search needs the query's vector= ({self.dim} numbers); text alone serves "
            'mode="lexical"',
            encoder=self.id,
        )
