"""The embedding cache and the encoding of writes.

Vectors are cached in the store by (encoder id, content hash), so an unchanged text is never
encoded twice, not even across processes or after a rebuild. A write encodes what is missing,
longest texts first (similar lengths batch well), in chunks that are cached as they are done: an
interrupted ingest resumes where it stopped. With late interaction the same forward pass gives
the token vectors, held here until the token index takes them.

Items may bring their own vectors: those are keyed by a digest of the vector (see
``sleuth.vectors.vector_keys`` for why), stored with the write's items in one transaction,
and never replaced by an encoding of the text; the encoder encodes only the items without one.
"""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from sleuth.encoders.base import Encoder
from sleuth.encoders.late import LateInteraction
from sleuth.errors import CorruptIndex, InvalidInput
from sleuth.progress import progress_bar
from sleuth.store import Store, StoredItem
from sleuth.types import Item
from sleuth.vectors import check_dim, check_matrix, is_vector_key, vector_keys

__all__ = ["ENCODE_CHUNK", "EmbeddingCache", "Given", "content_hash"]

ENCODE_CHUNK = 256
# The vectors a write's items brought: (encoder id, their keys, float32[m, dim]).
Given = tuple[str, list[str], np.ndarray]


def _label(i: int, item: Item) -> str:
    return f"item {i} ({item.id!r})"


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
        # The vectors a write's items brought, by key, until that write's catch-up has read
        # them (so a bulk ingest does not read them back from the store). A key is a digest of
        # its vector, so an entry can never be stale, whatever became of its write.
        self._pending_given: dict[str, np.ndarray] = {}

    def text(self, item: Item) -> str:
        """What is indexed of an item: its text fields, in the configured order."""
        return " ".join(item.fields[f] for f in self.text_fields if item.fields.get(f))

    def encode_write(
        self, items: Sequence[Item], progress: bool | None, *, vectors: Any = None
    ) -> tuple[list[tuple[Item, str]], list[str], Given]:
        """``(item, key)`` pairs for the store, after encoding the texts whose vectors are not
        cached yet; those hashes (``discard`` them if the write fails); and the vectors the
        items brought, with their keys (``sleuth.vectors.vector_keys``), for the write's own
        transaction. ``vectors``: None, or a numeric ``[len(items), dim]`` array (a memmap is
        read a chunk at a time) giving every item's vector."""
        rows, matrix = self._given(items, vectors)
        keys = vector_keys(matrix)
        key_of = dict(zip(rows, keys))
        upserts = [
            (item, key_of.get(i) or content_hash(self.text(item))) for i, item in enumerate(items)
        ]
        texts = {h: self.text(item) for item, h in upserts if not is_vector_key(h)}
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
        self._pending_given.update(zip(keys, matrix))
        return upserts, list(todo), (self.encoder.id, keys, matrix)

    def _given(self, items: Sequence[Item], vectors: Any) -> tuple[list[int], np.ndarray]:
        """The positions of the items that bring a vector, and those vectors
        (``float32[m, dim]``, unit rows); ``InvalidInput`` naming the first item whose vector
        is missing (no text encoder) or does not fit, or that needs text it lacks."""
        owner = f"this collection (encoder {self.encoder.id})"
        if vectors is not None:
            for i, item in enumerate(items):
                if item.vector is not None:
                    raise InvalidInput(
                        f'{_label(i, item)} has a "vector" and vectors= gives one too; give '
                        "each item's vector one way",
                        index=i,
                        id=item.id,
                    )
            matrix = check_matrix(
                vectors, len(items), self.dim, lambda i: _label(i, items[i]), owner
            )
            rows = list(range(len(items)))
        else:
            own = [(i, item.vector) for i, item in enumerate(items) if item.vector is not None]
            for i, vector in own:
                check_dim(vector, self.dim, f"{_label(i, items[i])}: its vector", owner)
            rows = [i for i, _ in own]
            matrix = (
                np.stack([vector for _, vector in own])
                if own
                else np.zeros((0, self.dim), np.float32)
            )
        if not self.encoder.encodes_text and len(rows) < len(items):
            i = next(i for i, item in enumerate(items) if item.vector is None)
            raise InvalidInput(
                f"{_label(i, items[i])} has no vector: {owner} has no text encoder, so every "
                f'item brings its "vector" ({self.dim} numbers) or vectors= gives them all',
                index=i,
                id=items[i].id,
            )
        if self.late is not None:  # token vectors come from the text, whoever gave the vector
            for i, item in enumerate(items):
                if not any(v.strip() for v in item.fields.values()):
                    raise InvalidInput(
                        f"{_label(i, item)} has no text: with late interaction every item "
                        f"needs some ({', '.join(self.text_fields)}), also one with a vector",
                        index=i,
                        id=item.id,
                    )
        return rows, matrix

    def given_matrix(self, ids: Sequence[str], vectors: Any) -> np.ndarray:
        """``float32[n, dim]`` unit rows of a bulk array giving the vectors of items ``ids``,
        checked as ``encode_write`` checks it (the same errors)."""
        owner = f"this collection (encoder {self.encoder.id})"
        return check_matrix(vectors, len(ids), self.dim, lambda i: f"item {i} ({ids[i]!r})", owner)

    def discard(self, hashes: Sequence[str]) -> None:
        """Forget the token vectors of a write that did not happen."""
        for h in hashes:
            self._pending_tokens.pop(h, None)

    def written(self) -> None:
        """A write is done (applied or failed): its given vectors are the store's to give."""
        self._pending_given.clear()

    def vectors(self, stored: Sequence[StoredItem]) -> np.ndarray:
        """``float32[n, dim]``: the cached vectors of these items (a missing one, e.g. after the
        cache was cleared, is encoded again, once)."""
        held = self._pending_given
        found = {s.hash: held[s.hash] for s in stored if s.hash in held}
        filed = {s.hash: s.vrow for s in stored if s.vrow is not None and s.hash not in found}
        if filed:
            found.update(zip(filed, self.store.given_vectors(list(filed.values()))))
        need = [s.hash for s in stored if s.hash not in found]
        if need:
            found.update(self.store.vectors(self.encoder.id, need, self.dim))
        missing = {s.hash: self.text(s.item) for s in stored if s.hash not in found}
        lost = next((s for s in stored if s.hash in missing and is_vector_key(s.hash)), None)
        if lost is not None:  # never encoded from the text instead: it was not the text's
            raise CorruptIndex(
                f"item {lost.item.id!r}: the vector it was given is missing from the store "
                "(or damaged); upsert the item again with its vector",
                id=lost.item.id,
            )
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
