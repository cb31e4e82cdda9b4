"""A real Ray cluster on this machine for tests: a head and worker nodes, each a separate
``ray start --block`` process on a loopback address, with its own temp dir, ports and auth
token, so that nothing else on the machine is touched and nothing it starts outlives it.

>>> with LocalRayCluster(tmp_path, workers=2) as cluster:  # doctest: +SKIP
...     ray.init(address=cluster.address)

Each node gets a custom resource named after it (``head``, ``w0``, ``w1``...), so a test can
place an actor on a given node. Stopping sends SIGTERM to every process of the nodes' sessions
(each node is started as a session leader; Ray's daemons and workers stay in it), then SIGKILL
to what is left after a grace period; only those processes are signalled. ``ray stop`` is never
used: it would stop every Ray on the machine.

Ray's gRPC servers listen on every interface whatever the node address; the cluster's token
(``RAY_AUTH_MODE=token``, a fresh random ``RAY_AUTH_TOKEN``) is what keeps others out.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import pytest

__all__ = ["HOST", "LocalRayCluster", "RayCannotStart", "free_port", "ray_cluster_or_skip"]

# 127.0.0.1 and "localhost" are rewritten by Ray to the machine's outward address; another
# address of the loopback net is taken as given.
HOST = "127.0.0.2"
START_TIMEOUT = 60.0
STOP_GRACE = 5.0


class RayCannotStart(RuntimeError):
    """Ray is not installed, or its processes did not come up in time (the log tail says why)."""


def free_port() -> int:
    """A port free now on the cluster's loopback address."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _ray_cli() -> str:
    return str(Path(sys.executable).with_name("ray"))


class LocalRayCluster:
    """``workers`` worker nodes and a head, ``cpus`` logical CPUs each (the head gets
    ``head_cpus``: 0 keeps tasks off it unless asked for), under ``root`` (short paths:
    Ray's socket names must stay under 107 bytes)."""

    def __init__(self, root: Path, *, workers: int = 2, cpus: int = 1, head_cpus: int = 1) -> None:
        self.root = Path(root)
        self.workers = workers
        self.cpus = cpus
        self.head_cpus = head_cpus
        self.port = free_port()
        self.address = f"{HOST}:{self.port}"
        self.nodes = ["head", *(f"w{i}" for i in range(workers))]
        self._procs: list[subprocess.Popen[bytes]] = []
        self._saved_env: dict[str, str | None] = {}

    # -- lifecycle ---------------------------------------------------------------------------

    def __enter__(self) -> LocalRayCluster:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        if shutil.which(_ray_cli()) is None:
            raise RayCannotStart(f"no ray command next to {sys.executable} (pip install ray)")
        self.root.mkdir(parents=True, exist_ok=True)
        token = secrets.token_hex(32)
        # The driver (this process) and the nodes share the cluster's own token; no file of
        # the user's (~/.ray/auth_token) is read or written.
        env = {
            "RAY_AUTH_MODE": "token",
            "RAY_AUTH_TOKEN": token,
            "RAY_USAGE_STATS_ENABLED": "0",
        }
        for key, value in env.items():
            self._saved_env[key] = os.environ.get(key)
            os.environ[key] = value
        _reload_auth()
        common = ["--node-ip-address", HOST, "--block", "--disable-usage-stats"]
        self._spawn(
            "head",
            [
                "--head",
                "--port",
                str(self.port),
                "--temp-dir",
                str(self.root / "ray"),
                "--include-dashboard=false",
                "--num-cpus",
                str(self.head_cpus),
                "--resources",
                '{"head": 1}',
                *common,
            ],
        )
        self._wait(lambda: "Ray runtime started" in self.log("head"), "the head node")
        # One node after the other: raylets starting together pick the same free ports.
        for name in self.nodes[1:]:
            self._spawn(
                name,
                [
                    "--address",
                    self.address,
                    "--num-cpus",
                    str(self.cpus),
                    "--resources",
                    f'{{"{name}": 1}}',
                    *common,
                ],
            )
            self._wait(lambda n=name: "Ray runtime started" in self.log(n), f"node {name}")

    def _spawn(self, name: str, args: list[str]) -> None:
        log = open(self.root / f"{name}.log", "wb")  # noqa: SIM115 - the node process holds it
        try:
            proc = subprocess.Popen(
                [_ray_cli(), "start", *args],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # the node's processes: this session, and only them
                env=dict(os.environ),
            )
        finally:
            log.close()
        self._procs.append(proc)

    def _wait(self, ready: Any, what: str) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while not ready():
            dead = [p for p in self._procs if p.poll() is not None]
            if dead or time.monotonic() > deadline:
                why = "exited" if dead else f"did not start within {START_TIMEOUT:g} s"
                tail = "\n".join(self.log(n)[-1500:] for n in self.nodes if self._has_log(n))
                raise RayCannotStart(f"Ray {what} {why}:\n{tail}")
            time.sleep(0.2)

    def _has_log(self, name: str) -> bool:
        return (self.root / f"{name}.log").exists()

    def log(self, name: str) -> str:
        path = self.root / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        """Stop every process of the nodes' sessions (this cluster's, no other), bounded."""
        sessions = {p.pid for p in self._procs}
        self._signal(sessions, signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE
        while self._members(sessions) and time.monotonic() < deadline:
            time.sleep(0.2)
        self._signal(sessions, signal.SIGKILL)
        for proc in self._procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=STOP_GRACE)
        self._procs.clear()
        for key, value in self._saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        if self._saved_env:
            _reload_auth()
        self._saved_env.clear()

    @staticmethod
    def _members(sessions: set[int]) -> list[int]:
        """Live processes (not zombies) whose session is one of ``sessions``."""
        members = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            # pid (comm) state ppid pgrp session ...; comm may hold spaces and parentheses
            fields = stat[stat.rindex(")") + 2 :].split()
            if fields[0] != "Z" and int(fields[3]) in sessions:
                members.append(int(entry.name))
        return members

    def _signal(self, sessions: set[int], sig: signal.Signals) -> None:
        for pid in self._members(sessions):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)

    # -- helpers for tests ---------------------------------------------------------------------

    def alive_nodes(self) -> int:
        import ray

        return sum(1 for node in ray.nodes() if node["Alive"])


def _reload_auth() -> None:
    """This process's Ray reads the auth mode and token once and caches them; after they
    change in the environment, Ray's own test helper makes it read them again."""
    from ray._private.authentication_test_utils import reset_auth_token_state

    reset_auth_token_state()


def ray_cluster_or_skip(root: Path, **kwargs: Any) -> LocalRayCluster:
    """A started cluster, or ``pytest.skip`` saying why Ray cannot start here."""
    try:
        import ray  # noqa: F401
    except ImportError:
        pytest.skip("Ray is not installed (pip install -e .[ray])")
    cluster = LocalRayCluster(root, **kwargs)
    try:
        cluster.start()
    except RayCannotStart as exc:
        cluster.stop()
        pytest.skip(f"Ray cannot start here: {exc}")
    return cluster
