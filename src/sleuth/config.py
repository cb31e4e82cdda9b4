"""Configuration: frozen, keyword-only dataclasses shared by the Python API, CLI and manifest."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np
import Stemmer

from sleuth.checks import check_bool, check_choice, check_float, check_int, check_name, is_int
from sleuth.errors import InvalidInput
from sleuth.spaces import SpaceConfig, check_spaces

__all__ = [
    "BM25Config",
    "CollectionConfig",
    "DenseConfig",
    "FusionConfig",
    "LateConfig",
    "MuveraConfig",
    "RecommendConfig",
]

T = TypeVar("T")

# Every range below is documented in the README ("Configuration"); the bounds that touch
# memory (depths, graph degree, dimensions) keep a valid configuration's per-query and per-item
# allocations small whatever the collection holds.
MAX_DEPTH = 10_000  # candidates per retriever / reranked per query (MAX_K is 1,000)
MAX_COUNT = 1_000_000_000  # thresholds on item counts (no allocation depends on them)
MAX_WEIGHT = 1e6
MAX_TEXT_FIELDS = 32
MAX_FIELD_NAME = 256
MAX_EVENT_KINDS = 64
STOPWORD_LISTS = ("english",)
# item keys that are not text: the id, filter operators, the item's own vector(s)
RESERVED_FIELDS = (
    "id",
    "and",
    "or",
    "not",
    "vector",
    "vectors",
)  # the lists ``sleuth.indexes.tokenize`` holds, by name

# Every numeric range, by field path: the checks below and the server's schema of a config
# (``sleuth.server.config_schema``) both read them, so the two cannot drift apart.
RANGES: dict[str, tuple[float, float]] = {
    "dim": (1, 65_536),  # sleuth.vectors.MAX_DIM
    "bm25.k1": (0.0, 100.0),  # k1 > 0
    "bm25.b": (0.0, 1.0),
    "dense.exact_threshold": (1, MAX_COUNT),
    "dense.hnsw_m": (4, 128),  # faiss HNSW keeps 2 * hnsw_m neighbours per vector
    "dense.ef_construction": (8, 4096),
    "dense.ef_search": (1, MAX_DEPTH),
    "dense.filter_exact_below": (0, MAX_COUNT),
    "dense.ivf_lists": (1, 65_536),  # faiss numbers IVF lists in two bytes below 65,536
    "dense.nprobe": (1, 65_536),
    "dense.rescore": (0, MAX_DEPTH),  # candidates per query rescored at full precision
    "fusion.alpha": (0.0, 1.0),
    "fusion.rrf_k": (0, 1_000_000),
    "fusion.weights": (0.0, MAX_WEIGHT),
    "fusion.depth": (1, MAX_DEPTH),
    "late.projection_dim": (8, 4096),
    "late.pool_factor": (1, 16),
    "late.rerank_weight": (0.0, 1.0),
    "late.rerank_depth": (1, MAX_DEPTH),
    "recommend.weights": (0.0, MAX_WEIGHT),  # event and source weights
    "recommend.depth": (1, MAX_DEPTH),
    "recommend.popularity_half_life_days": (0.0, MAX_WEIGHT),  # > 0
    "recommend.refit_growth": (0.0, MAX_WEIGHT),
}
OPEN_BELOW = frozenset({"bm25.k1", "recommend.popularity_half_life_days"})  # lo excluded


def _from_dict(cls: type[T], data: Any, path: str) -> T:
    """``cls`` from a JSON object: nested configs from nested objects, lists as tuples."""
    if not isinstance(data, Mapping):
        raise InvalidInput(
            f"{path or 'config'} must be an object, got {data!r:.80} ({type(data).__name__})",
            field=path or "config",
        )
    known = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - set(known), key=str)
    if unknown:
        where = f"{path} " if path else ""
        raise InvalidInput(
            f"unknown {where}key(s) in {cls.__name__}: {', '.join(map(repr, unknown))}; "
            f"allowed: {', '.join(known)}"
        )
    kwargs: dict[str, Any] = {}
    for name, value in data.items():
        sub = known[name].default_factory  # type: ignore[misc]
        if isinstance(sub, type) and dataclasses.is_dataclass(sub):
            if not isinstance(value, sub):
                sub_path = f"{path}.{name}" if path else name
                value = _from_dict(sub, value, sub_path)
        elif isinstance(value, list):
            value = tuple(value)
        kwargs[name] = value
    return cls(**kwargs)


class _Config:
    _section = ""  # the path of this config inside a CollectionConfig, for error messages

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)  # type: ignore[call-overload, no-any-return]

    @classmethod
    def from_dict(cls: type[T], data: Any) -> T:
        return _from_dict(cls, data, cls._section)  # type: ignore[attr-defined]

    def _set(self, name: str, value: Any) -> None:
        """Store a checked value in its canonical type (the dataclass is frozen)."""
        object.__setattr__(self, name, value)

    def _path(self, name: str) -> str:
        return f"{self._section}.{name}" if self._section else name

    def _int(self, name: str, *, optional: bool = False) -> None:
        """Check field ``name`` against its ``RANGES`` entry and store it canonically."""
        path = self._path(name)
        lo, hi = RANGES[path]
        self._set(name, check_int(getattr(self, name), path, int(lo), int(hi), optional=optional))

    def _float(self, name: str, *, optional: bool = False) -> None:
        path = self._path(name)
        lo, hi = RANGES[path]
        value = check_float(
            getattr(self, name), path, lo, hi, lo_open=path in OPEN_BELOW, optional=optional
        )
        self._set(name, value)


@dataclass(frozen=True, kw_only=True)
class BM25Config(_Config):
    """BM25 (Lucene variant, as bm25s): English stemming and stopwords by default."""

    k1: float = 1.5
    b: float = 0.75
    stemmer: str | None = "english"
    stopwords: str | None = "english"

    _section = "bm25"

    def __post_init__(self) -> None:
        self._float("k1")
        self._float("b")
        check_choice(self.stemmer, "bm25.stemmer", [*Stemmer.algorithms(), None])
        check_choice(self.stopwords, "bm25.stopwords", [*STOPWORD_LISTS, None])


# How a dense index holds the vectors it searches; full-precision copies of compressed ones stay
# on disk (memory-mapped) for rescoring. Per storage, how many candidates are rescored unless
# ``rescore`` says otherwise (measured on SciFact and 100k synthetic vectors:
# benchmarks/quantize.py).
DENSE_STORAGES = ("float32", "float16", "int8", "binary")
DEFAULT_RESCORE = {"float32": 0, "float16": 0, "int8": 100, "binary": 100}


@dataclass(frozen=True, kw_only=True)
class DenseConfig(_Config):
    """Exact search below ``exact_threshold`` live items, an approximate structure above it:
    with float32 storage a faiss inverted file (``ivf_lists`` lists learned once, ``nprobe`` of
    them searched) over int8 codes whose top ``max(k, rescore)`` candidates (None: 100) are
    scored again at full precision; with compressed storage a faiss HNSW graph over the codes
    (``hnsw_m``, ``ef_construction``, ``ef_search``).

    ``storage``: what the search structure holds per vector: ``float32`` (4 bytes a dimension),
    ``float16`` (2), ``int8`` (1; a scale and offset per dimension learned from the vectors) or
    ``binary`` (sign bits, 1/8; Hamming distance). ``rescore``: with compressed storage, the
    first pass fetches ``max(k, rescore)`` candidates and scores them again with the
    full-precision vectors (0: no rescoring; None: the storage's default,
    ``DEFAULT_RESCORE``). float32 is full precision already: below the threshold nothing is
    rescored (``rescore_depth`` 0), above it the IVF's candidates are.
    """

    exact_threshold: int = 20_000
    hnsw_m: int = 32
    ef_construction: int = 200
    ef_search: int = 128
    # Below this many allowed items a filtered query scans them exactly (graph search would
    # starve); above, the IVF probes 1 / sqrt(share allowed) times ``nprobe`` lists.
    filter_exact_below: int = 5_000
    storage: str = "float32"
    rescore: int | None = None
    ivf_lists: int = 1024
    nprobe: int = 16

    _section = "dense"

    def __post_init__(self) -> None:
        for name in ("exact_threshold", "hnsw_m", "ef_construction", "ef_search"):
            self._int(name)
        self._int("filter_exact_below")
        self._int("ivf_lists")
        self._int("nprobe")
        check_choice(self.storage, "dense.storage", DENSE_STORAGES)
        self._int("rescore", optional=True)

    @property
    def rescore_depth(self) -> int:
        """How many candidates are rescored at full precision (0: none)."""
        if self.storage == "float32":
            return 0
        return DEFAULT_RESCORE[self.storage] if self.rescore is None else self.rescore


@dataclass(frozen=True, kw_only=True)
class FusionConfig(_Config):
    """How hybrid search fuses the lexical and dense lists (normalize, then fuse).

    ``method``: "rrf" (reciprocal rank fusion, ``rrf_k``, ``weights``) or "score" (per-list
    ``normalization`` "minmax" | "zscore", then the convex sum ``alpha*dense + (1-alpha)*lexical``).
    ``adaptive``: shift the dense/lexical balance per query from the query terms' IDF.
    ``trust``: weigh each list, per query and per collection, by how much it can be trusted,
    without judgments (``sleuth.fuse.trust``); off, ``alpha`` holds for every query.
    ``depth``: how many candidates each retriever contributes.
    """

    method: str = "score"
    rrf_k: int = 60
    weights: tuple[float, float] = (1.0, 1.0)  # (lexical, dense) for rrf
    normalization: str = "zscore"
    alpha: float = 0.5
    adaptive: bool = False
    trust: bool = True
    depth: int = 100

    _section = "fusion"

    def __post_init__(self) -> None:
        check_choice(self.method, "fusion.method", ("rrf", "score"))
        check_choice(self.normalization, "fusion.normalization", ("minmax", "zscore"))
        self._float("alpha")
        self._int("rrf_k")
        if not isinstance(self.weights, tuple | list) or len(self.weights) != 2:
            raise InvalidInput(
                f"fusion.weights must be two numbers (lexical, dense), got {self.weights!r:.80}",
                field="fusion.weights",
            )
        self._set(
            "weights",
            tuple(
                check_float(w, "fusion.weights", *RANGES["fusion.weights"]) for w in self.weights
            ),
        )
        self._set("adaptive", check_bool(self.adaptive, "fusion.adaptive"))
        self._set("trust", check_bool(self.trust, "fusion.trust"))
        self._int("depth")


# MUVERA bounds on memory (README, "Configuration"): the paper's largest FDE has 10,240 dims.
_MAX_K_SIM = 10  # 1,024 buckets per repetition; more would leave nearly every bucket empty
_MAX_D_PROJ = 1024
_MAX_R_REPS = 128
_MAX_PROJECTED = 4096  # r_reps * d_proj
_MAX_FDE_DIM = 1 << 17  # 131,072 float32 per item before any final projection


@dataclass(frozen=True, kw_only=True)
class MuveraConfig:
    """MUVERA parameters: ``fde_dim = r_reps * 2**k_sim * d_proj`` (or ``final_dim``)."""

    k_sim: int = 5
    d_proj: int = 16
    r_reps: int = 20
    fill_empty: bool = True
    final_dim: int | None = None
    seed: int = 42

    def __post_init__(self) -> None:
        # ``late.muvera.``: the path of these parameters in a collection's configuration
        if not is_int(self.k_sim) or not 0 <= self.k_sim <= _MAX_K_SIM:
            raise InvalidInput(
                f"late.muvera.k_sim must be an integer in [0, {_MAX_K_SIM}], got {self.k_sim!r}"
            )
        if not is_int(self.d_proj) or not 1 <= self.d_proj <= _MAX_D_PROJ:
            raise InvalidInput(
                f"late.muvera.d_proj must be an integer >= 1 and <= {_MAX_D_PROJ}, "
                f"got {self.d_proj!r}"
            )
        if not is_int(self.r_reps) or not 1 <= self.r_reps <= _MAX_R_REPS:
            raise InvalidInput(
                f"late.muvera.r_reps must be an integer >= 1 and <= {_MAX_R_REPS}, "
                f"got {self.r_reps!r}"
            )
        if not isinstance(self.fill_empty, bool | np.bool_):
            raise InvalidInput(
                f"late.muvera.fill_empty must be true or false, got {self.fill_empty!r}"
            )
        if not is_int(self.seed) or not 0 <= self.seed < 2**63:
            raise InvalidInput(
                f"late.muvera.seed must be an integer in [0, 2**63), got {self.seed!r}"
            )
        if self.r_reps * self.d_proj > _MAX_PROJECTED:
            raise InvalidInput(
                f"late.muvera: r_reps * d_proj must be at most {_MAX_PROJECTED} (the projection "
                "matrices hold r_reps * d_proj * token dim floats), "
                f"got {self.r_reps * self.d_proj}"
            )
        raw = self.r_reps * 2**self.k_sim * self.d_proj
        if raw > _MAX_FDE_DIM:
            raise InvalidInput(
                f"late.muvera: r_reps * 2**k_sim * d_proj must be at most {_MAX_FDE_DIM} "
                f"(float32 values per item and query), got {raw}"
            )
        if self.final_dim is not None and (
            not is_int(self.final_dim) or not 1 <= self.final_dim <= raw
        ):
            raise InvalidInput(
                f"late.muvera.final_dim must be None or an integer in [1, {raw}] (r_reps * "
                f"2**k_sim * d_proj), got {self.final_dim!r}"
            )
        for name in ("k_sim", "d_proj", "r_reps", "seed", "final_dim", "fill_empty"):
            value = getattr(self, name)  # numpy scalars -> plain Python, so to_dict is JSON
            if value is not None:
                object.__setattr__(self, name, bool(value) if name == "fill_empty" else int(value))

    @property
    def fde_dim(self) -> int:
        """Length of one encoding."""
        return self.final_dim or self.r_reps * 2**self.k_sim * self.d_proj

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MuveraConfig:
        if not isinstance(data, dict):
            raise InvalidInput(f"late.muvera must be an object, got {type(data).__name__}")
        known = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(data) - set(known), key=str)
        if unknown:
            raise InvalidInput(
                f"unknown muvera key(s): {', '.join(map(repr, unknown))}; "
                f"allowed: {', '.join(known)}"
            )
        return cls(**data)


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

    _section = "late"

    def __post_init__(self) -> None:
        for name in ("enabled", "drop_punctuation", "drop_stopwords"):
            self._set(name, check_bool(getattr(self, name), f"late.{name}"))
        check_choice(self.dtype, "late.dtype", TOKEN_DTYPES)
        self._int("projection_dim", optional=True)
        self._int("pool_factor")
        self._float("rerank_weight")
        self._int("rerank_depth")
        if not isinstance(self.muvera, MuveraConfig):
            raise InvalidInput(
                "late.muvera must be an object of MUVERA parameters", field="late.muvera"
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

    _section = "recommend"

    def __post_init__(self) -> None:
        self._set(
            "event_weights", check_weights(self.event_weights, "recommend.event_weights", None)
        )
        if not self.event_weights:
            raise InvalidInput(
                "recommend.event_weights must name at least one event kind",
                field="recommend.event_weights",
            )
        self._set(
            "sources",
            check_weights(self.sources, "recommend.sources", tuple(DEFAULT_SOURCE_WEIGHTS)),
        )
        self._int("depth")
        self._float("popularity_half_life_days", optional=True)
        self._float("refit_growth")


def check_weights(value: Any, path: str, known: tuple[str, ...] | None) -> dict[str, float]:
    """A JSON object of names to weights in [0, MAX_WEIGHT]; names from ``known`` if given."""
    if not isinstance(value, Mapping) or len(value) > MAX_EVENT_KINDS:
        raise InvalidInput(
            f"{path} must be an object of at most {MAX_EVENT_KINDS} names to weights, "
            f"got {value!r:.80}",
            field=path,
        )
    out: dict[str, float] = {}
    for name, weight in value.items():
        if known is not None:
            check_choice(name, f"{path} key", known)
        check_name(name, f"{path} key", 64)
        lo, hi = RANGES["recommend.weights"]
        out[name] = check_float(weight, f"{path}.{name}", lo, hi)  # type: ignore[assignment]
    return out


@dataclass(frozen=True, kw_only=True)
class CollectionConfig(_Config):
    """Everything a collection is built with; saved in its store, restored on open.

    ``encoder``: "minilm", "hashing[:dim]", a model folder, or "none" (items and queries bring
    their vectors). ``dim``: the vectors' dimension, fixed at creation: required with "none",
    else the encoder's (omit it, or give the same). A created collection stores both as used.
    ``spaces``: named vector spaces besides that default one, each a ``SpaceConfig`` (or an
    object of ``dim`` and ``metric``); see ``sleuth.spaces``. Fixed at creation too.
    """

    text_fields: tuple[str, ...] = ("title", "text")
    encoder: str = "minilm"
    dim: int | None = None
    bm25: BM25Config = field(default_factory=BM25Config)
    dense: DenseConfig = field(default_factory=DenseConfig)
    fusion: FusionConfig = field(default_factory=FusionConfig)
    recommend: RecommendConfig = field(default_factory=RecommendConfig)
    late: LateConfig = field(default_factory=LateConfig)
    spaces: dict[str, SpaceConfig] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._set("spaces", check_spaces(self.spaces))
        fields = self.text_fields
        if not isinstance(fields, tuple | list) or not 1 <= len(fields) <= MAX_TEXT_FIELDS:
            raise InvalidInput(
                f"text_fields must be a list of 1 to {MAX_TEXT_FIELDS} field names, "
                f"got {fields!r:.80}",
                field="text_fields",
            )
        for name in fields:
            check_name(name, "text_fields", MAX_FIELD_NAME)
            if name in RESERVED_FIELDS:
                raise InvalidInput(
                    f"text_fields: {name!r} is reserved ({', '.join(RESERVED_FIELDS)})",
                    field="text_fields",
                )
        if len(set(fields)) != len(fields):
            raise InvalidInput(f"text_fields has duplicates: {list(fields)}", field="text_fields")
        self._set("text_fields", tuple(fields))
        check_name(self.encoder, "encoder", 4096)
        self._int("dim", optional=True)
        for name, kind in (
            ("bm25", BM25Config),
            ("dense", DenseConfig),
            ("fusion", FusionConfig),
            ("recommend", RecommendConfig),
            ("late", LateConfig),
        ):
            if not isinstance(getattr(self, name), kind):
                raise InvalidInput(f"{name} must be an object ({kind.__name__})", field=name)
