"""Row files beside a dense index: a save appends only the new rows, and never changes bytes a
map may hold (a crash's partial append, another writer's rows)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sleuth.errors import CorruptIndex
from sleuth.indexes.vectorfile import FullVectors

DIM = 8


def rows(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, DIM)).astype(np.float32)


def saved(folder: Path, data: np.ndarray) -> tuple[Path, FullVectors]:
    index = folder / "dense.npz"
    full = FullVectors(DIM)
    full.extend(data)
    full.save(index)
    return index, full


def test_a_save_appends_the_new_rows_to_the_same_file(tmp_path: Path) -> None:
    a, b = rows(30, 0), rows(5, 1)
    index, full = saved(tmp_path, a)
    first = full.name
    opened = FullVectors.open(index, first, 30, DIM)  # another reader of the same file
    full.extend(b)
    assert full.save(index) == first and full.ram_bytes == 0
    assert (tmp_path / first).stat().st_size == 35 * DIM * 4
    np.testing.assert_array_equal(full.rows(np.arange(35)), np.concatenate([a, b]))
    np.testing.assert_array_equal(opened.rows(np.arange(30)), a)  # its rows did not move
    assert full.save(index) == first  # nothing new: nothing written


def test_bytes_past_the_counted_rows_are_ignored_and_never_appended_to(tmp_path: Path) -> None:
    a, b = rows(20, 2), rows(4, 3)
    index, full = saved(tmp_path, a)
    name = full.name
    with open(tmp_path / name, "ab") as fh:  # a crash in the middle of an append
        fh.write(b"\x01" * (DIM * 4 + 3))
    reopened = FullVectors.open(index, name, 20, DIM)
    np.testing.assert_array_equal(reopened.rows(np.arange(20)), a)
    reopened.extend(b)
    new = reopened.save(index)
    assert new != name  # a new file: the partial bytes are not taken for rows
    np.testing.assert_array_equal(reopened.rows(np.arange(24)), np.concatenate([a, b]))
    reopened.remove_stale(index, None)
    assert not (tmp_path / name).exists()


def test_a_writer_behind_another_writes_a_new_file(tmp_path: Path) -> None:
    a = rows(10, 4)
    index, first = saved(tmp_path, a)
    second = FullVectors.open(index, first.name, 10, DIM)
    first.extend(rows(3, 5))
    first.save(index)
    second.extend(rows(2, 6))
    assert second.save(index) != first.name  # the file is longer than its map: not appended
    np.testing.assert_array_equal(first.rows(np.arange(13))[10:], rows(3, 5))
    np.testing.assert_array_equal(second.rows(np.arange(12))[10:], rows(2, 6))


def test_a_short_file_is_corrupt(tmp_path: Path) -> None:
    index, full = saved(tmp_path, rows(10, 7))
    with pytest.raises(CorruptIndex, match="fewer than 11 rows"):
        FullVectors.open(index, full.name, 11, DIM)


def test_a_copy_of_the_index_to_another_folder_writes_its_own_file(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    _, full = saved(tmp_path / "a", rows(6, 8))
    full.save(tmp_path / "b" / "dense.npz")
    assert full.file is not None and full.file.parent == tmp_path / "b"
    np.testing.assert_array_equal(full.rows(np.arange(6)), rows(6, 8))
