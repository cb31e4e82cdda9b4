"""SQLite (WAL) store: items, vectors keyed by (encoder, content hash), and the change log.

Every item version gets a fresh ``docno`` (never reused); an upsert of a changed item logs a
``del`` of the old docno and an ``add`` of the new one. Derived indexes replay this log from the
sequence number they last applied, so they catch up after a crash or a write by another process.
"""

from __future__ import annotations

import functools
import json
import re
import sqlite3
import threading
import warnings
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sleuth.errors import Closed, Conflict, InvalidInput
from sleuth.store.backfill import BackfillTables
from sleuth.store.bulk import BulkWritten, write_columns
from sleuth.store.columns import ItemColumns
from sleuth.store.events import EventTables
from sleuth.store.rows import DamagedRow, StoredItem, parse_row
from sleuth.store.schema import FILENAME, FORMAT_VERSION, SCHEMA
from sleuth.store.upgrade import upgrade
from sleuth.store.vectorlog import SUFFIX, VectorLog
from sleuth.store.writes import WriteResult, Written, write_batch
from sleuth.types import Item
from sleuth.values import check_text

__all__ = ["Change", "Store", "StoredItem", "WriteResult"]


@dataclass(frozen=True)
class Change:
    seq: int
    op: str  # "add" | "del"
    docno: int


class Store(EventTables, BackfillTables):
    """One collection's database. Writes are serialized; reads use a connection per thread."""

    def __init__(self, folder: Path, *, busy_timeout_s: float = 30.0) -> None:
        self.path = folder / FILENAME
        self._busy_ms = int(busy_timeout_s * 1000)
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []  # one per thread that read; closed on close
        # its own lock: a thread's first read may come inside a write transaction
        self._readers_lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._closed = False
        self._damaged: dict[int, DamagedRow] = {}  # by docno: see ``damaged_rows``
        self._damaged_lock = threading.Lock()
        self._vector_log: VectorLog | None = None
        self._writer = self._connect()
        # 64 MB of page cache for the writer (SQLite's default is 2 MB): a bulk write of vectors
        # inserts into a B-tree of every vector, at keys spread over all of it
        self._writer.execute("PRAGMA cache_size=-65536")

    def _connect(self) -> sqlite3.Connection:
        con = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        con.execute(f"PRAGMA busy_timeout={self._busy_ms}")
        con.execute("PRAGMA journal_mode=WAL")
        # FULL: an acknowledged write survives power loss, not only a process crash.
        con.execute("PRAGMA synchronous=FULL")
        return con

    @property
    def _reader(self) -> sqlite3.Connection:
        if self._closed:
            raise Closed(f"the collection at {self.path.parent} is closed; open it again")
        con = getattr(self._local, "con", None)
        if con is None:
            con = self._local.con = self._connect()
            with self._readers_lock:
                self._readers.append(con)
        return con

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._writer.close()
        with self._readers_lock:
            for con in self._readers:
                con.close()
            self._readers.clear()

    # -- creation ---------------------------------------------------------------------------

    def state(self) -> str:
        """How far this database is a collection: "ready" (it has metadata; ``check_version``
        judges it), "blank" (no metadata, no items, no events: a new file, or what a creation
        killed in earlier sleuth versions left, which ``create`` completes) or "orphaned" (items
        or events but no metadata)."""
        con = self._reader
        tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if "meta" in tables and con.execute("SELECT 1 FROM meta LIMIT 1").fetchone():
            return "ready"
        for table in ("items", "events"):
            if table in tables and con.execute(f"SELECT 1 FROM {table} LIMIT 1").fetchone():
                return "orphaned"
        return "blank"

    def create(self, meta: dict[str, Any]) -> bool:
        """Create the schema and store ``meta`` in ONE transaction, so a killed creation leaves
        a blank database (which the next ``create`` completes), never tables without metadata.
        False when another process completed the creation first (its metadata stays)."""
        with self._transaction() as con:
            found = con.execute(
                "SELECT 1 FROM sqlite_master WHERE type='table' AND name='meta'"
            ).fetchone()
            if found and con.execute("SELECT 1 FROM meta LIMIT 1").fetchone():
                return False
            for statement in SCHEMA.split(";"):
                if statement.strip():
                    con.execute(statement)
            con.executemany(
                "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                [(k, json.dumps(v)) for k, v in meta.items()],
            )
        return True

    def ensure_schema(self) -> None:
        """Add tables that a collection written by an earlier sleuth lacks (the schema used to
        be re-run on every open, which added them; this keeps that, without a write when none
        is missing), and upgrade a format 1 collection in place (``sleuth.store.upgrade``)."""
        expected = set(re.findall(r"CREATE TABLE IF NOT EXISTS (\w+)", SCHEMA))
        tables = {
            r[0] for r in self._reader.execute("SELECT name FROM sqlite_master WHERE type='table'")
        }
        if not expected <= tables:
            with self._transaction() as con:
                for statement in SCHEMA.split(";"):
                    if statement.strip():
                        con.execute(statement)
        if self.get_meta("format_version") < FORMAT_VERSION:
            upgrade(self, FORMAT_VERSION)

    # -- metadata ---------------------------------------------------------------------------

    def get_meta(self, key: str) -> Any:
        row = self._reader.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else json.loads(row[0])

    def set_meta(self, values: dict[str, Any]) -> None:
        with self._transaction() as con:
            con.executemany(
                "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                [(k, json.dumps(v)) for k, v in values.items()],
            )

    def attribute_types(self) -> dict[str, str]:
        return dict(self._reader.execute("SELECT name, type FROM attributes").fetchall())

    # -- reads -------------------------------------------------------------------------------

    def last_seq(self) -> int:
        row = self._reader.execute("SELECT seq FROM sqlite_sequence WHERE name = 'changes'")
        found = row.fetchone()
        return 0 if found is None else int(found[0])

    def count(self) -> int:
        return int(self._reader.execute("SELECT count(*) FROM items").fetchone()[0])

    def changes_since(self, seq: int) -> tuple[list[Change], int]:
        """Changes after ``seq`` and the sequence number they lead to (one read snapshot)."""
        con = self._reader
        con.execute("BEGIN")
        try:
            rows = con.execute(
                "SELECT seq, op, docno FROM changes WHERE seq > ? ORDER BY seq", (seq,)
            ).fetchall()
        finally:
            con.execute("COMMIT")
        changes = [Change(*r) for r in rows]
        return changes, (changes[-1].seq if changes else seq)

    def docnos_of(self, ids: Sequence[str]) -> dict[str, int]:
        _check_ids(ids)
        out: dict[str, int] = {}
        for chunk in _chunks(list(ids), 500):
            marks = ",".join("?" * len(chunk))
            out.update(
                self._reader.execute(
                    f"SELECT id, docno FROM items WHERE id IN ({marks})", chunk
                ).fetchall()
            )
        return out

    def items(self, docnos: Sequence[int]) -> dict[int, StoredItem]:
        """Live, usable items by docno (docnos deleted since are absent, and so are damaged
        rows: see ``damaged_rows``)."""
        out: dict[int, StoredItem] = {}
        types = self.attribute_types()
        for chunk in _chunks([int(d) for d in docnos], 500):
            marks = ",".join("?" * len(chunk))
            rows = self._reader.execute(
                f"SELECT docno, id, fields, attrs, hash, vrow FROM items WHERE docno IN ({marks})",
                chunk,
            )
            out.update((s.docno, s) for s in self._usable(rows, types))
        return out

    def iter_items(self, batch: int = 2000) -> Iterator[list[StoredItem]]:
        """Every usable item, in docno order, ``batch`` at a time (damaged rows left out)."""
        last = -1
        types = self.attribute_types()
        while True:
            rows = self._reader.execute(
                "SELECT docno, id, fields, attrs, hash, vrow FROM items WHERE docno > ? "
                "ORDER BY docno LIMIT ?",
                (last, batch),
            ).fetchall()
            if not rows:
                return
            yield self._usable(rows, types)
            last = rows[-1][0]

    def _usable(self, rows: Iterable[tuple[Any, ...]], types: dict[str, str]) -> list[StoredItem]:
        out = []
        for row in rows:
            parsed = parse_row(row, types)
            if isinstance(parsed, DamagedRow):
                # A write may have added or widened an attribute type after ``types`` was
                # read: judge the row against the current table before setting it aside.
                parsed = parse_row(row, self.attribute_types())
            if isinstance(parsed, DamagedRow):
                self._set_aside(parsed)
            else:
                out.append(StoredItem(docno=row[0], item=parsed, hash=row[4], vrow=row[5]))
        return out

    def _set_aside(self, bad: DamagedRow) -> None:
        with self._damaged_lock:
            known = self._damaged.get(bad.docno)
            self._damaged[bad.docno] = bad
        if known is None:  # once per row and process, not at every read
            warnings.warn(
                f"{self.path.parent.name}: item {bad.id!r} is damaged and left out of every "
                f"index and result: {bad.reason} (see `sleuth info`, `sleuth repair`)",
                stacklevel=4,
            )

    def damaged_rows(self) -> list[DamagedRow]:
        """The damaged rows this process has met (and that are still stored), by docno.
        ``scan_damaged`` reads every row to find them all."""
        with self._damaged_lock:
            known = dict(self._damaged)
        still = self._present(list(known))
        with self._damaged_lock:
            for docno in set(known) - still:  # deleted or replaced since
                self._damaged.pop(docno, None)
        return [known[d] for d in sorted(still)]

    def scan_damaged(self) -> list[DamagedRow]:
        """Read every item row and return the damaged ones."""
        for _ in self.iter_items():
            pass
        return self.damaged_rows()

    def _present(self, docnos: list[int]) -> set[int]:
        out: set[int] = set()
        for chunk in _chunks(docnos, 500):
            marks = ",".join("?" * len(chunk))
            rows = self._reader.execute(f"SELECT docno FROM items WHERE docno IN ({marks})", chunk)
            out.update(r[0] for r in rows)
        return out

    def vectors(self, encoder: str, hashes: Sequence[str], dim: int) -> dict[str, np.ndarray]:
        """Cached vectors by content hash. A blob of the wrong size or with NaN/inf (damaged,
        or written by older code) counts as absent, so the text is encoded again."""
        out: dict[str, np.ndarray] = {}
        for chunk in _chunks(sorted(set(hashes)), 500):
            marks = ",".join("?" * len(chunk))
            for h, blob in self._reader.execute(
                f"SELECT hash, vector FROM vectors WHERE encoder = ? AND hash IN ({marks})",
                [encoder, *chunk],
            ):
                if not isinstance(blob, bytes) or len(blob) != 4 * dim:
                    continue
                vec = np.frombuffer(blob, dtype=np.float32)
                if np.isfinite(vec).all():
                    out[h] = vec
        return out

    def space_vectors(
        self, space: str, docnos: Sequence[int], dim: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """The vectors these items hold in a named space: ``(docnos int64[m], float32[m, dim])``
        in the order asked (items without one, or with a damaged blob, left out)."""
        found: dict[int, bytes] = {}
        for chunk in _chunks([int(d) for d in docnos], 500):
            marks = ",".join("?" * len(chunk))
            found.update(
                self._reader.execute(
                    f"SELECT docno, vector FROM space_vectors WHERE space = ? AND docno IN "
                    f"({marks})",
                    [space, *chunk],
                ).fetchall()
            )
        keep = [d for d in docnos if isinstance(found.get(d), bytes) and len(found[d]) == 4 * dim]
        matrix = np.frombuffer(b"".join(found[d] for d in keep), np.float32).reshape(-1, dim)
        ok = np.isfinite(matrix).all(axis=1)
        return np.array(keep, np.int64)[ok], matrix[ok]

    # -- writes ------------------------------------------------------------------------------

    def put_vectors(self, encoder: str, vectors: dict[str, np.ndarray]) -> None:
        """Cache vectors; separate from item writes so an interrupted ingest keeps its work."""
        with self._transaction() as con:
            con.executemany(
                "INSERT OR IGNORE INTO vectors (encoder, hash, vector) VALUES (?, ?, ?)",
                [
                    (encoder, h, np.ascontiguousarray(v, np.float32).tobytes())
                    for h, v in vectors.items()
                ],
            )

    def write(
        self,
        upserts: Sequence[tuple[Item, str]],
        deletes: Sequence[str],
        *,
        must_be_new: bool,
        given: tuple[str, Sequence[str], np.ndarray] | None = None,
        spaces: Sequence[dict[str, bytes]] | None = None,
    ) -> Written:
        """Apply one batch in one transaction: all of it or none of it (see
        ``sleuth.store.writes``). An item is unchanged when its fields, attributes and vector
        key are (and its named spaces' vectors). ``given``: ``(encoder id, keys, float32[n,
        dim])``, the vectors items brought, stored in the same transaction (unlike encoded
        ones, they cannot be made again). ``spaces``: per upsert, its vectors in named spaces
        (space name to float32 bytes)."""
        _check_ids(deletes)
        with self._transaction() as con:
            place = None
            if given is not None and len(given[1]):
                place = functools.partial(self.vector_log.place, con, given[1], given[2])
            return write_batch(
                con, upserts, deletes, must_be_new=must_be_new, spaces=spaces, place=place
            )

    def write_columns(
        self, columns: ItemColumns, keys: list[str], matrix: np.ndarray, *, must_be_new: bool
    ) -> BulkWritten:
        """A bulk write of checked columns whose items all bring their vector (``matrix``,
        ``float32[n, dim]`` unit rows, ``keys`` theirs) in one transaction, as ``write``
        would write them (``sleuth.store.bulk``)."""
        with self._transaction() as con:
            place = functools.partial(self.vector_log.place, con, keys, matrix)
            return write_columns(con, columns, keys, matrix, must_be_new=must_be_new, place=place)

    @property
    def vector_log(self) -> VectorLog:
        """The file of given vectors (its dimension is the collection's)."""
        if self._vector_log is None:
            dim = int(self.get_meta("dim"))
            self._vector_log = VectorLog(self.path.with_name(FILENAME + SUFFIX), dim)
        return self._vector_log

    def given_vectors(self, rows: Sequence[int]) -> np.ndarray:
        """``float32[len(rows), dim]``: given vectors by their rows in the vector file."""
        return self.vector_log.read(rows)

    def _transaction(self) -> _Transaction:
        if self._closed:
            raise Closed(f"the collection at {self.path.parent} is closed; open it again")
        return _Transaction(self._writer, self._write_lock)


class _Transaction:
    """``BEGIN IMMEDIATE`` … ``COMMIT``, rolled back on any error (also KeyboardInterrupt)."""

    def __init__(self, con: sqlite3.Connection, lock: threading.Lock) -> None:
        self.con = con
        self.lock = lock

    def __enter__(self) -> sqlite3.Connection:
        self.lock.acquire()
        try:
            self.con.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            self.lock.release()
            raise Conflict(
                f"the collection database is locked by another writer ({exc}); retry later"
            ) from None
        return self.con

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        try:
            self.con.execute("ROLLBACK" if exc_type else "COMMIT")
        finally:
            self.lock.release()


def _check_ids(ids: Sequence[Any]) -> None:
    """Ids to look up or delete: strings SQLite can bind (UTF-8), else ``InvalidInput``."""
    for item_id in ids:
        if not isinstance(item_id, str):
            raise InvalidInput(f"an item id must be a string, got {type(item_id).__name__}")
        check_text(item_id, f"item id {item_id!r:.80}")


def _chunks(values: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]
