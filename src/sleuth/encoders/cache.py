"""The embedding cache and the encoding of writes.

Vectors are cached in the store by (encoder id, content hash), so an unchanged text is never
encoded twice, not even across processes or after a rebuild. A write encodes what is missing,
longest texts first (similar lengths batch well), in chunks that are cached as they are done: an
interrupted ingest resumes where it stopped. With late interaction the same forward pass gives
the token vectors, held here until the token index takes them.
"""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Sequence

import numpy as np

from sleuth.encoders.base import Encoder
from sleuth.encoders.late import LateInteraction
from sleuth.errors import InvalidInput
from sleuth.progress import progress_bar
from sleuth.store import Store, StoredItem
from sleuth.types import Item

__all__ = ["ENCODE_CHUNK", "EmbeddingCache", "content_hash"]

ENCODE_CHUNK = 256


def content_hash(text: str) -> str:
    """The key a text's vectors are cached under."""
    return hashlib.sha256(text.encode()).hexdigest()[:32]


class EmbeddingCache:
    """One collection's vectors by content hash: read from the store, encoded when missing."""

    def __init__(
        self,
        store: Store,
        encoder: Encoder,
        dim: int,
        text_fields: Sequence[str],
        late: LateInteraction | None,
    ) -> None:
        self.store = store
        self.encoder = encoder
        self.dim = dim
        self.text_fields = tuple(text_fields)
        self.late = late
        self.encoded_texts = 0  # texts sent to the encoder (cache misses)
        # Token vectors computed while encoding a write, waiting for the token index to take
        # them (float16, by content hash); what is not here is encoded again from the text.
        self._pending_tokens: dict[str, np.ndarray] = {}

    def text(self, item: Item) -> str:
        """What is indexed of an item: its text fields, in the configured order."""
        return " ".join(item.fields[f] for f in self.text_fields if item.fields.get(f))

    def encode_write(
        self, items: Sequence[Item], progress: bool | None
    ) -> tuple[list[tuple[Item, str]], list[str]]:
        """``(item, content hash)`` pairs for the store, after encoding the texts whose vectors
        are not cached yet; and those hashes (``discard`` them if the write fails)."""
        upserts = [(item, content_hash(self.text(item))) for item in items]
        texts = {h: self.text(item) for item, h in upserts}
        cached = self.store.vectors(self.encoder.id, list(texts), self.dim)
        todo = {h: t for h, t in texts.items() if h not in cached}
        _, truncated = self._encode(todo, progress)
        if truncated:
            warnings.warn(
                f"{truncated} of {len(todo)} texts were longer than the encoder's limit of "
                f"{self.encoder.max_tokens} tokens and were truncated to it for the dense vector "
                "(BM25 sees the whole text)",
                stacklevel=4,
            )
        return upserts, list(todo)

    def discard(self, hashes: Sequence[str]) -> None:
        """Forget the token vectors of a write that did not happen."""
        for h in hashes:
            self._pending_tokens.pop(h, None)

    def vectors(self, stored: Sequence[StoredItem]) -> np.ndarray:
        """``float32[n, dim]``: the cached vectors of these items (a missing one, e.g. after the
        cache was cleared, is encoded again, once)."""
        found = self.store.vectors(self.encoder.id, [s.hash for s in stored], self.dim)
        missing = {s.hash: self.text(s.item) for s in stored if s.hash not in found}
        if missing:
            found.update(self._encode(missing, False)[0])
        if not stored:
            return np.zeros((0, self.dim), np.float32)
        return np.stack([found[s.hash] for s in stored])

    def token_sets(self, stored: Sequence[StoredItem]) -> list[np.ndarray]:
        """The token vectors these items store: computed while their write was encoded, or
        (another process wrote them, or this is a rebuild) encoded again from the text."""
        found = {s.hash: self._pending_tokens.pop(s.hash, None) for s in stored}
        missing = list(dict.fromkeys(h for h, v in found.items() if v is None))
        if missing and self.late is not None:
            texts = {s.hash: self.text(s.item) for s in stored}
            for start in range(0, len(missing), ENCODE_CHUNK):
                chunk = missing[start : start + ENCODE_CHUNK]
                encoded = self.encoder.encode([texts[h] for h in chunk], tokens=True)
                found.update(zip(chunk, self.late.documents(encoded.tokens or [])))
        return [np.asarray(found[s.hash], np.float32) for s in stored]

    def _encode(
        self, texts: dict[str, str], progress: bool | None
    ) -> tuple[dict[str, np.ndarray], int]:
        """Encode and cache vectors for content hashes, longest texts first, a chunk at a time;
        returns them and how many texts the encoder truncated."""
        hashes = sorted(texts, key=lambda h: -len(texts[h]))
        out: dict[str, np.ndarray] = {}
        truncated = 0
        late = self.late
        with progress_bar("encoding", len(hashes), progress) as advance:
            for start in range(0, len(hashes), ENCODE_CHUNK):
                chunk = hashes[start : start + ENCODE_CHUNK]
                chunk_texts = [texts[h] for h in chunk]
                # ``tokens`` only when wanted: an encoder written before late interaction
                # existed takes no such argument
                encoded = (
                    self.encoder.encode(chunk_texts, tokens=True)
                    if late is not None
                    else self.encoder.encode(chunk_texts)
                )
                if encoded.vectors.ndim != 2 or encoded.vectors.shape[1] != self.dim:
                    raise InvalidInput(
                        f"encoder {self.encoder.id} returns vectors of "
                        f"{encoded.vectors.shape[-1]} dimensions, but the collection stores "
                        f"{self.dim}; open it with the encoder it was built with",
                        encoder=self.encoder.id,
                        dim=self.dim,
                        got=int(encoded.vectors.shape[-1]),
                    )
                if late is not None:
                    for h, x in zip(chunk, late.documents(encoded.tokens or [])):
                        self._pending_tokens[h] = x.astype(np.float16)
                vectors = dict(zip(chunk, encoded.vectors))
                self.store.put_vectors(self.encoder.id, vectors)
                self.encoded_texts += len(chunk)
                out.update(vectors)
                truncated += encoded.truncated
                advance(len(chunk))
        return out, truncated
