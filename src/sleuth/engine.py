"""The Collection: one folder, one store, derived indexes, and the search funnel over them.

Writes go store-first (one SQLite transaction per batch); the in-memory indexes then replay the
store's change log, which is also how they catch up after a crash or another process's write.
Index files are saved on ``close()`` / ``save()`` and after large writes; what they miss is
replayed on open. Open one with ``sleuth.open`` (``sleuth.opening``).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from sleuth.collection_bulk import CollectionBulk
from sleuth.collection_learning import CollectionLearning
from sleuth.collection_migrate import CollectionMigrate
from sleuth.collection_recs import CollectionRecs, RecordResult
from sleuth.config import CollectionConfig, FusionConfig
from sleuth.encoders import Encoder
from sleuth.encoders.cache import EmbeddingCache
from sleuth.encoders.late import LateInteraction
from sleuth.errors import NotFound
from sleuth.indexes.memory import held
from sleuth.indexes.set import IndexSet
from sleuth.indexes.space import spaces_info, vectors_of
from sleuth.limits import (
    check_vector_ids,
    no_filter,
    parse_write,
)
from sleuth.rank.cross_saved import load_reranker
from sleuth.recommend.service import RecommendService
from sleuth.retrieve import compile_filter, retrievers_for
from sleuth.search import Context, Hits
from sleuth.search import calibration as calib
from sleuth.search.hits import recommended_hits
from sleuth.search.request import check_request
from sleuth.store import ReadWriteLock, Store, StoredItem, WriterLock
from sleuth.store.bulk import BulkRows
from sleuth.store.columns import table_rows
from sleuth.store.diagnose import Problem, damaged_row_problem, diagnose
from sleuth.store.repair import repair_store
from sleuth.store.sqlite import WriteResult
from sleuth.types import Hit, Item
from sleuth.usage import disk_usage, memory_usage, store_tables

__all__ = [
    "Collection",
    "RecordResult",
    "WriteResult",
]


class Collection(CollectionRecs, CollectionLearning, CollectionMigrate, CollectionBulk):
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
        (folder / "index").mkdir(exist_ok=True)
        self._recs = RecommendService(config.recommend, folder / "models")
        self.late = LateInteraction(config.late, encoder) if config.late.enabled else None
        self._cache = EmbeddingCache(store, encoder, dim, config.text_fields, self.late)
        self._ix = self._index_set()
        self._load_models()
        self._reranker = load_reranker(folder, store.get_meta("collection_id"))
        self._refresh()
        self._open_migration()  # a backfill resumes in its thread

    @property
    def closed(self) -> bool:
        """Whether ``close()`` was called (or the server dropped the collection)."""
        return self.store.closed

    @property
    def encoded_texts(self) -> int:
        """Texts this object sent to the encoder (cache misses)."""
        return self._cache.encoded_texts

    # -- lifecycle ---------------------------------------------------------------------------

    def _index_set(self) -> IndexSet:
        """The saved indexes (a missing, corrupt or stale one starts empty), not yet caught up."""
        return IndexSet(
            self.path / "index", self.store, self._cache, self.config, self.dim, self.late
        )

    def close(self) -> None:
        """Save the indexes if they changed, and release the database. Closing twice is fine."""
        self._stop_migration()
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
            # Only threads holding ``_apply`` change the indexes: searches go on meanwhile.
            self._ix.save()

    def rebuild(self) -> None:
        """Drop the derived indexes and rebuild them from the store (vectors are reused).
        Searches go on against the old indexes until the new ones are complete."""
        with self._apply:
            self._ix.remove_files()
            ix = self._index_set()
            ix.catch_up(None)
            with self._rw.write():
                self._ix = ix
            ix.save()

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

    def _refresh(self, *, wait: bool = True, written: Sequence[StoredItem] | BulkRows = ()) -> None:
        """Apply the store's changes that the in-memory state has not seen yet (and save the
        index files once they are well behind).

        With ``wait=False`` (searches), a thread that finds another one applying a write does not
        wait: it searches the state before that write, which is consistent. ``written``: the
        item versions the write just made (handed on, not read back from the store).
        """
        if not self._apply.acquire(blocking=wait):
            return
        try:
            ix = self._ix
            ix.catch_up(self._rw, written)
            if ix.behind():
                ix.save()
        finally:
            self._apply.release()

    # -- writes ------------------------------------------------------------------------------

    def _write(
        self,
        items: Iterable[Any],
        deletes: Sequence[str],
        *,
        must_be_new: bool,
        progress: bool | None,
        vectors: Any = None,
    ) -> WriteResult:
        migrating = self._migration is not None and self._migration.other_cache is not None
        if not deletes and not migrating:
            done = self._bulk_write(items, vectors, must_be_new=must_be_new)
            if done is not None:
                return done
        parsed, default, named = parse_write(table_rows(items), vectors, self.config)
        self._dual_write(parsed, default, progress)  # during a migration, the other encoder's
        upserts, encoded, given = self._cache.encode_write(parsed, progress, vectors=default)
        try:
            with self._apply, self._writer:
                written = self.store.write(
                    upserts, deletes, must_be_new=must_be_new, given=given, spaces=named
                )
                self._refresh(written=written.rows)
        except BaseException:
            self._cache.discard(encoded)  # token vectors of a write that did not happen
            raise
        finally:
            self._cache.written()
        return written.result

    def add(
        self, items: Iterable[Any], *, vectors: Any = None, progress: bool | None = None
    ) -> WriteResult:
        """Insert new items in one transaction; an id that already exists is a ``Conflict``.

        An item may bring its own ``"vector"`` (then its text is optional; the encoder encodes
        only the items without one); ``vectors``: a numeric ``[n, dim]`` array (or a memmap,
        ``np.load(path, mmap_mode="r")``) of every item's vector, in order, read without
        Python lists. Vectors are made unit length (dense search is by cosine). Named spaces:
        items' ``"vectors": {"img": [...]}``, or ``vectors={"img": array}`` (``sleuth.spaces``)."""
        return self._write(items, (), must_be_new=True, progress=progress, vectors=vectors)

    def upsert(
        self, items: Iterable[Any], *, vectors: Any = None, progress: bool | None = None
    ) -> WriteResult:
        """Insert or replace items in one transaction (``vectors`` as for ``add``). Unchanged
        items (same fields, attributes and vector) are left alone; an item upserted without
        a vector in a collection with an encoder gets the encoder's again."""
        return self._write(items, (), must_be_new=False, progress=progress, vectors=vectors)

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
            written = self.store.write([], list(ids), must_be_new=False)
            self._refresh()
        return written.result.deleted

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

    def vectors(self, ids: Sequence[str], *, space: str | None = None) -> np.ndarray:
        """``float32[n, dim]``: these items' vectors in ``space`` (None: the default one), in
        order (``NotFound`` names the first id not in the collection, or not in that space)."""
        name = check_vector_ids(ids, space, self.config.spaces)
        self._refresh(wait=False)
        with self._rw.read():
            return vectors_of(self._ix.index, ids, self.store.docnos_of(ids), name)

    def info(self, *, tables: bool = False) -> dict[str, Any]:
        """What the collection holds: items, encoder, attribute kinds, each index's rows, the
        attribute columns' memory (``attribute_columns``), config, the problems met, and
        ``usage``: bytes of memory (``memory``, ``mapped``) and disk (``disk``) per part (see
        ``sleuth.usage``). ``tables``: also the database's bytes per table (``store_tables``;
        it reads every page header of the database, seconds at millions of items)."""
        self._refresh(wait=False)
        with self._rw.read():
            ix = self._ix
            report = {
                "path": str(self.path),
                "items": self.count(),
                "encoder": self.encoder.id,
                "dim": self.dim,
                "spaces": spaces_info(ix.index, self.config, self.dim, self.encoder.id),
                **ix.info(),
                "config": self.config.to_dict(),
                "migration": self.migration(),  # None, or its phase, encoders and progress
                # rows met since open that every index and result leaves out; ``check()``
                # reads the whole collection
                "problems": [damaged_row_problem(d).to_dict() for d in self.store.damaged_rows()],
            }
            parts = {name: index.usage() for name, index in ix.indexes.items()}
            usage = memory_usage(parts, held(ix.attributes).to_dict())
            names = [e.name for e in ix.entries]
        usage["disk"] = disk_usage(self.path, names)
        if tables:
            usage["store_tables"] = store_tables(self.path)
        report["usage"] = usage
        return report

    def search(
        self,
        query: str | None = None,
        k: int = 10,
        *,
        vector: Any = None,
        space: str | None = None,
        where: dict[str, Any] | None = None,
        mode: str = "hybrid",
        explain: bool = False,
        fusion: FusionConfig | None = None,
        min_relevance: float | None = None,
        cutoff: str | None = None,
        diversity: float = 0.0,
        max_per: dict[str, int] | None = None,
        rerank: Any = None,
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
        ``vector``: the query's own vector (``dim`` numbers), which the dense stages use instead
        of encoding ``query``; the text is then optional in mode "dense" (hybrid reads both).
        ``space``: a named vector space to search by ``vector``, by its metric (``sleuth.spaces``).
        Final list (``sleuth.search.final``): once ``calibrate``d, each hit's ``probability``;
        ``min_relevance`` keeps hits at least that probable; ``cutoff`` "auto" (best expected
        F1) or "autocut" (Weaviate's); ``diversity`` MMR; ``max_per`` caps per attribute value.
        ``rerank``: "trained" (``train_reranker``) or "cross-encoder:PATH" (a CrossEncoder
        folder), or a ``sleuth.rank.cross.RerankConfig``: the mode's top candidates rescored by
        the cross-encoder, after the mode's rankers (``ranked`` too).

        >>> col = sleuth.open(tmp, encoder="hashing")  # doctest: +SKIP
        >>> col.search("sorting lists", k=3, where={"kind": "function"})  # doctest: +SKIP
        >>> col.search(vector=[0.1] * 256, k=3, mode="dense")  # doctest: +SKIP
        """
        return self.search_batch(
            None if query is None else [query],
            k,
            vectors=None if vector is None else [vector],
            space=space,
            where=where,
            mode=mode,
            explain=explain,
            fusion=fusion,
            min_relevance=min_relevance,
            cutoff=cutoff,
            diversity=diversity,
            max_per=max_per,
            rerank=rerank,
        )[0]

    def search_batch(
        self,
        queries: Sequence[str] | None = None,
        k: int = 10,
        *,
        vectors: Any = None,
        space: str | None = None,
        where: dict[str, Any] | None = None,
        mode: str = "hybrid",
        explain: bool = False,
        fusion: FusionConfig | None = None,
        min_relevance: float | None = None,
        cutoff: str | None = None,
        diversity: float = 0.0,
        max_per: dict[str, int] | None = None,
        rerank: Any = None,
    ) -> list[Hits]:
        """``search`` for many queries at once (each retriever runs once for the batch); the
        ``Hits`` of every query share the request's one ``trace``. ``vectors``: the queries'
        own vectors (a list of them, or a ``[nq, dim]`` array), aligned with ``queries``, in
        ``space`` (see ``search``)."""
        request = check_request(
            queries,
            k,
            spaces=self.config.spaces,
            default=(self.dim, self.encoder.id),
            late=self.late is not None,
            vectors=vectors,
            space=space,
            mode=mode,
            explain=explain,
            fusion=fusion,
            min_relevance=min_relevance,
            cutoff=cutoff,
            diversity=diversity,
            max_per=max_per,
            rerank=rerank,
        )
        needed = request.final.needs_probability
        calibrator = calib.calibrator_for(self._calibration, mode, needed)
        with self.reading(where, request.args.space, fusion) as (context, mask):
            outcome = request.outcome(context, mask)
            served = request.finish(context, outcome, calibrator, self.store.items)
        return request.hits(self.store.items, outcome, served)

    @contextmanager
    def reading(
        self,
        where: dict[str, Any] | None = None,
        space: Any = None,
        fusion: FusionConfig | None = None,
    ) -> Iterator[tuple[Context, np.ndarray | None]]:
        """The indexes at one state, held under the read lock while the block runs: the plan's
        ``Context`` (``space``: a checked ``(name, SpaceConfig)``, see ``check_search``) and the
        mask of the items ``where`` keeps (None: every live item). ``search_batch`` runs in it,
        and so does a shard's part of a sharded search (``sleuth.shards.server``)."""
        self._refresh(wait=False)
        with self._rw.read():
            ix = self._ix
            mask = None if no_filter(where) else self._mask(ix, where)
            yield self._context(ix, fusion, space), mask

    def _context(
        self, ix: IndexSet, fusion: FusionConfig | None = None, space: Any = None
    ) -> Context:
        return Context(
            retrievers=retrievers_for(ix.indexes, self.late, space=space),
            index=ix.index,
            encoder=self._query_encoder(),
            late=self.late,
            fusion=fusion or self.config.fusion,
            ranker=self._ranker,
            fetch=self.store.items,
            trust=self._trust,
            reranker=self._reranker,
        )

    def _hits(
        self,
        results: list[tuple[np.ndarray, np.ndarray]],
        per_source: dict[str, list[Any]] | None,
        timings: dict[str, float],
        t0: float,
    ) -> list[list[Hit]]:
        """The hits of ``similar`` and ``recommend``: ``Hits`` (see ``sleuth.search.hits``)."""
        return recommended_hits(self.store.items, results, per_source, timings, t0)

    @staticmethod
    def _mask(ix: IndexSet, where: dict[str, Any] | None) -> np.ndarray:
        if no_filter(where):
            return ix.attributes.live.copy()
        return compile_filter(where, ix.attributes.types)(ix.attributes).copy()
