"""The ``Index`` contract every derived index implements: rows mapped to docnos, tombstones,
compaction, updates in two halves, and an atomic file.

An index numbers its rows privately (0, 1, 2, … in insertion order); ``row_docno`` maps them to
the store's docnos. Deleting marks a row dead (a tombstone); ``compact`` renumbers when the dead
share grows. An update is prepared (slow, while searches read the index) and then applied (fast,
under the collection's write lock). ``save`` writes one ``.npz`` (arrays + a JSON manifest) to a
temporary name and renames it into place, so a crash leaves the old file or the new one; a
``segmented`` index saves a folder instead, where a save writes only the arrays' new parts
(``sleuth.indexes.segments``).
"""

from __future__ import annotations

import json
import os
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np

from sleuth._version import __version__
from sleuth.errors import CorruptIndex, InvalidInput
from sleuth.indexes.memory import held
from sleuth.indexes.rows import RowMap
from sleuth.indexes.segments import (
    fsync_dir,
    load_folder,
    new_token,
    pack_strings,
    remove_dead_temps,
    save_folder,
    unpack_strings,
)

__all__ = [
    "Growable",
    "Index",
    "Update",
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


@dataclass(frozen=True)
class Update:
    """A prepared change to one index: the docnos to remove, then the rows to add (in the
    index's own prepared form), leading to change-log sequence ``seq`` (None: unchanged)."""

    removed: np.ndarray  # int64[r]
    docnos: np.ndarray  # int64[n]
    rows: Any
    seq: int | None = None


class Index(ABC):
    """The derived-index contract: rows added by docno, removed by docno, saved to one file and
    loaded back (or None when built otherwise), at the change-log sequence number ``seq``.

    Subclasses say what a row is: ``_prepare`` turns documents into rows (the slow part, safe
    to run while searches read the index), ``_append`` adds prepared rows, ``_keep`` drops the
    payload of dead rows when compacting, ``_payload``/``_restore`` write and read it, and
    ``params`` is what a file must match to be loaded.
    """

    kind: ClassVar[str]
    required: ClassVar[tuple[str, ...]] = ()  # arrays a file must hold besides the rows
    compact_above: ClassVar[float | None] = 0.2  # dead share past which ``remove`` compacts
    # saved as a folder of arrays where a save writes what changed (``segments``), else as
    # one ``.npz`` file written whole
    segmented: ClassVar[bool] = False

    def __init__(self) -> None:
        self.row_docno = Growable(np.int64)
        self.row_live = Growable(np.bool_)
        self.docno_row = RowMap(self)  # docno -> live row, from the two arrays above
        self._live = 0  # live rows
        self.seq = 0  # the change-log sequence number this index reflects
        self.outdated = False  # restored from a file in an earlier layout: to be saved again
        self.rows_token = new_token()  # the row arrays' (see ``segments``): new when renumbered

    def __len__(self) -> int:
        return self._live

    @property
    def n_rows(self) -> int:
        return self.row_docno.size

    # -- writes ------------------------------------------------------------------------------

    def add(self, docnos: np.ndarray | Sequence[int], documents: Any) -> None:
        """Add documents (in the index's own terms: texts, vectors, token sets) as ``docnos``."""
        self.apply(self.prepare(docnos, documents))

    def prepare(
        self,
        docnos: np.ndarray | Sequence[int],
        documents: Any,
        *,
        removed: np.ndarray | Sequence[int] = (),
        seq: int | None = None,
    ) -> Update:
        """The slow half of an update; reads nothing ``apply`` changes."""
        docnos = np.asarray(docnos, np.int64).reshape(-1)
        rows = self._prepare(documents)
        if _count(rows) != docnos.size:
            raise InvalidInput(f"{docnos.size} docnos for {_count(rows)} documents")
        return Update(np.asarray(removed, np.int64).reshape(-1), docnos, rows, seq)

    def apply(self, update: Update) -> None:
        """The fast half: remove, then add the prepared rows (under the collection's lock)."""
        self.remove(update.removed)
        if update.docnos.size:
            self._append(update.docnos, update.rows)
        if update.seq is not None:
            self.seq = update.seq

    def remove(self, docnos: np.ndarray | Sequence[int]) -> np.ndarray:
        """Tombstone these docnos (unknown ones are ignored); returns the rows that were live."""
        rows = self.docno_row.rows_of(np.asarray(docnos, np.int64))
        out = np.unique(rows[rows >= 0])
        self.row_live.view[out] = False
        self._live -= out.size
        if out.size:
            self._forget(out)
            if self.compact_above is not None and self.dead_fraction() > self.compact_above:
                self.compact()
        return out

    def compact(self) -> None:
        """Drop dead rows and number the live ones 0.. again, in order."""
        live = np.flatnonzero(self.row_live.view)
        self._keep(live)
        docnos = self.row_docno.view[live]
        self.row_docno = Growable(np.int64, data=docnos)
        self.row_live = Growable(np.bool_, data=np.ones(live.size, bool))
        self._live = live.size
        self.docno_row.reset()
        self.rows_token = new_token()

    def _add_rows(self, docnos: np.ndarray) -> np.ndarray:
        start = self.row_docno.size
        rows = np.arange(start, start + docnos.shape[0])
        self.row_docno.extend(docnos.astype(np.int64))
        self.row_live.extend(np.ones(docnos.shape[0], bool))
        self._live += docnos.shape[0]
        self.docno_row.appended(docnos.astype(np.int64), start)
        return rows

    def _prepare(self, documents: Any) -> Any:
        return documents

    @abstractmethod
    def _append(self, docnos: np.ndarray, rows: Any) -> None:
        """Add prepared rows (calls ``_add_rows``)."""

    def _forget(self, rows: np.ndarray) -> None:  # noqa: B027 (most indexes keep no statistics)
        """Rows just tombstoned (statistics that count live rows update here)."""

    @abstractmethod
    def _keep(self, live: np.ndarray) -> None:
        """Keep only the payload of rows ``live`` (ascending), before they are renumbered."""

    # -- reads -------------------------------------------------------------------------------

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

    def dead_fraction(self) -> float:
        return 1.0 - len(self) / max(self.n_rows, 1)

    def usage(self) -> dict[str, int]:
        """What the index holds: ``memory_bytes`` in RAM, ``mapped_bytes`` mapped from files
        (``Collection.info()["usage"]``; see ``sleuth.indexes.memory``). Not part of ``info()``:
        two equal indexes may hold different amounts (arrays grown by appends have room)."""
        return held(self).to_dict()

    @abstractmethod
    def info(self) -> dict[str, Any]:
        """What ``Collection.info()["indexes"]`` reports of this index."""

    # -- persistence -------------------------------------------------------------------------

    @abstractmethod
    def params(self) -> dict[str, Any]:
        """What the index was built with (config, dimension…): saved, and matched on load."""

    @abstractmethod
    def _payload(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """Manifest entries and arrays to save besides the rows and ``params``."""

    @abstractmethod
    def _restore(self, path: Path, manifest: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        """Take the payload from a file (rows already restored); CorruptIndex if inconsistent."""

    def _tokens(self) -> dict[str, str]:
        """The tokens of the payload arrays that only grow or stay (see ``segments``); the
        others are written whole at every save."""
        return {}

    def save(self, path: Path) -> None:
        """Write the index to ``path`` atomically (a folder when ``segmented``)."""
        extra, arrays = self._payload()
        manifest = {
            "format": INDEX_FORMAT,
            "kind": self.kind,
            "sleuth": __version__,
            "seq": self.seq,
            **self.params(),
            **extra,
        }
        arrays = {**arrays, "row_docno": self.row_docno.view, "row_live": self.row_live.view}
        if not self.segmented:
            write_npz(path, manifest, arrays)
            return
        tokens = {**self._tokens(), "row_docno": self.rows_token}
        manifest["rows_token"] = self.rows_token
        save_folder(path, manifest, {name: (a, tokens.get(name)) for name, a in arrays.items()})

    def restore(self, path: Path) -> Self | None:
        """This (empty) index filled from ``path`` (a saved folder, or a ``.npz`` file), or
        None when it was built with other ``params``. CorruptIndex when it is unreadable or
        inconsistent."""
        required = (*self.required, "row_docno", "row_live")
        if path.is_dir():
            manifest, arrays = load_folder(path, self.kind, required)
            self.rows_token = str(manifest.get("rows_token"))
        else:
            manifest, arrays = read_npz(path, self.kind, required)
            self.outdated = self.outdated or self.segmented  # to be saved as a folder
        if any(manifest.get(key) != value for key, value in self.params().items()):
            return None
        docnos, live = arrays["row_docno"], arrays["row_live"]
        if docnos.ndim != 1 or live.shape != docnos.shape:
            raise CorruptIndex(f"{path}: its rows do not match", path=str(path))
        self.seq = int(manifest["seq"])
        self.row_docno = Growable(np.int64, data=docnos)
        self.row_live = Growable(np.bool_, data=live)
        self._live = int(np.count_nonzero(self.row_live.view))
        self.docno_row.reset()
        self._restore(path, manifest, arrays)
        return self

    @classmethod
    def load(cls, path: Path, *args: Any, **kwargs: Any) -> Self | None:
        """The index saved in ``path``, or None when built with other parameters than these
        (the constructor's)."""
        return cls(*args, **kwargs).restore(path)


def _count(rows: Any) -> int:
    return int(rows.shape[0]) if isinstance(rows, np.ndarray) else len(rows)


def write_npz(path: Path, manifest: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    meta = np.frombuffer(json.dumps(manifest).encode(), np.uint8)
    with open(tmp, "wb") as fh:
        savez: Any = np.savez  # numpy's stub types **kwds as the allow_pickle flag
        savez(fh, __manifest__=meta, **arrays)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)
    remove_dead_temps(path.parent, path.name)


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
