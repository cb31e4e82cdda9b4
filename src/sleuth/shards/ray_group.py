"""The shards of a sharded collection behind Ray actors: ``RayGroup``, a ``ShardGroup``.

One actor per shard (``ShardActor``) holds a ``ShardServer`` on the shard's folder, which every
node must reach at the same path (a shared disk, or a node per shard's local disk). The actors:

- are restarted by Ray when their process dies (``max_restarts=-1``); a restarted actor runs
  its constructor again, so it reopens its folder, and the collection catches up from the
  store's change log (SQLite recovers the WAL of the killed writer; the kernel released its
  write lock);
- are named ``<name>-shard-<i>`` in ``namespace``, so another driver reconnects with
  ``RayGroup.connect(name, size)``; ``detached=True`` lets them outlive this driver;
- are spread over the nodes (``SPREAD`` scheduling), each asking for ``num_cpus`` and
  ``resources`` (a custom resource pins shards to nodes that have it);
- run ``max_concurrency`` calls at once (searches share the indexes; a write excludes them
  only while it is applied, as in one process).

Reads (``READS``: search statistics and lists, gets, counts) are retried by Ray when the actor
died while it ran them (``max_task_retries``), and sent again while it restarts, until the
deadline: reading twice is harmless. Anything else (a
write: ``apply``, ``save``...) is never retried: if its actor died or did not answer in time,
nobody knows whether its transaction committed (SQLite makes it all or nothing, not which),
so it fails as ``ShardUnavailable`` with ``details["outcome"] == "unknown"``, and the caller
reads back or resends (an upsert or a delete applied twice is the same as once). A call that
gets no answer within ``timeout`` seconds is a ``ShardUnavailable`` naming the shard;
the other shards keep answering.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import ray
from ray.exceptions import GetTimeoutError, RayError, RayTaskError

from sleuth.errors import InvalidInput, SleuthError
from sleuth.shards.group import Call, Calls, per_shard, unavailable
from sleuth.shards.server import ShardServer

__all__ = ["READS", "RayGroup", "RemoteGroup", "ShardActor", "check_options"]

NAMESPACE = "sleuth"
READS = frozenset(
    {
        "attribute_types",
        "count",
        "dense",
        "docnos",
        "encoded_texts",
        "event_rows",
        "event_table",
        "get",
        "info",
        "items",
        "last_seq",
        "mask",
        "ping",
        "postings",
        "retrieve",
        "stats",
        "vectors",
        "vectors_by_docno",
    }
)


class ShardActor:
    """One shard's server in a Ray actor process (``ray.remote(ShardActor)`` in ``RayGroup``)."""

    def __init__(self, folder: str, open_options: dict[str, Any]) -> None:
        self.folder = folder
        self.server = ShardServer(folder, **open_options)

    def run(self, method: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """``method`` of the shard's server called with ``args`` and ``kwargs``."""
        return getattr(self.server, method)(*args, **kwargs)

    def where(self) -> dict[str, Any]:
        """The actor's worker process (what a fault test kills) and its Ray node."""
        return {"pid": os.getpid(), "node": ray.get_runtime_context().get_node_id()}


class RemoteGroup:
    """What a group of shards in other processes shares: calls in parallel under one deadline,
    reads sent again (with a growing pause) while their shard is down, and one reading of what
    went wrong. A subclass says how a call is sent (``_submit``) and how its answer is awaited
    (``_wait``)."""

    timeout: float

    @property
    def size(self) -> int:
        raise NotImplementedError

    def _submit(self, shard: int, method: str, args: tuple[Any, ...], kw: dict[str, Any]) -> Any:
        raise NotImplementedError

    def _wait(self, pending: Any, timeout: float) -> Any:
        raise NotImplementedError

    def _result(self, shard: int, method: str, call: Call, pending: Any, deadline: float) -> Any:
        pause = 0.05
        while True:
            try:
                return self._wait(pending, max(deadline - time.monotonic(), 0.0))
            except RayTaskError as exc:  # the shard's own code raised
                cause = exc.cause
                if isinstance(cause, SleuthError):  # on purpose (the request's fault): passed on
                    raise cause from None
                raise unavailable(shard, cause or exc) from None
            except (RayError, TimeoutError) as exc:  # its process died, or no answer in time
                # A read is sent again until the deadline (its process is being restarted,
                # or another replica takes it); a write never is.
                if method in READS and not _timed_out(exc) and time.monotonic() + pause < deadline:
                    time.sleep(pause)
                    pause = min(2 * pause, 1.0)
                    pending = self._submit(shard, method, *call)
                    continue
                raise self._failure(shard, method, exc) from None

    def _failure(self, shard: int, method: str, exc: BaseException) -> SleuthError:
        error = unavailable(shard, _why(exc, self.timeout))
        if method not in READS:
            error.details["outcome"] = "unknown"
            error.message += (
                f"; whether its {method} was applied on shard {shard} is unknown: read it "
                "back, or send it again (an upsert or delete applied twice is the same as once)"
            )
            error.args = (error.message,)
        return error

    def scatter(self, method: str, args: Calls) -> list[Any]:
        calls = per_shard(args, self.size)
        deadline = time.monotonic() + self.timeout
        sent = [self._submit(i, method, *call) for i, call in enumerate(calls)]
        # every call is waited for before the lowest failed shard's error is raised
        answers = [self._outcome(i, method, calls[i], p, deadline) for i, p in enumerate(sent)]
        failures = [error for _, error in answers if error is not None]
        if failures:
            raise failures[0]
        return [value for value, _ in answers]

    def _outcome(
        self, shard: int, method: str, call: Call, pending: Any, deadline: float
    ) -> tuple[Any, SleuthError | None]:
        try:
            return self._result(shard, method, call, pending, deadline), None
        except SleuthError as exc:
            return None, exc

    def call(self, shard: int, method: str, *args: Any, **kwargs: Any) -> Any:
        if not 0 <= shard < self.size:
            raise InvalidInput(f"shard {shard} does not exist; shards are 0 to {self.size - 1}")
        pending = self._submit(shard, method, args, kwargs)
        return self._result(shard, method, (args, kwargs), pending, time.monotonic() + self.timeout)


class RayGroup(RemoteGroup):
    """Shard ``i`` of ``folders`` in actor ``<name>-shard-<i>`` (created, or taken over when an
    actor of that name is alive). ``ray.init`` must have been called (a local Ray, or
    ``address=``). ``open_options`` go to each ``ShardServer``."""

    actors: list[Any]  # Ray actor handles, in shard order

    def __init__(
        self,
        folders: Sequence[str | Path],
        *,
        name: str,
        namespace: str = NAMESPACE,
        num_cpus: float = 1.0,
        resources: Mapping[str, float] | None = None,
        max_concurrency: int = 4,
        timeout: float = 60.0,
        read_retries: int = 3,
        detached: bool = False,
        open_options: Mapping[str, Any] | None = None,
    ) -> None:
        check_options(timeout, read_retries, max_concurrency)
        if not name:
            raise InvalidInput("a Ray shard group needs a name (its actors are named after it)")
        self.name, self.namespace = name, namespace
        self.timeout, self.read_retries = timeout, read_retries
        self.owned = True  # this driver made the actors: close() stops them
        actor_class = ray.remote(ShardActor)
        self.actors = [
            actor_class.options(  # type: ignore[attr-defined]
                name=_actor_name(name, i),
                namespace=namespace,
                get_if_exists=True,
                lifetime="detached" if detached else None,
                max_restarts=-1,
                max_task_retries=0,  # per call: reads ask for retries, writes never
                max_concurrency=max_concurrency,
                num_cpus=num_cpus,
                resources=dict(resources or {}),
                scheduling_strategy="SPREAD",
            ).remote(str(Path(folder).resolve()), dict(open_options or {}))
            for i, folder in enumerate(folders)
        ]

    @classmethod
    def connect(
        cls,
        name: str,
        size: int,
        *,
        namespace: str = NAMESPACE,
        timeout: float = 60.0,
        read_retries: int = 3,
    ) -> RayGroup:
        """The live actors of the group ``name`` (of ``size`` shards), made by another driver;
        ``close()`` leaves them running. A missing actor is ``ShardUnavailable``."""
        check_options(timeout, read_retries, 1)
        group = cls.__new__(cls)
        group.name, group.namespace = name, namespace
        group.timeout, group.read_retries = timeout, read_retries
        group.owned = False
        group.actors = []
        for i in range(size):
            try:
                group.actors.append(ray.get_actor(_actor_name(name, i), namespace=namespace))
            except ValueError as exc:
                raise unavailable(i, exc) from None
        group.scatter("ping", ((), {}))  # each answers, or this is its ShardUnavailable
        return group

    @property
    def size(self) -> int:
        return len(self.actors)

    def _submit(self, shard: int, method: str, args: tuple[Any, ...], kw: dict[str, Any]) -> Any:
        retries = self.read_retries if method in READS else 0  # Ray resends a read itself
        run = self.actors[shard].run
        return run.options(max_task_retries=retries).remote(method, args, kw)

    def _wait(self, pending: Any, timeout: float) -> Any:
        return ray.get(pending, timeout=timeout)

    def placement(self) -> list[dict[str, Any]]:
        """Each shard actor's worker process (``pid``) and Ray node (``node``), in shard
        order."""
        retried = [a.where.options(max_task_retries=self.read_retries) for a in self.actors]
        return list(ray.get([where.remote() for where in retried], timeout=self.timeout))

    def close(self) -> None:
        """Save and close every shard, then stop the actors this group made (a group from
        ``connect`` leaves them running). Closing twice is fine."""
        if not self.actors:
            return
        try:
            if self.owned:
                self.scatter("close", ((), {}))
        finally:
            if self.owned:
                for actor in self.actors:
                    ray.kill(actor, no_restart=True)
            self.actors = []


def _actor_name(name: str, shard: int) -> str:
    return f"{name}-shard-{shard}"


def _timed_out(exc: BaseException) -> bool:
    return isinstance(exc, GetTimeoutError | TimeoutError)


def _why(exc: BaseException, timeout: float) -> BaseException:
    if _timed_out(exc):
        return TimeoutError(f"no answer within {timeout:g} s")
    return exc


def check_options(timeout: float, read_retries: int, max_concurrency: int) -> None:
    """``InvalidInput`` unless the options of a remote group are possible."""
    if not timeout > 0:
        raise InvalidInput(f"timeout must be > 0 seconds, got {timeout!r}")
    if read_retries < 0:
        raise InvalidInput(f"read_retries must be >= 0, got {read_retries!r}")
    if max_concurrency < 1:
        raise InvalidInput(f"max_concurrency must be >= 1, got {max_concurrency!r}")
