"""What one request may ask for and carry: the checks ``Collection`` runs before it takes a lock
(the CLI and the server state the same limits)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from sleuth.config import DEFAULT_SOURCE_WEIGHTS, CollectionConfig, FusionConfig, check_weights
from sleuth.errors import InvalidInput
from sleuth.rank.cutoff import CUTOFFS
from sleuth.search.final import Final
from sleuth.spaces import DEFAULT_SPACE, SpaceConfig
from sleuth.types import Item, parse_item
from sleuth.values import check_text
from sleuth.vectors import check_dim, check_matrix, check_vector

__all__ = [
    "MAX_K",
    "MAX_QUERY_CHARS",
    "SearchArgs",
    "check_final",
    "check_k",
    "check_queries",
    "check_query",
    "check_query_vectors",
    "check_recommend",
    "check_search",
    "check_sources",
    "check_space",
    "check_space_queries",
    "check_space_vectors",
    "check_vector_ids",
    "no_filter",
    "parse_items",
    "parse_write",
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
    queries: Any, vectors: Any, dim: int, owner: str, *, normalize: bool = True
) -> tuple[list[str] | None, np.ndarray | None]:
    """A search's texts (checked) and its own vectors as ``float32[nq, dim]`` unit rows (as
    given without ``normalize``), from a list of vectors or a numeric ``[nq, dim]`` array; at
    least one of the two, of one length."""
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
        return queries, check_matrix(
            vectors, n, dim, lambda i: f"query {i}", owner, "query", normalize=normalize
        )
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
            vector = check_vector(raw, what, normalize=normalize)
        except InvalidInput as exc:
            raise InvalidInput(exc.message, index=i, **exc.details) from None
        check_dim(vector, dim, what, owner)
        rows.append(vector)
    return queries, np.stack(rows)


def check_vector_ids(ids: Any, space: Any, spaces: Mapping[str, SpaceConfig]) -> str | None:
    """``Collection.vectors``' ids (a list, not one string) and space (``check_space``)."""
    if isinstance(ids, str):
        raise InvalidInput("ids must be a list of item ids, not one string")
    return check_space(space, spaces)


def check_space(space: Any, spaces: Mapping[str, SpaceConfig]) -> str | None:
    """A search's ``space=``: None (or ``"default"``) for the default space, else the name of
    one of the collection's named spaces."""
    if space is None or space == DEFAULT_SPACE:
        return None
    if not isinstance(space, str) or space not in spaces:
        known = ", ".join([DEFAULT_SPACE, *spaces])
        raise InvalidInput(
            f"space {space!r:.80} is not a vector space of this collection; it has: {known}",
            space=repr(space)[:80],
            allowed=[DEFAULT_SPACE, *spaces],
        )
    return space


def check_space_queries(
    queries: Any,
    vectors: Any,
    space: Any,
    spaces: Mapping[str, SpaceConfig],
    dim: int,
    encoder: str,
) -> tuple[str | None, list[str] | None, np.ndarray | None]:
    """A search's named space (None: the default one), texts and vectors (as
    ``check_query_vectors``, by that space's dimension and metric)."""
    name = check_space(space, spaces)
    if name is None:
        owner = f"this collection (encoder {encoder})"
        return (None, *check_query_vectors(queries, vectors, dim, owner))
    metric = spaces[name].metric_of
    if vectors is None:
        raise InvalidInput(
            f"space={name!r} searches by vector: give the query's vector= ({metric.dim} "
            "numbers); a named vector space has no text encoder",
            space=name,
        )
    owner = f"vector space {name!r} ({metric.name})"
    texts, given = check_query_vectors(
        queries, vectors, metric.dim, owner, normalize=metric.normalize
    )
    return name, texts, given


@dataclass(frozen=True)
class SearchArgs:
    """A search's checked texts and vectors, and the named space it searches (None: the
    default one) with its config."""

    texts: list[str] | None
    given: np.ndarray | None
    space: tuple[str, SpaceConfig] | None

    @property
    def n(self) -> int:
        """The number of queries."""
        if self.texts is not None:
            return len(self.texts)
        return 0 if self.given is None else int(self.given.shape[0])


def check_search(
    queries: Any,
    vectors: Any,
    k: Any,
    space: Any,
    fusion: Any,
    spaces: Mapping[str, SpaceConfig],
    default: tuple[int, str],
) -> SearchArgs:
    """``search_batch``'s ``k``, queries, vectors and space (``check_space_queries``;
    ``default``: the default space's dimension and encoder) and its ``fusion`` (None or a
    ``FusionConfig``)."""
    check_k(k)
    dim, encoder = default
    name, texts, given = check_space_queries(queries, vectors, space, spaces, dim, encoder)
    if fusion is not None and not isinstance(fusion, FusionConfig):
        raise InvalidInput(f"fusion must be a FusionConfig, got {type(fusion).__name__}")
    return SearchArgs(texts, given, None if name is None else (name, spaces[name]))


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


def parse_write(
    items: Any, vectors: Any, config: CollectionConfig
) -> tuple[list[Item], Any, list[dict[str, bytes]] | None]:
    """A write's items (``parse_items``), the default space's bulk array (``vectors``, or its
    ``"default"`` entry when it maps space names to arrays) and each item's vectors in the
    named spaces (``check_space_vectors``)."""
    bulk = dict(vectors) if isinstance(vectors, Mapping) else {}
    default = bulk.pop(DEFAULT_SPACE, None) if isinstance(vectors, Mapping) else vectors
    parsed = parse_items(items, config.text_fields, vectors_given=default is not None)
    return parsed, default, check_space_vectors(parsed, bulk, config.spaces)


def check_space_vectors(
    items: Sequence[Item], bulk: Mapping[str, Any], spaces: Mapping[str, SpaceConfig]
) -> list[dict[str, bytes]] | None:
    """Per item, its vectors in the collection's named spaces as the store keeps them (float32
    bytes; cosine spaces' made unit length), from the items' ``"vectors"`` or a bulk array per
    space (``bulk``: space name to a numeric ``[n, dim]`` array, read a chunk at a time); None
    when the collection has no named space. ``InvalidInput`` names the first item whose
    vector is for a space the collection lacks, has another dimension, or does not fit."""
    allowed = ", ".join(spaces) if spaces else "none besides the default"
    for name in bulk:
        if name not in spaces:
            raise InvalidInput(
                f"vectors= gives vectors for space {name!r:.80}, which this collection does not "
                f"have; its named vector spaces: {allowed}",
                space=repr(name)[:80],
            )
    for i, item in enumerate(items):
        unknown = [name for name in item.vectors if name not in spaces]
        if unknown:
            raise InvalidInput(
                f"item {i} ({item.id!r}): vector space {unknown[0]!r} is not one of this "
                f'collection\'s; its named vector spaces: {allowed} ("vector" is the '
                "default space's); nothing was written",
                index=i,
                id=item.id,
                space=unknown[0],
            )
    if not spaces:
        return None
    out: list[dict[str, bytes]] = [{} for _ in items]
    for name, space in spaces.items():
        owner = f"vector space {name!r} ({space.metric})"
        rows, matrix = _space_matrix(items, name, space, bulk.get(name), owner)
        if space.metric == "l2":  # the index holds each squared norm as a float32
            squares = np.einsum("nd,nd->n", matrix, matrix, dtype=np.float64)
            big = np.flatnonzero(squares > _F32_MAX)
            if big.size:
                i = rows[int(big[0])]
                raise InvalidInput(
                    f"item {i} ({items[i].id!r}): its {name!r} vector's squared length "
                    f"overflows a float32 (l2 spaces need it below {_F32_MAX:.3g})",
                    index=i,
                    id=items[i].id,
                )
        for i, row in zip(rows, matrix):
            out[i][name] = row.tobytes()
    return out


_F32_MAX = float(np.finfo(np.float32).max)


def _space_matrix(
    items: Sequence[Item], name: str, space: SpaceConfig, array: Any, owner: str
) -> tuple[list[int], np.ndarray]:
    """The positions of the items with a vector in space ``name`` and those vectors
    (``float32[m, dim]``, as the metric wants them)."""

    def label(i: int) -> str:
        return f"item {i} ({items[i].id!r})"

    normalize = space.metric_of.normalize
    if array is not None:
        for i, item in enumerate(items):
            if name in item.vectors:
                raise InvalidInput(
                    f'{label(i)} has "vectors": {{"{name}": ...}} and vectors= gives one too; '
                    "give each item's vector one way",
                    index=i,
                    id=item.id,
                )
        rows = list(range(len(items)))
        return rows, check_matrix(array, len(items), space.dim, label, owner, normalize=normalize)
    rows = [i for i, item in enumerate(items) if name in item.vectors]
    for i in rows:
        check_dim(items[i].vectors[name], space.dim, f"{label(i)}: its {name!r} vector", owner)
    if not rows:
        return rows, np.zeros((0, space.dim), np.float32)
    stacked = np.stack([items[i].vectors[name] for i in rows])
    matrix = check_matrix(
        stacked, len(rows), space.dim, lambda r: label(rows[r]), owner, normalize=normalize
    )
    return rows, matrix


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


def check_final(
    min_relevance: Any, cutoff: Any, diversity: Any, max_per: Any, space: str | None = None
) -> Final:
    """A search's final-list options: ``min_relevance`` a probability in [0, 1] (or None),
    ``cutoff`` one of ``CUTOFFS`` (or None), ``diversity`` in [0, 1], ``max_per`` a mapping
    of attribute names to positive integers (or None). Probabilities are calibrated on the
    default vector space's scores: a search of a named ``space`` cannot ask for them."""
    if space is not None and (min_relevance is not None or cutoff == "auto"):
        raise InvalidInput(
            f"min_relevance and cutoff='auto' need probabilities calibrated on the default "
            f"vector space's scores; a search of space {space!r} has none (use cutoff='autocut')",
            space=space,
        )
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
