"""``sleuth add COLLECTION PATH --ray``: with no address the job starts a local Ray cluster
and stops it (nothing of it is left running), says what it did, and the collection holds
every item; a rerun finds everything cached and starts no cluster."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

import sleuth
from sleuth.cli import app

pytestmark = pytest.mark.slow


def _ray_processes() -> list[str]:
    """The command lines of this process's descendants that belong to a Ray cluster (GCS,
    raylet, workers), read from /proc."""
    parents: dict[int, int] = {}
    lines: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            raw = (entry / "cmdline").read_bytes()
        except OSError:  # gone meanwhile
            continue
        parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
        lines[int(entry.name)] = raw.replace(b"\0", b" ").decode(errors="replace")
    mine, grew = {os.getpid()}, True
    while grew:
        more = {pid for pid, parent in parents.items() if parent in mine} - mine
        mine |= more
        grew = bool(more)
    return [
        lines[pid]
        for pid in sorted(mine - {os.getpid()})
        if any(name in lines[pid] for name in ("raylet", "gcs_server", "ray::"))
    ]


def test_a_local_cluster_is_started_and_stopped_by_the_job(tmp_path: Path) -> None:
    if not Path("/proc/self/stat").exists():
        pytest.skip("needs /proc to list the processes a job leaves behind")
    ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'sleuth[ray]')")
    if ray.is_initialized():
        pytest.skip("this process already joined a Ray cluster; the job would use it")
    items = [{"id": f"d{i}", "text": f"note {i} about topic {i % 7}"} for i in range(80)]
    source = tmp_path / "items.jsonl"
    source.write_text("".join(json.dumps(item) + "\n" for item in items))
    col = tmp_path / "col"
    args = ["add", str(col), str(source), "--encoder", "hashing", "--ray", "--workers", "1"]
    result = CliRunner().invoke(app, args)
    if result.exit_code and "cannot start or join a local Ray cluster" in result.output:
        pytest.skip(f"a local Ray cluster cannot start here: {result.output.strip()}")
    assert result.exit_code == 0, result.output
    assert "added 80" in result.output and "encoded 80 texts on 1 workers" in result.output
    assert not ray.is_initialized()
    deadline = time.monotonic() + 20
    while _ray_processes() and time.monotonic() < deadline:
        time.sleep(0.5)
    assert _ray_processes() == []
    with sleuth.open(col) as opened:
        assert opened.count() == 80
    again = CliRunner().invoke(app, args)
    assert again.exit_code == 0, again.output
    assert "unchanged 80" in again.output and "nothing to encode" in again.output
