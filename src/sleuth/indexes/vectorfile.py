"""Full-precision vectors beside a compressed dense index, on disk: a read-only memory map of the
file they were last saved to, plus the rows added since (in RAM), in the index's row order.

The file (``<index>.full.<token>.f32``: raw float32 rows, nothing else) is derived like the index
that names it: written whole under a temporary name, flushed to disk and renamed before the
index file is replaced, so a crash leaves the old pair or the new one. A named file never
changes, so another process may go on reading the map it opened; a save removes the files older
than the one it replaces. Compaction keeps a map of surviving rows instead of copying them, so
neither a save nor a rebuild of the search structure holds every vector in RAM at once.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sleuth.errors import CorruptIndex
from sleuth.indexes.base import Growable

__all__ = ["FullVectors"]

BLOCK_ROWS = 1 << 15  # rows per block when a save or a rebuild streams every vector
_NAME = re.compile(r"[A-Za-z0-9_-]+\.full\.[0-9a-f]{12}\.f32")


@dataclass(frozen=True)
class _State:
    """Replaced whole by a save, so a search running meanwhile sees the old state or the new."""

    file: np.ndarray  # float32[m, dim], memory-mapped (or empty)
    tail: Growable  # float32 rows m.. (physical), added since the file was written
    order: np.ndarray | None  # logical row -> physical row, after a compaction


class FullVectors:
    """``float32[n, dim]`` rows, mostly on disk; row ``i`` is the index's row ``i``."""

    def __init__(self, dim: int) -> None:
        self.dim = dim
        self.name: str | None = None  # the file mapped, once saved or opened
        self._state = _State(np.zeros((0, dim), np.float32), Growable(np.float32, dim), None)

    def __len__(self) -> int:
        s = self._state
        return s.order.size if s.order is not None else s.file.shape[0] + s.tail.size

    @property
    def ram_bytes(self) -> int:
        """What the rows not yet saved hold in RAM (the mapped file is the page cache's)."""
        return int(self._state.tail.view.nbytes)

    def extend(self, vectors: np.ndarray) -> None:
        s = self._state
        start = s.file.shape[0] + s.tail.size
        s.tail.extend(vectors)
        if s.order is not None:
            order = np.concatenate([s.order, np.arange(start, start + vectors.shape[0])])
            self._state = _State(s.file, s.tail, order)

    def keep(self, live: np.ndarray) -> None:
        """Keep rows ``live`` (ascending), numbered 0.. again."""
        s = self._state
        self._state = _State(s.file, s.tail, live if s.order is None else s.order[live])

    def rows(self, rows: np.ndarray) -> np.ndarray:
        """``float32[len(rows), dim]``, a copy (pages of the file are read as needed)."""
        s = self._state
        phys = rows if s.order is None else s.order[rows]
        m = s.file.shape[0]
        if phys.size == 0 or phys.max() < m:
            return np.asarray(s.file[phys], np.float32)
        out = np.empty((phys.size, self.dim), np.float32)
        inside = phys < m
        out[inside] = s.file[phys[inside]]
        out[~inside] = s.tail.view[phys[~inside] - m]
        return out

    def blocks(self, size: int = BLOCK_ROWS) -> Iterator[np.ndarray]:
        """Every row in order, ``size`` at a time."""
        n = len(self)
        for start in range(0, n, size):
            yield self.rows(np.arange(start, min(n, start + size)))

    def sample(self, limit: int) -> np.ndarray:
        """At most ``limit`` rows spread evenly over all of them (what a quantizer learns from)."""
        n = len(self)
        return self.rows(np.unique(np.linspace(0, n - 1, min(n, limit)).astype(np.int64)))

    # -- files -------------------------------------------------------------------------------

    def save(self, index_path: Path) -> str:
        """Write the rows beside ``index_path`` (unless the mapped file holds them already) and
        map that file; returns its name, for the index's manifest."""
        s = self._state
        if self.name is not None and s.tail.size == 0 and s.order is None:
            return self.name
        name = f"{index_path.stem}.full.{secrets.token_hex(6)}.f32"
        path = index_path.with_name(name)
        tmp = index_path.with_name(f".{name}.{os.getpid()}.tmp")
        with open(tmp, "wb") as fh:
            for block in self.blocks():
                fh.write(block.data)  # rows() returns contiguous copies
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        _fsync_dir(path.parent)  # named on disk before the index file that names it
        self.name = name
        self._state = _State(_map(path, len(self), self.dim), Growable(np.float32, self.dim), None)
        return name

    def remove_stale(self, index_path: Path, replaced: str | None) -> None:
        """Delete this index's vector files but the mapped one and ``replaced`` (named by the
        index file just replaced: a reader that loaded it may still be opening it), and temps
        left by a writer that died."""
        keep = {self.name, replaced}
        folder, stem = index_path.parent, index_path.stem
        for path in [*folder.glob(f"{stem}.full.*.f32"), *folder.glob(f".{stem}.full.*.tmp")]:
            if path.name not in keep and (path.suffix == ".f32" or _dead_writer(path)):
                path.unlink(missing_ok=True)

    @classmethod
    def open(cls, index_path: Path, name: object, n: int, dim: int) -> FullVectors:
        """The ``n`` rows saved as ``name`` beside ``index_path``; CorruptIndex if absent or of
        another size."""
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise CorruptIndex(f"{index_path}: names no valid vector file ({name!r:.60})")
        path = index_path.with_name(name)
        try:
            size = path.stat().st_size
        except OSError as exc:
            raise CorruptIndex(f"{index_path}: vector file {name} is unreadable: {exc}") from None
        if size != n * dim * 4:
            raise CorruptIndex(
                f"{index_path}: its vector file {name} holds {size} bytes, not {n} x {dim} float32"
            )
        out = cls(dim)
        out.name = name
        out._state = _State(_map(path, n, dim), Growable(np.float32, dim), None)
        return out


def _map(path: Path, n: int, dim: int) -> np.ndarray:
    if n == 0:  # numpy cannot map an empty file
        return np.zeros((0, dim), np.float32)
    return np.memmap(path, np.float32, "r", shape=(n, dim))


def _dead_writer(tmp: Path) -> bool:
    """A temp file whose writing process is gone (``.<name>.<pid>.tmp``)."""
    pid = tmp.name.rsplit(".", 2)[-2]
    if not pid.isdigit():
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return int(pid) == os.getpid()


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
