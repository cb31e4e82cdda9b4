"""Token vectors for late interaction: which model tokens count, and their fixed projection.

An encoder that supports late interaction returns, per text, its token vectors with the token
strings (special tokens already removed). ``TokenPipeline`` then keeps the tokens that carry
meaning (punctuation and, by option, stopwords go: ColBERT's skiplist idea), applies the
optional fixed projection and L2-normalizes, so MaxSim compares unit vectors.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

import numpy as np
from bm25s.stopwords import STOPWORDS_EN

from sleuth.config import LateConfig
from sleuth.errors import InvalidInput

__all__ = ["TokenPipeline", "Tokens"]

PROJECTION_SEED = 20240  # fixed: a collection's projection never changes under it


@dataclass(frozen=True)
class Tokens:
    """One text's token vectors ``float32[n, d]`` and the token strings (word pieces)."""

    vectors: np.ndarray
    pieces: list[str]


def _is_punctuation(piece: str) -> bool:
    word = piece.removeprefix("##")
    return bool(word) and all(unicodedata.category(c)[0] in "PS" for c in word)


class TokenPipeline:
    """Filter, project and normalize token vectors as ``config`` says.

    >>> pipe = TokenPipeline(LateConfig(enabled=True, drop_stopwords=True), dim=2)
    >>> pipe(Tokens(np.array([[3.0, 4], [1, 0], [0, 2]]), ["the", "cat", "."])).tolist()
    [[1.0, 0.0]]
    """

    def __init__(self, config: LateConfig, dim: int) -> None:
        self.config = config
        self.stopwords = frozenset(STOPWORDS_EN) if config.drop_stopwords else frozenset()
        self.projection = None
        self.dim = dim
        if config.projection_dim is not None and config.projection_dim != dim:
            if config.projection_dim > dim:
                raise InvalidInput(
                    f"late.projection_dim must be at most the encoder's dimension ({dim}), got "
                    f"{config.projection_dim}: a projection only reduces token vectors",
                    field="late.projection_dim",
                )
            self.projection = _projection(dim, config.projection_dim)
            self.dim = config.projection_dim

    def keep(self, pieces: list[str]) -> np.ndarray:
        """bool[n]: the tokens that count. A stopword is dropped only as a whole word (not
        when a ``##`` piece continues it), and a text never loses all its tokens."""
        keep = np.ones(len(pieces), bool)
        for i, piece in enumerate(pieces):
            if self.config.drop_punctuation and _is_punctuation(piece):
                keep[i] = False
            elif piece.lower() in self.stopwords:
                continues = i + 1 < len(pieces) and pieces[i + 1].startswith("##")
                keep[i] = continues
        return keep if keep.any() else np.ones(len(pieces), bool)

    def __call__(self, tokens: Tokens) -> np.ndarray:
        """``float32[m, dim]``: the kept tokens, projected, unit length (m may be 0)."""
        x = np.asarray(tokens.vectors, np.float32)[self.keep(tokens.pieces)]
        if self.projection is not None:
            x = x @ self.projection
        norms = np.linalg.norm(x, axis=1, keepdims=True)
        return (x / np.maximum(norms, 1e-12)).astype(np.float32)


# Up to this encoder dimension the projection is the first columns of a square orthogonal
# matrix, the recipe collections were built with; above it (hashing encoders reach 65,536) only
# the columns needed are drawn, so the memory is dim * projection_dim, not dim**2.
_SQUARE_UP_TO = 4096


def _projection(dim: int, out: int) -> np.ndarray:
    """``float32[dim, out]`` with orthonormal columns, a pure function of (dim, out)."""
    rng = np.random.default_rng(PROJECTION_SEED)
    q, _ = np.linalg.qr(rng.standard_normal((dim, dim if dim <= _SQUARE_UP_TO else out)))
    return np.ascontiguousarray(q[:, :out], np.float32)
