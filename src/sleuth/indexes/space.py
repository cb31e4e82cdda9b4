"""A named vector space's dense index as a member of the index set: its rows are the vectors
items hold in that space (``Store.space_vectors``; an item without one is not in it), in an
ordinary ``DenseIndex`` by the space's metric (``sleuth.spaces.Metric``), saved as
``index/dense-<name>.npz``."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from sleuth.config import CollectionConfig, DenseConfig
from sleuth.errors import NotFound
from sleuth.indexes.base import Update
from sleuth.indexes.dense import DenseIndex
from sleuth.indexes.replay import Delta, added_docnos
from sleuth.spaces import DEFAULT_SPACE, SpaceConfig, index_name
from sleuth.store import Store

__all__ = ["SpaceEntry", "space_index", "spaces_info", "vectors_of"]


def space_index(config: DenseConfig, name: str, space: SpaceConfig) -> DenseIndex:
    """An empty index for the space (a file built for another dimension or metric does not
    load into it)."""
    return DenseIndex(
        config,
        space.dim,
        derived_from={"space": name, "metric": space.metric},
        metric=space.metric_of.index_metric,
    )


class SpaceEntry:
    """One entry of the ``IndexSet``: prepared from a delta, applied, saved, reported."""

    def __init__(self, store: Store, name: str, space: SpaceConfig, index: DenseIndex) -> None:
        self.store = store
        self.space = name
        self.metric = space.metric_of
        self.name = index_name(name)
        self.index = index
        self.segmented = index.segmented
        self.saved_seq = -1 if index.outdated else index.seq

    @property
    def seq(self) -> int:
        return self.index.seq

    def prepare(self, delta: Delta, documents: Any) -> Update:
        removed, added = delta.after(self.index.seq)
        docnos, vectors = self.store.space_vectors(
            self.space, added_docnos(added).tolist(), self.metric.dim
        )
        return self.index.prepare(docnos, vectors, removed=removed, seq=delta.seq)

    def apply(self, update: Update) -> None:
        self.index.apply(update)

    def save(self, path: Path) -> None:
        self.index.save(path)

    def info(self) -> dict[str, Any]:
        return {**self.index.info(), "space": self.space, "metric": self.metric.name}


def spaces_info(
    index: Callable[[str], Any], config: CollectionConfig, dim: int, encoder: str
) -> dict[str, dict[str, Any]]:
    """Each vector space of a collection: dimension, metric and the items holding a vector in
    it (``index``: the index set's indexes by file name)."""
    spaces = config.spaces
    out: dict[str, dict[str, Any]] = {
        DEFAULT_SPACE: {
            "dim": dim,
            "metric": "cosine",
            "encoder": encoder,
            "items": len(index("dense")),
        }
    }
    for name, space in spaces.items():
        items = len(index(index_name(name)))
        out[name] = {"dim": space.dim, "metric": space.metric, "items": items}
    return out


def vectors_of(
    index: Callable[[str], Any], ids: Sequence[str], docnos: Mapping[str, int], space: str | None
) -> np.ndarray:
    """``float32[n, dim]``: the vectors of items ``ids`` (``docnos``: theirs) in the dense
    index of ``space`` (None: the default one; ``index`` as for ``spaces_info``); ``NotFound``
    names the first without one."""
    dense: DenseIndex = index("dense" if space is None else index_name(space))
    out = np.zeros((len(ids), dense.dim), np.float32)
    for i, item_id in enumerate(ids):
        vector = dense.vector_of(docnos[item_id]) if item_id in docnos else None
        if vector is None:
            where = "" if space is None else f" with a vector in space {space!r}"
            raise NotFound(f"no item with id {item_id!r}{where}", id=item_id)
        out[i] = vector
    return out
