"""Getting a Ray cluster for one job: the operator's (``ray://host:port`` or ``host:port``),
the one this process already joined, or a local one that the job starts and stops.

Ray is an optional extra (``pip install 'sleuth[ray]'``): it is imported here, when a job
asks for it, and its absence is an ``InvalidInput`` that names the extra. Ray Data's own
progress bars and per-dataset log lines are turned off: the job shows one bar of its own.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import ModuleType

from sleuth.errors import InvalidInput

__all__ = ["Cluster", "connect", "import_ray"]

INSTALL = "pip install 'sleuth[ray]'"


def import_ray() -> ModuleType:
    """The ``ray`` module with Ray Data, or ``InvalidInput`` saying how to install it."""
    try:
        import ray
        import ray.data  # the extra's ``data`` part
    except ImportError as exc:
        raise InvalidInput(
            f"--ray (sleuth.distributed) needs Ray with Ray Data: {INSTALL} ({exc})",
            missing="ray[data]",
        ) from None
    return ray


@dataclass(frozen=True)
class Cluster:
    """The cluster a job runs on: its address (``"local"`` for one started by the job), the
    CPUs and GPUs it offers, and the seconds it took to start or join."""

    address: str
    cpus: float
    gpus: float
    started_s: float
    owned: bool  # started (and so stopped) by this job


@contextmanager
def connect(address: str | None = None, *, num_cpus: int | None = None) -> Iterator[Cluster]:
    """Join the cluster at ``address`` (``ray://host:10001`` through Ray Client, or a head's
    ``host:6379``); with no address, the one this process already joined, else the one
    ``RAY_ADDRESS`` names (as in a job sent with ``ray job submit``), else start a new local
    one (``num_cpus``: its CPUs; default all), never another job's cluster that happens to run
    on this machine. A cluster this connects to is left (``ray.shutdown()``) at the end, which
    stops a local one with every worker it started; one the process had joined before stays.

    >>> with connect() as cluster:  # doctest: +SKIP
    ...     print(cluster.cpus)
    """
    ray = import_ray()
    started = time.perf_counter()
    owned = not ray.is_initialized()
    target = address or os.environ.get("RAY_ADDRESS") or None
    if owned:
        local = target is None
        # Token authentication is on by default in recent Ray; a local cluster that lives for
        # one job and listens on loopback only has nothing to gain from it but a warning.
        if local:
            os.environ.setdefault("RAY_AUTH_MODE", "disabled")
        try:
            ray.init(
                # "local": a new instance, not the last one `ray start` recorded in /tmp/ray
                address="local" if local else target,
                num_cpus=num_cpus if local else None,
                include_dashboard=False if local else None,
                # a local cluster's workers' output (and their noise when it stops) stays in
                # its logs; the job reports what it did, restarted workers included
                log_to_driver=not local,
                logging_level=logging.WARNING,
                configure_logging=True,
            )
        except (ConnectionError, ValueError, RuntimeError) as exc:
            where = f"the Ray cluster at {target}" if target else "a local Ray cluster"
            raise InvalidInput(f"cannot start or join {where}: {exc}", address=target) from None
    restore = _quiet(ray)
    try:
        resources = ray.cluster_resources()
        yield Cluster(
            address=(target or "local") if owned else "joined",
            cpus=float(resources.get("CPU", 0.0)),
            gpus=float(resources.get("GPU", 0.0)),
            started_s=time.perf_counter() - started,
            owned=owned,
        )
    finally:
        restore()
        if owned:
            ray.shutdown()


def _quiet(ray: ModuleType) -> Callable[[], None]:
    """Ray Data without its progress bars and dataset banners (the job has its own bar);
    returns what puts the process's settings back (a joined session keeps its own)."""
    context = ray.data.DataContext.get_current()
    bars = context.enable_progress_bars, context.enable_operator_progress_bars
    loggers = [logging.getLogger(n) for n in ("ray.data", "ray.data._internal.progress")]
    levels = [logger.level for logger in loggers]
    context.enable_progress_bars = context.enable_operator_progress_bars = False
    for logger, level in zip(loggers, (logging.WARNING, logging.ERROR)):
        logger.setLevel(level)

    def restore() -> None:
        context.enable_progress_bars, context.enable_operator_progress_bars = bars
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)

    return restore
