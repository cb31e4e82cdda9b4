"""Prometheus metrics: requests and latency per endpoint, sizes per collection.

Each app has its own registry, so several apps in one process (tests) do not collide.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sleuth.catalog import Engine
from sleuth.indexes.segments import saved_files

__all__ = ["Metrics"]

# Any other method (a client may send any token) counts as "other", so labels stay bounded;
# endpoints are route templates or "unmatched", bounded by the routes.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class Metrics:
    def __init__(self, engine: Engine) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "sleuth_requests",
            "HTTP requests by endpoint and status",
            ["method", "endpoint", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "sleuth_request_duration_seconds",
            "HTTP request latency by endpoint",
            ["method", "endpoint"],
            buckets=BUCKETS,
            registry=self.registry,
        )
        self.registry.register(_CollectionSizes(engine))

    def middleware(self, app: ASGIApp) -> ASGIApp:
        async def measured(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != "http":
                await app(scope, receive, send)
                return
            status = 500
            start = time.perf_counter()

            async def send_status(message: Message) -> None:
                nonlocal status
                if message["type"] == "http.response.start":
                    status = message["status"]
                await send(message)

            try:
                await app(scope, receive, send_status)
            finally:
                route = scope.get("route")
                endpoint = getattr(route, "path", None) or "unmatched"
                method = scope["method"] if scope["method"] in METHODS else "other"
                self.requests.labels(method, endpoint, str(status)).inc()
                self.latency.labels(method, endpoint).observe(time.perf_counter() - start)

        return measured


class _CollectionSizes(Collector):
    """Read at scrape time from the open collections."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def collect(self) -> Iterator[Any]:
        items = GaugeMetricFamily(
            "sleuth_collection_items", "Items per collection", labels=["collection"]
        )
        rows = GaugeMetricFamily(
            "sleuth_index_rows",
            "Rows per index (dead rows included)",
            labels=["collection", "index"],
        )
        size = GaugeMetricFamily(
            "sleuth_index_bytes", "Saved index file size", labels=["collection", "index"]
        )
        encoded = GaugeMetricFamily(
            "sleuth_encoded_texts",
            "Item texts encoded by this process (cached vectors are not counted)",
            labels=["collection"],
        )
        unavailable = GaugeMetricFamily(
            "sleuth_collection_unavailable",
            "1 for each collection that cannot be opened (see /health for why)",
            labels=["collection"],
        )
        for name in self.engine.unavailable():
            unavailable.add_metric([name], 1)
        for name, col in sorted(self.engine.opened().items()):
            if col.closed:
                continue
            items.add_metric([name], col.count())
            encoded.add_metric([name], col.encoded_texts)
            for index, report in col.info()["indexes"].items():
                rows.add_metric([name, index], report["rows"])
                files = saved_files(col.path / "index", index)
                size.add_metric([name, index], sum(f.stat().st_size for f in files))
        yield from (items, rows, size, encoded, unavailable)
