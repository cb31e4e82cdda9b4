"""Folders of arrays: a save appends, skips or rewrites by token, a load memory-maps and checks."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sleuth.errors import CorruptIndex
from sleuth.indexes.base import write_npz
from sleuth.indexes.segments import load_folder, save_folder

MANIFEST = {"kind": "test", "seq": 3}


def files(folder: Path) -> dict[str, int]:
    return {p.name: p.stat().st_size for p in folder.glob("*.bin")}


def test_appends_skips_and_rewrites_by_token(tmp_path: Path) -> None:
    rows, small = np.arange(10, dtype=np.int64), np.ones(3, np.float32)
    save_folder(tmp_path, MANIFEST, {"rows": (rows, "r1"), "small": (small, None)})
    first = files(tmp_path)
    grown = np.arange(15, dtype=np.int64)
    save_folder(tmp_path, MANIFEST, {"rows": (grown, "r1"), "small": (small * 2, None)})
    second = files(tmp_path)
    rows_file = next(name for name in first if name.startswith("rows."))
    assert second[rows_file] == 15 * 8  # the same file, appended to
    assert not any(name in second for name in first if name.startswith("small."))  # replaced
    _, arrays = load_folder(tmp_path, "test")
    assert arrays["rows"].tolist() == list(range(15)) and arrays["small"].tolist() == [2.0] * 3
    # another token: the array was rebuilt, so it goes to a new file and the old one goes
    save_folder(tmp_path, MANIFEST, {"rows": (grown[::-1].copy(), "r2"), "small": (small, None)})
    assert rows_file not in files(tmp_path)
    assert load_folder(tmp_path, "test")[1]["rows"].tolist() == list(range(14, -1, -1))


def test_an_append_a_killed_save_left_is_ignored_then_overwritten(tmp_path: Path) -> None:
    save_folder(tmp_path, MANIFEST, {"rows": (np.arange(4, dtype=np.int64), "t")})
    path = next(tmp_path.glob("rows.*.bin"))
    with open(path, "ab") as fh:  # what a save killed before its manifest was renamed leaves
        fh.write(b"\xff" * 24)
    assert load_folder(tmp_path, "test")[1]["rows"].tolist() == [0, 1, 2, 3]
    save_folder(tmp_path, MANIFEST, {"rows": (np.arange(6, dtype=np.int64), "t")})
    assert load_folder(tmp_path, "test", verify=True)[1]["rows"].tolist() == list(range(6))


def test_damage_is_caught(tmp_path: Path) -> None:
    big = np.arange(5 << 20, dtype=np.int64)  # 40 MB: ten pieces
    save_folder(tmp_path, MANIFEST, {"big": (big, "t")})
    path = next(tmp_path.glob("big.*.bin"))
    data = bytearray(path.read_bytes())
    data[100] ^= 0xFF  # in the first piece: only a full check reads it
    path.write_bytes(bytes(data))
    assert load_folder(tmp_path, "test")[1]["big"].shape == big.shape
    with pytest.raises(CorruptIndex, match="checksum"):
        load_folder(tmp_path, "test", verify=True)
    data[-1] ^= 0xFF  # in the last piece: every load checks it
    path.write_bytes(bytes(data))
    with pytest.raises(CorruptIndex, match="checksum"):
        load_folder(tmp_path, "test")
    path.write_bytes(bytes(data[:1000]))
    with pytest.raises(CorruptIndex, match="shorter"):
        load_folder(tmp_path, "test")
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    manifest["kind"] = "other"
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(CorruptIndex):
        load_folder(tmp_path, "test")


def _gone_pid() -> int:
    """The pid of a process that has exited (so no live writer owns a temp named after it)."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_a_save_removes_the_temps_of_writers_killed_before_their_rename(tmp_path: Path) -> None:
    npz = tmp_path / "dense.npz"
    dead, alive = tmp_path / f".dense.npz.{_gone_pid()}.tmp", tmp_path / f".dense.npz.{1}.tmp"
    folder = tmp_path / "bm25"
    save_folder(folder, {"kind": "t", "seq": 1}, {"a": (np.arange(3), None)})
    stale = folder / f".manifest.json.{_gone_pid()}.tmp"
    for path in (dead, alive, stale):
        path.write_bytes(b"half a file")
    write_npz(npz, {"kind": "t", "format": 1, "seq": 1}, {"a": np.arange(3)})
    save_folder(folder, {"kind": "t", "seq": 2}, {"a": (np.arange(4), None)})
    assert not dead.exists() and not stale.exists()
    assert alive.exists()  # pid 1 is alive: a writer may still be writing it
    assert npz.exists() and load_folder(folder, "t")[0]["seq"] == 2
