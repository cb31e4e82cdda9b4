"""A local Ray cluster for the tests of ``sleuth.distributed``, shared by a module's tests
(each job joins it instead of starting its own) and stopped at the end; tests skip with the
reason when Ray is not installed or cannot start here."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest


def ray_cluster(num_cpus: int = 2) -> Iterator[Any]:
    """Yield the ``ray`` module with a local cluster running (a fixture's body)."""
    try:
        import ray
        import ray.data
    except ImportError as exc:
        pytest.skip(f"Ray is not installed (pip install 'sleuth[ray]'): {exc}")
    if ray.is_initialized():  # another module's cluster: use it as it is
        yield ray
        return
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    try:
        # "local": a new instance, never another session's recorded in /tmp/ray
        ray.init(address="local", num_cpus=num_cpus, include_dashboard=False, log_to_driver=False)
    except Exception as exc:  # no shared memory, no free port...
        pytest.skip(f"a local Ray cluster cannot start here: {type(exc).__name__}: {exc}")
    try:
        yield ray
    finally:
        ray.shutdown()
