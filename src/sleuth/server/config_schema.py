"""The ``config`` of ``POST /collections`` as a schema: every key, its type and its range, so
that the OpenAPI document says what the server accepts. The ranges are the engine's
(``sleuth.config``) or narrower, chosen so that no configuration a client sends can exhaust
the server's memory; the engine validates again when it builds the ``CollectionConfig``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal

import Stemmer
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

from sleuth.config import (
    DEFAULT_EVENT_WEIGHTS,
    DEFAULT_SOURCE_WEIGHTS,
    DENSE_STORAGES,
    OPEN_BELOW,
    RANGES,
    RESERVED_FIELDS,
    TOKEN_DTYPES,
)
from sleuth.server.encoders import BUILT_IN_PATTERN
from sleuth.spaces import DEFAULT_SPACE, MAX_SPACES, METRICS, NAME_PATTERN

__all__ = ["ConfigIn", "Dim", "Int", "SpaceName", "Spaces"]

FIELD_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]{0,63}$"
RESERVED = RESERVED_FIELDS
if TYPE_CHECKING:  # the names are known at run time only
    StemmerName = str
    SourceName = str
else:
    StemmerName = Literal[tuple(Stemmer.algorithms())]
    SourceName = Literal[tuple(DEFAULT_SOURCE_WEIGHTS)]
KindName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.:-]{1,64}$")]


def _number_not_text(value: object) -> object:
    if isinstance(value, str | bool):
        raise ValueError("must be a number")
    return value


# JSON Schema's integer includes 207.0; strict mode alone would refuse it, lax mode takes "207".
Int = Annotated[int, BeforeValidator(_number_not_text), Field(strict=False)]


# The vectors' dimension (``CollectionConfig.dim``, the request's ``dim``).
# (the bounds before the validator, so that the schema states them as minimum and maximum)
Dim = Annotated[
    int,
    Field(ge=RANGES["dim"][0], le=RANGES["dim"][1]),
    BeforeValidator(_number_not_text),
    Field(strict=False),
]


def _range(path: str, default: Any) -> Any:
    """A field bounded as the engine bounds ``path`` (``sleuth.config.RANGES``)."""
    lo, hi = RANGES[path]
    if path in OPEN_BELOW:
        return Field(default=default, gt=lo, le=hi, allow_inf_nan=False)
    return Field(default=default, ge=lo, le=hi, allow_inf_nan=False)


_WEIGHT_LO, _WEIGHT_HI = RANGES["recommend.weights"]
Weight = Annotated[float, Field(ge=_WEIGHT_LO, le=_WEIGHT_HI, allow_inf_nan=False)]
Dtype = Literal[TOKEN_DTYPES]  # type: ignore[valid-type]
Storage = Literal[DENSE_STORAGES]  # type: ignore[valid-type]


class _Section(BaseModel):
    # strict: "10" is not 10 and "no" is not a boolean; an int is still a float.
    model_config = ConfigDict(extra="forbid", strict=True)


class BM25In(_Section):
    k1: float = _range("bm25.k1", 1.5)
    b: float = _range("bm25.b", 0.75)
    stemmer: StemmerName | None = "english"
    stopwords: Literal["english"] | None = "english"


class DenseIn(_Section):
    exact_threshold: Int = _range("dense.exact_threshold", 20_000)
    hnsw_m: Int = _range("dense.hnsw_m", 32)
    ef_construction: Int = _range("dense.ef_construction", 200)
    ef_search: Int = _range("dense.ef_search", 128)
    filter_exact_below: Int = _range("dense.filter_exact_below", 5_000)
    storage: Storage = "float32"
    rescore: (
        Annotated[
            int,
            Field(ge=RANGES["dense.rescore"][0], le=RANGES["dense.rescore"][1], strict=False),
            BeforeValidator(_number_not_text),
        ]
        | None
    ) = None
    ivf_lists: Int = _range("dense.ivf_lists", 1024)
    nprobe: Int = _range("dense.nprobe", 16)


class FusionIn(_Section):
    method: Literal["rrf", "score"] = "score"
    rrf_k: Int = _range("fusion.rrf_k", 60)
    weights: list[Weight] = Field(default=[1.0, 1.0], min_length=2, max_length=2)
    normalization: Literal["minmax", "zscore"] = "zscore"
    alpha: float = _range("fusion.alpha", 0.5)
    adaptive: bool = False
    trust: bool = True
    depth: Int = _range("fusion.depth", 100)


class MuveraIn(_Section):
    # The engine bounds the product r_reps * 2**k_sim * d_proj, which a schema cannot say:
    # these per-key bounds keep every combination inside it (at most 32 * 64 * 16 = 32,768).
    k_sim: Int = Field(default=5, ge=0, le=6)
    d_proj: Int = Field(default=16, ge=1, le=16)  # at most the least token dim
    r_reps: Int = Field(default=20, ge=1, le=32)
    fill_empty: bool = True
    seed: Int = Field(default=42, ge=0, le=2**32 - 1)  # exact as a JSON number anywhere


class LateIn(_Section):
    enabled: bool = False
    drop_punctuation: bool = True
    drop_stopwords: bool = False
    projection_dim: (
        Annotated[int, Field(ge=16, le=4096, strict=False), BeforeValidator(_number_not_text)]
        | None
    ) = None
    pool_factor: Int = _range("late.pool_factor", 1)
    dtype: Dtype = "float16"
    rerank_depth: Int = _range("late.rerank_depth", 100)
    rerank_weight: float = _range("late.rerank_weight", 0.5)
    muvera: MuveraIn = MuveraIn()


class RecommendIn(_Section):
    event_weights: dict[KindName, Weight] = Field(
        default_factory=lambda: dict(DEFAULT_EVENT_WEIGHTS),
        min_length=1,
        max_length=64,
        json_schema_extra={"additionalProperties": False},  # only the named kinds' pattern
    )
    sources: dict[SourceName, Weight] = Field(default_factory=lambda: dict(DEFAULT_SOURCE_WEIGHTS))
    depth: Int = _range("recommend.depth", 200)
    popularity_half_life_days: float | None = _range("recommend.popularity_half_life_days", 30.0)
    refit_growth: float = _range("recommend.refit_growth", 0.1)


class SpaceIn(_Section):
    """A named vector space (``sleuth.spaces``)."""

    dim: Dim = Field(description="The numbers in each of its vectors.")
    metric: Literal[METRICS] = Field(  # type: ignore[valid-type]
        "cosine",
        description="cosine (vectors made unit length), dot (as given) or l2 (Euclidean; "
        "scores are negative distances).",
    )


SpaceName = Annotated[str, StringConstraints(pattern=NAME_PATTERN)]
Spaces = Annotated[
    dict[SpaceName, SpaceIn],
    Field(
        max_length=MAX_SPACES,
        description="Named vector spaces besides the default one, by name (not "
        f"{DEFAULT_SPACE!r}): each with its dim and metric; items bring their vectors as "
        '"vectors": {"<name>": [...]}.',
        json_schema_extra={
            "propertyNames": {"pattern": NAME_PATTERN, "not": {"const": DEFAULT_SPACE}}
        },
    ),
]


class ConfigIn(_Section):
    """A ``CollectionConfig`` as JSON; absent keys take their defaults."""

    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        json_schema_extra={
            "examples": [{"text_fields": ["title", "text"], "fusion": {"method": "rrf"}}]
        },
    )

    text_fields: list[Annotated[str, StringConstraints(pattern=FIELD_PATTERN)]] = Field(
        ["title", "text"],
        min_length=1,
        max_length=16,
        description=f"Field names, not {', '.join(RESERVED)}.",
        json_schema_extra={
            "uniqueItems": True,
            "items": {"type": "string", "pattern": FIELD_PATTERN, "not": {"enum": list(RESERVED)}},
        },
    )
    encoder: str | None = Field(
        None,
        description="As the request's encoder.",
        json_schema_extra={"pattern": BUILT_IN_PATTERN},
    )
    dim: Dim | None = Field(
        None, description='As the request\'s dim: required with encoder "none".'
    )
    bm25: BM25In = BM25In()
    dense: DenseIn = DenseIn()
    fusion: FusionIn = FusionIn()
    recommend: RecommendIn = RecommendIn()
    late: LateIn = LateIn()
    spaces: Spaces = Field(default_factory=dict)

    @model_validator(mode="after")
    def _fields(self) -> ConfigIn:
        reserved = sorted(set(self.text_fields) & set(RESERVED))
        if reserved:
            raise ValueError(f"text_fields: {', '.join(reserved)} are reserved names")
        if len(set(self.text_fields)) != len(self.text_fields):
            raise ValueError("text_fields: each field once")
        return self
