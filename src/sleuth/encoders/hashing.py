"""A deterministic bag-of-words encoder: signed feature hashing, for tests and model-free use."""

from __future__ import annotations

import re
import zlib

import numpy as np

from sleuth.encoders.base import Encoded, Encoder
from sleuth.encoders.tokens import Tokens
from sleuth.errors import InvalidInput

__all__ = ["MAX_DIM", "MIN_DIM", "HashingEncoder"]

MIN_DIM, MAX_DIM = 8, 65_536

_WORD = re.compile(r"(?u)\w+")


class HashingEncoder(Encoder):
    """Each lowercase word adds ±1 to a bucket chosen by crc32; vectors are L2-normalized.

    Stable across processes and machines (no Python ``hash`` salt), so tests are repeatable.
    """

    def __init__(self, dim: int = 256) -> None:
        if isinstance(dim, bool) or not isinstance(dim, int) or not MIN_DIM <= dim <= MAX_DIM:
            raise InvalidInput(
                f"hashing encoder dimension must be an integer from {MIN_DIM} to {MAX_DIM}, "
                f"got {dim!r:.20}",
                allowed=[MIN_DIM, MAX_DIM],
            )
        self.dim = dim
        self.id = f"hashing:{dim}"
        self._cache: dict[str, np.ndarray] = {}

    supports_tokens = True

    def encode(self, texts: list[str], *, batch_size: int = 32, tokens: bool = False) -> Encoded:
        out = np.zeros((len(texts), self.dim), np.float32)
        words = [_WORD.findall(text.lower()) for text in texts]
        for i, found in enumerate(words):
            for word in found:
                h = zlib.crc32(word.encode())
                out[i, h % self.dim] += 1.0 if (h >> 31) & 1 else -1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        per_text = [Tokens(self._word_vectors(w), w) for w in words] if tokens else None
        return Encoded(out / np.maximum(norms, 1e-12), tokens=per_text)

    def _word_vectors(self, words: list[str]) -> np.ndarray:
        """Token vectors: each word a fixed random unit vector (seeded by its crc32), so
        MaxSim over them rewards exact word matches, as a lexical late interaction."""
        out = np.empty((len(words), self.dim), np.float32)
        for i, word in enumerate(words):
            v = self._cache.get(word)
            if v is None:
                rng = np.random.default_rng(zlib.crc32(word.encode()))
                v = rng.standard_normal(self.dim).astype(np.float32)
                v /= np.linalg.norm(v)
                if len(self._cache) < 100_000:
                    self._cache[word] = v
            out[i] = v
        return out
