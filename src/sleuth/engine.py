"""The Collection: one folder, one store, derived indexes, and the search funnel over them.

Writes go store-first (one SQLite transaction per batch); the in-memory indexes then replay the
store's change log, which is also how they catch up after a crash or another process's write.
Index files are saved on ``close()`` / ``save()`` and after large writes; what they miss is
replayed on open.
"""

from __future__ import annotations

import contextlib
import hashlib
import shutil
import threading
import time
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from sleuth.config import DEFAULT_SOURCE_WEIGHTS, CollectionConfig, FusionConfig, check_weights
from sleuth.encoders import Encoder, get_encoder
from sleuth.encoders.late import LateInteraction
from sleuth.errors import Conflict, CorruptIndex, InvalidCollection, InvalidInput, NotFound
from sleuth.fuse import fuse_lists
from sleuth.indexes.bm25 import BM25Index
from sleuth.indexes.dense import DenseIndex
from sleuth.indexes.tokens import TokenIndex
from sleuth.limits import check_k as _check_k
from sleuth.limits import check_query
from sleuth.progress import progress_bar
from sleuth.recommend.service import RecommendService, in_mask, mmr
from sleuth.retrieve import compile_filter, retrievers_for
from sleuth.search import Context, Hits, Trace, build_hits, plan_for
from sleuth.store import (
    FORMAT_VERSION,
    AttributeTable,
    Change,
    ReadWriteLock,
    Store,
    StoredItem,
    WriterLock,
)
from sleuth.store.diagnose import Problem, damaged_row_problem, diagnose
from sleuth.store.repair import repair_store
from sleuth.store.sqlite import FILENAME, WriteResult, check_folder, check_version
from sleuth.timing import ms_since as _ms
from sleuth.types import Hit, Item, parse_event, parse_item

__all__ = [
    "Collection",
    "RecordResult",
    "WriteResult",
    "open_collection",
]

ENCODE_CHUNK = 256


@dataclass(frozen=True)
class RecordResult:
    recorded: int
    duplicates: int  # events whose event_id was already recorded (retries)


def open_collection(
    path: str | Path,
    *,
    encoder: str | Encoder | None = None,
    config: CollectionConfig | None = None,
    lock_timeout: float = 30.0,
) -> Collection:
    """Open the collection in ``path``, creating it (with ``config``) if the folder is new or empty.

    ``encoder``: "minilm" (bundled all-MiniLM-L6-v2, the default), "hashing[:dim]", or a local
    sentence-transformers folder. Opening with a different encoder than the collection was built
    with is a ``Conflict``.

    Creation checks the config and encoder before touching the disk (an invalid one creates
    nothing) and writes the schema and metadata in one transaction; a database left blank by a
    creation killed midway is completed here, one with items but no metadata is an
    ``InvalidCollection`` that says what to do.
    """
    folder = Path(path)
    if config is not None and not isinstance(config, CollectionConfig):
        raise InvalidInput(
            f"config must be a CollectionConfig (CollectionConfig.from_dict(...) reads a dict), "
            f"got {type(config).__name__}"
        )
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
            enc = get_encoder(encoder if encoder is not None else config.encoder)
            enc.check_tokens(config.late.enabled)
            if config.late.enabled:  # its checks across fields (token dim vs MUVERA) run now
                LateInteraction(config.late, enc)
            config = replace(config, encoder=enc.spec)  # the one actually used
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
            stored = CollectionConfig.from_dict(store.get_meta("config"))
        except InvalidInput as exc:  # e.g. a value beyond a limit earlier versions lacked
            raise InvalidCollection(
                f"{folder.name}: its stored configuration is not valid: {exc.message}. Export "
                "its items (with the sleuth version that built it) into a new collection",
                field=exc.details.get("field"),
            ) from None
        if config is not None and replace(config, encoder=stored.encoder) != stored:
            raise Conflict(
                f"{folder} was created with another configuration; open it without config= "
                "(its own is used) or create a new collection",
                stored=stored.to_dict(),
            )
        config = stored
        enc = _stored_encoder(store, encoder)
        dim = int(store.get_meta("dim"))
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


class Collection:
    """A searchable catalog in one folder. Use ``sleuth.open(path)`` to get one."""

    def __init__(
        self,
        folder: Path,
        store: Store,
        config: CollectionConfig,
        encoder: Encoder,
        dim: int,
        *,
        lock_timeout: float = 30.0,
    ) -> None:
        self.path = folder
        self.store = store
        self.config = config
        self.encoder = encoder
        self.dim = dim
        # Three locks, always taken in this order: ``_apply`` serializes this process's writers
        # and index updates; ``_writer`` (a file lock) serializes writers across processes; ``_rw``
        # lets searches share the in-memory indexes and excludes them only while an update is
        # applied to them.
        self._apply = threading.RLock()
        self._writer = WriterLock(folder / "write.lock", timeout=lock_timeout)
        self._rw = ReadWriteLock()
        self._index_dir = folder / "index"
        self._index_dir.mkdir(exist_ok=True)
        self.encoded_texts = 0  # texts this object sent to the encoder (cache misses)
        self._recs = RecommendService(config.recommend, folder / "models")
        self.late = LateInteraction(config.late, encoder) if config.late.enabled else None
        # Token vectors computed while encoding a write, waiting for the index update to take
        # them (float16, by content hash); what is not here is encoded again from the text.
        self._pending_tokens: dict[str, np.ndarray] = {}
        self._ix = self._open_indexes()
        self._saved_seq = min(index.seq for index in self._ix.derived().values())
        self._refresh()

    # -- lifecycle ---------------------------------------------------------------------------

    @property
    def bm25(self) -> BM25Index:
        return self._ix.bm25

    @property
    def dense(self) -> DenseIndex:
        return self._ix.dense

    @property
    def attributes(self) -> AttributeTable:
        return self._ix.attributes

    @property
    def retrievers(self) -> dict[str, Any]:
        return self._ix.retrievers

    def _open_indexes(self) -> _Indexes:
        """The saved indexes (a missing, corrupt or stale one starts empty), not yet caught up."""
        bm25 = self._load_index(
            "bm25",
            lambda p: BM25Index.load(p, self.config.bm25),
            lambda: BM25Index(self.config.bm25),
        )
        dense = self._load_index(
            "dense",
            lambda p: DenseIndex.load(p, self.config.dense, self.dim),
            lambda: DenseIndex(self.config.dense, self.dim),
        )
        ix = _Indexes(AttributeTable(self.store.attribute_types()), bm25, dense)
        if self.late is not None:
            late, dim, fde_dim = self.late, self.late.dim, self.late.muvera.fde_dim
            recipe = late.config.to_dict()  # the MUVERA parameters and seed included
            tokens = self._load_index(
                "tokens",
                lambda p: TokenIndex.load(p, late.config, dim),
                lambda: TokenIndex(late.config, dim),
            )
            fde = self._load_index(
                "muvera",
                lambda p: DenseIndex.load(p, self.config.dense, fde_dim, derived_from=recipe),
                lambda: DenseIndex(self.config.dense, fde_dim, derived_from=recipe),
            )
            ix.add_late(late, tokens, fde)
        return ix

    def _load_index(self, name: str, load: Any, fresh: Any) -> Any:
        path = self._index_dir / f"{name}.npz"
        if path.exists():
            try:
                index = load(path)
                if index is not None and index.seq <= self.store.last_seq():
                    return index
                reason = "it was built with another configuration or is ahead of the store"
            except CorruptIndex as exc:
                reason = str(exc)
            warnings.warn(f"rebuilding the {name} index of {self.path}: {reason}", stacklevel=4)
        return fresh()

    def close(self) -> None:
        """Save the indexes if they changed, and release the database. Closing twice is fine."""
        with self._apply:
            if self.store.closed:
                return
            try:
                self.save()
            finally:
                with self._rw.write():  # let running searches finish first
                    self.store.close()

    def __enter__(self) -> Collection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def save(self) -> None:
        """Write every index that has unsaved changes (atomically, one file each)."""
        with self._apply:
            self._refresh()
            ix = self._ix
            derived = ix.derived()
            if all(i.seq == self._saved_seq for i in derived.values()) and all(
                (self._index_dir / f"{n}.npz").exists() for n in derived
            ):
                return
            self._save(ix)

    def _save(self, ix: _Indexes) -> None:
        # Only threads holding ``_apply`` change the indexes, so searches go on while this writes.
        for name, index in ix.derived().items():
            index.save(self._index_dir / f"{name}.npz")
        self._saved_seq = ix.bm25.seq

    def rebuild(self) -> None:
        """Drop the derived indexes and rebuild them from the store (vectors are reused).
        Searches go on against the old indexes until the new ones are complete."""
        with self._apply:
            for name in ("bm25", "dense", "tokens", "muvera"):
                (self._index_dir / f"{name}.npz").unlink(missing_ok=True)
            ix = self._open_indexes()
            self._catch_up(ix, live=False)
            with self._rw.write():
                self._ix = ix
            self._save(ix)

    def check(self) -> list[Problem]:
        """Every problem of this collection, reading all of it (``sleuth info``; see
        ``sleuth.store.diagnose``). ``info()["problems"]`` lists only what was met since open."""
        return diagnose(self.path)

    def repair(self, *, drop_bad_rows: bool = False) -> dict[str, Any]:
        """Fix what can be fixed without losing data, then rebuild the indexes; damaged rows
        are deleted (after a copy to ``quarantine/``) only with ``drop_bad_rows`` (see
        ``sleuth.store.repair``). Returns what was done and the damaged rows found."""
        with self._apply, self._writer:
            report = repair_store(
                self.store, self.encoder.id, self.dim, drop_bad_rows=drop_bad_rows
            )
        self.rebuild()
        report["done"].append(f"rebuilt the indexes ({self.count()} items)")
        return report

    # -- catching up with the store ----------------------------------------------------------

    def _refresh(self, *, wait: bool = True) -> None:
        """Apply the store's changes that the in-memory state has not seen yet.

        With ``wait=False`` (searches), a thread that finds another one applying a write does not
        wait: it searches the state before that write, which is consistent.
        """
        if not self._apply.acquire(blocking=wait):
            return
        try:
            ix = self._ix
            self._catch_up(ix, live=True)
            if ix.seq - self._saved_seq >= max(1000, self.store.count() // 10):
                self._save(ix)
        finally:
            self._apply.release()

    def _catch_up(self, ix: _Indexes, *, live: bool) -> None:
        """Bring ``ix`` up to the store. The slow parts (reading the store, tokenizing, fetching
        vectors) run first; searches are held back only while the prepared changes are applied."""
        last = self.store.last_seq()
        if last == ix.seq and all(i.seq == last for i in ix.derived().values()):
            return
        changes, seq = self.store.changes_since(ix.seq)
        items = self.store.items(sorted({c.docno for c in changes if c.op == "add"}))
        attr_removed, attr_added = _delta(changes, ix.attr_seq, items)
        types = self.store.attribute_types()
        widened = any(types.get(name) != kind for name, kind in ix.attributes.types.items())
        table = self._attribute_table(types) if widened else None  # date-time widened to str
        bm25_removed, bm25_added = _delta(changes, ix.bm25.seq, items)
        tokens = ix.bm25.analyzer.many([self._text(s.item) for s in bm25_added])
        dense_removed, dense_added = _delta(changes, ix.dense.seq, items)
        vectors = self._vectors_of(dense_added)
        tokens_removed: list[int] = []
        tokens_added: list[StoredItem] = []
        fde_removed: list[int] = []
        fde_added: list[StoredItem] = []
        sets: dict[int, np.ndarray] = {}
        fdes = np.zeros((0, 0), np.float32)
        if ix.tokens is not None and ix.fde is not None and self.late is not None:
            tokens_removed, tokens_added = _delta(changes, ix.tokens.seq, items)
            fde_removed, fde_added = _delta(changes, ix.fde.seq, items)
            # The FDE of an item the token index already holds comes from its stored vectors
            # (e.g. only muvera.npz was lost): texts are encoded only for what neither has.
            stored_sets = {s.docno: ix.tokens.tokens_of(s.docno) for s in fde_added}
            sets = {d: v for d, v in stored_sets.items() if v is not None}
            need = {s.docno: s for s in (*tokens_added, *fde_added) if s.docno not in sets}
            sets.update(zip(need, self._tokens_of(list(need.values()))))
            fdes = self.late.fde([sets[s.docno] for s in fde_added])
        with self._rw.write() if live else contextlib.nullcontext():
            if table is not None:
                ix.attributes = table
            else:
                for docno in attr_removed:
                    ix.attributes.remove(docno)
                for stored in attr_added:
                    ix.attributes.add(stored.docno, dict(stored.item.attributes), types)
            ix.bm25.remove(bm25_removed)
            ix.bm25.add_tokens(_docnos(bm25_added), tokens)
            ix.dense.remove(dense_removed)
            ix.dense.add(_docnos(dense_added), vectors)
            if ix.tokens is not None and ix.fde is not None:
                ix.tokens.remove(tokens_removed)
                ix.tokens.add(_docnos(tokens_added), [sets[s.docno] for s in tokens_added])
                ix.fde.remove(fde_removed)
                ix.fde.add(_docnos(fde_added), fdes)
                ix.tokens.seq = ix.fde.seq = seq
            ix.attr_seq = ix.bm25.seq = ix.dense.seq = seq

    def _attribute_table(self, types: dict[str, str]) -> AttributeTable:
        table = AttributeTable(types)
        for batch in self.store.iter_items():
            for stored in batch:
                table.add(stored.docno, dict(stored.item.attributes), types)
        return table

    def _vectors_of(self, stored: list[StoredItem]) -> np.ndarray:
        found = self.store.vectors(self.encoder.id, [s.hash for s in stored], self.dim)
        missing = [s for s in stored if s.hash not in found]
        if missing:  # e.g. the vector cache was cleared: encode again, once
            found.update(self._encode({s.hash: self._text(s.item) for s in missing}, False)[0])
        if not stored:
            return np.zeros((0, self.dim), np.float32)
        return np.stack([found[s.hash] for s in stored])

    def _tokens_of(self, stored: list[StoredItem]) -> list[np.ndarray]:
        """The stored token vectors of these items: computed while their write was encoded,
        or (another process wrote them, or this is a rebuild) encoded again from the text."""
        found = {s.hash: self._pending_tokens.pop(s.hash, None) for s in stored}
        missing = list(dict.fromkeys(h for h, v in found.items() if v is None))
        if missing and self.late is not None:
            texts = {s.hash: self._text(s.item) for s in stored}
            for start in range(0, len(missing), ENCODE_CHUNK):
                chunk = missing[start : start + ENCODE_CHUNK]
                encoded = self.encoder.encode([texts[h] for h in chunk], tokens=True)
                sets = self.late.documents(encoded.tokens or [])
                found.update(zip(chunk, sets))
        return [np.asarray(found[s.hash], np.float32) for s in stored]

    # -- writes ------------------------------------------------------------------------------

    def _text(self, item: Item) -> str:
        return " ".join(item.fields[f] for f in self.config.text_fields if item.fields.get(f))

    def _encode(
        self, texts: dict[str, str], progress: bool | None
    ) -> tuple[dict[str, np.ndarray], int]:
        """Vectors for content hashes, longest texts first; each chunk is cached as it is done,
        so an interrupted ingest resumes where it stopped."""
        hashes = sorted(texts, key=lambda h: -len(texts[h]))
        out: dict[str, np.ndarray] = {}
        truncated = 0
        with progress_bar("encoding", len(hashes), progress) as advance:
            for start in range(0, len(hashes), ENCODE_CHUNK):
                chunk = hashes[start : start + ENCODE_CHUNK]
                late = self.late
                chunk_texts = [texts[h] for h in chunk]
                # ``tokens`` only when wanted: an encoder written before late interaction
                # existed takes no such argument
                encoded = (
                    self.encoder.encode(chunk_texts, tokens=True)
                    if late is not None
                    else self.encoder.encode(chunk_texts)
                )
                if late is not None:
                    for h, x in zip(chunk, late.documents(encoded.tokens or [])):
                        self._pending_tokens[h] = x.astype(np.float16)
                if encoded.vectors.shape[1] != self.dim:
                    raise Conflict(
                        f"encoder {self.encoder.id} returns {encoded.vectors.shape[1]} dimensions, "
                        f"the collection stores {self.dim}"
                    )
                vectors = dict(zip(chunk, encoded.vectors))
                self.store.put_vectors(self.encoder.id, vectors)
                self.encoded_texts += len(chunk)
                out.update(vectors)
                truncated += encoded.truncated
                advance(len(chunk))
        return out, truncated

    def _write(
        self,
        items: Iterable[Any],
        deletes: Sequence[str],
        *,
        must_be_new: bool,
        progress: bool | None,
    ) -> WriteResult:
        parsed: list[Item] = []
        seen: set[str] = set()
        for i, raw in enumerate(items):
            try:
                item = parse_item(raw, self.config.text_fields)
            except InvalidInput as exc:
                raise InvalidInput(f"item {i}: {exc.message}", index=i, **exc.details) from None
            if item.id in seen:
                raise InvalidInput(
                    f"item {i}: id {item.id!r} appears twice in this batch", index=i, id=item.id
                )
            seen.add(item.id)
            parsed.append(item)
        hashed = [(item, self._text(item)) for item in parsed]
        upserts = [(item, self._content_hash(text)) for item, text in hashed]
        texts = {h: text for (_, h), (_, text) in zip(upserts, hashed)}
        cached = self.store.vectors(self.encoder.id, list(texts), self.dim)
        todo = {h: t for h, t in texts.items() if h not in cached}
        _, truncated = self._encode(todo, progress)
        if truncated:
            warnings.warn(
                f"{truncated} of {len(todo)} texts were longer than the encoder's limit of "
                f"{self.encoder.max_tokens} tokens and were truncated to it for the dense vector "
                "(BM25 sees the whole text)",
                stacklevel=3,
            )
        try:
            with self._apply, self._writer:
                result = self.store.write(upserts, deletes, must_be_new=must_be_new)
                self._refresh()
        except BaseException:
            for h in todo:  # token vectors of a write that did not happen
                self._pending_tokens.pop(h, None)
            raise
        return result

    @staticmethod
    def _content_hash(text: str) -> str:
        return hashlib.sha256(text.encode()).hexdigest()[:32]

    def add(self, items: Iterable[Any], *, progress: bool | None = None) -> WriteResult:
        """Insert new items in one transaction; an id that already exists is a ``Conflict``."""
        return self._write(items, (), must_be_new=True, progress=progress)

    def upsert(self, items: Iterable[Any], *, progress: bool | None = None) -> WriteResult:
        """Insert or replace items in one transaction. Unchanged items are left alone."""
        return self._write(items, (), must_be_new=False, progress=progress)

    def delete(self, ids: Sequence[str], *, missing_ok: bool = False) -> int:
        """Delete items by id in one transaction; returns how many were deleted.

        An id that does not exist is ``NotFound`` (nothing is deleted) unless ``missing_ok``.
        """
        if isinstance(ids, str):
            ids = [ids]
        if not missing_ok:
            found = self.store.docnos_of(ids)
            missing = [i for i in ids if i not in found]
            if missing:
                raise NotFound(
                    f"no item with id {missing[0]!r} ({len(missing)} missing); nothing was deleted",
                    ids=missing[:20],
                )
        with self._apply, self._writer:
            result = self.store.write([], list(ids), must_be_new=False)
            self._refresh()
        return result.deleted

    # -- reads -------------------------------------------------------------------------------

    def count(self) -> int:
        return self.store.count()

    def __len__(self) -> int:
        return self.count()

    def get(self, item_id: str) -> Item:
        docno = self.store.docnos_of([item_id]).get(item_id)
        stored = self.store.items([docno]).get(docno) if docno is not None else None
        if stored is None:
            damaged = [d.reason for d in self.store.damaged_rows() if d.docno == docno]
            if damaged:
                raise NotFound(
                    f"item {item_id!r} is damaged and left out: {damaged[0]} "
                    "(see `sleuth info`, `sleuth repair`)",
                    id=item_id,
                )
            raise NotFound(f"no item with id {item_id!r}", id=item_id)
        return stored.item

    def info(self) -> dict[str, Any]:
        self._refresh(wait=False)
        with self._rw.read():
            ix = self._ix
            return {
                "path": str(self.path),
                "items": self.count(),
                "encoder": self.encoder.id,
                "dim": self.dim,
                "attributes": dict(ix.attributes.types),
                "seq": ix.seq,
                "indexes": {
                    "bm25": {
                        "rows": ix.bm25.n_rows,
                        "live": len(ix.bm25),
                        "terms": len(ix.bm25.vocab),
                    },
                    "dense": {
                        "rows": ix.dense.n_rows,
                        "live": len(ix.dense),
                        "kind": "hnsw" if ix.dense.hnsw is not None else "exact",
                    },
                    **self._late_info(ix),
                },
                "config": self.config.to_dict(),
                # rows met since open that every index and result leaves out; ``check()``
                # reads the whole collection
                "problems": [damaged_row_problem(d).to_dict() for d in self.store.damaged_rows()],
            }

    @staticmethod
    def _late_info(ix: _Indexes) -> dict[str, Any]:
        if ix.tokens is None or ix.fde is None:
            return {}
        return {
            "tokens": {
                "rows": ix.tokens.n_rows,
                "live": len(ix.tokens),
                "vectors": ix.tokens.n_tokens,
                "bytes_per_item": round(ix.tokens.bytes_per_item()),
            },
            "muvera": {"rows": ix.fde.n_rows, "live": len(ix.fde), "dim": ix.fde.dim},
        }

    def search(
        self,
        query: str,
        k: int = 10,
        *,
        where: dict[str, Any] | None = None,
        mode: str = "hybrid",
        explain: bool = False,
        fusion: FusionConfig | None = None,
    ) -> Hits:
        """The ``k`` best items for ``query``, as ``Hits`` (a list of ``Hit``, best first, with
        the request's ``trace``: mode, ``k``, candidates per retriever and stage timings).

        ``mode``: "lexical" (BM25), "dense" (vectors) or "hybrid" (both, fused; see
        ``FusionConfig``); with late interaction (``LateConfig(enabled=True)``) also
        "hybrid+maxsim" (the fused top ``rerank_depth`` reranked by MaxSim over token vectors),
        "muvera" (MUVERA FDE candidates reranked by MaxSim) and "maxsim-exact" (MaxSim against
        every item: the slow reference); see ``sleuth.search.plans``. ``where``: a filter (see
        ``sleuth.retrieve.filters``), applied inside every retriever, so k hits come back
        whenever k items match. ``explain``: each hit carries each retriever's rank and score
        and the fused score. ``fusion``: this request's fusion instead of the collection's.

        >>> col = sleuth.open(tmp, encoder="hashing")  # doctest: +SKIP
        >>> col.search("sorting lists", k=3, where={"kind": "function"})  # doctest: +SKIP
        """
        return self.search_batch(
            [query], k, where=where, mode=mode, explain=explain, fusion=fusion
        )[0]

    def search_batch(
        self,
        queries: Sequence[str],
        k: int = 10,
        *,
        where: dict[str, Any] | None = None,
        mode: str = "hybrid",
        explain: bool = False,
        fusion: FusionConfig | None = None,
    ) -> list[Hits]:
        """``search`` for many queries at once (each retriever runs once for the batch); the
        ``Hits`` of every query share the request's one ``trace``."""
        _check_k(k)
        plan = plan_for(mode, late=self.late is not None)
        if isinstance(queries, str) or not queries:
            raise InvalidInput("queries must be a non-empty list of strings")
        for q in queries:
            check_query(q)
        if fusion is not None and not isinstance(fusion, FusionConfig):
            raise InvalidInput(f"fusion must be a FusionConfig, got {type(fusion).__name__}")
        trace = Trace(mode=mode, k=k, queries=len(queries))
        self._refresh(wait=False)
        with self._rw.read():
            ix = self._ix
            mask = None if _no_filter(where) else self._mask(ix, where)
            trace.stage("filter", trace.start)
            context = Context(
                retrievers=ix.retrievers,
                index=ix.derived().get,  # the index set's ``index(name)``
                encoder=self.encoder,
                late=self.late,
                fusion=fusion or self.config.fusion,
            )
            outcome = plan.run(context, list(queries), k, mask, trace)
        lists = outcome.lists if explain else None
        return build_hits(self.store.items, outcome.results, trace, lists, outcome.unscored)

    def _hits(
        self,
        results: list[tuple[np.ndarray, np.ndarray]],
        per_source: dict[str, list[Any]] | None,
        timings: dict[str, float],
        t0: float,
    ) -> list[list[Hit]]:
        """The hits of ``similar`` and ``recommend``: ``Hits`` (see ``sleuth.search.hits``)."""
        trace = Trace(mode=None, k=None, queries=len(results), timings_ms=timings, start=t0)
        return [*build_hits(self.store.items, results, trace, per_source)]

    def similar(
        self, item_id: str, k: int = 10, *, where: dict[str, Any] | None = None
    ) -> list[Hit]:
        """Items like ``item_id`` (itself excluded): nearest by dense vector, fused with the
        items most often next to it in user histories once there are events."""
        _check_k(k)
        t0 = time.perf_counter()
        self._refresh(wait=False)
        rec = self._recs.fitted(self.store)
        depth = max(k, self.config.recommend.depth)
        with self._rw.read():
            ix = self._ix
            docno = self.store.docnos_of([item_id]).get(item_id)
            vector = None if docno is None else ix.dense.vector_of(docno)
            if docno is None or vector is None:
                raise NotFound(f"no item with id {item_id!r}", id=item_id)
            mask = self._mask(ix, where)
            mask[docno] = False
            lists = {"content": ix.dense.search_batch(vector[None, :], depth, mask).row(0)}
            covisit = rec.neighbours(item_id, depth) if rec is not None else None
            if covisit is not None:
                found = self.store.docnos_of(covisit[0])
                lists["co-visit"] = in_mask(covisit, found, mask)
        weights = {"content": 0.5, "co-visit": 0.5}
        docnos, scores = fuse_lists(lists, weights, k)
        return self._hits([(docnos, scores)], None, {}, t0)[0]

    # -- events and recommendations ----------------------------------------------------------

    def record(self, events: Iterable[Any]) -> RecordResult:
        """Store interaction events in one transaction (all of them or none). An event whose
        ``event_id`` was already recorded is a retry and is skipped. Events about items not in
        the catalog are kept, and recommended only once the item exists."""
        kinds = self.config.recommend.event_weights
        now = time.time()
        parsed = []
        for i, raw in enumerate(events):
            try:
                event = parse_event(raw, kinds)
            except InvalidInput as exc:
                raise InvalidInput(f"event {i}: {exc.message}", index=i, **exc.details) from None
            parsed.append(replace(event, ts=now) if event.ts is None else event)
        with self._apply, self._writer:
            recorded, duplicates = self.store.record(parsed)
        return RecordResult(recorded, duplicates)

    def recommend(
        self,
        user: str,
        k: int = 10,
        *,
        where: dict[str, Any] | None = None,
        exclude_seen: bool = True,
        diversity: float = 0.0,
        explain: bool = False,
        sources: dict[str, float] | None = None,
    ) -> list[Hit]:
        """The ``k`` items ``user`` should see next.

        Candidate sources (weights in ``RecommendConfig.sources``, or ``sources=`` for this
        request): co-visit (items that follow the user's recent items in other histories),
        EASE, content (items near the user's recency-weighted profile of item vectors),
        sequential (SASRec, once trained), multi-interest and time-decayed popularity (all a
        new user gets). Each list is z-scored and the weighted sum ranks the union. ``where``
        filters inside every source; ``exclude_seen`` drops items the user interacted with;
        ``diversity`` in [0, 1] re-ranks by MMR on the item vectors (0: pure relevance).
        """
        return self.recommend_batch(
            [user],
            k,
            where=where,
            exclude_seen=exclude_seen,
            diversity=diversity,
            explain=explain,
            sources=sources,
        )[0]

    def recommend_batch(
        self,
        users: Sequence[str],
        k: int = 10,
        *,
        where: dict[str, Any] | None = None,
        exclude_seen: bool = True,
        diversity: float = 0.0,
        explain: bool = False,
        sources: dict[str, float] | None = None,
    ) -> list[list[Hit]]:
        """``recommend`` for many users at once (the learned sources score them as one matrix
        per chunk): what ``sleuth eval recs`` measures."""
        _check_k(k)
        if isinstance(users, str) or not users:
            raise InvalidInput("users must be a non-empty list of user ids")
        for user in users:
            if not isinstance(user, str) or not user.strip():
                raise InvalidInput(f"user must be a non-empty string, got {user!r}")
        if isinstance(diversity, bool) or not isinstance(diversity, int | float):
            raise InvalidInput(f"diversity must be a number from 0 to 1, got {diversity!r}")
        if not 0.0 <= diversity <= 1.0:
            raise InvalidInput(f"diversity must be from 0 to 1, got {diversity!r}")
        weights = self.config.recommend.sources if sources is None else _check_sources(sources)
        t0 = time.perf_counter()
        timings: dict[str, float] = {}
        self._refresh(wait=False)
        depth = max(self.config.recommend.depth, 5 * k)
        histories = [self.store.user_events(user) for user in users]
        with self._rw.read():
            ix = self._ix
            base = self._mask(ix, where)
            seen = self.store.docnos_of(sorted({e.item for h in histories for e in h}))
            masks = []
            for history in histories:
                mask = base.copy() if exclude_seen else base
                if exclude_seen:
                    mask[[d for e in history if (d := seen.get(e.item, mask.size)) < mask.size]] = (
                        False
                    )
                masks.append(mask)
            t = time.perf_counter()
            lists = self._recs.candidates(
                self.store,
                ix.dense,
                histories,
                masks,
                depth=depth,
                weights=weights,
                exclude_seen=exclude_seen,
            )
            timings["candidates_ms"] = _ms(t)
            t = time.perf_counter()
            results = []
            for per_user in lists:
                docnos, scores = fuse_lists(per_user, weights, depth if diversity else k)
                if diversity and docnos.size:
                    docnos, scores = mmr(ix.dense, docnos, scores, k, diversity)
                results.append((docnos[:k], scores[:k]))
            timings["fuse_ms"] = _ms(t)
        per_source = None
        if explain:
            empty = (np.zeros(0, np.int64), np.zeros(0, np.float64))
            names = sorted({name for per_user in lists for name in per_user})
            per_source = {n: [per_user.get(n, empty) for per_user in lists] for n in names}
        return self._hits(results, per_source, timings, t0)

    def train(self, *, progress: bool | None = None, **options: Any) -> dict[str, Any]:
        """Train the sequential source (SASRec) on every recorded event, warm-starting from the
        previous model when there is one, and save it in ``models/``. ``options``: ``SASRec``
        settings (``dim``, ``blocks``, ``max_len``, ``epochs``, ``seed``…) and ``capacity``,
        ``min_count`` of the item ID table. Returns the training summary."""
        return self._recs.train(self.store, progress=progress, **options)

    @staticmethod
    def _mask(ix: _Indexes, where: dict[str, Any] | None) -> np.ndarray:
        if _no_filter(where):
            return ix.attributes.live.copy()
        return compile_filter(where, ix.attributes.types)(ix.attributes).copy()


class _Indexes:
    """What searches read: the attribute columns and the derived indexes, each at the change-log
    sequence number it reflects. ``rebuild`` swaps in a whole new one."""

    def __init__(self, attributes: AttributeTable, bm25: BM25Index, dense: DenseIndex) -> None:
        self.attributes = attributes
        self.attr_seq = 0
        self.bm25 = bm25
        self.dense = dense
        self.tokens: TokenIndex | None = None
        self.fde: DenseIndex | None = None
        self.retrievers = retrievers_for(self.derived(), None)

    def add_late(self, late: LateInteraction, tokens: TokenIndex, fde: DenseIndex) -> None:
        self.tokens, self.fde = tokens, fde
        self.retrievers = retrievers_for(self.derived(), late)

    def derived(self) -> dict[str, Any]:
        """The indexes saved to files, by file name."""
        out: dict[str, Any] = {"bm25": self.bm25, "dense": self.dense}
        if self.tokens is not None and self.fde is not None:
            out["tokens"], out["muvera"] = self.tokens, self.fde
        return out

    @property
    def seq(self) -> int:
        return min(self.attr_seq, *(i.seq for i in self.derived().values()))


def _delta(
    changes: list[Change], since: int, items: dict[int, StoredItem]
) -> tuple[list[int], list[StoredItem]]:
    """The docnos deleted and the items (still live) added after ``since``."""
    mine = [c for c in changes if c.seq > since]
    removed = [c.docno for c in mine if c.op == "del"]
    added = [items[c.docno] for c in mine if c.op == "add" and c.docno in items]
    return removed, added


def _no_filter(where: Any) -> bool:
    """None and ``{}`` filter nothing; anything else is a filter (``[]`` or ``0`` are errors)."""
    return where is None or (isinstance(where, dict) and not where)


def _docnos(stored: list[StoredItem]) -> np.ndarray:
    return np.array([s.docno for s in stored], np.int64)


def _stored_encoder(store: Store, given: str | Encoder | None) -> Encoder:
    stored_id = store.get_meta("encoder_id")
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


def _check_sources(sources: Any) -> dict[str, float]:
    """Per-request source weights, checked as ``RecommendConfig.sources`` is."""
    if isinstance(sources, dict) and not sources:
        raise InvalidInput("sources must name at least one source with its weight")
    return check_weights(sources, "sources", tuple(DEFAULT_SOURCE_WEIGHTS))
