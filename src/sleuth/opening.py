"""Opening a collection folder: creating it when new, checking its format, configuration and
encoder when not, and handing the pieces to ``Collection``."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, overload

from sleuth.config import CollectionConfig
from sleuth.encoders import Encoder, get_encoder
from sleuth.encoders.late import LateInteraction
from sleuth.engine import Collection
from sleuth.errors import Conflict, InvalidCollection, InvalidInput
from sleuth.shards.layout import is_sharded
from sleuth.spaces import SpaceConfig, check_spaces
from sleuth.store import FORMAT_VERSION, Store
from sleuth.store.schema import FILENAME, check_folder, check_version

if TYPE_CHECKING:
    from sleuth.shards.collection import ShardedCollection

__all__ = ["open_collection"]


@overload
def open_collection(
    path: str | Path,
    *,
    encoder: str | Encoder | None = None,
    dim: int | None = None,
    spaces: dict[str, SpaceConfig | dict[str, object]] | None = None,
    config: CollectionConfig | None = None,
    lock_timeout: float = 30.0,
    shards: None = None,
) -> Collection: ...


@overload
def open_collection(
    path: str | Path,
    *,
    encoder: str | Encoder | None = None,
    dim: int | None = None,
    spaces: dict[str, SpaceConfig | dict[str, object]] | None = None,
    config: CollectionConfig | None = None,
    lock_timeout: float = 30.0,
    shards: int,
) -> ShardedCollection: ...


@overload
def open_collection(
    path: str | Path,
    *,
    encoder: str | Encoder | None = None,
    dim: int | None = None,
    spaces: dict[str, SpaceConfig | dict[str, object]] | None = None,
    config: CollectionConfig | None = None,
    lock_timeout: float = 30.0,
    shards: int | None = None,
) -> Collection | ShardedCollection: ...


def open_collection(
    path: str | Path,
    *,
    encoder: str | Encoder | None = None,
    dim: int | None = None,
    spaces: dict[str, SpaceConfig | dict[str, object]] | None = None,
    config: CollectionConfig | None = None,
    lock_timeout: float = 30.0,
    shards: int | None = None,
) -> Collection | ShardedCollection:
    """Open the collection in ``path``, creating it (with ``config``) if the folder is new or empty.

    ``encoder``: "minilm" (bundled all-MiniLM-L6-v2, the default), "hashing[:dim]", a local
    sentence-transformers folder, or "none": no text encoder, items bring their ``"vector"``
    and dense queries their ``vector=`` (then ``dim`` is required). ``dim``: the vectors'
    dimension, fixed at creation (with an encoder: omit it or give the encoder's). ``spaces``:
    named vector spaces besides that one (``CollectionConfig.spaces``; ``sleuth.spaces``),
    also fixed at creation. Opening with a different encoder, dimension or spaces than the
    collection was built with is a ``Conflict``.

    >>> col = sleuth.open(tmp, encoder="none", dim=3)  # doctest: +SKIP
    >>> col.add([{"id": "a", "vector": [0.1, 0.2, 0.3], "kind": "x"}])  # doctest: +SKIP
    >>> col = sleuth.open(tmp, spaces={"image": {"dim": 2, "metric": "dot"}})  # doctest: +SKIP
    >>> col.add([{"id": "a", "text": "hi", "vectors": {"image": [1, 2]}}])  # doctest: +SKIP

    Creation checks the config and encoder before touching the disk (an invalid one creates
    nothing) and writes the schema and metadata in one transaction; a database left blank by a
    creation killed midway is completed here, one with items but no metadata is an
    ``InvalidCollection`` that says what to do.

    ``shards``: create a sharded collection of that many shards (``sleuth.shards``), each an
    ordinary collection folder ``path/shard-<i>`` made with these options; a folder holding a
    sharded collection (its ``shards.json``) opens as one, ``shards`` given or not (typed as
    ``Collection`` then: the two share the surface of reads, writes and search).
    """
    folder = Path(path)
    if shards is not None or is_sharded(folder):
        # imported here: a shard is opened through this module
        from sleuth.shards.opening import open_sharded

        sharded = open_sharded(
            folder,
            shards=shards,
            encoder=encoder,
            dim=dim,
            spaces=spaces,
            config=config,
            lock_timeout=lock_timeout,
        )
        return sharded
    if config is not None and not isinstance(config, CollectionConfig):
        raise InvalidInput(
            f"config must be a CollectionConfig (CollectionConfig.from_dict(...) reads a dict), "
            f"got {type(config).__name__}"
        )
    named = None if spaces is None else check_spaces(spaces)
    # the folders this call would create, deepest first: a failed creation removes them again
    new_folders = [p for p in (folder, *folder.parents) if not p.exists()]
    store = Store(folder, busy_timeout_s=lock_timeout) if check_folder(folder) else None
    created_file = False
    try:
        state = "blank" if store is None else store.state()
        if state == "orphaned":
            raise InvalidCollection(
                f"{folder.name}: the database holds items or events but no metadata (format "
                "version, configuration, encoder): an older sleuth was interrupted while "
                "creating it. Its items cannot be indexed without knowing how it was built; "
                "move the folder away and add the items again into a new collection",
                state=state,
            )
        if state == "blank":
            # Everything is checked before anything is written: an invalid config or encoder
            # creates no folder and no file. A blank database left by a killed creation is
            # completed here.
            config = config or CollectionConfig()
            if dim is not None and config.dim is not None and dim != config.dim:
                raise InvalidInput(
                    f"dim={dim!r} and config.dim={config.dim!r} differ; give one", dim=dim
                )
            if named is not None:
                if config.spaces and named != config.spaces:
                    raise InvalidInput("spaces= and config.spaces differ; give one")
                config = replace(config, spaces=named)
            enc = get_encoder(
                encoder if encoder is not None else config.encoder,
                dim if dim is not None else config.dim,
            )
            enc.check_tokens(config.late.enabled)
            if config.late.enabled:  # its checks across fields (token dim vs MUVERA) run now
                LateInteraction(config.late, enc)
            config = replace(config, encoder=enc.spec, dim=enc.dim)  # the ones actually used
            if store is None:
                folder.mkdir(parents=True, exist_ok=True)
                created_file = True
                store = Store(folder, busy_timeout_s=lock_timeout)
            meta = {
                "format_version": FORMAT_VERSION,
                "config": config.to_dict(),
                "encoder": enc.spec,
                "encoder_id": enc.id,
                "dim": enc.dim,
            }
            if store.create(meta):
                return Collection(folder, store, config, enc, enc.dim, lock_timeout=lock_timeout)
            created_file = False  # another process created it meanwhile: open theirs
        assert store is not None  # "ready" comes only from an opened store
        check_version(store.get_meta("format_version"), folder)
        store.ensure_schema()
        try:
            stored_dict = store.get_meta("config")
            stored = _fixed_weights_if_older(CollectionConfig.from_dict(stored_dict), stored_dict)
        except InvalidInput as exc:  # e.g. a value beyond a limit earlier versions lacked
            raise InvalidCollection(
                f"{folder.name}: its stored configuration is not valid: {exc.message}. Export "
                "its items (with the sleuth version that built it) into a new collection",
                field=exc.details.get("field"),
            ) from None
        stored_dim = int(store.get_meta("dim"))
        for given_dim in (dim, config.dim if config is not None else None):
            if given_dim is not None and given_dim != stored_dim:
                raise Conflict(
                    f"{folder} holds vectors of {stored_dim} dimensions, not {given_dim!r}; "
                    "the dimension is fixed when a collection is created",
                    stored=stored_dim,
                    given=given_dim,
                )
        if named is not None and named != stored.spaces:
            raise Conflict(
                f"{folder} was created with other vector spaces "
                f"({', '.join(stored.spaces) or 'none but the default'}); they are fixed when "
                "a collection is created",
                stored={name: space.to_dict() for name, space in stored.spaces.items()},
            )
        if (
            config is not None
            and _fixed_weights_if_older(
                replace(config, encoder=stored.encoder, dim=stored.dim), stored_dict
            )
            != stored
        ):
            raise Conflict(
                f"{folder} was created with another configuration; open it without config= "
                "(its own is used) or create a new collection",
                stored=stored.to_dict(),
            )
        config = stored
        enc = _stored_encoder(store, encoder, stored_dim)
        dim = stored_dim
    except BaseException:
        if store is not None:
            store.close()
        if created_file:  # a collection that could not be created leaves nothing behind
            for leftover in folder.glob(f"{FILENAME}*"):
                leftover.unlink()
            shutil.rmtree(folder / "index", ignore_errors=True)  # made by Collection()
            for made in new_folders:
                made.rmdir()
        raise
    return Collection(folder, store, config, enc, dim, lock_timeout=lock_timeout)


def _fixed_weights_if_older(config: CollectionConfig, stored: Any) -> CollectionConfig:
    """``config`` with fusion ``trust`` off when the ``stored`` configuration predates it: a
    collection created before trusted fusion serves the fixed weights it always did."""
    fusion = stored.get("fusion") if isinstance(stored, dict) else None
    if isinstance(fusion, dict) and "trust" in fusion:
        return config
    return replace(config, fusion=replace(config.fusion, trust=False))


def _stored_encoder(store: Store, given: str | Encoder | None, dim: int) -> Encoder:
    stored_id = store.get_meta("encoder_id")
    if given == "none":  # its dimension is the collection's
        given = f"none:{dim}"
    if given is None:
        try:
            enc = get_encoder(store.get_meta("encoder"))
        except InvalidInput:
            raise InvalidInput(
                f"{store.path.parent} was built with encoder {stored_id!r}, which sleuth cannot "
                "recreate by name; pass the same encoder object as encoder="
            ) from None
    else:
        enc = get_encoder(given)
    if enc.id != stored_id:
        raise Conflict(
            f"{store.path.parent} was built with encoder {stored_id!r}, not {enc.id!r}; vectors "
            "of different models do not mix. Open it with its own encoder or build a new "
            "collection",
            stored=stored_id,
            given=enc.id,
        )
    return enc
