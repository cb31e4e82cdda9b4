"""A collection written by older code (format 1, ``tests/fixtures/v1-collection``) opens as it
is and serves what that code served (``v1-expected.json``): no index is rebuilt, no text is
encoded again, and every search, similar and recommend list matches up to float noise."""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parents[1] / "fixtures"
sys.path.insert(0, str(FIXTURES))

from build_v1 import served  # noqa: E402

from support import assert_same_hits  # noqa: E402


@dataclass(frozen=True)
class _Scored:
    id: str
    score: float


def _digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def served_now() -> dict[str, list[list[object]]]:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a rebuild of any index warns: it must not happen
        return served(FIXTURES / "v1-collection")


def test_opening_does_not_touch_the_fixture(tmp_path: Path) -> None:
    before = _digest(FIXTURES / "v1-collection")
    served(FIXTURES / "v1-collection")  # works on a copy
    assert _digest(FIXTURES / "v1-collection") == before


def test_same_requests_as_when_written(served_now: dict[str, list[list[object]]]) -> None:
    expected = json.loads((FIXTURES / "v1-expected.json").read_text())
    assert sorted(served_now) == sorted(expected)
    assert served_now["count"] == expected["count"] == [[58, 0]]  # nothing re-encoded
    for name, want in expected.items():
        got = served_now[name]
        assert got, name
        assert_same_hits(
            [_Scored(str(i), float(s)) for i, s in want],  # type: ignore[arg-type]
            [_Scored(str(i), float(s)) for i, s in got],  # type: ignore[arg-type]
        )


def test_folder_copy_is_a_complete_collection(tmp_path: Path) -> None:
    import sleuth

    shutil.copytree(FIXTURES / "v1-collection", tmp_path / "col")
    with sleuth.open(tmp_path / "col") as col:
        info = col.info()
        assert info["items"] == 58 and info["encoder"] == "hashing:64"
        assert set(info["indexes"]) == {"bm25", "dense", "tokens", "muvera"}
        assert col.get("item-003").fields["text"].endswith("revised")
