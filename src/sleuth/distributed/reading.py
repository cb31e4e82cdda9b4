"""What a distributed ingest reads and what it sends to the workers.

The input is read and validated on the driver, with sleuth's own readers and the
collection's own checks (``read_items``, ``parse_write``): bad input gets the very errors of
plain ``sleuth add`` (file and line, item and field), before any worker starts or any batch is
written. The collection is written on the driver anyway, so every item crosses to it; what
is worth spreading over a cluster is the encoding, ~95 texts/s per machine here against
~100k items/s of parsing.

Only texts whose vectors the collection's embedding cache lacks go to the workers, each
distinct text once, longest first (similar lengths pad well, as in the local path).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sleuth.encoders.cache import EmbeddingCache, content_hash
from sleuth.engine import Collection
from sleuth.errors import Conflict, InvalidInput
from sleuth.io.readers import read_items
from sleuth.limits import parse_write
from sleuth.types import Item

__all__ = ["Plan", "plan", "read_source"]


def read_source(source: str | Path | list[Any], text_fields: tuple[str, ...]) -> list[Any]:
    """The items of a file or folder (``read_items``: JSONL, JSON, CSV, Parquet, BEIR,
    MovieLens), or a list of items (dicts or ``Item``) as given."""
    if isinstance(source, list):
        return source
    return read_items(Path(source), text_fields)


@dataclass(frozen=True)
class Plan:
    """``items`` (checked); ``keys[i]``: item i's content hash, or None when it brings its
    own vector; ``todo``: hash -> text of the texts to encode, longest first; ``cached``:
    distinct texts the embedding cache already holds."""

    items: list[Item]
    keys: list[str | None]
    todo: dict[str, str]
    cached: int

    @property
    def given(self) -> int:
        return sum(1 for k in self.keys if k is None)


def plan(col: Collection, raw: list[Any], *, must_be_new: bool) -> Plan:
    """Check the whole input as one write would (ids unique, fields, vectors, named spaces;
    with ``must_be_new`` no id may exist yet) and find what the cache lacks."""
    if not col.encoder.encodes_text:
        raise InvalidInput(
            f"--ray distributes text encoding, and this collection has no text encoder "
            f"({col.encoder.id}); add its items, which bring their vectors, without --ray",
            encoder=col.encoder.id,
        )
    items, _, _ = parse_write(raw, None, col.config)
    if must_be_new:
        found = col.store.docnos_of([item.id for item in items])
        taken = next((item.id for item in items if item.id in found), None)
        if taken is not None:
            raise Conflict(
                f"item {taken!r} already exists; use upsert to replace it; nothing was written",
                id=taken,
            )
    text_of = EmbeddingCache(col.store, col.encoder, col.dim, col.config.text_fields, None).text
    texts = {i: text_of(item) for i, item in enumerate(items) if item.vector is None}
    keys: list[str | None] = [None] * len(items)
    distinct: dict[str, str] = {}
    for i, text in texts.items():
        keys[i] = h = content_hash(text)
        distinct[h] = text
    cached = col.store.vectors(col.encoder.id, list(distinct), col.dim)
    todo = sorted((h for h in distinct if h not in cached), key=lambda h: -len(distinct[h]))
    return Plan(items, keys, {h: distinct[h] for h in todo}, len(cached))
