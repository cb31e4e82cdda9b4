"""Candidate generation: one retriever per source, filters applied inside each."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sleuth.encoders.late import LateInteraction
from sleuth.retrieve.base import QueryBatch, Ranked, Retrieved, Retriever
from sleuth.retrieve.dense import DenseRetriever
from sleuth.retrieve.filters import OPERATORS, compile_filter
from sleuth.retrieve.lexical import LexicalRetriever, TermStatistics
from sleuth.retrieve.maxsim import MaxSimRetriever
from sleuth.retrieve.muvera import MuveraRetriever
from sleuth.spaces import SpaceConfig, index_name

__all__ = [
    "OPERATORS",
    "DenseRetriever",
    "LexicalRetriever",
    "MaxSimRetriever",
    "MuveraRetriever",
    "QueryBatch",
    "Ranked",
    "Retrieved",
    "Retriever",
    "TermStatistics",
    "compile_filter",
    "retrievers_for",
]


def retrievers_for(
    indexes: Mapping[str, Any],
    late: LateInteraction | None,
    *,
    space: tuple[str, SpaceConfig] | None = None,
) -> dict[str, Retriever]:
    """The retrievers over a collection's derived indexes (by file name: ``bm25``, ``dense``, and
    with late interaction ``tokens`` and ``muvera``), by retriever name. ``space``: the named
    vector space (name, config) the dense retriever searches instead of the default one."""
    dense = (
        DenseRetriever(indexes["dense"])
        if space is None
        else DenseRetriever(indexes[index_name(space[0])], space[1].metric_of)
    )
    out: dict[str, Retriever] = {"lexical": LexicalRetriever(indexes["bm25"]), "dense": dense}
    if late is not None and "tokens" in indexes and "muvera" in indexes:
        out["muvera"] = MuveraRetriever(late, indexes["muvera"], indexes["tokens"])
        out["maxsim-exact"] = MaxSimRetriever(late, indexes["tokens"])
    return out
