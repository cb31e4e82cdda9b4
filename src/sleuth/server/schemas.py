"""Request and response bodies of the HTTP API (they make the OpenAPI document)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import Path
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from sleuth.catalog import NAME_PATTERN
from sleuth.config import DEFAULT_EVENT_WEIGHTS
from sleuth.limits import MAX_K, MAX_QUERY_CHARS
from sleuth.rank.cross import MAX_RERANK_DEPTH
from sleuth.server.config_schema import ConfigIn, Dim, Int, Spaces
from sleuth.server.encoders import BUILT_IN_PATTERN
from sleuth.spaces import DEFAULT_SPACE
from sleuth.spaces import NAME_PATTERN as SPACE_PATTERN
from sleuth.store.clicks import MAX_SHOWN
from sleuth.types import ID_CONTROL_CHARS, MAX_ID_LENGTH, MAX_USER_LENGTH
from sleuth.values import MAX_TIMESTAMP, MIN_TIMESTAMP
from sleuth.vectors import MAX_DIM

_YEARS = r"^(1[0-9]{3}|[2-8][0-9]{3}|9[0-8][0-9]{2})-"


def _year_in_range(value: dt.datetime) -> dt.datetime:
    if not 1000 <= value.year <= 9899:
        raise ValueError("the year of a date-time must be from 1000 to 9899")
    return value


EventTime = Annotated[
    dt.datetime,
    AfterValidator(_year_in_range),
    Field(strict=False, json_schema_extra={"pattern": _YEARS}),  # from a JSON string
]

RERANK_PATTERN = r"^(trained|cross-encoder:.*\S.*)$"

__all__ = [
    "CollectionCreate",
    "CollectionInfo",
    "CollectionList",
    "ErrorResponse",
    "EventsWrite",
    "Health",
    "HitOut",
    "ItemsWrite",
    "RecommendRequest",
    "RecordResultOut",
    "RerankIn",
    "SearchEventIn",
    "SearchRequest",
    "SearchResponse",
    "TraceOut",
    "WriteResultOut",
]

# What str.strip() removes, spelled out: regex engines differ on what \s means.
_SPACE = r"\u0009-\u000d\u001c-\u0020\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
# no leading or trailing white space, no control characters (sleuth.types.parse_item)
ID_PATTERN = (
    rf"^[^{_SPACE}{ID_CONTROL_CHARS}](?:[^{ID_CONTROL_CHARS}]*[^{_SPACE}{ID_CONTROL_CHARS}])?$"
)
NOT_BLANK = rf"[^{_SPACE}]"  # some character that is not white space

PATTERN_HINTS = {
    ID_PATTERN: "an id has no leading or trailing white space and no control characters",
    NOT_BLANK: "must not be empty or only white space",
    NAME_PATTERN: "a collection name is 1 to 64 letters, digits, '_', '-' or '.', starting "
    "with a letter or digit",
}

Name = Annotated[str, Path(pattern=NAME_PATTERN, description="A collection name.")]
ItemId = Annotated[
    str,
    Path(
        min_length=1,
        max_length=MAX_ID_LENGTH,
        pattern=ID_PATTERN,
        description="An item id: no leading or trailing white space.",
    ),
]

Mode = Literal["lexical", "dense", "hybrid", "hybrid+maxsim", "muvera", "maxsim-exact", "ranked"]


class _Strict(BaseModel):
    # strict: true is not 1, "10" is not 10 (JSON Schema says so; an int is still a float)
    model_config = ConfigDict(extra="forbid", strict=True)


class ErrorBody(BaseModel):
    type: str = Field(description="invalid_input, not_found, conflict, too_large, unauthorized…")
    message: str = Field(description="What was wrong and what is allowed.")
    details: dict[str, Any] = Field(default_factory=dict)


class ErrorResponse(BaseModel):
    error: ErrorBody


class Health(BaseModel):
    status: Literal["ok", "degraded"] = Field(description="degraded: some collections unavailable")
    ready: bool
    version: str
    collections: int = Field(description="Collections open now.")
    unavailable: dict[str, str] = Field(
        description="Collections that cannot be opened, and why; the others are served."
    )


class CollectionCreate(_Strict):
    name: str = Field(pattern=NAME_PATTERN, description="Letters, digits, '_', '-', '.'.")
    encoder: str | None = Field(
        None,
        description='"minilm" (default), "hashing" or "hashing:<dim>" (dim from 16 to 65536), '
        '"none" (no text encoder: items bring their "vector", queries their vector; needs dim), '
        "or the name of a model folder in the directory the server allows (`sleuth serve "
        "--models`).",
        # Checked by the server's allow-list (which may take model folder names as well).
        json_schema_extra={"pattern": BUILT_IN_PATTERN},
    )
    dim: Dim | None = Field(
        None,
        description='The vectors\' dimension, fixed at creation: required with encoder "none", '
        "else the encoder's (omit it).",
    )
    spaces: Spaces | None = None
    config: ConfigIn | None = Field(
        None,
        description="A CollectionConfig as JSON: text_fields, bm25, dense, fusion, late, spaces...",
    )


class CollectionSummary(BaseModel):
    name: str
    status: Literal["ok", "unavailable"] = Field(
        description="unavailable: it cannot be opened (see reason); its requests answer 503."
    )
    items: int | None = Field(None, description="Absent when unavailable.")
    reason: str | None = Field(None, description="Why it cannot be opened.")


class CollectionList(BaseModel):
    collections: list[CollectionSummary]


class CollectionInfo(BaseModel):
    model_config = ConfigDict(extra="allow")

    name: str
    items: int
    encoder: str
    dim: int
    attributes: dict[str, str]
    seq: int
    indexes: dict[str, dict[str, Any]]
    spaces: dict[str, dict[str, Any]] = Field(
        description="Every vector space (default included): dim, metric, items with a vector."
    )
    config: dict[str, Any]


class ItemIn(BaseModel):
    """An item: ``id``, text fields (the collection's ``text_fields``), attributes, its
    own ``vector`` (a list of the collection's dim numbers; then text is optional) and its
    ``vectors`` in named spaces (``{"image": [...]}``), flat."""

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "examples": [
                {"id": "a1", "text": "How to sort a list", "kind": "howto"},
                {"id": "a2", "vector": [0.12, -0.5, 0.33], "kind": "howto"},
                {"id": "a3", "text": "A photo", "vectors": {"image": [0.4, 0.1, -0.2]}},
            ]
        },
    )

    id: str = Field(min_length=1, max_length=MAX_ID_LENGTH, pattern=ID_PATTERN)


class ItemsWrite(_Strict):
    items: list[ItemIn] = Field(
        min_length=1, description="Written in one transaction: all or none."
    )
    mode: Literal["upsert", "add"] = Field(
        "upsert", description="upsert replaces existing ids; add refuses them (409)."
    )


class WriteResultOut(BaseModel):
    added: int
    updated: int
    unchanged: int
    deleted: int
    seq: int = Field(description="The change-log sequence number after this write.")


class RerankIn(_Strict):
    """The cross-encoder stage of a search (``sleuth.rank.cross``)."""

    model: str = Field(
        min_length=1,
        max_length=4096,
        pattern=RERANK_PATTERN,
        description='"trained" (the collection\'s reranker: POST .../reranker or `sleuth train '
        'reranker`) or "cross-encoder:PATH" (a CrossEncoder folder on the server).',
    )
    depth: Int | None = Field(
        None, ge=1, le=MAX_RERANK_DEPTH, description="Candidates read per query."
    )
    weight: float | None = Field(
        None, ge=0.0, le=1.0, description="The cross-encoder's share of the blend; 1: its only."
    )


class SearchRequest(_Strict):
    """A search: ``query`` (text), ``vector`` (the query's own), or both. Without text only
    mode dense can run (BM25 and token vectors read the text)."""

    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        json_schema_extra={
            "anyOf": [
                {"required": ["query"]},
                {"required": ["vector", "mode"], "properties": {"mode": {"const": "dense"}}},
            ],
            "not": {"required": ["space"], "not": {"required": ["vector"]}},  # space: vector
        },
    )

    # Not nullable: absent is how a request leaves one out (the schema's anyOf says which).
    query: str = Field(
        None,  # type: ignore[assignment]
        min_length=1,
        max_length=MAX_QUERY_CHARS,
        pattern=NOT_BLANK,
        description="The query text; optional in mode dense when vector is given.",
    )
    vector: list[float] = Field(
        None,  # type: ignore[arg-type]
        min_length=1,
        max_length=MAX_DIM,
        description="The query's own vector (the collection's dim numbers), used by the dense "
        "stages instead of encoding the text; with query, hybrid runs BM25 on the text.",
    )
    space: str = Field(
        None,  # type: ignore[assignment]
        pattern=SPACE_PATTERN,
        description="The vector space vector is in (needs vector); absent or "
        f"{DEFAULT_SPACE!r}: the default one.",
    )
    k: Int = Field(10, ge=1, le=MAX_K)
    mode: Mode = "hybrid"
    where: dict[str, Any] | None = Field(
        None,
        description='A filter on attributes, e.g. {"kind": "function"} or '
        '{"lines": {"gte": 10}}; operators eq ne in nin gt gte lt lte exists, and/or/not.',
    )
    explain: bool = False
    min_relevance: float | None = Field(
        None,
        ge=0.0,
        le=1.0,
        description="Only hits whose calibrated probability of relevance is at least this "
        "(the mode must be calibrated: `sleuth calibrate`).",
    )
    cutoff: Literal["auto", "autocut"] | None = Field(
        None,
        description="auto: end the list where its expected F1 is best (needs calibration); "
        "autocut: Weaviate's, at the first jump of the score curve.",
    )
    diversity: float = Field(0.0, ge=0.0, le=1.0, description="MMR: 0 relevance, 1 variety.")
    max_per: dict[str, Annotated[Int, Field(ge=1)]] | None = Field(
        None, description='At most N hits per value of each attribute, e.g. {"brand": 2}.'
    )
    rerank: Annotated[str, Field(max_length=4096, pattern=RERANK_PATTERN)] | RerankIn | None = (
        Field(
            None,
            description='Rescore the top candidates with a cross-encoder: "trained", '
            '"cross-encoder:PATH", or {model, depth, weight}; after the mode\'s rankers.',
        )
    )

    @model_validator(mode="after")
    def _query_or_vector(self) -> SearchRequest:
        if self.query is None and (self.vector is None or self.mode != "dense"):
            raise ValueError(
                "give query (text), or vector with mode dense; hybrid and lexical read the text"
            )
        if self.space is not None and self.vector is None:
            raise ValueError("space needs vector: a named vector space has no text encoder")
        return self


class EventIn(_Strict):
    user: str = Field(min_length=1, max_length=MAX_USER_LENGTH, pattern=NOT_BLANK)
    item: str = Field(min_length=1, max_length=MAX_USER_LENGTH, pattern=NOT_BLANK)
    kind: str = Field(
        "view",
        description="One of the collection's recommend.event_weights (the defaults listed; a "
        "collection configured with others takes its own).",
        json_schema_extra={"enum": list(DEFAULT_EVENT_WEIGHTS)},
    )
    value: float | None = Field(None, ge=-1e9, le=1e9, allow_inf_nan=False)
    # The engine's instants (sleuth.values); date-time strings from year 1000 to 9899, a range
    # a schema can state (the engine's own ends mid-day at 0001-01-02 and 9999-12-30).
    ts: Annotated[float, Field(ge=MIN_TIMESTAMP, le=MAX_TIMESTAMP)] | EventTime | None = Field(
        None,
        description="Epoch seconds or an ISO 8601 date-time from year 1000 to 9899 (UTC if no "
        "offset); default now.",
    )
    event_id: str | None = Field(
        None, min_length=1, max_length=MAX_USER_LENGTH, description="Makes a retry idempotent."
    )


class SearchEventIn(_Strict):
    """A search and what was clicked (``sleuth.store.clicks``): what the ranker learns from."""

    kind: Literal["search"]
    query: str = Field(min_length=1, max_length=MAX_QUERY_CHARS, pattern=NOT_BLANK)
    shown: list[Annotated[str, Field(min_length=1, max_length=MAX_ID_LENGTH)]] = Field(
        min_length=1,
        max_length=MAX_SHOWN,
        description="The item ids shown, best first (distinct).",
    )
    clicked: list[Annotated[int, Field(ge=0, lt=MAX_SHOWN)]] = Field(
        default_factory=list,
        max_length=MAX_SHOWN,
        description="0-based positions in shown that were clicked (each below the length of "
        "shown; empty: none).",
    )
    user: str | None = Field(None, min_length=1, max_length=MAX_USER_LENGTH)
    ts: float | None = Field(None, ge=MIN_TIMESTAMP, le=MAX_TIMESTAMP, description="Epoch s.")
    event_id: str | None = Field(None, min_length=1, max_length=MAX_USER_LENGTH)


class EventsWrite(_Strict):
    events: list[EventIn | SearchEventIn] = Field(
        min_length=1,
        description="Recorded in one transaction: all or none. Item events or search events "
        "(kind search), not both in one batch.",
    )


class RecordResultOut(BaseModel):
    recorded: int
    duplicates: int = Field(description="Events whose event_id was already recorded.")


class RecommendRequest(_Strict):
    user: str = Field(min_length=1, max_length=MAX_USER_LENGTH, pattern=NOT_BLANK)
    k: Int = Field(10, ge=1, le=MAX_K)
    where: dict[str, Any] | None = None
    exclude_seen: bool = True
    diversity: float = Field(0.0, ge=0.0, le=1.0, description="MMR: 0 relevance, 1 variety.")
    explain: bool = False


class HitOut(BaseModel):
    id: str
    score: float
    probability: float | None = Field(
        None, description="The calibrated probability of relevance (search, once calibrated)."
    )
    fields: dict[str, str]
    attributes: dict[str, Any]
    explain: dict[str, Any] | None = None


class TraceOut(BaseModel):
    """What the request did (with ``explain``): once per response, not per hit."""

    mode: str | None = Field(description="The search mode; null for similar and recommend.")
    k: int | None
    queries: int
    candidates: dict[str, int] = Field(description="How many candidates each retriever found.")
    timings_ms: dict[str, float] = Field(
        description="Milliseconds per stage, in the order they ran, and total_ms."
    )
    final: dict[str, Any] | None = Field(
        None,
        description="Search: what the final-list stage did (calibrated, the cut, diversity, "
        "caps, and each list's intra-list diversity).",
    )


class SearchResponse(BaseModel):
    hits: list[HitOut]
    took_ms: float
    trace: TraceOut | None = Field(None, description="With explain: the request's trace.")
