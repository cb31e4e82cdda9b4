"""The collection's token-vector recipe for late interaction: texts become the token vectors the
collection stores (encoder → ``TokenPipeline`` → optional pooling), and token sets become MUVERA
fixed-dimensional encodings. Fixed by the collection's ``LateConfig``."""

from __future__ import annotations

import numpy as np

from sleuth._blas import one_blas_thread
from sleuth.config import LateConfig
from sleuth.encoders.base import Encoder
from sleuth.encoders.tokens import TokenPipeline, Tokens
from sleuth.indexes.muvera import Muvera

__all__ = ["LateInteraction"]


class LateInteraction:
    """The collection's token-vector recipe (fixed by its ``LateConfig``)."""

    def __init__(self, config: LateConfig, encoder: Encoder) -> None:
        self.config = config
        self.pipeline = TokenPipeline(config, encoder.dim)
        self.dim = self.pipeline.dim
        self.muvera = Muvera(config.muvera, self.dim)

    def documents(self, tokens: list[Tokens]) -> list[np.ndarray]:
        """What is stored per item: ``float32[n_i, dim]`` kept, projected, unit, pooled."""
        out = [self.pipeline(t) for t in tokens]
        if self.config.pool_factor > 1:
            from sleuth.indexes.pooling import pool_tokens

            with one_blas_thread():  # small clusterings (see sleuth._blas)
                out = [pool_tokens(x, self.config.pool_factor) if len(x) > 1 else x for x in out]
        return out

    def queries(self, tokens: list[Tokens]) -> list[np.ndarray]:
        return [self.pipeline(t) for t in tokens]

    def fde(self, documents: list[np.ndarray]) -> np.ndarray:
        """``float32[n, fde_dim]`` document encodings (an empty set encodes to zeros)."""
        if not documents:
            return np.zeros((0, self.muvera.fde_dim), np.float32)
        return self.muvera.encode_documents(documents)
