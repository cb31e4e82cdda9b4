"""``sleuth calibrate --fusion``: the hybrid's trust is learned and saved before the calibration,
which then fits the hybrid that searches will serve."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_cli import run

import sleuth
from support import CATALOG


@pytest.fixture(scope="module")
def collection(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cli-fusion") / "col"
    with sleuth.open(path, encoder="hashing") as col:
        col.add(CATALOG)
    return path


def test_calibrate_fusion_saves_the_trust_it_reports(collection: Path) -> None:
    done = run("calibrate", str(collection), "--fusion", "--json")
    reported = json.loads(done.stdout)["fusion"]
    saved = json.loads((collection / "models" / "fusion.json").read_text())
    assert saved["alpha"] == reported["alpha"]
    assert saved["stats"]["pseudo_queries"] == reported["stats"]["pseudo_queries"] > 0
    plain = run("calibrate", str(collection), "--fusion")
    assert f"dense weight {reported['alpha']}" in plain.stdout


def test_calibrate_without_fusion_learns_no_trust(tmp_path: Path) -> None:
    with sleuth.open(tmp_path / "col", encoder="hashing") as col:
        col.add(CATALOG)
    run("calibrate", str(tmp_path / "col"))
    assert not (tmp_path / "col" / "models" / "fusion.json").exists()
