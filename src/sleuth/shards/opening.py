"""Opening and creating a sharded collection (``sleuth.open(path, shards=S)``): S ordinary
collection folders made with the same options, then the manifest, written last (a creation
killed before it leaves no sharded collection, only shard folders that are made again)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from sleuth.config import CollectionConfig
from sleuth.encoders import Encoder
from sleuth.errors import Conflict, InvalidInput
from sleuth.opening import open_collection
from sleuth.shards.collection import ShardedCollection
from sleuth.shards.group import LocalGroup, ShardGroup
from sleuth.shards.layout import MANIFEST, Layout, check_shards, is_sharded

__all__ = ["open_sharded"]

GroupFactory = Callable[[Sequence[Path]], ShardGroup]


def open_sharded(
    path: str | Path,
    *,
    shards: int | None = None,
    encoder: str | Encoder | None = None,
    dim: int | None = None,
    spaces: dict[str, Any] | None = None,
    config: CollectionConfig | None = None,
    lock_timeout: float = 30.0,
    group: GroupFactory | None = None,
) -> ShardedCollection:
    """The sharded collection in ``path``, created with ``shards`` shards (and the options of
    ``sleuth.open``, the same for every shard) when the folder is new or empty. ``group``:
    makes the ``ShardGroup`` serving the shard folders (default: ``LocalGroup``, in this
    process; ``RayGroup`` for Ray actors)."""
    folder = Path(path)
    if is_sharded(folder):
        layout = Layout.read(folder)
        if shards is not None and check_shards(shards) != layout.shards:
            raise Conflict(
                f"{folder} has {layout.shards} shards, not {shards}; the shard count is fixed "
                "when the collection is created",
                stored=layout.shards,
                given=shards,
            )
        if config is not None and config != layout.config:
            raise Conflict(
                f"{folder} was created with another configuration; open it without config=",
                stored=layout.config.to_dict(),
            )
    else:
        if shards is None:
            raise InvalidInput(f"{folder} is not a sharded collection (no {MANIFEST})")
        if folder.exists() and any(
            p.name != "write.lock" and not p.name.startswith("shard-") for p in folder.iterdir()
        ):
            raise Conflict(
                f"{folder} is not empty and not a sharded collection; a sharded collection is "
                "created in a new or empty folder",
            )
        layout = _create(folder, check_shards(shards), encoder, dim, spaces, config, lock_timeout)
    make = group or (
        lambda folders: LocalGroup(folders, encoder=encoder, lock_timeout=lock_timeout)
    )
    given = encoder if isinstance(encoder, Encoder) else None
    return ShardedCollection(
        layout, make(layout.shard_folders), lock_timeout=lock_timeout, encoder=given
    )


def _create(
    folder: Path,
    shards: int,
    encoder: str | Encoder | None,
    dim: int | None,
    spaces: dict[str, Any] | None,
    config: CollectionConfig | None,
    lock_timeout: float,
) -> Layout:
    if config is not None and config.late.enabled:
        raise InvalidInput(
            "late interaction is not available on a sharded collection yet: create it "
            "without late.enabled"
        )
    first = open_collection(
        folder / "shard-0",
        encoder=encoder,
        dim=dim,
        spaces=spaces,
        config=config,
        lock_timeout=lock_timeout,
    )
    try:
        built = first.config  # the encoder and dimension as resolved
    finally:
        first.close()
    for i in range(1, shards):
        open_collection(
            folder / f"shard-{i}", encoder=encoder, config=built, lock_timeout=lock_timeout
        ).close()
    layout = Layout(folder, shards, built)
    layout.write()
    return layout
