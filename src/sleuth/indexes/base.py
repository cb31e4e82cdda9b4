"""What every derived index shares: rows mapped to docnos, tombstones, and an atomic file.

An index numbers its rows privately (0, 1, 2, … in insertion order); ``row_docno`` maps them to
the store's docnos. Deleting marks a row dead (a tombstone); ``compact`` renumbers when the dead
share grows. ``save`` writes one ``.npz`` (arrays + a JSON manifest) to a temporary name and
renames it into place, so a crash leaves the old file or the new one, never half of one.
"""

from __future__ import annotations

import json
import os
from abc import ABC, abstractmethod
from collections.abc import Sequence
from itertools import pairwise
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from sleuth.errors import CorruptIndex, InvalidInput

__all__ = [
    "Growable",
    "RowIndex",
    "check_offsets",
    "pack_strings",
    "read_npz",
    "unpack_strings",
    "write_npz",
]

INDEX_FORMAT = 1


def check_offsets(offsets: np.ndarray, n_rows: int, what: str = "offsets") -> np.ndarray:
    """``int64[n + 1]`` run boundaries over ``n_rows`` rows (item ``i`` owns rows
    ``offsets[i]:offsets[i + 1]``), or InvalidInput saying what is wrong with them."""
    offsets = np.asarray(offsets)
    if (
        offsets.ndim != 1
        or offsets.size == 0
        or offsets.dtype.kind not in "iu"
        or offsets[0] != 0
        or offsets[-1] != n_rows
        or (np.diff(offsets) < 0).any()
    ):
        raise InvalidInput(f"{what} must be non-decreasing integers from 0 to {n_rows}")
    return offsets.astype(np.int64, copy=False)


class Growable:
    """An append-only numpy array with amortized O(1) appends."""

    def __init__(self, dtype: Any, width: int = 0, data: np.ndarray | None = None) -> None:
        shape = (0, width) if width else (0,)
        self._buf = np.empty(shape, dtype) if data is None else np.asarray(data, dtype)
        self.size = self._buf.shape[0]

    def extend(self, values: np.ndarray) -> None:
        need = self.size + values.shape[0]
        if need > self._buf.shape[0]:
            grown = np.empty(
                (max(need, 2 * self._buf.shape[0], 64), *self._buf.shape[1:]), self._buf.dtype
            )
            grown[: self.size] = self._buf[: self.size]
            self._buf = grown
        self._buf[self.size : need] = values
        self.size = need

    @property
    def view(self) -> np.ndarray:
        return self._buf[: self.size]


class RowIndex(ABC):
    kind: ClassVar[str]

    def __init__(self) -> None:
        self.row_docno = Growable(np.int64)
        self.row_live = Growable(np.bool_)
        self.docno_row: dict[int, int] = {}
        self.seq = 0  # the change-log sequence number this index reflects

    def __len__(self) -> int:
        return len(self.docno_row)

    @property
    def n_rows(self) -> int:
        return self.row_docno.size

    def _add_rows(self, docnos: np.ndarray) -> np.ndarray:
        start = self.row_docno.size
        rows = np.arange(start, start + docnos.shape[0])
        self.row_docno.extend(docnos.astype(np.int64))
        self.row_live.extend(np.ones(docnos.shape[0], bool))
        self.docno_row.update(zip(docnos.tolist(), rows.tolist()))
        return rows

    def remove(self, docnos: np.ndarray | list[int]) -> np.ndarray:
        """Tombstone these docnos; returns the rows that were live."""
        rows = [self.docno_row.pop(int(d)) for d in docnos if int(d) in self.docno_row]
        out = np.asarray(rows, np.int64)
        self.row_live.view[out] = False
        return out

    def allowed_rows(self, docno_mask: np.ndarray | None) -> np.ndarray:
        """bool[n_rows]: live rows whose docno passes the filter mask (bool over docnos)."""
        live = self.row_live.view
        if docno_mask is None:
            return live
        docnos = self.row_docno.view
        inside = docnos < docno_mask.shape[0]
        ok = np.zeros_like(live)
        ok[inside] = docno_mask[docnos[inside]]
        return ok & live

    def _renumber(self, live: np.ndarray) -> None:
        """Keep only rows ``live`` (in order), numbered 0.. again: the row part of compacting."""
        docnos = self.row_docno.view[live]
        self.row_docno = Growable(np.int64, data=docnos)
        self.row_live = Growable(np.bool_, data=np.ones(live.size, bool))
        self.docno_row = dict(zip(docnos.tolist(), range(live.size)))

    def dead_fraction(self) -> float:
        return 1.0 - len(self) / max(self.n_rows, 1)

    def manifest(self) -> dict[str, Any]:
        from sleuth._version import __version__

        return {"format": INDEX_FORMAT, "kind": self.kind, "sleuth": __version__, "seq": self.seq}

    @abstractmethod
    def save(self, path: Path) -> None: ...


def write_npz(path: Path, manifest: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    meta = np.frombuffer(json.dumps(manifest).encode(), np.uint8)
    with open(tmp, "wb") as fh:
        savez: Any = np.savez  # numpy's stub types **kwds as the allow_pickle flag
        savez(fh, __manifest__=meta, **arrays)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def read_npz(
    path: Path, kind: str, required: tuple[str, ...] = ()
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Manifest and arrays of an index file; CorruptIndex if unreadable, of another kind, or
    lacking one of the ``required`` arrays."""
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {name: data[name] for name in data.files}
        manifest = json.loads(arrays.pop("__manifest__").tobytes())
    except Exception as exc:  # a damaged zip raises many types (NotImplementedError, ...)
        raise CorruptIndex(f"index file {path} is unreadable: {exc}", path=str(path)) from None
    if (
        not isinstance(manifest, dict)
        or manifest.get("kind") != kind
        or manifest.get("format") != INDEX_FORMAT
    ):
        raise CorruptIndex(f"index file {path} is not a {kind} index of format {INDEX_FORMAT}")
    missing = [name for name in required if name not in arrays]
    if not isinstance(manifest.get("seq"), int):
        missing.append("seq (manifest)")
    if missing:
        raise CorruptIndex(f"index file {path} lacks {', '.join(missing)}", path=str(path))
    return manifest, arrays


def pack_strings(strings: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """UTF-8 blob and int64 offsets: exact for any str, and no pickle (object arrays need it)."""
    encoded = [s.encode("utf-8", "surrogatepass") for s in strings]
    offsets = np.zeros(len(encoded) + 1, np.int64)
    offsets[1:] = np.cumsum([len(b) for b in encoded])
    return np.frombuffer(b"".join(encoded), np.uint8).copy(), offsets


def unpack_strings(blob: np.ndarray, offsets: np.ndarray) -> list[str]:
    data = blob.tobytes()
    bounds = offsets.tolist()
    return [data[a:b].decode("utf-8", "surrogatepass") for a, b in pairwise(bounds)]
