"""An index saved as a folder of raw arrays and a manifest, where a save writes what changed.

Each array is one raw file (``<name>.<save>.bin``, memory-mapped on load, copy-on-write) and a
manifest entry: dtype, shape, the file, a *token* and the file's chunks ``[bytes, crc32]``.
The index gives each array a token that stays the same as long as the array only grows at its
end (rows appended, a segment left as it is) and is drawn anew (``new_token``) whenever the
array is rebuilt: a save then appends the new bytes to the same file (or writes nothing when
the array did not grow). A new token, or none (an array changed in place, small), writes a new
file. Then the manifest is replaced atomically (written aside,
fsynced, renamed) and files it no longer names are deleted: a save killed at any point leaves
the previous manifest, whose files are whole (an append lies past the length it records).

Corruption: the manifest must parse and name files of at least the recorded size, each 4 MB
piece has a CRC-32; a load checks those of arrays up to 16 MB and the last piece of every
array (what a save wrote last), ``sleuth info`` checks them all (CRC-32 runs at about 1.4 GB/s
here: checking every byte of a 1M-item BM25 index would be half a second of each open); the
index then checks its arrays' shapes, ranges and order.
"""

from __future__ import annotations

import fcntl
import json
import os
import uuid
import zlib
from collections.abc import Sequence
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np

from sleuth.errors import CorruptIndex

__all__ = [
    "MANIFEST",
    "SEGMENTED_FORMAT",
    "dead_writer",
    "fsync_dir",
    "load_folder",
    "new_token",
    "pack_strings",
    "remove_dead_temps",
    "save_folder",
    "saved_files",
    "unpack_strings",
]

MANIFEST = "manifest.json"
SEGMENTED_FORMAT = 2  # INDEX_FORMAT 1 is the single ``.npz`` file
_PIECE = 4 << 20  # bytes per checksum
_CHECKED_WHOLE = 16 << 20  # arrays up to this size have every piece checked on every load


def saved_files(index_folder: Path, name: str) -> list[Path]:
    """The files an index ``name`` is saved in under ``index_folder`` (its folder's and, for
    one saved whole or by an earlier sleuth, ``<name>.npz``), for disk reports."""
    found = [index_folder / f"{name}.npz"] if (index_folder / f"{name}.npz").exists() else []
    folder = index_folder / name
    return found + (sorted(p for p in folder.iterdir() if p.is_file()) if folder.is_dir() else [])


def new_token() -> str:
    """A token for an array built anew (random, so that no other process's array, built
    otherwise from the same file, can share it)."""
    return uuid.uuid4().hex[:16]


def save_folder(
    folder: Path, manifest: dict[str, Any], arrays: dict[str, tuple[np.ndarray, str | None]]
) -> None:
    """Save ``arrays`` (name -> (array, token or None)) and ``manifest`` into ``folder``
    (under a file lock: another process saving the same folder waits)."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        _save(folder, manifest, arrays)


def _save(
    folder: Path, manifest: dict[str, Any], arrays: dict[str, tuple[np.ndarray, str | None]]
) -> None:
    before = _entries(folder)
    number = int(before.get("", {}).get("save", 0)) + 1
    entries: dict[str, Any] = {}
    for name, (array, token) in arrays.items():
        entries[name] = _save_array(
            folder, name, np.ascontiguousarray(array), token, before, number
        )
    body = {**manifest, "format": SEGMENTED_FORMAT, "save": number, "arrays": entries}
    tmp = folder / f".{MANIFEST}.{os.getpid()}.tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(body, fh)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, folder / MANIFEST)
    fsync_dir(folder)
    remove_dead_temps(folder, MANIFEST)
    kept = {entry["file"] for entry in entries.values()} | {MANIFEST}
    for path in folder.iterdir():
        if path.name not in kept and not path.name.startswith("."):
            path.unlink(missing_ok=True)


def _save_array(
    folder: Path,
    name: str,
    array: np.ndarray,
    token: str | None,
    before: dict[str, Any],
    number: int,
) -> dict[str, Any]:
    data = memoryview(array.reshape(-1).view(np.uint8).data) if array.size else memoryview(b"")
    old = before.get(name)
    saved = 0 if old is None else sum(size for size, _ in old["chunks"])
    path = None if old is None else folder / old["file"]
    if (
        old is not None
        and path is not None
        and token is not None
        and old.get("token") == token
        and old["dtype"] == array.dtype.str
        and old["shape"][1:] == list(array.shape[1:])
        and len(data) >= saved
        and path.exists()
        and path.stat().st_size >= saved
    ):
        chunks = [list(c) for c in old["chunks"]]
        if len(data) > saved:  # appended since: write only the new bytes, after what is saved
            with open(path, "r+b") as fh:
                fh.truncate(saved)  # what a killed earlier save may have left past it
                fh.seek(saved)
                fh.write(data[saved:])
                fh.flush()
                os.fsync(fh.fileno())
            chunks += _checksums(data[saved:])
        file = old["file"]
    else:
        file = f"{name}.{number}.bin"
        with open(folder / file, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        chunks = _checksums(data)
    return {
        "file": file,
        "dtype": array.dtype.str,
        "shape": list(array.shape),
        "token": token,
        "chunks": chunks,
    }


def _checksums(data: memoryview) -> list[list[int]]:
    """``[bytes, crc32]`` of each ``_PIECE`` of ``data`` (an empty array has none)."""
    return [
        [len(data[at : at + _PIECE]), zlib.crc32(data[at : at + _PIECE])]
        for at in range(0, len(data), _PIECE)
    ]


def _entries(folder: Path) -> dict[str, Any]:
    """The saved arrays' entries by name (and the manifest's save number under ""), or none
    when there is no readable manifest (everything is then written anew)."""
    try:
        body = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        entries = dict(body["arrays"])
        entries[""] = {"save": int(body["save"])}
        return entries
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def load_folder(
    folder: Path, kind: str, required: tuple[str, ...] = (), *, verify: bool = False
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Manifest and arrays (memory-mapped copy-on-write) of a saved folder; CorruptIndex when
    it is unreadable, of another kind, lacks a ``required`` array, or a file is short or does
    not match its checksums: every piece with ``verify`` (``sleuth info``'s check), else those
    of small arrays and the last piece of each (the last written), so an open does not read
    every byte of a large index."""
    path = folder / MANIFEST
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
        entries = manifest.pop("arrays")
        arrays = {name: _load_array(folder, entry, verify) for name, entry in entries.items()}
    except CorruptIndex:
        raise
    except Exception as exc:  # any damage of the manifest: missing keys, wrong types, ...
        raise CorruptIndex(
            f"index folder {folder} is unreadable: {exc}", path=str(folder)
        ) from None
    if (
        manifest.get("kind") != kind
        or manifest.get("format") != SEGMENTED_FORMAT
        or not isinstance(manifest.get("seq"), int)
    ):
        raise CorruptIndex(f"index folder {folder} is not a {kind} index of format 2")
    missing = [name for name in required if name not in arrays]
    if missing:
        raise CorruptIndex(f"index folder {folder} lacks {', '.join(missing)}", path=str(folder))
    return manifest, arrays


def _load_array(folder: Path, entry: dict[str, Any], verify: bool) -> np.ndarray:
    dtype = np.dtype(entry["dtype"])
    shape = tuple(int(n) for n in entry["shape"])
    size = int(np.prod(shape)) * dtype.itemsize
    chunks = [(int(n), int(crc)) for n, crc in entry["chunks"]]
    path = folder / str(entry["file"])
    if sum(n for n, _ in chunks) != size or path.stat().st_size < size:
        raise CorruptIndex(f"{path} is shorter than its manifest says", path=str(path))
    if size == 0:
        return np.zeros(shape, dtype)
    data = np.memmap(path, dtype=np.uint8, mode="c", shape=(size,))
    start = 0
    for i, (n, crc) in enumerate(chunks):
        checked = verify or size <= _CHECKED_WHOLE or i == len(chunks) - 1
        if checked and zlib.crc32(data[start : start + n].data) != crc:
            raise CorruptIndex(f"{path} does not match its checksum", path=str(path))
        start += n
    return data.view(dtype).reshape(shape)


def dead_writer(tmp: Path) -> bool:
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


def remove_dead_temps(folder: Path, name: str) -> None:
    """Delete the temps ``.<name>.<pid>.tmp`` that writers killed before their rename left."""
    for tmp in folder.glob(f".{name}.*.tmp"):
        if dead_writer(tmp):
            tmp.unlink(missing_ok=True)


def fsync_dir(folder: Path) -> None:
    """Make a rename or a new file in ``folder`` durable."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


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
