"""The index set: what searches read (the attribute table and every derived index), each entry
at the change-log sequence number it reflects, opened, caught up, saved and reported in one loop.

Every entry lives in ``index/<name>/`` (a folder of arrays where a save writes what changed:
``sleuth.indexes.segments``; the attribute table and BM25) or ``index/<name>.npz`` (one file
written whole). The ``.npz`` of a folder entry written by an earlier sleuth is read, and
replaced by the folder at the first save (the folder's manifest is renamed into place before
the file is removed, so a crash leaves one or the other readable). A missing entry starts
empty (a collection written before the attribute table was saved builds it once, silently), a
corrupt or stale one (built otherwise, or ahead of the store) starts empty with a warning, and
catching up replays what each lacks. So opening loads arrays and parses no item. Late
interaction adds two entries (the token index and the MUVERA index), nothing else.
"""

from __future__ import annotations

import contextlib
import shutil
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol, TypeVar

import numpy as np

from sleuth._version import __version__
from sleuth.config import CollectionConfig
from sleuth.encoders.cache import EmbeddingCache
from sleuth.encoders.late import LateInteraction
from sleuth.errors import CorruptIndex
from sleuth.indexes.base import INDEX_FORMAT, Index, Update, read_npz
from sleuth.indexes.bm25 import BM25Index
from sleuth.indexes.dense import DenseIndex
from sleuth.indexes.fde import FDEIndex
from sleuth.indexes.replay import Added, Delta, Replayer, added_docnos
from sleuth.indexes.segments import MANIFEST, load_folder, save_folder
from sleuth.indexes.space import SpaceEntry, space_index
from sleuth.indexes.tokens import TokenIndex
from sleuth.spaces import index_name
from sleuth.store import AttributeTable, ReadWriteLock, Store, StoredItem
from sleuth.store.bulk import BulkRows

__all__ = ["Documents", "IndexSet"]

_T = TypeVar("_T", bound="Attributes | Index")


class Documents:
    """What the indexes are built from, for the items of one catch-up: texts, cached vectors
    and token sets, each computed once and before the write lock is taken."""

    def __init__(self, cache: EmbeddingCache, tokens: TokenIndex | None) -> None:
        self.cache = cache
        self._tokens = tokens
        self._sets: dict[int, np.ndarray] = {}

    def texts(self, items: Added) -> list[str]:
        if isinstance(items, BulkRows):
            return items.texts(self.cache.text_fields)
        return [self.cache.text(s.item) for s in items]

    def vectors(self, items: Added) -> np.ndarray:
        if isinstance(items, BulkRows):
            return items.vectors
        return self.cache.vectors(items)

    def token_sets(self, items: Added) -> list[np.ndarray]:
        """Those the token index holds (e.g. only muvera.npz was lost), else those computed by
        the write or encoded again."""
        if isinstance(items, BulkRows):
            items = items.stored()
        held = self._tokens
        for s in items:
            if s.docno not in self._sets and held is not None:
                found = held.tokens_of(s.docno)
                if found is not None:
                    self._sets[s.docno] = found
        need = [s for s in items if s.docno not in self._sets]
        self._sets.update(zip((s.docno for s in need), self.cache.token_sets(need)))
        return [self._sets[s.docno] for s in items]


class Entry(Protocol):
    """One member of the set: prepared from a delta outside the lock, applied under it, and
    saved to ``<name>.npz`` (``saved_seq``: what its file holds)."""

    name: str
    saved_seq: int
    segmented: bool  # saved as the folder ``<name>/``, else as ``<name>.npz``

    @property
    def seq(self) -> int: ...

    def save(self, path: Path) -> None: ...

    def prepare(self, delta: Delta, documents: Documents) -> Update: ...

    def apply(self, update: Update) -> None: ...

    def info(self) -> dict[str, Any]: ...


class Derived:
    """A derived index, its file, and how its documents come from stored items."""

    def __init__(
        self,
        name: str,
        index: Index,
        documents: Callable[[Added, Documents], Any],
    ) -> None:
        self.name = name
        self.index = index
        self.segmented = index.segmented
        self.documents = documents
        # what its file holds (a fresh index: nothing to save yet; an outdated file: less)
        self.saved_seq = -1 if index.outdated else index.seq

    @property
    def seq(self) -> int:
        return self.index.seq

    def prepare(self, delta: Delta, documents: Documents) -> Update:
        removed, added = delta.after(self.index.seq)
        docnos = added_docnos(added)
        mine = self.documents(added, documents)
        return self.index.prepare(docnos, mine, removed=removed, seq=delta.seq)

    def apply(self, update: Update) -> None:
        self.index.apply(update)

    def save(self, path: Path) -> None:
        self.index.save(path)

    def info(self) -> dict[str, Any]:
        return self.index.info()


class Attributes:
    """The attribute table, saved as arrays and caught up from the change log (a type
    widened by a write, e.g. a date-time attribute that got a plain string, rebuilds it from
    every item)."""

    name = "attributes"
    segmented = True

    def __init__(self, store: Store, table: AttributeTable | None = None, seq: int = 0) -> None:
        self.store = store
        self.table = AttributeTable(store.attribute_types()) if table is None else table
        self.seq = seq
        self.saved_seq = seq

    def restore(self, path: Path) -> Attributes:
        """The table saved in ``path`` (a folder, or the ``.npz`` of an earlier sleuth, then
        to be saved again as a folder); CorruptIndex when it is unreadable or inconsistent."""
        folder = path.is_dir()
        read = load_folder if folder else read_npz
        manifest, arrays = read(path, self.name, ("live",))
        try:
            table = AttributeTable.restored(manifest, arrays)
        except (ValueError, KeyError, TypeError) as exc:
            raise CorruptIndex(f"{path}: attribute columns: {exc}", path=str(path)) from None
        restored = Attributes(self.store, table, int(manifest["seq"]))
        if not folder:
            restored.saved_seq = -1
        return restored

    def save(self, path: Path) -> None:
        extra, arrays = self.table.payload()
        manifest = {"format": INDEX_FORMAT, "kind": self.name, "sleuth": __version__}
        save_folder(path, {**manifest, "seq": self.seq, **extra}, arrays)

    def prepare(self, delta: Delta, documents: Documents) -> Update:
        removed, added = delta.after(self.seq)
        types = self.store.attribute_types()
        if any(types.get(name) != kind for name, kind in self.table.types.items()):
            table = AttributeTable(types)
            for batch in self.store.iter_items():
                numbers = [stored.docno for stored in batch]
                table.add_many(numbers, [dict(s.item.attributes) for s in batch], types)
            return Update(removed, np.zeros(0, np.int64), table, delta.seq)
        docnos = added_docnos(added)
        if isinstance(added, BulkRows):
            by_name = added.attribute_values()
        else:
            by_name = AttributeTable.by_name(docnos.tolist(), [s.item.attributes for s in added])
        return Update(removed, docnos, (types, by_name), delta.seq)

    def apply(self, update: Update) -> None:
        if isinstance(update.rows, AttributeTable):  # rebuilt whole
            self.table = update.rows
        else:
            types, by_name = update.rows
            for docno in update.removed.tolist():
                self.table.remove(docno)
            self.table.add_columns(update.docnos, by_name, types)
        if update.seq is not None:
            self.seq = update.seq

    def info(self) -> dict[str, Any]:
        columns = self.table.columns
        return {name: {"kind": c.kind, "bytes": c.nbytes} for name, c in sorted(columns.items())}


class IndexSet:
    """The attribute table and the derived indexes of one collection (``rebuild`` makes a new
    set and swaps it in whole). Callers hold the collection's update lock around ``catch_up``
    and ``save``; searches read under its read-write lock."""

    def __init__(
        self,
        folder: Path,
        store: Store,
        cache: EmbeddingCache,
        config: CollectionConfig,
        dim: int,
        late: LateInteraction | None,
    ) -> None:
        self.folder = folder
        self.store = store
        self.cache = cache
        self._replayer = Replayer(store)
        fresh = Attributes(store)
        loaded = self._load(fresh.name, fresh.segmented, fresh.restore)
        self._attributes = fresh if loaded is None else loaded
        self.derived: list[Derived | SpaceEntry] = [
            self._derived(*spec) for spec in _specs(config, dim, late)
        ]
        for name, space in config.spaces.items():  # one more dense index per named space
            empty = space_index(config.dense, name, space)
            index = self._load(index_name(name), empty.segmented, empty.restore)
            if index is None:  # none saved, or unusable (a half-restored one is dropped)
                index = space_index(config.dense, name, space)
            self.derived.append(SpaceEntry(store, name, space, index))
        self.entries: list[Entry] = [self._attributes, *self.derived]

    @property
    def attributes(self) -> AttributeTable:
        return self._attributes.table

    @property
    def seq(self) -> int:
        """The change-log sequence number every entry reflects."""
        return min(e.seq for e in self.entries)

    @property
    def indexes(self) -> dict[str, Index]:
        """The derived indexes by file name (bm25, dense, tokens and muvera with late
        interaction, dense-<name> per named vector space): what the retrievers read."""
        return {d.name: d.index for d in self.derived}

    def index(self, name: str) -> Any:
        """The derived index saved as ``<name>.npz``, or None."""
        return next((d.index for d in self.derived if d.name == name), None)

    def _derived(
        self, name: str, make: Callable[[], Index], documents: Callable[..., Any]
    ) -> Derived:
        empty = make()
        index = self._load(name, empty.segmented, make().restore)
        return Derived(name, empty if index is None else index, documents)

    def _load(self, name: str, segmented: bool, restore: Callable[[Path], _T | None]) -> _T | None:
        """The entry saved as ``<name>/`` or ``<name>.npz``, or None (silently when there is
        neither; with a warning when it is corrupt, built otherwise or ahead of the store)."""
        path = self.folder / name
        if not (segmented and (path / MANIFEST).exists()):
            path = self.folder / f"{name}.npz"  # saved whole, or by an earlier sleuth
        if not path.exists():
            return None
        try:
            entry = restore(path)
            if entry is not None and entry.seq <= self.store.last_seq():
                return entry
            reason = "it was built with another configuration or is ahead of the store"
        except CorruptIndex as exc:
            reason = str(exc)
        warnings.warn(
            f"rebuilding the {name} index of {self.folder.parent}: {reason}", stacklevel=5
        )
        return None

    def catch_up(
        self, lock: ReadWriteLock | None, written: Sequence[StoredItem] | BulkRows = ()
    ) -> None:
        """Bring every entry up to the store. The slow parts (reading the store, tokenizing,
        fetching vectors) run first; ``lock`` (searches) is held only while they are applied.
        ``written``: the item versions a write of this process just added (not read again)."""
        last = self._replayer.last_seq()
        if all(e.seq == last for e in self.entries):
            return
        delta = self._replayer.since(self.seq, written)
        documents = Documents(self.cache, self.index("tokens"))
        updates = [(e, e.prepare(delta, documents)) for e in self.entries]
        with lock.write() if lock is not None else contextlib.nullcontext():
            for entry, update in updates:
                entry.apply(update)

    def unsaved(self) -> int:
        """How many changes the files are behind the set."""
        return self.seq - min(e.saved_seq for e in self.entries)

    def behind(self) -> bool:
        """Whether the files are well behind: a tenth of the live items in changes (at least
        1,000), so the saves' cost per change does not grow and an open replays at most that.
        The live items are counted in memory (SQLite's count reads every row's index entry)."""
        return self.unsaved() >= max(1000, self.attributes.count // 10)

    def save(self) -> int:
        """Write the entries that changed since their file was written (each file atomically);
        returns how many were written."""
        written = 0
        for e in self.entries:
            path = self.folder / e.name if e.segmented else self.folder / f"{e.name}.npz"
            if e.seq != e.saved_seq or not (path / MANIFEST if e.segmented else path).exists():
                e.save(path)
                e.saved_seq = e.seq
                written += 1
                if e.segmented:  # the whole file of an earlier sleuth, now replaced
                    (self.folder / f"{e.name}.npz").unlink(missing_ok=True)
        return written

    def remove_files(self) -> None:
        for e in self.entries:
            (self.folder / f"{e.name}.npz").unlink(missing_ok=True)
            shutil.rmtree(self.folder / e.name, ignore_errors=True)

    def info(self) -> dict[str, Any]:
        """The attribute kinds, ``seq``, each derived index's report by name, and the attribute
        columns' kinds and bytes (``Collection.info()`` shows them)."""
        return {
            "attributes": dict(self.attributes.types),
            "seq": self.seq,
            "indexes": {d.name: d.info() for d in self.derived},
            "attribute_columns": self._attributes.info(),
        }


def _specs(
    config: CollectionConfig, dim: int, late: LateInteraction | None
) -> list[tuple[str, Callable[[], Index], Callable[[Added, Documents], Any]]]:
    """Each derived index: its file name, an empty one, and its documents for stored items."""
    specs: list[tuple[str, Callable[[], Index], Callable[[Added, Documents], Any]]] = [
        ("bm25", lambda: BM25Index(config.bm25), lambda items, docs: docs.texts(items)),
        ("dense", lambda: DenseIndex(config.dense, dim), lambda items, docs: docs.vectors(items)),
    ]
    if late is not None:
        fde_dim = late.muvera.fde_dim
        specs += [
            ("tokens", lambda: TokenIndex(late.config, late.dim), lambda i, d: d.token_sets(i)),
            (
                "muvera",
                lambda: FDEIndex(config.dense, fde_dim, late.config),
                lambda items, docs: late.fde(docs.token_sets(items)),
            ),
        ]
    return specs
