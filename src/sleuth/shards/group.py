"""A group of shards: how a sharded collection calls its ``ShardServer``s, wherever they run.

``ShardGroup`` is the contract: ``scatter`` calls one method on every shard, in parallel, and
returns the answers in shard order; ``call`` calls one shard. ``LocalGroup`` holds the servers
in this process (a thread pool runs the calls: the searches release the GIL in numba, numpy
and SQLite); ``sleuth.shards.ray_group.RayGroup`` puts each behind a Ray actor.

A shard that fails (its process died, its disk failed, or anything it did not raise on
purpose) is a ``ShardUnavailable`` naming it (HTTP 503); the errors a shard raises on purpose
(``InvalidInput``, ``NotFound``, ``Conflict``: the request's fault) pass through unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol

from sleuth.errors import SleuthError, Unavailable
from sleuth.shards.server import ShardServer

__all__ = ["Calls", "LocalGroup", "ShardGroup", "ShardUnavailable", "per_shard"]

# one call's ``(args, kwargs)``; a list of them: one per shard, in shard order
Call = tuple[tuple[Any, ...], dict[str, Any]]
Calls = Sequence[Call] | Call


class ShardUnavailable(Unavailable):
    """A shard that could not answer: ``details["shard"]`` is its number, ``details["reason"]``
    what went wrong; a write that failed on it also says which shards applied the batch
    (``applied``) and which did not (``pending``)."""


class ShardGroup(Protocol):
    """The shards of a sharded collection, numbered 0 to ``size - 1``."""

    @property
    def size(self) -> int: ...

    def scatter(self, method: str, args: Calls) -> list[Any]:
        """``method`` called on every shard in parallel, the answers in shard order. ``args``:
        one ``(args, kwargs)`` for all, or a list of one per shard. Waits for every call; a
        shard that failed is a ``ShardUnavailable`` naming it (the lowest such shard)."""
        ...

    def call(self, shard: int, method: str, *args: Any, **kwargs: Any) -> Any:
        """``method`` called on one shard (a failure is a ``ShardUnavailable``)."""
        ...

    def close(self) -> None:
        """Close every shard (saving its indexes); closing twice is fine."""
        ...


def per_shard(args: Calls, size: int) -> list[Call]:
    """The ``(args, kwargs)`` of each shard: ``args`` itself when it is a list of them (one per
    shard), else the one call repeated."""
    if isinstance(args, tuple):
        return [args] * size
    calls = list(args)
    if len(calls) != size:
        raise ValueError(f"{len(calls)} calls for {size} shards")
    return calls


def unavailable(shard: int, exc: BaseException) -> ShardUnavailable:
    """The ``ShardUnavailable`` of ``shard`` failing with ``exc``."""
    reason = f"{type(exc).__name__}: {exc}"
    return ShardUnavailable(
        f"shard {shard} could not answer ({reason:.300}); the other shards are unaffected",
        shard=shard,
        reason=reason[:300],
    )


class LocalGroup:
    """``ShardServer``s of ``folders`` (shard ``i`` in ``folders[i]``) in this process."""

    def __init__(self, folders: Sequence[str | Path], **open_options: Any) -> None:
        self.servers = [self._server(Path(folder), **open_options) for folder in folders]
        self._pool = ThreadPoolExecutor(max(len(self.servers), 1), thread_name_prefix="shard")

    @staticmethod
    def _server(folder: Path, **open_options: Any) -> ShardServer:
        """The server of one shard (a test subclass injects faults here)."""
        return ShardServer(folder, **open_options)

    @property
    def size(self) -> int:
        return len(self.servers)

    def _run(self, shard: int, method: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        try:
            return getattr(self.servers[shard], method)(*args, **kwargs)
        except SleuthError:  # raised on purpose (the request's fault): passed on as it is
            raise
        except Exception as exc:
            raise unavailable(shard, exc) from exc

    def scatter(self, method: str, args: Calls) -> list[Any]:
        calls = per_shard(args, self.size)
        if self.size == 1:  # no thread hop for one shard
            return [self._run(0, method, *calls[0])]
        futures: list[Future[Any]] = [
            self._pool.submit(self._run, i, method, a, kw) for i, (a, kw) in enumerate(calls)
        ]
        out, first = [], None
        for future in futures:
            try:
                out.append(future.result())
            except BaseException as exc:  # every call is waited for before raising
                first = first or exc
                out.append(None)
        if first is not None:
            raise first
        return out

    def call(self, shard: int, method: str, *args: Any, **kwargs: Any) -> Any:
        return self._run(shard, method, args, kwargs)

    def close(self) -> None:
        try:
            for server in self.servers:
                server.close()
        finally:
            self._pool.shutdown(wait=True)
