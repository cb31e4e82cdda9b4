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

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ray import serve
from ray.serve.handle import DeploymentHandle

from sleuth.errors import InvalidInput
from sleuth.shards.layout import Layout
from sleuth.shards.ray_group import RemoteGroup, check_options
from sleuth.shards.server import ShardServer

__all__ = ["ServeGroup", "ServeOptions", "ShardReplica", "deploy_shards", "shard_handles"]

SHARD_DEPLOYMENT = "shard"


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
        return pending.result(timeout_s=timeout)

    def pids(self, shard: int, *, want: int, patience: float = 30.0) -> list[int]:
        """The processes of ``want`` distinct replicas of ``shard`` (asked until seen)."""
        seen: set[int] = set()
        deadline = time.monotonic() + patience
        while len(seen) < want and time.monotonic() < deadline:
            answers = [self.handles[shard].pid.remote() for _ in range(4 * want)]
            seen.update(int(a.result(timeout_s=self.timeout)) for a in answers)
        return sorted(seen)

    def close(self) -> None:
        """Nothing to do here: the replicas belong to the Serve application (``serve.delete``
        stops them, and they save their indexes as they close)."""
