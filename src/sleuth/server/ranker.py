"""The learned ranker and the cross-encoder over HTTP: ``POST /collections/{name}/ranker``
and ``POST /collections/{name}/reranker`` train them (from the judgments in the body, or from
the search events recorded), as ``Collection.train_ranker`` and ``train_reranker``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from sleuth.catalog import Engine
from sleuth.server.config_schema import Int
from sleuth.server.schemas import Name, _Strict

__all__ = ["Qrels", "Queries", "RankerTrain", "RerankerTrain", "add_ranker_routes"]

MAX_TRAIN_QUERIES = 100_000
# judgments in a body, BEIR's content as JSON (training the ranker, calibrating)
Qrels = Annotated[
    dict[str, dict[str, Int]] | None,
    Field(
        max_length=MAX_TRAIN_QUERIES,
        description="Query id -> {item id: graded relevance}; 0 or less: not relevant.",
    ),
]
Queries = Annotated[
    dict[str, str] | None,
    Field(max_length=MAX_TRAIN_QUERIES, description="Query id -> query text."),
]


class RankerParams(_Strict):
    rounds: Int = Field(500, ge=1, le=2_000)
    learning_rate: float = Field(0.03, gt=0.0, le=1.0)
    num_leaves: Int = Field(31, ge=2, le=1024)
    min_data_in_leaf: Int = Field(50, ge=1, le=100_000)


class RankerTrain(_Strict):
    """Judgments (``qrels`` and ``queries``, BEIR's content as JSON), or neither: the search
    events recorded (``POST .../events`` with ``kind: "search"``)."""

    qrels: Qrels = None
    queries: Queries = None
    attributes: list[str] = Field(
        default_factory=list,
        max_length=64,
        description="Numeric attributes (number, bool, datetime) to use as features.",
    )
    params: RankerParams | None = None
    tune: bool = Field(False, description="Choose params by 3-fold cross-validation.")
    seed: Int = Field(0, ge=0, le=2**31 - 1)


class RerankerTrain(_Strict):
    """Judgments as for the ranker, or neither (the search clicks recorded)."""

    qrels: dict[str, dict[str, Int]] | None = Field(None, max_length=MAX_TRAIN_QUERIES)
    queries: dict[str, str] | None = Field(None, max_length=MAX_TRAIN_QUERIES)
    minutes: float = Field(30.0, gt=0.0, le=24 * 60, description="The training time budget.")
    epochs: Int = Field(1, ge=1, le=100)
    seed: Int = Field(0, ge=0, le=2**31 - 1)


class RerankerOut(BaseModel):
    """The trained cross-encoder's manifest (its serving depth and blend under ``serve``)."""

    model_config = {"extra": "allow"}
    kind: str
    serve: dict[str, Any]
    trained_from: dict[str, Any]


class RankerOut(BaseModel):
    """The trained model's manifest (feature list, training source and figures)."""

    model_config = {"extra": "allow"}
    kind: str
    features: list[str]
    depth: int
    trained_from: dict[str, Any]


def add_ranker_routes(api: APIRouter, engine: Engine) -> None:
    @api.post("/collections/{name}/ranker", response_model=RankerOut, tags=["search"])
    def train_ranker(name: Name, body: RankerTrain) -> Any:
        """Train the ranker of mode ``ranked`` and save it in the collection (it replaces the
        previous one). Bad judgments (unknown items or queries, no positive grade) or a search
        log without clicks are a 422 and change nothing."""
        with engine.using(name) as col:
            return col.train_ranker(
                body.qrels,
                body.queries,
                attributes=body.attributes,
                params=None if body.params is None else body.params.model_dump(),
                tune=body.tune,
                seed=body.seed,
            )

    @api.post("/collections/{name}/reranker", response_model=RerankerOut, tags=["search"])
    def train_reranker(name: Name, body: RerankerTrain) -> Any:
        """Fine-tune the collection's cross-encoder (``rerank: "trained"``) and save it; it
        replaces the previous one. Bad judgments are a 422 and change nothing. The request
        lasts as long as the training (``minutes``)."""
        with engine.using(name) as col:
            return col.train_reranker(
                body.qrels,
                body.queries,
                minutes=body.minutes,
                epochs=body.epochs,
                seed=body.seed,
                progress=False,
            )
