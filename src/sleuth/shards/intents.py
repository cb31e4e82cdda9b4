"""The coordinator's intent log: a batch spanning shards, written down before any shard applies
it, and replayed on the shards that have not until every one has.

Why an intent log and not a two-phase commit over the shards' SQLite transactions: SQLite has
no prepared state that survives its process, so a coordinator killed between two shards'
commits would leave the batch half applied with nothing recording which half; and holding
every shard's write transaction open across the round trips blocks each shard's other writers
for as long as the slowest shard takes. Here each shard's part is one ordinary transaction;
the log (``intents/<n>/``: each shard's part as JSON and ``.npz`` vectors, a ``done-<i>``
marker per shard that applied it) says what is left, and replaying a part is idempotent: an
upsert of the same items leaves them unchanged, a delete skips ids already gone, an event is
skipped by its ``event_id`` (a spanning batch's events without one are given one when logged).
A batch is acknowledged only once every shard applied it; one that failed on a shard is
reported with the shards that applied it, and the next write (or ``recover()``, or opening
the collection) applies the rest before anything else is written.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sleuth.indexes.segments import fsync_dir
from sleuth.types import Item, plain_attributes

__all__ = ["Intent", "IntentLog"]

_DEFAULT = "__default__"


def _write(path: Path, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def _save_part(folder: Path, shard: int, batch: Mapping[str, Any]) -> None:
    items: list[Item] = list(batch.get("items") or [])
    body = {
        "events": batch.get("events"),
        "deletes": list(batch.get("deletes") or []),
        "must_be_new": bool(batch.get("must_be_new")),
        "items": [
            {"id": it.id, "fields": dict(it.fields), "attributes": plain_attributes(it.attributes)}
            for it in items
        ],
    }
    _write(folder / f"shard-{shard}.json", json.dumps(body).encode())
    arrays: dict[str, np.ndarray] = {}
    spaces = {name for it in items for name in it.vectors} | (
        {_DEFAULT} if any(it.vector is not None for it in items) else set()
    )
    for name in sorted(spaces):
        rows = [
            (i, it.vector if name == _DEFAULT else it.vectors.get(name))
            for i, it in enumerate(items)
        ]
        rows = [(i, v) for i, v in rows if v is not None]
        arrays[f"{name}.rows"] = np.array([i for i, _ in rows], np.int64)
        arrays[f"{name}.vectors"] = np.stack([np.asarray(v, np.float32) for _, v in rows])
    if arrays:
        with open(folder / f"shard-{shard}.npz", "wb") as f:
            np.savez(f, allow_pickle=False, **arrays)
            f.flush()
            os.fsync(f.fileno())


def _load_part(folder: Path, shard: int) -> dict[str, Any]:
    body = json.loads((folder / f"shard-{shard}.json").read_text())
    vectors: list[dict[str, np.ndarray]] = [{} for _ in body["items"]]
    path = folder / f"shard-{shard}.npz"
    if path.exists():
        with np.load(path, allow_pickle=False) as data:
            for key in data.files:
                if key.endswith(".rows"):
                    name = key[: -len(".rows")]
                    for i, v in zip(data[key].tolist(), data[f"{name}.vectors"]):
                        vectors[i][name] = v
    items = [
        {
            "id": raw["id"],
            **raw["fields"],
            **raw["attributes"],
            "vector": vec.pop(_DEFAULT, None),
            "vectors": vec or None,
        }
        for raw, vec in zip(body["items"], vectors)
    ]
    return {
        "items": items,
        "deletes": body["deletes"],
        "events": body.get("events"),
        "must_be_new": body["must_be_new"],
    }


@dataclass(frozen=True)
class Intent:
    """One logged batch: its folder and the shards with a part of it."""

    path: Path
    shards: tuple[int, ...]

    @property
    def name(self) -> str:
        return self.path.name

    def part(self, shard: int) -> dict[str, Any]:
        """Shard ``shard``'s part, as ``ShardServer.apply`` takes it (items as dicts)."""
        return _load_part(self.path, shard)

    def applied(self) -> list[int]:
        return [s for s in self.shards if (self.path / f"done-{s}").exists()]

    def pending(self) -> list[int]:
        done = set(self.applied())
        return [s for s in self.shards if s not in done]

    def mark_applied(self, shard: int) -> None:
        _write(self.path / f"done-{shard}", b"")

    def remove(self) -> None:
        shutil.rmtree(self.path)


class IntentLog:
    """The intents of the sharded collection in ``folder`` (``folder/intents``)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder / "intents"

    def pending(self) -> list[Intent]:
        """The logged batches, oldest first (a folder left by a record killed midway, not yet
        renamed into place, was never acknowledged and is dropped)."""
        if not self.folder.is_dir():
            return []
        out = []
        for path in sorted(self.folder.iterdir()):
            if path.name.startswith("."):
                shutil.rmtree(path, ignore_errors=True)
                continue
            shards = sorted(int(p.stem.split("-")[1]) for p in path.glob("shard-*.json"))
            out.append(Intent(path, tuple(shards)))
        return out

    def record(self, parts: Mapping[int, Mapping[str, Any]]) -> Intent:
        """Log each shard's part of a batch (durably, all or nothing) before it is applied."""
        self.folder.mkdir(exist_ok=True)
        taken = [int(p.name) for p in self.folder.iterdir() if p.name.isdigit()]
        name = f"{max(taken, default=0) + 1:012d}"
        tmp = self.folder / f".{name}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        for shard, batch in parts.items():
            _save_part(tmp, shard, batch)
        fsync_dir(tmp)
        os.replace(tmp, self.folder / name)
        fsync_dir(self.folder)
        return Intent(self.folder / name, tuple(sorted(parts)))
