"""What one request may ask for: the engine checks these, and the CLI and server state them."""

from __future__ import annotations

from typing import Any

from sleuth.errors import InvalidInput
from sleuth.values import check_text

__all__ = ["MAX_K", "MAX_QUERY_CHARS", "check_k", "check_query"]

MAX_K = 1000
MAX_QUERY_CHARS = 10_000


def check_k(k: Any) -> None:
    """``k`` is an integer from 1 to ``MAX_K`` (a bool is not)."""
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= MAX_K:
        raise InvalidInput(f"k must be an integer from 1 to {MAX_K}, got {k!r}", k=repr(k))


def check_query(q: Any) -> None:
    """A query is a non-blank string of at most ``MAX_QUERY_CHARS`` characters."""
    if not isinstance(q, str):
        raise InvalidInput(f"a query must be a string, got {type(q).__name__}")
    if not q.strip():
        raise InvalidInput("the query is empty; give some text to search for")
    check_text(q, "the query")
    if len(q) > MAX_QUERY_CHARS:
        raise InvalidInput(
            f"the query is {len(q)} characters long; the maximum is {MAX_QUERY_CHARS}",
            limit=MAX_QUERY_CHARS,
        )
