"""A named vector space's dense index as a member of the index set: its rows are the vectors
items hold in that space (``Store.space_vectors``; an item without one is not in it), in an
ordinary ``DenseIndex`` by the space's metric (``sleuth.spaces.Metric``), saved as
``index/dense-<name>.npz``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sleuth.config import DenseConfig
from sleuth.indexes.base import Update
from sleuth.indexes.dense import DenseIndex
from sleuth.indexes.replay import Delta
from sleuth.spaces import SpaceConfig, index_name
from sleuth.store import Store

__all__ = ["SpaceEntry", "space_index"]


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
        self.saved_seq = -1 if index.outdated else index.seq

    @property
    def seq(self) -> int:
        return self.index.seq

    def prepare(self, delta: Delta, documents: Any) -> Update:
        removed, added = delta.after(self.index.seq)
        docnos, vectors = self.store.space_vectors(
            self.space, [s.docno for s in added], self.metric.dim
        )
        return self.index.prepare(docnos, vectors, removed=removed, seq=delta.seq)

    def apply(self, update: Update) -> None:
        self.index.apply(update)

    def save(self, path: Path) -> None:
        self.index.save(path)

    def info(self) -> dict[str, Any]:
        return {**self.index.info(), "space": self.space, "metric": self.metric.name}
