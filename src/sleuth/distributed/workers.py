"""The encoder on a Ray worker: a callable class that Ray Data's ``map_batches`` runs in an
actor pool, so each worker loads the model once and encodes batch after batch.

A batch comes in as ``key`` (content hash) and ``text`` columns and goes out as ``key``,
``vector`` (``float32[n, dim]``, unit rows), ``worker`` (the actor's process id: the job counts
texts per worker and sees a restarted actor as a new one), and per batch, in its first row
(zeros elsewhere, so a column's sum is the job's total): ``truncated`` texts, ``busy_s``
seconds spent encoding, ``load_s`` seconds the actor took to load the encoder (its first
batch only).
"""

from __future__ import annotations

import os
import time
from typing import Any

import numpy as np

from sleuth.encoders import get_encoder
from sleuth.errors import InvalidInput

__all__ = ["EncodeBatch"]


class EncodeBatch:
    """``EncodeBatch(spec, encoder_id, threads)(batch)``: ``spec`` names the encoder as
    ``get_encoder`` takes it (``Encoder.spec``); ``encoder_id`` is the collection's, which the
    worker's encoder must have (a model folder that differs on a node would mix vectors);
    ``threads``: torch's threads in this worker (one per CPU asked for, by default)."""

    def __init__(self, spec: str, encoder_id: str, threads: int) -> None:
        started = time.perf_counter()
        try:
            import torch
        except ImportError:  # the hashing encoder needs no torch
            pass
        else:
            torch.set_num_threads(threads)
        self.encoder = get_encoder(spec)
        if self.encoder.id != encoder_id:
            raise InvalidInput(
                f"encoder {spec!r} on this Ray worker is {self.encoder.id}, but the collection "
                f"was built with {encoder_id}; give every node the same model",
                encoder=encoder_id,
            )
        self.encoder.dim  # noqa: B018  (loads a model now, not in the first batch)
        self.pid = os.getpid()
        self.load_s = time.perf_counter() - started

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        texts = [str(t) for t in batch["text"]]
        started = time.perf_counter()
        encoded = self.encoder.encode(texts)
        n = len(texts)
        first = np.zeros(n, np.float64)
        first[:1] = 1.0
        out = {
            "key": np.asarray(batch["key"]),
            "vector": np.asarray(encoded.vectors, np.float32),
            "worker": np.full(n, self.pid, np.int64),
            "truncated": (first * encoded.truncated).astype(np.int64),
            "busy_s": first * (time.perf_counter() - started),
            "load_s": first * self.load_s,
        }
        self.load_s = 0.0
        return out
