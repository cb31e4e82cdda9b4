"""A deterministic bag-of-words encoder: signed feature hashing, for tests and model-free use."""

from __future__ import annotations

import re
import zlib

import numpy as np

from sleuth.encoders.base import Encoded, Encoder

__all__ = ["HashingEncoder"]

_WORD = re.compile(r"(?u)\w+")


class HashingEncoder(Encoder):
    """Each lowercase word adds ±1 to a bucket chosen by crc32; vectors are L2-normalized.

    Stable across processes and machines (no Python ``hash`` salt), so tests are repeatable.
    """

    def __init__(self, dim: int = 256) -> None:
        if not 8 <= dim <= 65_536:
            raise ValueError(f"hashing encoder dimension must be in [8, 65536], got {dim}")
        self.dim = dim
        self.id = f"hashing:{dim}"

    def encode(self, texts: list[str], *, batch_size: int = 32) -> Encoded:
        out = np.zeros((len(texts), self.dim), np.float32)
        for i, text in enumerate(texts):
            for word in _WORD.findall(text.lower()):
                h = zlib.crc32(word.encode())
                out[i, h % self.dim] += 1.0 if (h >> 31) & 1 else -1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return Encoded(out / np.maximum(norms, 1e-12))
