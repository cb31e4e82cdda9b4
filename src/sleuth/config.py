"""Configuration: frozen, keyword-only dataclasses shared by the Python API, CLI and manifest."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sleuth.errors import InvalidInput
from sleuth.indexes.muvera import MuveraConfig

__all__ = [
    "BM25Config",
    "CollectionConfig",
    "DenseConfig",
    "FusionConfig",
    "LateConfig",
    "RecommendConfig",
]

T = TypeVar("T")


def _from_dict(cls: type[T], data: dict[str, Any]) -> T:
    known = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise InvalidInput(
            f"unknown {cls.__name__} key(s): {', '.join(unknown)}; allowed: {', '.join(known)}"
        )
    kwargs: dict[str, Any] = {}
    for name, value in data.items():
        sub = known[name].default_factory  # type: ignore[misc]
        if isinstance(value, dict) and isinstance(sub, type) and dataclasses.is_dataclass(sub):
            value = _from_dict(sub, value)
        elif isinstance(value, list):
            value = tuple(value)
        kwargs[name] = value
    return cls(**kwargs)


class _Config:
    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)  # type: ignore[call-overload, no-any-return]

    @classmethod
    def from_dict(cls: type[T], data: dict[str, Any]) -> T:
        return _from_dict(cls, data)


@dataclass(frozen=True, kw_only=True)
class BM25Config(_Config):
    """BM25 (Lucene variant, as bm25s): English stemming and stopwords by default."""

    k1: float = 1.5
    b: float = 0.75
    stemmer: str | None = "english"
    stopwords: str | None = "english"

    def __post_init__(self) -> None:
        if not (self.k1 > 0 and 0 <= self.b <= 1):
            raise InvalidInput(f"bm25: need k1 > 0 and 0 <= b <= 1, got k1={self.k1} b={self.b}")


@dataclass(frozen=True, kw_only=True)
class DenseConfig(_Config):
    """Exact search below ``exact_threshold`` live items, faiss HNSW above it."""

    exact_threshold: int = 20_000
    hnsw_m: int = 32
    ef_construction: int = 200
    ef_search: int = 128
    # Below this many allowed items a filtered query scans them exactly (graph search would starve).
    filter_exact_below: int = 5_000

    def __post_init__(self) -> None:
        for name in ("exact_threshold", "hnsw_m", "ef_construction", "ef_search"):
            if getattr(self, name) <= 0:
                raise InvalidInput(f"dense.{name} must be positive, got {getattr(self, name)}")


@dataclass(frozen=True, kw_only=True)
class FusionConfig(_Config):
    """How hybrid search fuses the lexical and dense lists (normalize, then fuse).

    ``method``: "rrf" (reciprocal rank fusion, ``rrf_k``, ``weights``) or "score" (per-list
    ``normalization`` "minmax" | "zscore", then the convex sum ``alpha*dense + (1-alpha)*lexical``).
    ``adaptive``: shift the dense/lexical balance per query from the query terms' IDF.
    ``depth``: how many candidates each retriever contributes.
    """

    method: str = "score"
    rrf_k: int = 60
    weights: tuple[float, float] = (1.0, 1.0)  # (lexical, dense) for rrf
    normalization: str = "zscore"
    alpha: float = 0.5
    adaptive: bool = False
    depth: int = 100

    def __post_init__(self) -> None:
        if self.method not in ("rrf", "score"):
            raise InvalidInput(f"fusion.method {self.method!r} unknown; allowed: rrf, score")
        if self.normalization not in ("minmax", "zscore"):
            raise InvalidInput(
                f"fusion.normalization {self.normalization!r} unknown; allowed: minmax, zscore"
            )
        if not 0.0 <= self.alpha <= 1.0:
            raise InvalidInput(f"fusion.alpha must be in [0, 1], got {self.alpha}")
        if self.rrf_k < 0 or len(self.weights) != 2 or min(self.weights) < 0:
            raise InvalidInput("fusion: rrf_k must be >= 0 and weights two non-negative numbers")
        if self.depth <= 0:
            raise InvalidInput(f"fusion.depth must be positive, got {self.depth}")


TOKEN_DTYPES = ("float16", "int8")


@dataclass(frozen=True, kw_only=True)
class LateConfig(_Config):
    """Late interaction (ColBERT-style MaxSim over token vectors); off unless ``enabled``.

    Token vectors come from the collection's encoder (MiniLM: last hidden states), special
    tokens always dropped, punctuation and stopwords by option, then optionally projected to
    ``projection_dim`` by a fixed seeded orthogonal matrix, L2-normalized, pooled
    ``pool_factor``-fold (clustering each item's vectors) and stored as ``dtype``.
    ``rerank_depth``: how many fused (``hybrid+maxsim``) or FDE (``muvera``) candidates exact
    MaxSim reranks. ``rerank_weight``: in ``hybrid+maxsim``, the final score is
    ``(1 - w) * z(fused) + w * z(maxsim)`` over the candidates; 1 ranks by MaxSim alone (right for
    encoders trained for late interaction). 0.5 was chosen on SciFact's train queries with
    MiniLM, whose token states alone rank below hybrid. ``muvera``: the fixed-dimensional
    encoding's parameters.
    """

    enabled: bool = False
    drop_punctuation: bool = True
    drop_stopwords: bool = False
    projection_dim: int | None = None
    pool_factor: int = 1
    dtype: str = "float16"
    rerank_depth: int = 100
    rerank_weight: float = 0.5
    muvera: MuveraConfig = field(default_factory=MuveraConfig)

    def __post_init__(self) -> None:
        if self.dtype not in TOKEN_DTYPES:
            raise InvalidInput(
                f"late.dtype {self.dtype!r} unknown; allowed: {', '.join(TOKEN_DTYPES)}"
            )
        if self.projection_dim is not None and not 8 <= self.projection_dim <= 4096:
            raise InvalidInput(
                f"late.projection_dim must be from 8 to 4096 or null, got {self.projection_dim}"
            )
        if not 1 <= self.pool_factor <= 16:
            raise InvalidInput(f"late.pool_factor must be from 1 to 16, got {self.pool_factor}")
        if not 0.0 <= self.rerank_weight <= 1.0:
            raise InvalidInput(f"late.rerank_weight must be in [0, 1], got {self.rerank_weight}")
        if not 1 <= self.rerank_depth <= 10_000:
            raise InvalidInput(
                f"late.rerank_depth must be from 1 to 10000, got {self.rerank_depth}"
            )


DEFAULT_EVENT_WEIGHTS = {
    "view": 1.0,
    "click": 2.0,
    "like": 3.0,
    "cart": 3.0,
    "purchase": 5.0,
    "rating": 1.0,
}
# From `sleuth eval recs --sources all` on MovieLens-100K: the weights each source got when
# added greedily to co-visit + EASE on the validation items (multi-interest got 0.2 there but
# lowered test NDCG on its own, and costs a k-means per refit: off by default).
DEFAULT_SOURCE_WEIGHTS = {
    "co-visit": 0.5,
    "ease": 0.5,
    "content": 0.3,
    "popularity": 0.05,
    "multi-interest": 0.0,
    "sequential": 0.8,  # SASRec, once `sleuth train` has run
}


@dataclass(frozen=True, kw_only=True)
class RecommendConfig(_Config):
    """How events are weighed and recommendations fused.

    ``event_weights``: the allowed event kinds and each one's weight. ``sources``: the weight of
    each candidate source in the fused list (z-scored per request, then summed); the defaults
    come from ``sleuth eval recs`` on MovieLens-100K. ``depth``: candidates per source.
    ``refit_growth``: refit the learned sources once events grew by this share since the last
    fit (a user's own new events count at once, without a refit).
    """

    event_weights: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_EVENT_WEIGHTS))
    sources: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_SOURCE_WEIGHTS))
    depth: int = 200
    popularity_half_life_days: float | None = 30.0
    refit_growth: float = 0.1

    def __post_init__(self) -> None:
        known = set(DEFAULT_SOURCE_WEIGHTS)
        unknown = sorted(set(self.sources) - known)
        if unknown:
            raise InvalidInput(
                f"recommend.sources: unknown {', '.join(unknown)}; allowed: {', '.join(known)}"
            )
        weights = [*self.event_weights.values(), *self.sources.values()]
        if not self.event_weights or any(
            isinstance(w, bool) or not isinstance(w, int | float) or w < 0 for w in weights
        ):
            raise InvalidInput("recommend: event and source weights must be numbers >= 0")
        if self.depth <= 0 or self.refit_growth < 0:
            raise InvalidInput("recommend: depth must be positive and refit_growth >= 0")


@dataclass(frozen=True, kw_only=True)
class CollectionConfig(_Config):
    """Everything a collection is built with; saved in its store, restored on open."""

    text_fields: tuple[str, ...] = ("title", "text")
    encoder: str = "minilm"
    bm25: BM25Config = field(default_factory=BM25Config)
    dense: DenseConfig = field(default_factory=DenseConfig)
    fusion: FusionConfig = field(default_factory=FusionConfig)
    recommend: RecommendConfig = field(default_factory=RecommendConfig)
    late: LateConfig = field(default_factory=LateConfig)

    def __post_init__(self) -> None:
        if not self.text_fields or not all(isinstance(f, str) and f for f in self.text_fields):
            raise InvalidInput("text_fields must be a non-empty list of field names")
