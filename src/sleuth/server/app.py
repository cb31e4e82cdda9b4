"""The HTTP API and web page over an ``Engine``: ``create_app(engine)``, run by uvicorn.

Nothing happens at import time; the lifespan opens every collection (and loads their encoders)
before the first request, and closes them, saving their indexes, at shutdown. A collection that
cannot be opened is reported (``/health``, ``GET /collections``) and answers 503; the others are
served. Endpoints are plain ``def`` functions, so they run on the server's thread pool: a long
batch upsert occupies one thread while searches go on in the others, against the last committed
state.
"""

from __future__ import annotations

import json
import mimetypes
import os
import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Query, Request, Response
from fastapi.responses import FileResponse
from fastapi.security import HTTPBearer
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from sleuth._version import __version__
from sleuth.catalog import Engine
from sleuth.config import CollectionConfig
from sleuth.errors import InvalidInput, NotFound, Unavailable
from sleuth.limits import MAX_K, MAX_QUERY_CHARS
from sleuth.retrieve.filters import MAX_DEPTH
from sleuth.search import Hits
from sleuth.server.calibrate import add_calibrate_routes
from sleuth.server.encoders import EncoderAllowList
from sleuth.server.errors import ERROR_RESPONSES, ApiError, install_error_handlers, redacted
from sleuth.server.guards import AllowedHosts, BodyLimit, HostCheck, KeyCheck
from sleuth.server.metrics import Metrics
from sleuth.server.migration import add_migration_routes
from sleuth.server.ranker import add_ranker_routes
from sleuth.server.schemas import (
    NOT_BLANK,
    CollectionCreate,
    CollectionInfo,
    CollectionList,
    EventsWrite,
    Health,
    ItemId,
    ItemsWrite,
    Name,
    RecommendRequest,
    RecordResultOut,
    RerankIn,
    SearchRequest,
    SearchResponse,
    WriteResultOut,
)
from sleuth.timing import ms_since as _ms
from sleuth.types import MAX_USER_LENGTH, Hit

__all__ = ["Limits", "create_app"]

STATIC = Path(__file__).parent / "static"
mimetypes.add_type("text/javascript", ".js")  # some systems map .js to text/plain: modules break
REPORT_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$"


@dataclass(frozen=True, kw_only=True)
class Limits:
    """What one request may ask for. ``k``, query length and filter depth are the engine's."""

    max_body_bytes: int = 32 * 2**20
    max_batch_items: int = 2000
    max_batch_events: int = 50_000
    max_k: int = MAX_K
    max_filter_depth: int = MAX_DEPTH

    def to_dict(self) -> dict[str, int]:
        return {
            "max_body_bytes": self.max_body_bytes,
            "max_batch_items": self.max_batch_items,
            "max_batch_events": self.max_batch_events,
            "max_k": self.max_k,
            "max_query_chars": MAX_QUERY_CHARS,
            "max_filter_depth": self.max_filter_depth,
        }


def create_app(
    engine: Engine,
    *,
    api_key: str | None = None,
    limits: Limits | None = None,
    reports: Path | None = None,
    models: Path | None = None,
    allowed_hosts: AllowedHosts | None = None,
) -> FastAPI:
    """The app serving ``engine`` (which it closes at shutdown).

    ``api_key``: when set (default: ``$SLEUTH_API_KEY``), every endpoint but ``/health`` and the
    static page needs ``Authorization: Bearer <key>``, checked before the body is read.
    ``reports``: a folder of ``sleuth eval`` JSON reports shown on the evaluation page (default:
    ``<data>/reports``). ``models``: a directory whose model folders clients may name as the
    encoder of a new collection (else only the built-in encoders). ``allowed_hosts``: the
    ``Host`` names answered when there is no key (default: the loopback names).
    """
    api_key = api_key if api_key is not None else os.environ.get("SLEUTH_API_KEY") or None
    limits = limits or Limits()
    reports = reports or engine.path / "reports"
    encoders = EncoderAllowList(models)
    metrics = Metrics(engine)
    state = {"ready": False}

    def redact(text: str) -> str:
        text = engine.redact(text)
        if encoders.models is not None:  # a model folder shows as the name a client gives
            text = text.replace(f"{encoders.models}{os.sep}", "")
        return text

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        engine.open_all(warm=True)  # logs each collection it cannot open, and goes on
        state["ready"] = True
        try:
            yield
        finally:
            state["ready"] = False
            engine.close()

    app = FastAPI(
        title="sleuth",
        version=__version__,
        description="Search and recommendations on embeddings. Limits: "
        + ", ".join(f"{k} = {v}" for k, v in limits.to_dict().items()),
        lifespan=lifespan,
        responses=ERROR_RESPONSES,
    )
    install_error_handlers(app, redact)
    # The key itself is checked by KeyCheck, before the body is read; this only declares the
    # scheme, so that without a key the OpenAPI document says what is true.
    bearer = HTTPBearer(auto_error=False, description="Authorization: Bearer <SLEUTH_API_KEY>")
    checks = [Depends(_known_query_parameters)]
    api = APIRouter(dependencies=[Depends(bearer), *checks] if api_key else checks)

    # -- health and metrics ------------------------------------------------------------------

    @app.get("/health", response_model=Health, tags=["ops"])
    def health() -> Any:
        """Liveness and readiness (503 until every collection was tried). No key needed.
        ``degraded``: some collections cannot be opened (``unavailable`` says why); the others
        are served."""
        unavailable = engine.unavailable()
        body = {
            "status": "degraded" if unavailable else "ok",
            "ready": state["ready"],
            "version": __version__,
            "collections": len(engine.opened()),
            "unavailable": unavailable,
        }
        if not state["ready"]:
            return Response(json.dumps(body), status_code=503, media_type="application/json")
        return body

    @api.get(
        "/metrics",
        tags=["ops"],
        responses={
            200: {
                "content": {"text/plain": {"schema": {"type": "string"}}},
                "description": "Prometheus text format",
            }
        },
    )
    def prometheus() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    # -- collections -------------------------------------------------------------------------

    def info_of(name: str) -> dict[str, Any]:
        with engine.using(name) as col:
            info = col.info()
        info.pop("path", None)  # the server's own business
        return {"name": name, **redacted(info, redact)}

    @api.get("/collections", response_model=CollectionList, tags=["collections"])
    def list_collections() -> Any:
        """Every collection; one that cannot be opened is listed as unavailable, with why."""
        listed = []
        for name in engine.names():
            try:
                with engine.using(name) as col:
                    listed.append({"name": name, "status": "ok", "items": col.count()})
            except NotFound:
                continue  # deleted since it was listed
            except Unavailable as exc:
                reason = exc.details["reason"]
                listed.append({"name": name, "status": "unavailable", "reason": reason})
        return {"collections": listed}

    @api.post("/collections", response_model=CollectionInfo, status_code=201, tags=["collections"])
    def create_collection(body: CollectionCreate) -> Any:
        given = body.config.model_dump(exclude_unset=True) if body.config is not None else None
        in_config = given.pop("encoder", None) if given is not None else None
        encoder = encoders.check(body.encoder) if body.encoder is not None else None
        if in_config is not None:  # checked even when the request's own encoder wins
            checked = encoders.check(in_config)
            encoder = encoder if encoder is not None else checked
        if body.spaces is not None:  # the request's own spaces win, as its encoder does
            given = {**(given or {}), "spaces": body.model_dump()["spaces"]}
        config = CollectionConfig.from_dict(given) if given is not None else None
        # a model folder that cannot load is the engine's InvalidInput (paths redacted)
        engine.create(body.name, config=config, encoder=encoder, dim=body.dim)
        return info_of(body.name)

    @api.get("/collections/{name}", response_model=CollectionInfo, tags=["collections"])
    def collection_info(name: Name) -> Any:
        return info_of(name)

    @api.delete("/collections/{name}", status_code=204, tags=["collections"])
    def delete_collection(name: Name) -> Response:
        engine.delete(name)
        return Response(status_code=204)

    # -- items -------------------------------------------------------------------------------

    @api.post("/collections/{name}/items", response_model=WriteResultOut, tags=["items"])
    def write_items(name: Name, body: ItemsWrite) -> Any:
        """Upsert (or add) a batch in one transaction. A 2xx answer means it is durable."""
        _check_batch(len(body.items), limits.max_batch_items, "max_batch_items", "items")
        if not body.items:
            raise InvalidInput("items is empty; send at least one item")
        items = [item.model_dump() for item in body.items]
        with engine.using(name) as col:
            write = col.add if body.mode == "add" else col.upsert
            return vars(write(items, progress=False))

    @api.get(
        "/collections/{name}/items/{item_id:path}/similar",
        response_model=SearchResponse,
        tags=["search"],
    )
    def similar(
        name: Name,
        item_id: ItemId,
        k: Annotated[int, Query(ge=1, le=MAX_K)] = 10,
        where: Annotated[str | None, Query(description="A filter as JSON.")] = None,
    ) -> Any:
        start = time.perf_counter()
        with engine.using(name) as col:
            hits = col.similar(item_id, k, where=_json_filter(where))
        return {"hits": [h.to_dict() for h in hits], "took_ms": _ms(start)}

    @api.get("/collections/{name}/items/{item_id:path}", tags=["items"])
    def get_item(name: Name, item_id: ItemId) -> dict[str, Any]:
        """The item as it was written: id, text fields and attributes, flat."""
        with engine.using(name) as col:
            return col.get(item_id).to_dict()

    @api.delete("/collections/{name}/items/{item_id:path}", status_code=204, tags=["items"])
    def delete_item(name: Name, item_id: ItemId) -> Response:
        with engine.using(name) as col:
            col.delete([item_id])
        return Response(status_code=204)

    # -- search ------------------------------------------------------------------------------

    @api.post("/collections/{name}/search", response_model=SearchResponse, tags=["search"])
    def search(name: Name, body: SearchRequest) -> Any:
        start = time.perf_counter()
        with engine.using(name) as col:
            hits = col.search(
                body.query,
                body.k,
                vector=body.vector,
                space=body.space,
                where=body.where,
                mode=body.mode,
                explain=body.explain,
                min_relevance=body.min_relevance,
                cutoff=body.cutoff,
                diversity=body.diversity,
                max_per=body.max_per,
                rerank=encoders.rerank(
                    vars(body.rerank) if isinstance(body.rerank, RerankIn) else body.rerank
                ),
            )
        return _hits_out(hits, start, body.explain)

    # -- events and recommendations ----------------------------------------------------------

    @api.post("/collections/{name}/events", response_model=RecordResultOut, tags=["recommend"])
    def record_events(name: Name, body: EventsWrite) -> Any:
        """Record interaction events in one transaction. A 2xx answer means they are durable."""
        _check_batch(len(body.events), limits.max_batch_events, "max_batch_events", "events")
        events = [e.model_dump(exclude_none=True, mode="json") for e in body.events]
        with engine.using(name) as col:
            return vars(col.record(events))

    def recommend_for(name: str, body: RecommendRequest) -> Any:
        start = time.perf_counter()
        with engine.using(name) as col:
            hits = col.recommend(
                body.user,
                body.k,
                where=body.where,
                exclude_seen=body.exclude_seen,
                diversity=body.diversity,
                explain=body.explain,
            )
        return _hits_out(hits, start, body.explain)

    @api.post("/collections/{name}/recommend", response_model=SearchResponse, tags=["recommend"])
    def recommend_post(name: Name, body: RecommendRequest) -> Any:
        """What ``user`` should see next (fused candidate sources; see explain)."""
        return recommend_for(name, body)

    @api.get("/collections/{name}/recommend", response_model=SearchResponse, tags=["recommend"])
    def recommend_get(
        name: Name,
        user: Annotated[str, Query(min_length=1, max_length=MAX_USER_LENGTH, pattern=NOT_BLANK)],
        k: Annotated[int, Query(ge=1, le=MAX_K)] = 10,
        where: Annotated[str | None, Query(description="A filter as JSON.")] = None,
        exclude_seen: bool = True,
        diversity: Annotated[float, Query(ge=0.0, le=1.0)] = 0.0,
        explain: bool = False,
    ) -> Any:
        body = RecommendRequest(
            user=user,
            k=k,
            where=_json_filter(where),
            exclude_seen=exclude_seen,
            diversity=diversity,
            explain=explain,
        )
        return recommend_for(name, body)

    # -- evaluation reports (for the web page) -----------------------------------------------

    @api.get("/reports", tags=["evaluation"])
    def list_reports() -> dict[str, list[str]]:
        """``sleuth eval beir --json`` reports saved in the reports folder."""
        names = sorted(p.stem for p in reports.glob("*.json")) if reports.is_dir() else []
        return {"reports": names}

    @api.get("/reports/{report}", tags=["evaluation"])
    def get_report(report: str) -> Any:
        path = reports / f"{report}.json"
        if not re.match(REPORT_NAME, report) or not path.is_file():
            raise NotFound(f"no report named {report!r}", report=report)
        return json.loads(path.read_text())

    add_ranker_routes(api, engine)
    add_calibrate_routes(api, engine)
    add_migration_routes(api, engine, encoders, redact)
    app.include_router(api)

    # -- the web page ------------------------------------------------------------------------

    @app.get("/", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    if encoders.models is not None:  # the document shows the model folder names it accepts
        _document_encoder_pattern(app, encoders.pattern)
    # The last added runs first: metrics, Host, key, then the body limit; the body is read
    # only for a request that passed the checks before.
    app.add_middleware(BodyLimit, max_bytes=limits.max_body_bytes)  # type: ignore[arg-type]
    if api_key:
        app.add_middleware(KeyCheck, key=api_key)  # type: ignore[arg-type]
    else:  # a key is what a page that reached us by DNS rebinding cannot have; without one:
        hosts = allowed_hosts or AllowedHosts.for_bind("127.0.0.1")
        app.add_middleware(HostCheck, hosts=hosts)  # type: ignore[arg-type]
    app.add_middleware(metrics.middleware)  # type: ignore[arg-type]
    return app


def _document_encoder_pattern(app: FastAPI, pattern: str) -> None:
    default = app.openapi

    def openapi() -> dict[str, Any]:
        document = default()
        schemas = document["components"]["schemas"]
        for model in ("CollectionCreate", "ConfigIn"):
            schemas[model]["properties"]["encoder"]["pattern"] = pattern
        return document

    app.openapi = openapi  # type: ignore[method-assign]


def _known_query_parameters(request: Request) -> None:
    """On an endpoint that takes query parameters, one it does not take is refused, not ignored
    (a misspelt ``exclude_seen`` would otherwise silently change nothing)."""
    route = request.scope.get("route")
    dependant = getattr(route, "dependant", None)
    allowed = {p.alias for p in dependant.query_params} if dependant is not None else set()
    unknown = sorted(set(request.query_params) - allowed)
    if allowed and unknown:
        raise InvalidInput(
            f"unknown query parameter(s) {', '.join(map(repr, unknown))[:200]}; allowed: "
            + ", ".join(sorted(allowed)),
            unknown=unknown[:20],
        )


def _check_batch(size: int, limit: int, name: str, what: str) -> None:
    if size > limit:
        raise ApiError(
            413,
            "too_large",
            f"the batch has {size} {what}; the limit is {limit} per request ({name}): split it",
            limit=name,
            max=limit,
            got=size,
        )


def _json_filter(text: str | None) -> dict[str, Any] | None:
    if text is None or not text.strip():
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"where is not valid JSON: {exc.msg}") from None
    if not isinstance(value, dict):
        raise InvalidInput('where must be a JSON object, e.g. {"kind": "function"}')
    return value


def _hits_out(hits: list[Hit], start: float, explain: bool) -> dict[str, Any]:
    """A search or recommend response: the hits, and with ``explain`` the request's trace."""
    out: dict[str, Any] = {"hits": [h.to_dict() for h in hits], "took_ms": _ms(start)}
    if explain and isinstance(hits, Hits):
        out["trace"] = hits.trace.to_dict()
    return out
