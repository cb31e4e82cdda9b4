"""The HTTP API and web page over an ``Engine``: ``create_app(engine)``, run by uvicorn.

Nothing happens at import time; the lifespan opens every collection (and loads their encoders)
before the first request, and closes them, saving their indexes, at shutdown. Endpoints are
plain ``def`` functions, so they run on the server's thread pool: a long batch upsert occupies
one thread while searches go on in the others, against the last committed state.
"""

from __future__ import annotations

import hmac
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

from fastapi import APIRouter, Depends, FastAPI, Query, Response
from fastapi.responses import FileResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

import sleuth
from sleuth.catalog import Engine
from sleuth.config import CollectionConfig
from sleuth.engine import MAX_K
from sleuth.errors import InvalidInput, NotFound
from sleuth.retrieve.filters import MAX_DEPTH
from sleuth.server.errors import ERROR_RESPONSES, ApiError, error_response, install_error_handlers
from sleuth.server.metrics import Metrics
from sleuth.server.schemas import (
    CollectionCreate,
    CollectionInfo,
    CollectionList,
    EventsWrite,
    Health,
    ItemsWrite,
    RecommendRequest,
    RecordResultOut,
    SearchRequest,
    SearchResponse,
    WriteResultOut,
)

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
        from sleuth.engine import MAX_QUERY_CHARS

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
) -> FastAPI:
    """The app serving ``engine`` (which it closes at shutdown).

    ``api_key``: when set (default: ``$SLEUTH_API_KEY``), every endpoint but ``/health`` and the
    static page needs ``Authorization: Bearer <key>``. ``reports``: a folder of ``sleuth eval``
    JSON reports shown on the evaluation page (default: ``<data>/reports``).
    """
    api_key = api_key if api_key is not None else os.environ.get("SLEUTH_API_KEY") or None
    limits = limits or Limits()
    reports = reports or engine.path / "reports"
    metrics = Metrics(engine)
    state = {"ready": False}

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        for name in engine.names():
            col = engine.get(name)
            if col.count():  # load the model and compile the kernels before the first request
                col.search("warm up", k=1)
        state["ready"] = True
        try:
            yield
        finally:
            state["ready"] = False
            engine.close()

    app = FastAPI(
        title="sleuth",
        version=sleuth.__version__,
        description="Search and recommendations on embeddings. Limits: "
        + ", ".join(f"{k} = {v}" for k, v in limits.to_dict().items()),
        lifespan=lifespan,
        responses=ERROR_RESPONSES,
    )
    install_error_handlers(app)
    bearer = HTTPBearer(auto_error=False, description="Authorization: Bearer <SLEUTH_API_KEY>")

    def authorized(
        credentials: HTTPAuthorizationCredentials | None = Depends(bearer),  # noqa: B008
    ) -> None:
        given = credentials.credentials if credentials is not None else ""
        if not hmac.compare_digest(given.encode(), (api_key or "").encode()):
            raise ApiError(
                401,
                "unauthorized",
                "this server needs an API key: send the header 'Authorization: Bearer <key>'"
                if credentials is None
                else "wrong API key",
            )

    # Without a key, no security is declared, so the OpenAPI document says what is true.
    api = APIRouter(dependencies=[Depends(authorized)] if api_key else [])

    # -- health and metrics ------------------------------------------------------------------

    @app.get("/health", response_model=Health, tags=["ops"])
    def health() -> Any:
        """Liveness and readiness (503 until every collection is open). No key needed."""
        body = {
            "status": "ok",
            "ready": state["ready"],
            "version": sleuth.__version__,
            "collections": len(engine.opened()),
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
        return {"name": name, **engine.get(name).info()}

    @api.get("/collections", response_model=CollectionList, tags=["collections"])
    def list_collections() -> Any:
        return {
            "collections": [
                {"name": name, "items": engine.get(name).count()} for name in engine.names()
            ]
        }

    @api.post("/collections", response_model=CollectionInfo, status_code=201, tags=["collections"])
    def create_collection(body: CollectionCreate) -> Any:
        config = CollectionConfig.from_dict(body.config) if body.config is not None else None
        encoder = body.encoder or (body.config or {}).get("encoder")
        engine.create(body.name, config=config, encoder=encoder)
        return info_of(body.name)

    @api.get("/collections/{name}", response_model=CollectionInfo, tags=["collections"])
    def collection_info(name: str) -> Any:
        return info_of(name)

    @api.delete("/collections/{name}", status_code=204, tags=["collections"])
    def delete_collection(name: str) -> Response:
        engine.delete(name)
        return Response(status_code=204)

    # -- items -------------------------------------------------------------------------------

    @api.post("/collections/{name}/items", response_model=WriteResultOut, tags=["items"])
    def write_items(name: str, body: ItemsWrite) -> Any:
        """Upsert (or add) a batch in one transaction. A 2xx answer means it is durable."""
        _check_batch(len(body.items), limits.max_batch_items, "max_batch_items", "items")
        if not body.items:
            raise InvalidInput("items is empty; send at least one item")
        col = engine.get(name)
        items = [item.model_dump() for item in body.items]
        write = col.add if body.mode == "add" else col.upsert
        result = write(items, progress=False)
        return vars(result)

    @api.get(
        "/collections/{name}/items/{item_id:path}/similar",
        response_model=SearchResponse,
        tags=["search"],
    )
    def similar(
        name: str,
        item_id: str,
        k: Annotated[int, Query(ge=1, le=MAX_K)] = 10,
        where: Annotated[str | None, Query(description="A filter as JSON.")] = None,
    ) -> Any:
        start = time.perf_counter()
        hits = engine.get(name).similar(item_id, k, where=_json_filter(where))
        return {"hits": [h.to_dict() for h in hits], "took_ms": _ms(start)}

    @api.get("/collections/{name}/items/{item_id:path}", tags=["items"])
    def get_item(name: str, item_id: str) -> dict[str, Any]:
        """The item as it was written: id, text fields and attributes, flat."""
        return engine.get(name).get(item_id).to_dict()

    @api.delete("/collections/{name}/items/{item_id:path}", status_code=204, tags=["items"])
    def delete_item(name: str, item_id: str) -> Response:
        engine.get(name).delete([item_id])
        return Response(status_code=204)

    # -- search ------------------------------------------------------------------------------

    @api.post("/collections/{name}/search", response_model=SearchResponse, tags=["search"])
    def search(name: str, body: SearchRequest) -> Any:
        start = time.perf_counter()
        hits = engine.get(name).search(
            body.query, body.k, where=body.where, mode=body.mode, explain=body.explain
        )
        return {"hits": [h.to_dict() for h in hits], "took_ms": _ms(start)}

    # -- events and recommendations ----------------------------------------------------------

    @api.post("/collections/{name}/events", response_model=RecordResultOut, tags=["recommend"])
    def record_events(name: str, body: EventsWrite) -> Any:
        """Record interaction events in one transaction. A 2xx answer means they are durable."""
        _check_batch(len(body.events), limits.max_batch_events, "max_batch_events", "events")
        events = [e.model_dump(exclude_none=True) for e in body.events]
        return vars(engine.get(name).record(events))

    def recommend_for(name: str, body: RecommendRequest) -> Any:
        start = time.perf_counter()
        hits = engine.get(name).recommend(
            body.user,
            body.k,
            where=body.where,
            exclude_seen=body.exclude_seen,
            diversity=body.diversity,
            explain=body.explain,
        )
        return {"hits": [h.to_dict() for h in hits], "took_ms": _ms(start)}

    @api.post("/collections/{name}/recommend", response_model=SearchResponse, tags=["recommend"])
    def recommend_post(name: str, body: RecommendRequest) -> Any:
        """What ``user`` should see next (fused candidate sources; see explain)."""
        return recommend_for(name, body)

    @api.get("/collections/{name}/recommend", response_model=SearchResponse, tags=["recommend"])
    def recommend_get(
        name: str,
        user: Annotated[str, Query(min_length=1, max_length=512)],
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

    app.include_router(api)

    # -- the web page ------------------------------------------------------------------------

    @app.get("/", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.add_middleware(_BodyLimit, max_bytes=limits.max_body_bytes)  # type: ignore[arg-type]
    app.add_middleware(metrics.middleware)  # type: ignore[arg-type]
    return app


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


def _ms(start: float) -> float:
    return round((time.perf_counter() - start) * 1000, 3)


class _BodyLimit:
    """413 for a body over ``max_bytes``: at once from Content-Length; a body without one
    (chunked) is read up to the limit first, then handed on."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None:
            if not declared.isdigit():
                response = error_response(400, "bad_request", "Content-Length is not a number")
                await response(scope, receive, send)
            elif int(declared) > self.max_bytes:
                await self._reject(scope, receive, send)
            else:
                await self.app(scope, receive, send)
            return
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.max_bytes:
                await self._reject(scope, receive, send)
                return
            more = message.get("more_body", False)
        body = b"".join(chunks)
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if sent:
                return await receive()
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)

    async def _reject(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = error_response(
            413,
            "too_large",
            f"the request body is over the limit of {self.max_bytes} bytes (max_body_bytes); "
            "send smaller batches",
            {"limit": "max_body_bytes", "max": self.max_bytes},
        )
        await response(scope, receive, send)
