"""Candidate generation: one retriever per source, filters applied inside each."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sleuth.encoders.late import LateInteraction
from sleuth.retrieve.base import QueryBatch, Ranked, Retrieved, Retriever
from sleuth.retrieve.dense import DenseRetriever
from sleuth.retrieve.filters import OPERATORS, compile_filter
from sleuth.retrieve.lexical import LexicalRetriever
from sleuth.retrieve.maxsim import MaxSimRetriever
from sleuth.retrieve.muvera import MuveraRetriever

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
    "compile_filter",
    "retrievers_for",
]


def retrievers_for(
    indexes: Mapping[str, Any], late: LateInteraction | None
) -> dict[str, Retriever]:
    """The retrievers over a collection's derived indexes (by file name: ``bm25``, ``dense``, and
    with late interaction ``tokens`` and ``muvera``), by retriever name."""
    out: dict[str, Retriever] = {
        "lexical": LexicalRetriever(indexes["bm25"]),
        "dense": DenseRetriever(indexes["dense"]),
    }
    if late is not None and "tokens" in indexes and "muvera" in indexes:
        out["muvera"] = MuveraRetriever(late, indexes["muvera"], indexes["tokens"])
        out["maxsim-exact"] = MaxSimRetriever(late, indexes["tokens"])
    return out
