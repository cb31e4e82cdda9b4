"""``sleuth serve --ray``: the HTTP API and web page of ``sleuth serve`` on Ray Serve.

Two kinds of deployment, in one Serve application:

- per shard of every sharded collection in the data folder, a ``ShardReplica`` deployment
  with ``replicas`` replicas, each holding a ``ShardServer`` on the shard's folder. Replicas
  of one shard open the same folder: writers take turns by the folder's ``flock``, and every
  replica catches up from the store's change log before it searches, so any replica answers
  with every write committed before the request;
- the ingress (``Ingress``): ``sleuth.server``'s own FastAPI app through Serve's FastAPI
  ingress, over an ``Engine`` that opens a sharded collection as a ``ShardedCollection``
  whose shards are the deployments' handles (``ServeGroup``), and anything else as usual.

Why a deployment per shard rather than the app alone in front of actors: Serve gives each
shard R interchangeable replicas that it health-checks, replaces when they die and routes
around, and scales by configuration. The coordinator (scatter-gather, global BM25
statistics, merges) stays in the ingress, the same code as in one process.

A replica that dies: a read it was running is sent again (Serve routes it to a live replica),
so a client sees no failure; a write it was running is not (its outcome is unknown), and the
client gets a 503 saying so. No answer is ever made of a partial scatter: a shard that
cannot answer fails the request (``ShardUnavailable``, 503).
"""

from __future__ import annotations

import asyncio
import os
import re
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar, cast

from ray import serve
from ray.serve.handle import DeploymentHandle

from sleuth.catalog import NAME_PATTERN, Engine
from sleuth.config import CollectionConfig
from sleuth.encoders import Encoder
from sleuth.engine import Collection
from sleuth.errors import Conflict, InvalidInput
from sleuth.server import create_app
from sleuth.shards.collection import ShardedCollection
from sleuth.shards.layout import Layout, is_sharded
from sleuth.shards.opening import open_sharded
from sleuth.shards.ray_group import RemoteGroup, check_options
from sleuth.shards.server import ShardServer
from sleuth.store.schema import FILENAME

__all__ = ["ServeGroup", "ServeOptions", "ShardReplica", "deploy_shards", "shard_handles"]

SHARD_DEPLOYMENT = "shard"
# as ``sleuth serve``: no log line per request
QUIET = {"log_level": "WARNING", "enable_access_log": False}
_NAME = re.compile(NAME_PATTERN)


T = TypeVar("T")


def off_loop(wait: Callable[[], T]) -> T:
    """``wait()``, in a helper thread when this one runs an asyncio loop: Serve's handles refuse
    a blocking wait there (Serve's own loop, an ASGI server, a notebook, Playwright's sync API)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return wait()
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(wait).result()


@dataclass(frozen=True, kw_only=True)
class ServeOptions:
    """How ``sleuth serve --ray`` lays out its deployments: ``replicas`` per shard (each asking
    for ``shard_cpus``, running up to ``max_ongoing`` requests), ``ingress_replicas`` of the
    HTTP app, ``shards`` for a collection created through the API, ``timeout`` seconds for a
    shard's answer (reads whose replica died are sent again within it)."""

    replicas: int = 1
    shards: int = 1
    ingress_replicas: int = 1
    shard_cpus: float = 0.5
    max_ongoing: int = 8
    timeout: float = 60.0
    lock_timeout: float = 30.0

    def __post_init__(self) -> None:
        for name in ("replicas", "shards", "ingress_replicas", "max_ongoing"):
            value = getattr(self, name)
            if value < 1:
                raise InvalidInput(f"{name} must be at least 1, got {value!r}")
        if self.shard_cpus < 0:
            raise InvalidInput(f"shard_cpus must be >= 0, got {self.shard_cpus!r}")
        check_options(self.timeout, 0, 1)


class ShardReplica:
    """One replica of one shard: its server on the shard's folder (``serve.deployment`` of
    this class, made per shard in ``shard_deployment``)."""

    def __init__(self, folder: str, open_options: dict[str, Any]) -> None:
        self.server = ShardServer(folder, **open_options)

    def run(self, method: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        return getattr(self.server, method)(*args, **kwargs)

    def pid(self) -> int:
        """The replica's process (what a fault test kills)."""
        return os.getpid()

    def check_health(self) -> None:
        """Serve's probe: a replica whose collection no longer answers is replaced."""
        self.server.ping()

    def __del__(self) -> None:  # Serve stopping the replica: save its indexes
        server = getattr(self, "server", None)
        if server is not None:
            server.close()


def shard_app_name(collection: str, shard: int) -> str:
    """The Serve application of ``collection``'s shard ``shard`` (one deployment in it)."""
    return f"sleuth-{collection}-shard-{shard}"


def deploy_shards(collection: str, layout: Layout, options: ServeOptions) -> list[DeploymentHandle]:
    """Run one Serve application per shard of ``layout`` (``options.replicas`` replicas of a
    ``ShardReplica`` each; an application already running is updated in place) and return
    their handles, in shard order, once every replica is up."""
    deployment = serve.deployment(
        name=SHARD_DEPLOYMENT,
        num_replicas=options.replicas,
        max_ongoing_requests=options.max_ongoing,
        ray_actor_options={"num_cpus": options.shard_cpus},
        health_check_period_s=2.0,
        health_check_timeout_s=30.0,
        logging_config=QUIET,
    )(ShardReplica)
    open_options = {"lock_timeout": options.lock_timeout}
    return [
        serve.run(
            deployment.bind(str(folder.resolve()), open_options),
            name=shard_app_name(collection, i),
            route_prefix=None,
        )
        for i, folder in enumerate(layout.shard_folders)
    ]


def shard_handles(collection: str, shards: int) -> list[DeploymentHandle]:
    """The handles of ``collection``'s running shard applications (from any process)."""
    return [
        serve.get_deployment_handle(SHARD_DEPLOYMENT, app_name=shard_app_name(collection, i))
        for i in range(shards)
    ]


class ServeGroup(RemoteGroup):
    """A ``ShardGroup`` over one deployment handle per shard (shard order). A read whose
    replica died is sent again (Serve routes it to a live replica) until ``timeout``; a write
    never is."""

    def __init__(
        self,
        handles: Sequence[DeploymentHandle],
        *,
        timeout: float = 60.0,
    ) -> None:
        check_options(timeout, 0, 1)
        if not handles:
            raise InvalidInput("a shard group needs at least one shard")
        self.handles = list(handles)
        self.timeout = timeout

    @property
    def size(self) -> int:
        return len(self.handles)

    def _submit(self, shard: int, method: str, args: tuple[Any, ...], kw: dict[str, Any]) -> Any:
        return self.handles[shard].run.remote(method, args, kw)

    def _wait(self, pending: Any, timeout: float) -> Any:
        return off_loop(lambda: pending.result(timeout_s=timeout))

    def pids(self, shard: int, *, want: int, patience: float = 30.0) -> list[int]:
        """The processes of ``want`` distinct replicas of ``shard`` (asked until seen)."""
        seen: set[int] = set()
        deadline = time.monotonic() + patience
        while len(seen) < want and time.monotonic() < deadline:
            answers = [self.handles[shard].pid.remote() for _ in range(4 * want)]
            seen.update(int(self._wait(a, self.timeout)) for a in answers)
        return sorted(seen)

    def close(self) -> None:
        """Nothing to do here: the replicas belong to the Serve application (``serve.delete``
        stops them, and they save their indexes as they close)."""


class ServedEngine(Engine):
    """The data folder's collections, as ``sleuth serve`` has them, but a sharded collection's
    shards are its Serve applications (``deploy_shards``), and one created here
    (``options.shards`` > 1) gets its applications first."""

    def __init__(self, data: str | Path, options: ServeOptions, **engine: Any) -> None:
        super().__init__(data, **engine)
        self.options = options

    def get(self, name: str) -> Collection:
        folder = self._folder(name)
        if not is_sharded(folder):
            return super().get(name)
        with self._lock:
            col = self._open.get(name)
            if col is None:
                layout = Layout.read(folder)
                group = ServeGroup(shard_handles(name, layout.shards), timeout=self.options.timeout)
                sharded = ShardedCollection(layout, group, lock_timeout=self.lock_timeout)
                col = self._open[name] = cast(Collection, sharded)  # they share the surface
            return col

    def open_all(self, *, warm: bool = True) -> dict[str, str]:
        # The app's lifespan calls this on Serve's event loop, where a deployment handle's
        # answer may not be awaited synchronously: the warm-up searches run in a thread.
        return off_loop(lambda: super(ServedEngine, self).open_all(warm=warm))

    def create(
        self,
        name: str,
        *,
        config: CollectionConfig | None = None,
        encoder: str | Encoder | None = None,
        dim: int | None = None,
    ) -> Collection:
        folder = self._folder(name)
        if self.options.shards == 1:
            return super().create(name, config=config, encoder=encoder, dim=dim)
        if (folder / FILENAME).exists() or is_sharded(folder):
            raise Conflict(f"a collection named {name!r} already exists", collection=name)
        open_sharded(  # the shard folders, made here once
            folder,
            shards=self.options.shards,
            config=config,
            encoder=encoder if encoder is not None else self.default_encoder,
            dim=dim,
            lock_timeout=self.lock_timeout,
        ).close()
        deploy_shards(name, Layout.read(folder), self.options)
        return self.get(name)

    def delete(self, name: str) -> None:
        folder = self._folder(name)
        if is_sharded(folder):  # its replicas close their shards and stop first
            for i in range(Layout.read(folder).shards):
                serve.delete(shard_app_name(name, i))
        super().delete(name)


@serve.ingress()
class Ingress:
    """``sleuth.server``'s app (the API and the page) over a ``ServedEngine``."""

    def __init__(self, data: str, options: ServeOptions, app_options: dict[str, Any]) -> None:
        self.engine = ServedEngine(
            data, options, default_encoder=app_options.pop("default_encoder", None)
        )
        self.app_options = app_options

    def __serve_build_asgi_app__(self) -> Any:
        return create_app(self.engine, **self.app_options)


def serve_app(data: str | Path, options: ServeOptions, **app_options: Any) -> Any:
    """Deploy the shards of every sharded collection in ``data`` and return the ingress's
    bound application (run it with ``serve.run(app, name="sleuth", route_prefix="/")``).
    ``app_options``: ``default_encoder`` and ``create_app``'s keywords."""
    data = Path(data)
    for folder in sorted(data.iterdir()) if data.is_dir() else []:
        if is_sharded(folder) and _NAME.match(folder.name):
            deploy_shards(folder.name, Layout.read(folder), options)
    ingress = serve.deployment(
        name="sleuth",
        num_replicas=options.ingress_replicas,
        max_ongoing_requests=64,
        logging_config=QUIET,
    )(Ingress)
    return ingress.bind(str(data.resolve()), options, app_options)


def run_on_ray(
    data: Path,
    options: ServeOptions,
    *,
    address: str | None,
    host: str,
    port: int,
    **app_options: Any,
) -> None:
    """Serve ``data`` on the Ray cluster at ``address`` (None: a local Ray, started and
    stopped here) until interrupted (Ctrl-C or SIGTERM); then the applications made here
    are deleted, and nothing of this server is left running on the cluster. Serve's HTTP
    proxy listens on ``host:port`` unless Serve already runs on the cluster: Ray keeps the
    proxy's first options (``serve shutdown`` there, or pass them again)."""
    import signal

    import ray

    def stop(*_: Any) -> None:
        raise KeyboardInterrupt

    ray.init(address=address, namespace="sleuth")
    signal.signal(signal.SIGTERM, stop)  # after ray.init, which installs its own
    port = port or _free_port(host)
    try:
        serve.start(http_options={"host": host, "port": port})
        serve.run(serve_app(data, options, **app_options), name="sleuth", route_prefix="/")
        shown = f"[{host}]" if ":" in host else host
        print(f"sleuth is serving {data} on Ray at http://{shown}:{port}/", flush=True)
        while True:
            time.sleep(1.0)
    except KeyboardInterrupt:
        pass
    finally:  # the ingress and every shard application (also those made while serving)
        for name in serve.status().applications:
            if name == "sleuth" or name.startswith("sleuth-"):
                serve.delete(name)
        if address is None:
            serve.shutdown()
        ray.shutdown()


def _free_port(host: str) -> int:
    import socket

    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])
