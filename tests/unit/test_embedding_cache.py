"""The embedding cache: a text is encoded once (by content hash), longest first, and an encoder
that returns vectors of another size than the collection stores is refused by name."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import sleuth
from sleuth.encoders.base import Encoded, Encoder
from sleuth.encoders.cache import EmbeddingCache, content_hash
from sleuth.errors import InvalidInput
from sleuth.types import Item


class Shifty(Encoder):
    """Says 8 dimensions, returns ``returns`` of them; remembers what it was asked."""

    id = "shifty"
    dim = 8

    def __init__(self, returns: int = 8) -> None:
        self.returns = returns
        self.calls: list[list[str]] = []

    def encode(self, texts: list[str], *, batch_size: int = 32, tokens: bool = False) -> Encoded:
        self.calls.append(list(texts))
        v = np.ones((len(texts), self.returns), np.float32)
        return Encoded(v / np.sqrt(self.returns))


def test_texts_are_encoded_once_longest_first(tmp_path: Path) -> None:
    encoder = Shifty()
    with sleuth.open(tmp_path / "c", encoder=encoder) as col:
        cache = EmbeddingCache(col.store, encoder, 8, col.config.text_fields, None)
        first = [Item(id="a", fields={"text": "short"}), Item(id="b", fields={"text": "long one"})]
        upserts, encoded, given = cache.encode_write(first, False)
        assert given[1] == [] and given[2].shape == (0, 8)  # no item brought a vector
        assert [h for _, h in upserts] == [content_hash("short"), content_hash("long one")]
        assert encoder.calls == [["long one", "short"]] and sorted(encoded) == sorted(
            h for _, h in upserts
        )
        again = [Item(id="c", fields={"text": "short"}), Item(id="d", fields={"text": "new"})]
        _, encoded, _ = cache.encode_write(again, False)
        assert encoder.calls[-1] == ["new"] and encoded == [content_hash("new")]
        assert cache.encoded_texts == 3


def test_a_wrong_dimension_is_invalid_input_naming_the_encoder(tmp_path: Path) -> None:
    with sleuth.open(tmp_path / "c", encoder=Shifty()) as col:
        col.add([{"id": "a", "text": "fine"}])
    with sleuth.open(tmp_path / "c", encoder=Shifty(returns=5)) as col:
        with pytest.raises(InvalidInput, match=r"encoder shifty returns vectors of 5 .* stores 8"):
            col.add([{"id": "b", "text": "other"}])
        assert col.count() == 1
