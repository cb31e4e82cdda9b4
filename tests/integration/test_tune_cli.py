"""``sleuth tune`` refuses what it cannot tune with one line on stderr and writes nothing
(the training itself is tested through the Python API in ``test_tune.py``)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

import sleuth
from sleuth.cli import app


@pytest.fixture
def hashed(tmp_path: Path) -> Path:
    path = tmp_path / "c"
    with sleuth.open(path, encoder="hashing") as col:
        col.add(
            [{"id": f"d{i}", "title": f"title {i}", "text": "some words " * 20} for i in range(60)]
        )
    return path


@pytest.mark.parametrize(
    ("args", "says"),
    [
        ([], "sentence-transformers"),
        (["--sources", "titles,guesses"], "unknown pair source 'guesses'"),
        (["--minutes", "0"], "minutes"),
        (["--epochs", "0"], "epochs"),
    ],
)
def test_tune_refuses_with_one_line(hashed: Path, args: list[str], says: str) -> None:
    result = CliRunner().invoke(app, ["tune", str(hashed), *args])
    assert result.exit_code == 1
    assert says in result.stderr and result.stderr.count("\n") == 1
    assert not (hashed / "models").exists() or not any((hashed / "models").iterdir())
