"""What one request may ask for and carry: the checks ``Collection`` runs before it takes a lock
(the CLI and the server state the same limits)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from sleuth.config import DEFAULT_SOURCE_WEIGHTS, check_weights
from sleuth.errors import InvalidInput
from sleuth.rank.cutoff import CUTOFFS
from sleuth.search.final import Final
from sleuth.types import Item, parse_item
from sleuth.values import check_text
from sleuth.vectors import check_dim, check_matrix, check_vector

__all__ = [
    "MAX_K",
    "MAX_QUERY_CHARS",
    "check_final",
    "check_k",
    "check_queries",
    "check_query",
    "check_query_vectors",
    "check_recommend",
    "check_sources",
    "no_filter",
    "parse_items",
]

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


def check_queries(queries: Any) -> None:
    if isinstance(queries, str) or not queries:
        raise InvalidInput("queries must be a non-empty list of strings")
    for q in queries:
        check_query(q)


def check_query_vectors(
    queries: Any, vectors: Any, dim: int, owner: str
) -> tuple[list[str] | None, np.ndarray | None]:
    """A search's texts (checked) and its own vectors as ``float32[nq, dim]`` unit rows, from a
    list of vectors or a numeric ``[nq, dim]`` array; at least one of the two, of one length."""
    if queries is None and vectors is None:
        raise InvalidInput(
            "a query must be a string, got NoneType: give the query text (query=), its vector "
            "(vector=), or both"
        )
    if queries is not None:
        check_queries(queries)
        queries = list(queries)
    if vectors is None:
        return queries, None
    n = len(queries) if queries is not None else len(vectors)
    if isinstance(vectors, np.ndarray) and vectors.ndim == 2:
        return queries, check_matrix(vectors, n, dim, lambda i: f"query {i}", owner, "query")
    if isinstance(vectors, str | bytes | dict) or not isinstance(vectors, Sequence) or not n:
        raise InvalidInput(
            f"vectors must be a non-empty list of vectors (or a [n, {dim}] array), got "
            f"{type(vectors).__name__}"
        )
    if len(vectors) != n:
        raise InvalidInput(f"{len(vectors)} vectors for {n} queries; give one per query")
    rows = []
    for i, raw in enumerate(vectors):
        what = f"query {i}: its vector"
        try:
            vector = check_vector(raw, what)
        except InvalidInput as exc:
            raise InvalidInput(exc.message, index=i, **exc.details) from None
        check_dim(vector, dim, what, owner)
        rows.append(vector)
    return queries, np.stack(rows)


def no_filter(where: Any) -> bool:
    """None and ``{}`` filter nothing; anything else is a filter (``[]`` or ``0`` are errors)."""
    return where is None or (isinstance(where, dict) and not where)


def parse_items(
    items: Iterable[Any], text_fields: tuple[str, ...], *, vectors_given: bool = False
) -> list[Item]:
    """A write's items, each checked, an error naming the first bad one by its position.
    ``vectors_given``: a bulk array gives their vectors (text is optional)."""
    parsed: list[Item] = []
    seen: set[str] = set()
    for i, raw in enumerate(items):
        try:
            item = parse_item(raw, text_fields, vector_given=vectors_given)
        except InvalidInput as exc:
            raise InvalidInput(f"item {i}: {exc.message}", index=i, **exc.details) from None
        if item.id in seen:
            raise InvalidInput(
                f"item {i}: id {item.id!r} appears twice in this batch", index=i, id=item.id
            )
        seen.add(item.id)
        parsed.append(item)
    return parsed


def check_recommend(users: Sequence[Any], diversity: Any, exclude_seen: Any, explain: Any) -> None:
    if isinstance(users, str) or not users:
        raise InvalidInput("users must be a non-empty list of user ids")
    for user in users:
        if not isinstance(user, str) or not user.strip():
            raise InvalidInput(f"user must be a non-empty string, got {user!r}")
    _check_diversity(diversity)
    for flag, value in (("exclude_seen", exclude_seen), ("explain", explain)):
        if not isinstance(value, bool):
            raise InvalidInput(f"{flag} must be true or false, got {value!r}")


def _check_diversity(diversity: Any) -> float:
    if isinstance(diversity, bool) or not isinstance(diversity, int | float):
        raise InvalidInput(f"diversity must be a number from 0 to 1, got {diversity!r}")
    if not 0.0 <= diversity <= 1.0:
        raise InvalidInput(f"diversity must be from 0 to 1, got {diversity!r}")
    return float(diversity)


def check_final(min_relevance: Any, cutoff: Any, diversity: Any, max_per: Any) -> Final:
    """A search's final-list options: ``min_relevance`` a probability in [0, 1] (or None),
    ``cutoff`` one of ``CUTOFFS`` (or None), ``diversity`` in [0, 1], ``max_per`` a mapping
    of attribute names to positive integers (or None)."""
    if min_relevance is not None:
        if isinstance(min_relevance, bool) or not isinstance(min_relevance, int | float):
            raise InvalidInput(
                f"min_relevance must be a probability from 0 to 1, got {min_relevance!r}"
            )
        if not 0.0 <= min_relevance <= 1.0:
            raise InvalidInput(f"min_relevance must be from 0 to 1, got {min_relevance!r}")
        min_relevance = float(min_relevance)
    if cutoff is not None and cutoff not in CUTOFFS:
        raise InvalidInput(
            f"unknown cutoff {cutoff!r}; allowed: {', '.join(CUTOFFS)} (or none)", cutoff=cutoff
        )
    if max_per is not None:
        if not isinstance(max_per, Mapping):
            raise InvalidInput(
                'max_per must map attribute names to counts, e.g. {"brand": 2}, got '
                f"{type(max_per).__name__}"
            )
        for name, count in max_per.items():
            if not isinstance(name, str) or not name:
                raise InvalidInput(
                    f"max_per names an attribute by a non-empty string, got {name!r}"
                )
            if isinstance(count, bool) or not isinstance(count, int) or count < 1:
                raise InvalidInput(
                    f"max_per[{name!r}] must be a positive integer, got {count!r}", attribute=name
                )
        max_per = dict(max_per) or None
    return Final(min_relevance, cutoff, _check_diversity(diversity), max_per)


def check_sources(sources: Any) -> dict[str, float]:
    """Per-request source weights, checked as ``RecommendConfig.sources`` is."""
    if isinstance(sources, dict) and not sources:
        raise InvalidInput("sources must name at least one source with its weight")
    return check_weights(sources, "sources", tuple(DEFAULT_SOURCE_WEIGHTS))
