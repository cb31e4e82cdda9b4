"""Rows of fixed width beside a dense index, on disk: a read-only memory map of the file they were
last saved to, plus the rows added since (in RAM), in the index's row order. ``FullVectors``
are the full-precision vectors (float32); the IVF keeps its codes in one too.

The file (``<index>.<tag>.<token>.<ext>``: raw rows, nothing else) is derived like the index
that names it, and grows by appending: a save writes only the rows added since the last one,
flushed to disk before the index file that counts them is replaced, so a crash leaves the old
count (and maybe some bytes past it, which nothing reads) or the new one. Bytes a map may hold
never change: a save appends only while the file is exactly as long as the rows this process
mapped (under an exclusive lock), and writes a new file otherwise (another process appended,
a crash left a partial row, or a compaction renumbered the rows); a save removes the files
older than the one it replaces. Compaction keeps a map of surviving rows instead of copying
them, so neither a save nor a rebuild of the search structure holds every row in RAM at once.
"""

from __future__ import annotations

import fcntl
import mmap
import os
import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Self

import numpy as np

from sleuth.errors import CorruptIndex
from sleuth.indexes.base import Growable
from sleuth.indexes.segments import dead_writer, fsync_dir

__all__ = ["FullVectors", "RowFile"]

BLOCK_ROWS = 1 << 15  # rows per block when a save or a rebuild streams every row


@dataclass(frozen=True)
class _State:
    """Replaced whole by a save, so a search running meanwhile sees the old state or the new."""

    file: np.ndarray  # dtype[m, width], memory-mapped (or empty)
    tail: Growable  # rows m.. (physical), added since the file was written
    order: np.ndarray | None  # logical row -> physical row, after a compaction
    path: Path | None = None  # the file mapped


class RowFile:
    """``dtype[n, width]`` rows, mostly on disk; row ``i`` is the index's row ``i``. ``tag`` and
    ``ext`` name its files (``<index stem>.<tag>.<token>.<ext>``)."""

    tag: ClassVar[str]
    ext: ClassVar[str]
    dtype: ClassVar[type[np.generic]]

    def __init__(self, width: int) -> None:
        self.dim = width
        self.file: Path | None = None  # the file mapped, once saved or opened
        self._state = _State(self._empty(), Growable(self.dtype, width), None)

    @property
    def name(self) -> str:
        """The mapped file's name ("" before the first save)."""
        return "" if self.file is None else self.file.name

    def _empty(self) -> np.ndarray:
        return np.zeros((0, self.dim), self.dtype)

    @property
    def _row_bytes(self) -> int:
        return self.dim * np.dtype(self.dtype).itemsize

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
            self._state = _State(s.file, s.tail, order, s.path)

    def keep(self, live: np.ndarray) -> None:
        """Keep rows ``live`` (ascending), numbered 0.. again."""
        s = self._state
        self._state = _State(s.file, s.tail, live if s.order is None else s.order[live], s.path)

    def rows(self, rows: np.ndarray) -> np.ndarray:
        """``dtype[len(rows), width]``, a copy (pages of the file are read as needed)."""
        s = self._state
        phys = rows if s.order is None else s.order[rows]
        m = s.file.shape[0]
        if phys.size == 0 or phys.max() < m:
            return np.asarray(s.file[phys], self.dtype)
        out = np.empty((phys.size, self.dim), self.dtype)
        inside = phys < m
        out[inside] = s.file[phys[inside]]
        out[~inside] = s.tail.view[phys[~inside] - m]
        return out

    def blocks(self, size: int = BLOCK_ROWS) -> Iterator[np.ndarray]:
        """Every row in order, ``size`` at a time."""
        n, s = len(self), self._state
        for start in range(0, n, size):
            stop = min(n, start + size)
            file = s.path
            if s.order is None and stop <= s.file.shape[0] and file is not None:
                # read, not mapped: streaming every row does not leave them all resident
                flat = np.fromfile(
                    file,
                    self.dtype,
                    (stop - start) * self.dim,
                    offset=start * self._row_bytes,
                )
                yield flat.reshape(-1, self.dim)
            else:
                yield self.rows(np.arange(start, stop))

    def sample(self, limit: int) -> np.ndarray:
        """At most ``limit`` rows spread evenly over all of them (what a quantizer learns from)."""
        n = len(self)
        return self.rows(np.unique(np.linspace(0, n - 1, min(n, limit)).astype(np.int64)))

    # -- files -------------------------------------------------------------------------------

    def save(self, index_path: Path) -> str:
        """Write the rows beside ``index_path``: append those added since the mapped file was
        written, or (see the module's docstring) write a new file; map it and return its name,
        for the index's manifest."""
        s = self._state
        here = self.file is not None and self.file.parent == index_path.parent
        kept = here and s.order is None and self.name.startswith(f"{index_path.stem}.{self.tag}.")
        if kept and (s.tail.size == 0 or self._append(index_path.with_name(self.name), s)):
            return self.name
        name = f"{index_path.stem}.{self.tag}.{secrets.token_hex(6)}.{self.ext}"
        path = index_path.with_name(name)
        tmp = index_path.with_name(f".{name}.{os.getpid()}.tmp")
        with open(tmp, "wb") as fh:
            for block in self.blocks():
                fh.write(block.data)  # rows() returns contiguous copies
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        fsync_dir(path.parent)  # named on disk before the index file that names it
        self.file = path
        self._state = self._mapped(path, len(self))
        return name

    def _append(self, path: Path, s: _State) -> bool:
        """Append the tail to the mapped file if it is exactly the mapped rows long (else
        False: nothing written)."""
        try:
            fh = open(path, "r+b")  # noqa: SIM115 (closed below, after the lock)
        except OSError:
            return False
        with fh:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)  # released when the file is closed
            m = s.file.shape[0]
            if os.fstat(fh.fileno()).st_size != m * self._row_bytes:
                return False
            fh.seek(0, os.SEEK_END)
            fh.write(np.ascontiguousarray(s.tail.view).data)
            fh.flush()
            os.fsync(fh.fileno())
        self._state = self._mapped(path, len(self))
        return True

    def remove_stale(self, index_path: Path, replaced: str | None) -> None:
        """Delete this index's vector files but the mapped one and ``replaced`` (named by the
        index file just replaced: a reader that loaded it may still be opening it), and temps
        left by a writer that died."""
        keep = {self.name, replaced}
        folder, stem, tag = index_path.parent, index_path.stem, self.tag
        files = [*folder.glob(f"{stem}.{tag}.*.{self.ext}"), *folder.glob(f".{stem}.{tag}.*.tmp")]
        for path in files:
            if path.name not in keep and (path.suffix != ".tmp" or dead_writer(path)):
                path.unlink(missing_ok=True)

    @classmethod
    def open(cls, index_path: Path, name: object, n: int, width: int) -> Self:
        """The first ``n`` rows of the file ``name`` beside ``index_path`` (bytes past them are
        an append that was not counted); CorruptIndex if absent or shorter."""
        pattern = rf"[A-Za-z0-9_-]+\.{cls.tag}\.[0-9a-f]{{12}}\.{cls.ext}"
        if not isinstance(name, str) or not re.fullmatch(pattern, name):
            raise CorruptIndex(f"{index_path}: names no valid {cls.tag} file ({name!r:.60})")
        out = cls(width)
        path = index_path.with_name(name)
        try:
            size = path.stat().st_size
        except OSError as exc:
            raise CorruptIndex(f"{index_path}: its file {name} is unreadable: {exc}") from None
        if size < n * out._row_bytes:
            raise CorruptIndex(
                f"{index_path}: its file {name} holds {size} bytes, fewer than {n} rows of "
                f"{width} {np.dtype(cls.dtype).name}"
            )
        out.file = path
        out._state = out._mapped(path, n)
        return out

    def _mapped(self, path: Path, n: int) -> _State:
        """The first ``n`` rows of ``path``, mapped read-only, and an empty tail."""
        if n == 0:  # an empty file cannot be mapped
            return _State(self._empty(), Growable(self.dtype, self.dim), None, path)
        with open(path, "rb") as fh:
            mapped = mmap.mmap(fh.fileno(), n * self._row_bytes, access=mmap.ACCESS_READ)
        # Rows are read a few at a time (rescoring, filters): without this, each page fault
        # reads ahead ~128 KB, and the process soon holds much of the file it never asked for.
        mapped.madvise(mmap.MADV_RANDOM)
        rows = np.frombuffer(mapped, self.dtype).reshape(n, self.dim)
        return _State(rows, Growable(self.dtype, self.dim), None, path)


class FullVectors(RowFile):
    """``float32[n, dim]``: the full-precision vectors (``<index>.full.<token>.f32``)."""

    tag, ext, dtype = "full", "f32", np.float32
