"""Candidate generation: one retriever per source, filters applied inside each."""

from sleuth.retrieve.base import QueryBatch, Retriever
from sleuth.retrieve.dense import DenseRetriever
from sleuth.retrieve.filters import OPERATORS, compile_filter
from sleuth.retrieve.lexical import LexicalRetriever

__all__ = [
    "OPERATORS",
    "DenseRetriever",
    "LexicalRetriever",
    "QueryBatch",
    "Retriever",
    "compile_filter",
]
