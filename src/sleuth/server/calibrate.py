"""The ranking stage's label-free and judged fits over HTTP, as ``Collection.calibrate`` and
``Collection.fit_fusion`` (and ``sleuth calibrate [--fusion]``):

- ``POST /collections/{name}/calibrate``: each mode's probability of relevance, from the
  judgments in the body or, with neither ``qrels`` nor ``queries``, from the collection's own
  items; ``fusion: true`` first fits the hybrid's trust in each retriever.
- ``POST /collections/{name}/fusion``: that trust alone.

Bad judgments (unknown items or queries, no positive grade), an unknown mode or method are a
422 and change nothing."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field

from sleuth.catalog import Engine
from sleuth.errors import InvalidInput
from sleuth.server.ranker import Qrels, Queries
from sleuth.server.schemas import Name, _Strict

__all__ = ["CalibrateRequest", "add_calibrate_routes"]

Method = Literal["platt", "isotonic"]  # sleuth.rank.calibrate.METHODS


class CalibrateRequest(_Strict):
    """Judgments (``qrels`` and ``queries``, BEIR's content as JSON), or neither: the
    collection's own items as pseudo-queries (label-free)."""

    qrels: Qrels = None
    queries: Queries = None
    modes: list[str] | None = Field(
        None,
        min_length=1,
        max_length=16,
        description="The modes to calibrate (default lexical, dense, hybrid; and "
        "hybrid+maxsim with late interaction).",
    )
    method: Method = Field("platt", description="platt or isotonic.")
    fusion: bool = Field(
        False,
        description="First learn, from the collection's own items, how far the hybrid "
        "trusts each retriever (as POST .../fusion).",
    )


class FusionOut(BaseModel):
    """The hybrid's trust: the dense weight learned and what it was learned from."""

    model_config = {"extra": "allow"}
    alpha: float
    seq: int
    stats: dict[str, Any]


class CalibrationOut(BaseModel):
    """The calibration's manifest (its source, the modes fitted, the training counts) and,
    when asked for, the fusion trust fitted first."""

    model_config = {"extra": "allow"}
    source: str
    seq: int
    modes: list[str]
    stats: dict[str, Any]
    fusion: FusionOut | None = None


def add_calibrate_routes(api: APIRouter, engine: Engine) -> None:
    @api.post("/collections/{name}/calibrate", response_model=CalibrationOut, tags=["search"])
    def calibrate(name: Name, body: CalibrateRequest) -> Any:
        """Fit each mode's probability of relevance (what ``min_relevance`` and ``cutoff:
        auto`` read) and save it in the collection; it replaces the previous calibration."""
        if (body.qrels is None) != (body.queries is None):
            raise InvalidInput("give both qrels and queries (judgments), or neither (label-free)")
        with engine.using(name) as col:
            trust = col.fit_fusion() if body.fusion else None
            manifest = col.calibrate(body.qrels, body.queries, modes=body.modes, method=body.method)
        return {**manifest, **({"fusion": trust} if trust is not None else {})}

    @api.post("/collections/{name}/fusion", response_model=FusionOut, tags=["search"])
    def fit_fusion(name: Name) -> Any:
        """Learn, without judgments, how much the hybrid trusts each retriever here (from
        pseudo-queries cut from the items) and save it; every search with fusion trust on
        (the default) reads it."""
        with engine.using(name) as col:
            return col.fit_fusion()
