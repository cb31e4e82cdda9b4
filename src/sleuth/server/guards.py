"""ASGI middleware that judges a request before any endpoint reads its body: the ``Host`` it
names, its API key, then the size of its body. Each answers in the API's error shape."""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sleuth.server.errors import error_response

__all__ = ["AllowedHosts", "BodyLimit", "HostCheck", "KeyCheck"]

LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
_WILDCARDS = frozenset({"", "0.0.0.0", "::"})
# What the key does not guard: liveness, and the page whose own API calls carry the key.
PUBLIC_PATHS = frozenset({"/health", "/"})
PUBLIC_PREFIXES = ("/static/",)


@dataclass(frozen=True)
class AllowedHosts:
    """The names a request's ``Host`` may give. A browser page that reached this server by DNS
    rebinding sends its own site's name, so answering only the names the server was bound to
    (and what ``--allowed-host`` adds) keeps such pages out of a keyless server. An IP address
    cannot be rebound: when bound to every interface (``0.0.0.0``, ``::``), any is allowed.
    """

    names: frozenset[str]
    any_address: bool = False

    @classmethod
    def for_bind(cls, host: str, extra: Iterable[str] = ()) -> AllowedHosts:
        bound = _hostname(host)
        names = {bound, *(_hostname(name) for name in extra)} - {""}
        if bound == "localhost" or _is_loopback(bound) or bound in _WILDCARDS:
            names |= LOOPBACK_NAMES
        return cls(frozenset(names - _WILDCARDS), any_address=bound in _WILDCARDS)

    def allows(self, host_header: str) -> bool:
        name = _hostname(host_header, with_port=True)
        return name in self.names or (self.any_address and _is_address(name))


def _hostname(value: str, *, with_port: bool = False) -> str:
    """``[::1]:8080`` → ``::1``; ``Example.COM.`` → ``example.com``."""
    value = value.strip().lower()
    if value.startswith("["):
        return value[1 : value.find("]")] if "]" in value else value
    if with_port and value.count(":") == 1:
        value = value.partition(":")[0]
    return value.rstrip(".")


def _is_address(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def _is_loopback(name: str) -> bool:
    return _is_address(name) and ipaddress.ip_address(name).is_loopback


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value).decode("latin-1")
    return None


class HostCheck:
    """421 for a ``Host`` that is not allowed (a request without one is no browser's)."""

    def __init__(self, app: ASGIApp, hosts: AllowedHosts) -> None:
        self.app = app
        self.hosts = hosts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        host = _header(scope, b"host") if scope["type"] == "http" else None
        if host is None or self.hosts.allows(host):
            await self.app(scope, receive, send)
            return
        allowed = sorted(self.hosts.names) + (["any IP address"] if self.hosts.any_address else [])
        response = error_response(
            421,
            "host_not_allowed",
            f"this server does not answer to the host {host[:100]!r} (allowed: "
            f"{', '.join(allowed)}); to serve it by that name, start it with "
            "`sleuth serve --allowed-host NAME`",
            {"allowed": allowed},
        )
        await response(scope, receive, send)


class KeyCheck:
    """401 without ``Authorization: Bearer <key>``, before the body is read: an unauthorized
    client cannot make the server buffer or parse anything. ``/health`` and the page are open."""

    def __init__(self, app: ASGIApp, key: str) -> None:
        self.app = app
        self.key = key.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES):
            await self.app(scope, receive, send)
            return
        scheme, _, given = (_header(scope, b"authorization") or "").strip().partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), self.key):
            await self.app(scope, receive, send)
            return
        response = error_response(
            401,
            "unauthorized",
            "wrong API key"
            if scheme.lower() == "bearer"
            else "this server needs an API key: send the header 'Authorization: Bearer <key>'",
        )
        await response(scope, receive, send)


class BodyLimit:
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
