"""What a collection's database is: the format version, the tables, the folder it lives in,
and the rule attribute types follow."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sleuth.errors import InvalidCollection, InvalidInput
from sleuth.types import Item, attr_type_of

__all__ = [
    "FILENAME",
    "FORMAT_VERSION",
    "MAX_ATTRIBUTE_NAMES",
    "SCHEMA",
    "check_folder",
    "check_types",
    "check_version",
]

# 2: the vectors items bring live in ``sleuth.sqlite-vectors`` (``items.vrow``), not in the
# vectors table; a format 1 collection is upgraded on open (``sleuth.store.upgrade``)
FORMAT_VERSION = 2
FILENAME = "sleuth.sqlite"
# Each attribute name is a column held in memory for filters (README, "Limits"). Names are never
# dropped: an attribute whose items were all deleted still has its type in the schema.
MAX_ATTRIBUTE_NAMES = 1000

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS items (
    docno INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    fields TEXT NOT NULL,
    attrs TEXT NOT NULL,
    hash TEXT NOT NULL,
    vrow INTEGER  -- the row of its given vector in sleuth.sqlite-vectors (NULL: encoded)
);
CREATE TABLE IF NOT EXISTS changes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    op TEXT NOT NULL CHECK (op IN ('add', 'del')),
    docno INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS vectors (
    encoder TEXT NOT NULL,
    hash TEXT NOT NULL,
    vector BLOB NOT NULL,
    PRIMARY KEY (encoder, hash)
) WITHOUT ROWID;
-- vectors of named spaces (sleuth.spaces) by item version, written and deleted with the item
CREATE TABLE IF NOT EXISTS space_vectors (
    docno INTEGER NOT NULL,
    space TEXT NOT NULL,
    vector BLOB NOT NULL,
    PRIMARY KEY (docno, space)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS attributes (name TEXT PRIMARY KEY, type TEXT NOT NULL);
-- events are never deleted, so seq needs no AUTOINCREMENT (rowid is one past the largest),
-- most events bring no event_id, so its unique index holds only those that do. Both halve
-- SQLite's cost of an event (collections made before keep their table, read the same way).
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY,
    event_id TEXT,
    user TEXT NOT NULL,
    item TEXT NOT NULL,
    kind TEXT NOT NULL,
    value REAL,
    ts REAL NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS events_event_id ON events (event_id)
    WHERE event_id IS NOT NULL;
"""


def check_types(items: Sequence[Item], schema: dict[str, str]) -> dict[str, str]:
    """Attribute types must stay what they were first seen as, except that a date-time attribute
    that receives a plain string widens to str (its values were never all dates). Returns the
    types to write: newly seen or widened ones."""
    changed: dict[str, str] = {}
    string_kinds: dict[str, str | None] = {}  # a bulk load repeats its strings (categories, dates)
    for item in items:
        for name, value in item.attributes.items():
            if type(value) is str:
                kind = string_kinds.get(value)
                if kind is None:
                    kind = string_kinds[value] = attr_type_of(value)
            else:
                kind = attr_type_of(value)
            known = changed.get(name) or schema.get(name)
            if known == kind:
                continue
            if known is None or (known == "datetime" and kind == "str"):
                changed[name] = kind  # type: ignore[assignment]
            elif known != kind and not (known == "str" and kind == "datetime"):
                raise InvalidInput(
                    f"item {item.id!r}: attribute {name!r} is {kind} but the collection "
                    f"stores {known} values under that name",
                    id=item.id,
                    attribute=name,
                    expected=known,
                    got=kind,
                )
    return changed


def check_folder(folder: Path) -> bool:
    """True if ``folder`` holds a collection, False if it is absent or empty; else an error."""
    if not folder.exists():
        return False
    if not folder.is_dir():
        raise InvalidCollection(f"{folder} is a file, not a collection folder")
    if (folder / FILENAME).exists():
        return True
    if any(folder.iterdir()):
        raise InvalidCollection(
            f"{folder} is not a sleuth collection (no {FILENAME}) and is not empty; "
            "give a new or empty folder to create one",
            path=str(folder),
        )
    return False


def check_version(version: Any, folder: Path) -> None:
    if not isinstance(version, int):
        raise InvalidCollection(f"{folder}: missing or unreadable format version", path=str(folder))
    if version > FORMAT_VERSION:
        raise InvalidCollection(
            f"{folder} was written by a newer sleuth (format {version}; this version reads up to "
            f"{FORMAT_VERSION}); upgrade sleuth to open it",
            path=str(folder),
            format_version=version,
        )
