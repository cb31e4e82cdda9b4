"""The vectors items bring, in one append-only file beside the database (``sleuth.sqlite-vectors``).

A given vector is a float32 row of this file; the item's row in the database keeps its row
number (``items.vrow``). SQLite holding them as blobs cost ~3× their size on disk and a B-tree
insert per vector; here a batch is one write at the end of the file.

Durability, with the database as the judge of what exists: the meta key ``vector_rows`` is the
number of rows that committed transactions refer to. A write, inside the database's write
transaction (so one writer at a time, across processes), cuts the file back to that length
(the tail a killed writer left, which no committed row names), appends its rows, fsyncs the
file, and only then lets the transaction that names them and raises ``vector_rows`` commit. A
kill before that commit leaves rows no one refers to (cut by the next write); after it, rows
that are on disk. Rows below ``vector_rows`` never change, so readers map the file without a
lock: they only read rows their database snapshot names.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from sleuth.errors import CorruptIndex

__all__ = ["ROWS_KEY", "SUFFIX", "VectorLog", "committed_rows"]

SUFFIX = "-vectors"  # beside sleuth.sqlite, as SQLite's own -wal and -shm
ROWS_KEY = "vector_rows"


def committed_rows(con: sqlite3.Connection) -> int:
    """Rows of the file that committed writes refer to (read inside ``con``'s snapshot)."""
    row = con.execute("SELECT value FROM meta WHERE key = ?", (ROWS_KEY,)).fetchone()
    return 0 if row is None else int(row[0])


class VectorLog:
    """``float32[rows, dim]`` rows in one file: appended inside a write transaction, read by
    row number through a memory map (remapped when asked for a row past its end)."""

    def __init__(self, path: Path, dim: int) -> None:
        self.path = path
        self.dim = dim
        self.row_bytes = 4 * dim
        self._map: np.ndarray = np.zeros((0, dim), np.float32)
        self._lock = threading.Lock()

    def append(self, con: sqlite3.Connection, matrix: np.ndarray) -> int:
        """Write ``float32[m, dim]`` rows at the end of what committed writes refer to and
        fsync them; returns the first one's row number. ``con`` is in a write transaction
        that must raise ``vector_rows`` by ``m`` (``set_rows``) before it commits."""
        start = committed_rows(con)
        data = np.ascontiguousarray(matrix, np.float32)
        if data.ndim != 2 or data.shape[1] != self.dim:
            raise ValueError(f"vector rows of shape {data.shape}, not [m, {self.dim}]")
        new = not self.path.exists()
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            end = start * self.row_bytes
            if os.fstat(fd).st_size != end:
                # the tail of a writer killed before its commit (no committed row names it),
                # or a file cut short: the database says what must be there
                if os.fstat(fd).st_size < end:
                    raise CorruptIndex(
                        f"{self.path.name} holds {os.fstat(fd).st_size // self.row_bytes} "
                        f"vectors but the database refers to {start}; restore the folder "
                        "from a backup",
                        path=str(self.path),
                    )
                os.ftruncate(fd, end)
            raw = data.tobytes()
            written = 0
            while written < len(raw):
                written += os.pwrite(fd, raw[written:], end + written)
            os.fsync(fd)
        finally:
            os.close(fd)
        if new:  # the file's name must survive a crash too
            dir_fd = os.open(self.path.parent, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        return start

    def place(
        self, con: sqlite3.Connection, keys: Sequence[str], matrix: np.ndarray, need: list[str]
    ) -> dict[str, int]:
        """Append the rows of ``matrix`` (``keys``: each row's key) whose keys are in ``need``
        and raise ``vector_rows`` in ``con``'s transaction; their row numbers by key."""
        if not need:
            return {}
        index = {key: i for i, key in enumerate(keys)}
        picked = [index[key] for key in need]
        whole = picked == list(range(len(keys)))
        start = self.append(con, matrix if whole else matrix[picked])
        self.set_rows(con, start + len(need))
        return {key: start + i for i, key in enumerate(need)}

    @staticmethod
    def set_rows(con: sqlite3.Connection, rows: int) -> None:
        con.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (ROWS_KEY, str(rows)))

    def read(self, rows: Sequence[int] | np.ndarray) -> np.ndarray:
        """``float32[len(rows), dim]``, a copy; ``CorruptIndex`` if a row is past the file's
        end (the file was cut or replaced)."""
        want = np.asarray(rows, np.int64)
        if not len(want):
            return np.zeros((0, self.dim), np.float32)
        mapped = self._map
        top = int(want.max())
        if top >= len(mapped):
            mapped = self._remap(top)
        return np.asarray(mapped[want], np.float32)

    def _remap(self, top: int) -> np.ndarray:
        with self._lock:
            size = self.path.stat().st_size if self.path.exists() else 0
            rows = size // self.row_bytes
            if top >= rows:
                raise CorruptIndex(
                    f"{self.path.name} holds {rows} vectors but the database refers to row "
                    f"{top}; restore the folder from a backup, or upsert the items with their "
                    "vectors again",
                    path=str(self.path),
                )
            self._map = np.memmap(self.path, np.float32, "r", shape=(rows, self.dim))
            return self._map
