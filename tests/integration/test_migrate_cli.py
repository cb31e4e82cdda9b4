"""``sleuth migrate`` on the command line: --to backfills and prints the evaluation, then
--cutover, --rollback, --drop-old and --status; a step its phase does not allow is one line
on stderr, exit code 1."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_cli import run

import sleuth
from support import CATALOG


@pytest.mark.slow  # nine processes, each importing sleuth
def test_a_migration_on_the_command_line(tmp_path: Path) -> None:
    path = tmp_path / "col"
    with sleuth.open(path, encoder="hashing:64") as col:
        col.add(CATALOG)
    assert run("migrate", str(path), "--status").stdout.strip() == "no migration"
    refused = run("migrate", str(path), "--cutover", ok=False)
    assert refused.returncode == 1 and refused.stderr.startswith("error: cannot cut over")
    both = run("migrate", str(path), "--cutover", "--rollback", ok=False)
    assert "give one of" in both.stderr
    started = run("migrate", str(path), "--to", "hashing:96").stdout
    assert "hashing:64 -> hashing:96: phase ready" in started and "overlap@10" in started
    assert "switched" in run("migrate", str(path), "--cutover").stdout
    assert "phase ready" in run("migrate", str(path), "--rollback").stdout
    run("migrate", str(path), "--cutover")
    dropped = json.loads(run("migrate", str(path), "--drop-old", "--json").stdout)
    assert dropped["phase"] == "finished" and dropped["dropped_vectors"] == len(CATALOG)
    status = json.loads(run("migrate", str(path), "--status", "--json").stdout)
    assert status["new"]["id"] == "hashing:96" and status["evaluation"]["queries"] > 0
    with sleuth.open(path) as col:
        assert col.info()["encoder"] == "hashing:96"
