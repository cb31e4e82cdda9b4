"""A sharded collection's folder: ``shards.json`` (the manifest: format, shard count, routing,
the collection's configuration), ``shard-<i>/`` (ordinary collection folders, each of which
opens alone), ``intents/`` (the batches spanning shards not yet applied on all: see
``sleuth.shards.intents``) and ``write.lock``.

Ids route by a stable hash: the first 8 bytes of their BLAKE2b digest, modulo the shard
count, the same in every process and Python version (unlike ``hash()``).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sleuth._version import __version__
from sleuth.config import CollectionConfig
from sleuth.errors import InvalidCollection, InvalidInput

__all__ = ["MANIFEST", "MAX_SHARDS", "ROUTING", "Layout", "is_sharded", "route", "shard_of"]

MANIFEST = "shards.json"
FORMAT = 1
ROUTING = "blake2b-64-mod"
MAX_SHARDS = 256


def is_sharded(folder: str | Path) -> bool:
    """Whether ``folder`` holds a sharded collection (its manifest)."""
    return (Path(folder) / MANIFEST).is_file()


def shard_of(item_id: str, shards: int) -> int:
    """The shard holding ``item_id``: BLAKE2b's first 8 bytes (big-endian) modulo ``shards``."""
    digest = hashlib.blake2b(item_id.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") % shards


def route(ids: Sequence[str], shards: int) -> list[list[int]]:
    """The positions in ``ids`` of each shard's ids, in order."""
    out: list[list[int]] = [[] for _ in range(shards)]
    for i, item_id in enumerate(ids):
        out[shard_of(item_id, shards)].append(i)
    return out


def check_shards(shards: Any) -> int:
    if isinstance(shards, bool) or not isinstance(shards, int) or not 1 <= shards <= MAX_SHARDS:
        raise InvalidInput(
            f"shards must be a whole number from 1 to {MAX_SHARDS}, got {shards!r:.80}",
            shards=repr(shards)[:80],
        )
    return shards


@dataclass(frozen=True)
class Layout:
    """The folder of a sharded collection of ``shards`` shards built with ``config``."""

    folder: Path
    shards: int
    config: CollectionConfig

    @property
    def shard_folders(self) -> list[Path]:
        return [self.folder / f"shard-{i}" for i in range(self.shards)]

    @classmethod
    def read(cls, folder: Path) -> Layout:
        path = folder / MANIFEST
        try:
            raw = json.loads(path.read_text())
            if raw.get("format") != FORMAT or raw.get("routing") != ROUTING:
                raise ValueError(
                    f"format {raw.get('format')!r} routing {raw.get('routing')!r}: this sleuth "
                    f"reads format {FORMAT}, routing {ROUTING}"
                )
            layout = cls(
                folder, check_shards(raw["shards"]), CollectionConfig.from_dict(raw["config"])
            )
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise InvalidCollection(
                f"{folder.name}: its {MANIFEST} cannot be read ({exc}); it is not a sharded "
                "collection this sleuth can open",
                path=str(path),
            ) from None
        missing = [p.name for p in layout.shard_folders if not p.is_dir()]
        if missing:
            raise InvalidCollection(
                f"{folder.name}: shard folders missing: {', '.join(missing[:5])}",
                missing=missing,
            )
        return layout

    def write(self) -> None:
        """Write the manifest atomically (the last step of creating the collection)."""
        body = {
            "format": FORMAT,
            "routing": ROUTING,
            "shards": self.shards,
            "config": self.config.to_dict(),
            "sleuth": __version__,
        }
        tmp = self.folder / f".{MANIFEST}.tmp"
        with open(tmp, "w") as f:
            json.dump(body, f, indent=2)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.folder / MANIFEST)
