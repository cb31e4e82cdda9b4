"""``Collection``'s bulk write: a batch whose items all bring their vector in one array goes
column by column (``sleuth.store.columns``, ``sleuth.store.bulk``): checked a column at a time,
written by ``executemany``, and taken by the indexes as arrays. Anything else is left to the
row by row write (``Collection._write``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from sleuth.collection_state import CollectionState
from sleuth.encoders.cache import EmbeddingCache
from sleuth.spaces import DEFAULT_SPACE
from sleuth.store.columns import ItemColumns
from sleuth.store.writes import WriteResult
from sleuth.vectors import vector_keys

__all__ = ["CollectionBulk"]


class CollectionBulk(CollectionState):
    _cache: EmbeddingCache

    def _bulk_write(self, items: Any, vectors: Any, *, must_be_new: bool) -> WriteResult | None:
        """The write done column by column, or None when it does not go that way: named
        spaces or late interaction (their vectors come item by item), vectors not in one array
        for every item, or items the column path does not take (it then checked nothing that
        the row path would not check again, and wrote nothing)."""
        if isinstance(vectors, Mapping) and set(vectors) == {DEFAULT_SPACE}:
            vectors = vectors[DEFAULT_SPACE]  # the default space's only: the same array
        if self.config.spaces or self.late is not None or not isinstance(vectors, np.ndarray):
            return None
        columns = ItemColumns.parse(items, self.config.text_fields)
        if columns is None:
            return None
        matrix = self._cache.given_matrix(columns.ids, vectors)
        keys = vector_keys(matrix)
        with self._apply, self._writer:
            written = self.store.write_columns(columns, keys, matrix, must_be_new=must_be_new)
            self._refresh(written=written.rows)
        return written.result
