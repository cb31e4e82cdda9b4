"""What is wrong with a collection folder, read without opening (or changing) it.

``diagnose(path)`` backs ``sleuth info``, ``sleuth repair`` and ``Collection.check()``, and lets
a server report a collection it cannot open. Each ``Problem`` says what is wrong and what can
be done; ``repairable`` ones ``sleuth repair`` fixes without losing data. Messages name files
relative to the collection folder, never by absolute path (they may be served over HTTP).

    >>> diagnose("/no/such/folder")[0].kind
    'not-found'
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from sleuth.errors import CorruptIndex, SleuthError
from sleuth.store.rows import DamagedRow, parse_row

__all__ = ["FATAL", "Problem", "damaged_row_problem", "diagnose"]

# Problems that keep the collection from opening: nothing else is checked after one of them.
FATAL = frozenset({"not-found", "not-a-collection", "database", "meta", "newer-format"})
# Index files, by the kind their manifest must carry.
INDEX_FILES = {"bm25": "bm25", "dense": "dense", "tokens": "tokens", "muvera": "dense"}
_SHOWN = 20  # ids or hashes listed in a problem's details


@dataclass(frozen=True)
class Problem:
    kind: str  # one of FATAL, "index", "damaged-row", "vector", "change-log"
    message: str  # what is wrong
    fix: str  # what can be done about it
    repairable: bool = False  # `sleuth repair` fixes it without losing data
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "message": self.message,
            "fix": self.fix,
            "repairable": self.repairable,
            **({"details": self.details} if self.details else {}),
        }


def damaged_row_problem(bad: DamagedRow) -> Problem:
    return Problem(
        "damaged-row",
        f"item {bad.id!r} is damaged: {bad.reason}",
        "it is left out of every index and result; add it again with upsert to replace it, "
        "or `sleuth repair --drop-bad-rows` deletes it (keeping a copy in quarantine/)",
        details=bad.to_dict(),
    )


def diagnose(path: str | Path) -> list[Problem]:
    """Every problem found in the collection at ``path`` (an empty list: healthy)."""
    from sleuth.store.schema import FILENAME

    folder = Path(path)
    name = folder.name or str(folder)
    if not folder.exists():
        return [Problem("not-found", f"{name}: no such folder", "check the path")]
    if not folder.is_dir() or not (folder / FILENAME).is_file():
        return [
            Problem(
                "not-a-collection",
                f"{name} is not a sleuth collection (no {FILENAME})",
                "give the folder of a collection; `sleuth add` creates one in a new folder",
            )
        ]
    try:
        con = sqlite3.connect(folder / FILENAME, isolation_level=None)
    except sqlite3.Error as exc:
        return [_database(f"the database cannot be opened ({exc})")]
    try:
        return _check_database(con, folder)
    except sqlite3.DatabaseError as exc:  # e.g. "file is not a database"
        return [_database(f"the database is unreadable ({exc})")]
    finally:
        con.close()


def _database(message: str) -> Problem:
    return Problem(
        "database",
        message,
        "restore the folder from a backup; the sqlite3 shell's .recover may save the items",
    )


def _check_database(con: sqlite3.Connection, folder: Path) -> list[Problem]:
    verdict = con.execute("PRAGMA quick_check").fetchone()[0]
    if verdict != "ok":
        return [_database(f"the database fails its integrity check: {verdict}")]
    fatal, meta = _check_meta(con)
    if fatal:
        return [fatal]
    problems = _check_rows(con)
    problems += _check_vectors(con, meta["encoder_id"], meta["dim"])
    problems += _check_vector_file(con, folder, meta["dim"])
    problems += _check_changes(con)
    problems += _check_indexes(folder, _last_seq(con))
    return problems


def _check_meta(con: sqlite3.Connection) -> tuple[Problem | None, dict[str, Any]]:
    from sleuth.config import CollectionConfig
    from sleuth.store.schema import FORMAT_VERSION

    tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    missing = sorted({"meta", "items", "changes", "vectors", "attributes"} - tables)
    if missing:
        return _unfinished(con, tables, f"tables {', '.join(missing)} are missing"), {}
    meta: dict[str, Any] = {}
    for key, value in con.execute("SELECT key, value FROM meta"):
        try:
            meta[key] = json.loads(value)
        except (TypeError, ValueError):
            meta[key] = None
    version = meta.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool):
        return _unfinished(con, tables, "the format version is missing or unreadable"), meta
    if version > FORMAT_VERSION:
        message = f"written by a newer sleuth (format {version}; this one reads {FORMAT_VERSION})"
        return Problem("newer-format", message, "upgrade sleuth to open it"), meta
    try:
        CollectionConfig.from_dict(meta["config"])
    except (SleuthError, TypeError, ValueError, KeyError, AttributeError) as exc:
        message = f"the stored configuration is unreadable ({exc})"
        return Problem("meta", message, "restore the folder from a backup"), meta
    if not isinstance(meta.get("encoder_id"), str) or not isinstance(meta.get("dim"), int):
        message = "the stored encoder or dimension is missing or unreadable"
        return Problem("meta", message, "restore the folder from a backup"), meta
    return None, meta


def _unfinished(con: sqlite3.Connection, tables: set[str], what: str) -> Problem:
    """Metadata missing: most likely a creation that was killed before it finished."""
    items = con.execute("SELECT count(*) FROM items").fetchone()[0] if "items" in tables else 0
    if items == 0:
        fix = "it holds no items (a creation stopped early?): remove the folder, create it again"
    else:
        fix = f"it holds {items} items: restore the folder from a backup or export the items"
    return Problem("meta", f"{what}", fix, details={"items": items})


def _check_rows(con: sqlite3.Connection) -> list[Problem]:
    types = dict(con.execute("SELECT name, type FROM attributes").fetchall())
    problems = []
    for row in con.execute("SELECT docno, id, fields, attrs, hash FROM items ORDER BY docno"):
        parsed = parse_row(row, types)
        if isinstance(parsed, DamagedRow):
            problems.append(damaged_row_problem(parsed))
    return problems


def bad_vector_hashes(con: sqlite3.Connection, encoder_id: str, dim: int) -> list[str]:
    """Content hashes whose cached vector of this encoder is not ``dim`` float32 values."""
    return [
        r[0]
        for r in con.execute(
            "SELECT hash FROM vectors WHERE encoder = ? AND "
            "(typeof(vector) != 'blob' OR length(vector) != ?)",
            (encoder_id, 4 * dim),
        )
    ]


def _check_vectors(con: sqlite3.Connection, encoder_id: str, dim: int) -> list[Problem]:
    bad = bad_vector_hashes(con, encoder_id, dim)
    if not bad:
        return []
    return [
        Problem(
            "vector",
            f"{len(bad)} cached vectors have the wrong size",
            "harmless (their texts are encoded again when needed); `sleuth repair` removes them",
            repairable=True,
            details={"count": len(bad), "hashes": bad[:_SHOWN]},
        )
    ]


def _check_vector_file(con: sqlite3.Connection, folder: Path, dim: int) -> list[Problem]:
    """The file of given vectors holds every row the database refers to (bytes past them are
    a write that never committed, cut by the next one)."""
    from sleuth.store.schema import FILENAME
    from sleuth.store.vectorlog import SUFFIX, committed_rows

    rows = committed_rows(con)
    path = folder / (FILENAME + SUFFIX)
    held = path.stat().st_size // (4 * dim) if path.exists() else 0
    if held >= rows:
        return []
    message = f"{path.name} holds {held} vectors but the database refers to {rows}"
    fix = "restore the folder from a backup, or upsert the items with their vectors again"
    return [Problem("vector", message, fix, details={"held": held, "referred": rows})]


def dangling_changes(con: sqlite3.Connection) -> list[int]:
    """Docnos the change log adds (and never deletes) that the items table lacks."""
    rows = con.execute(
        "SELECT docno FROM changes GROUP BY docno "
        "HAVING sum(op = 'add') > sum(op = 'del') "
        "EXCEPT SELECT docno FROM items ORDER BY docno"
    )
    return [r[0] for r in rows]


def _check_changes(con: sqlite3.Connection) -> list[Problem]:
    docnos = dangling_changes(con)
    if not docnos:
        return []
    return [
        Problem(
            "change-log",
            f"{len(docnos)} change-log entries add items that are not stored",
            "harmless (they are skipped); `sleuth repair` closes them with a delete entry",
            repairable=True,
            details={"count": len(docnos), "docnos": docnos[:_SHOWN]},
        )
    ]


def _last_seq(con: sqlite3.Connection) -> int:
    row = con.execute("SELECT seq FROM sqlite_sequence WHERE name = 'changes'").fetchone()
    return 0 if row is None else int(row[0])


def _check_indexes(folder: Path, last_seq: int) -> list[Problem]:
    from sleuth.indexes.base import read_npz
    from sleuth.indexes.segments import MANIFEST, load_folder

    problems = []
    for name, kind in INDEX_FILES.items():
        path = folder / "index" / name
        read: Callable[..., tuple[dict[str, Any], Any]] = partial(load_folder, verify=True)
        if not (path / MANIFEST).exists():  # saved as one file (or by an earlier sleuth)
            path, read = folder / "index" / f"{name}.npz", read_npz
        if not path.exists():
            continue  # built when the collection opens
        relative = str(path.relative_to(folder))
        try:
            manifest, _ = read(path, kind)
        except CorruptIndex as exc:
            reason = exc.message.replace(str(path), relative)
        else:
            if manifest["seq"] <= last_seq:
                continue
            reason = f"{relative} is ahead of the store (another store copied in?)"
        problems.append(
            Problem(
                "index",
                reason,
                "it is rebuilt from the store when the collection opens; `sleuth repair` "
                "rebuilds every index now",
                repairable=True,
                details={"file": relative},
            )
        )
    return problems
