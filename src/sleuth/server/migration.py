"""A collection's migration to another encoder over HTTP, as ``Collection.migrate`` and its
siblings: ``POST /collections/{name}/migration`` starts it (the backfill runs in the server,
and resumes when the server restarts), ``GET`` shows it, and ``.../evaluate``, ``.../cutover``,
``.../rollback``, ``.../drop-old``, ``.../cancel`` act on it. A request the migration's phase
does not allow is a 409 and changes nothing."""

from __future__ import annotations

from collections.abc import Callable
from enum import Enum
from typing import Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field

from sleuth.catalog import Engine
from sleuth.errors import NotFound
from sleuth.server.config_schema import Int
from sleuth.server.encoders import EncoderAllowList
from sleuth.server.errors import redacted
from sleuth.server.schemas import Name, _Strict

__all__ = ["MigrationStart", "add_migration_routes"]

MAX_EVAL_QUERIES = 10_000


class MigrationStart(_Strict):
    to: str = Field(min_length=1, max_length=1000, description="The encoder to migrate to.")
    query: Literal["auto", "mapped", "compatible", "old"] = Field(
        "auto",
        description="How dense queries are encoded until the cutover: the new model through "
        "a query map (mapped), as is (compatible: tuned --compatible), the old model (old); "
        "auto: compatible when the model's manifest says so, else mapped.",
    )
    map: Literal["auto", "lstsq", "procrustes"] = "auto"
    sample: Int = Field(2000, ge=20, le=20_000, description="Items the query map is fitted on.")
    batch: Int = Field(256, ge=1, le=4096, description="Items encoded per backfill batch.")


class MigrationEvaluate(_Strict):
    """Judgments (``qrels`` and ``queries``: nDCG@10), or neither (overlap@10 with the old
    lists on pseudo-queries from the items)."""

    qrels: dict[str, dict[str, Int]] | None = Field(None, max_length=MAX_EVAL_QUERIES)
    queries: dict[str, str] | None = Field(None, max_length=MAX_EVAL_QUERIES)


class Side(BaseModel):
    spec: str
    id: str
    dim: int


class MigrationOut(BaseModel):
    """The migration: phase (backfill, ready, switched, finished), the encoders, how queries
    are encoded, the query map's report, the last evaluation, and ``progress``."""

    model_config = {"extra": "allow"}
    old: Side
    new: Side
    phase: str
    query: str
    progress: dict[str, Any]
    evaluation: dict[str, Any] | None = None
    paused: str | None = None


class EvaluationOut(BaseModel):
    """Per mode (dense, hybrid) and side (old, mapped, new): nDCG@10 or overlap@10."""

    model_config = {"extra": "allow"}
    metric: str
    queries: int
    dense: dict[str, float]
    hybrid: dict[str, float]


def add_migration_routes(
    api: APIRouter, engine: Engine, encoders: EncoderAllowList, redact: Callable[[str], str]
) -> None:
    """The routes; ``redact`` takes the server's paths out of what they answer (a model
    folder's spec shows by its name in ``--models``)."""
    path = "/collections/{name}/migration"
    tags: list[str | Enum] = ["migration"]

    @api.post(path, response_model=MigrationOut, status_code=202, tags=tags)
    def start_migration(name: Name, body: MigrationStart) -> Any:
        """Start migrating to encoder ``to`` (a built-in name, or a model folder the server
        allows); 202: the backfill runs in the background (``GET`` shows its progress). A
        migration already under way is a 409."""
        to = encoders.check(body.to)
        with engine.using(name) as col:
            started = col.migrate(
                to, query=body.query, map=body.map, sample=body.sample, batch=body.batch
            )
        return redacted(started, redact)

    @api.get(path, response_model=MigrationOut, tags=tags)
    def migration_status(name: Name) -> Any:
        """The migration's state and progress (404 when the collection never migrated)."""
        with engine.using(name) as col:
            found = col.migration()
        if found is None:
            raise NotFound(f"collection {name!r} has no migration")
        return redacted(found, redact)

    @api.post(f"{path}/evaluate", response_model=EvaluationOut, tags=tags)
    def evaluate_migration(name: Name, body: MigrationEvaluate) -> Any:
        """Old vs mapped vs new search, once the backfill is done; kept in the migration."""
        with engine.using(name) as col:
            return col.evaluate_migration(body.qrels, body.queries)

    for step, (method, doc) in STEPS.items():
        _add_step(api, engine, f"{path}/{step}", method, doc, tags, redact)


# each step: the Collection method it calls and what it does
STEPS = {
    "cutover": (
        "cutover",
        "Switch to the new encoder in one atomic step (409 before the backfill is done).",
    ),
    "rollback": ("rollback", "Switch back to the old encoder (409 unless cut over)."),
    "drop-old": ("drop_old", "Delete the old encoder's vectors after a cutover (409 otherwise)."),
    "cancel": (
        "cancel_migration",
        "End the migration before the cutover, deleting the new vectors (409 after it).",
    ),
}


def _add_step(
    api: APIRouter,
    engine: Engine,
    url: str,
    method: str,
    doc: str,
    tags: list[str | Enum],
    redact: Callable[[str], str],
) -> None:
    def step(name: Name) -> Any:
        with engine.using(name) as col:
            return redacted(getattr(col, method)(), redact)

    step.__name__, step.__doc__ = method, doc  # the operation's id and description
    api.post(url, response_model=MigrationOut, tags=tags)(step)
