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
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ray import serve
from ray.serve.handle import DeploymentHandle

from sleuth.errors import InvalidInput
from sleuth.shards.ray_group import READS, RemoteGroup, check_options
from sleuth.shards.server import ShardServer

__all__ = ["ServeGroup", "ShardReplica"]


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


def shard_deployment(
    collection: str,
    shard: int,
    folder: str | Path,
    *,
    replicas: int,
    num_cpus: float,
    max_ongoing: int,
    open_options: Mapping[str, Any] | None = None,
) -> Any:
    """The bound deployment of ``collection``'s shard ``shard`` (``replicas`` replicas)."""
    deployment = serve.deployment(
        name=f"{collection}-shard-{shard}",
        num_replicas=replicas,
        max_ongoing_requests=max_ongoing,
        ray_actor_options={"num_cpus": num_cpus},
        health_check_period_s=2.0,
        health_check_timeout_s=30.0,
    )(ShardReplica)
    return deployment.bind(str(Path(folder).resolve()), dict(open_options or {}))


class ServeGroup(RemoteGroup):
    """A ``ShardGroup`` over one deployment handle per shard (shard order). A read whose
    replica died is sent again, up to ``read_retries`` times within ``timeout``; a write
    never is."""

    def __init__(
        self,
        handles: Sequence[DeploymentHandle],
        *,
        timeout: float = 60.0,
        read_retries: int = 3,
    ) -> None:
        check_options(timeout, read_retries, 1)
        if not handles:
            raise InvalidInput("a shard group needs at least one shard")
        self.handles = list(handles)
        self.timeout, self.read_retries = timeout, read_retries

    @property
    def size(self) -> int:
        return len(self.handles)

    def _submit(self, shard: int, method: str, args: tuple[Any, ...], kw: dict[str, Any]) -> Any:
        return self.handles[shard].run.remote(method, args, kw)

    def _wait(self, pending: Any, timeout: float) -> Any:
        return pending.result(timeout_s=timeout)

    def _resends(self, method: str) -> int:
        return self.read_retries if method in READS else 0

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
