"""One mapping from what went wrong to an HTTP status and a JSON body:
``{"error": {"type", "message", "details"}}``. Bad input is never a 500, and no answer shows
where the server keeps its data (``redact`` strips the paths)."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.exceptions import HTTPException
from starlette.routing import Match

from sleuth.errors import (
    Closed,
    Conflict,
    CorruptIndex,
    InvalidCollection,
    InvalidInput,
    NotFound,
    SleuthError,
    Unavailable,
)
from sleuth.server.schemas import PATTERN_HINTS, ErrorResponse

__all__ = ["ERROR_RESPONSES", "ApiError", "error_response", "install_error_handlers", "redacted"]

log = logging.getLogger("sleuth.server")

STATUS: dict[type[SleuthError], int] = {
    InvalidInput: 422,
    NotFound: 404,
    Conflict: 409,
    InvalidCollection: 409,
    CorruptIndex: 500,
    Unavailable: 503,
    Closed: 503,  # dropped or shut down while the request ran: this server cannot serve it now
}

ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse, "description": description}
    for status, description in {
        400: "Malformed request (e.g. the body is not JSON)",
        401: "Missing or wrong API key",
        404: "No such collection or item",
        409: "Conflict: the name or id exists, or the collection is busy",
        413: "Over a documented limit: body size or items per batch",
        421: "A Host this server does not answer to (see `sleuth serve --allowed-host`)",
        422: "Invalid input: says what was wrong and what is allowed",
        503: "The collection cannot be opened (damaged or from a newer format), or was closed "
        "while the request ran: says why",
    }.items()
}


class ApiError(Exception):
    """An error the server itself raises (limits, authentication)."""

    def __init__(self, status: int, type_: str, message: str, **details: Any) -> None:
        super().__init__(message)
        self.status, self.type, self.message, self.details = status, type_, message, details


def error_response(
    status: int,
    type_: str,
    message: str,
    details: dict[str, Any] | None = None,
    *,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body = {"error": {"type": type_, "message": message, "details": details or {}}}
    headers = dict(headers or {})
    if status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    return _AsciiJSON(body, status_code=status, headers=headers)


class _AsciiJSON(JSONResponse):
    """An error answer may quote what the client sent, lone surrogates included, which UTF-8
    cannot encode: escaped as ``\\udXXX``, the answer is still valid JSON."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=True, separators=(",", ":")).encode("ascii")


def _methods_of(request: Request) -> list[str]:
    methods: set[str] = set()
    for route in request.app.router.routes:
        if route.matches(request.scope)[0] is not Match.NONE:
            methods |= getattr(route, "methods", None) or set()
    return sorted(methods)


def _problem(error: Any) -> str:
    """pydantic's message, but a pattern is said in words (a regex of white space is no help)."""
    pattern = (error.get("ctx") or {}).get("pattern")
    return PATTERN_HINTS.get(pattern, error.get("msg", "")) if pattern else error.get("msg", "")


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def redacted(value: Any, redact: Callable[[str], str]) -> Any:
    """``value`` (JSON-like) with ``redact`` applied to every string in it, keys included."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {redacted(k, redact): redacted(v, redact) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redacted(v, redact) for v in value]
    return value


def install_error_handlers(app: FastAPI, redact: Callable[[str], str] = str) -> None:
    """``redact`` removes the server's paths from what the engine's errors say."""

    @app.exception_handler(SleuthError)
    async def sleuth_error(_: Request, exc: SleuthError) -> JSONResponse:
        status = next(s for cls, s in STATUS.items() if isinstance(exc, cls))
        return error_response(
            status,
            _snake(type(exc).__name__),
            redact(exc.message),
            redacted(exc.details, redact),
        )

    @app.exception_handler(ApiError)
    async def api_error(_: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.type, exc.message, exc.details)

    @app.exception_handler(ValidationError)  # a model built in an endpoint: still the client's
    @app.exception_handler(RequestValidationError)
    async def validation_error(
        _: Request, exc: RequestValidationError | ValidationError
    ) -> JSONResponse:
        errors = exc.errors()
        if any(e.get("type") == "json_invalid" for e in errors):
            return error_response(400, "bad_request", "the request body is not valid JSON")
        problems = [
            {"at": ".".join(str(p) for p in e.get("loc", ())), "problem": _problem(e)}
            for e in errors[:20]
        ] or [{"at": "", "problem": "invalid request"}]
        first = problems[0]
        return error_response(
            422, "invalid_input", f"{first['at']}: {first['problem']}", {"errors": problems}
        )

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        if exc.status_code == 405:  # name every method of the path, not only the first route's
            allowed = _methods_of(request)
            return error_response(
                405,
                "method_not_allowed",
                f"{request.method} is not allowed here; allowed: {', '.join(allowed)}",
                {"allowed": allowed},
                headers={"Allow": ", ".join(allowed)},
            )
        kind = {404: "not_found"}.get(exc.status_code, "http_error")
        message = str(exc.detail) if exc.status_code != 404 else "no such endpoint"
        return error_response(exc.status_code, kind, message, headers=dict(exc.headers or {}))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return error_response(500, "internal", f"internal error: {type(exc).__name__}")
