"""A sharded collection: the ``Collection`` surface over S shards (``sleuth.shards.group``).

Searches are exact scatter-gathers (``sleuth.shards.gather``): the same plan as one collection
runs here, its retrievers' lists gathered from every shard, then fused, reranked and cut once,
on the merged lists. Writes route by id (``sleuth.shards.writes``). Open or create one with
``sleuth.open(path, shards=S, ...)``; a folder holding ``shards.json`` opens as one.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from sleuth.collection_recs import RecordResult
from sleuth.config import FusionConfig
from sleuth.encoders import Encoder, get_encoder
from sleuth.errors import InvalidInput, NotFound
from sleuth.indexes.tokenize import Analyzer
from sleuth.limits import check_k, check_recommend, check_sources, check_vector_ids
from sleuth.search import Hits
from sleuth.search import calibration as calib
from sleuth.search.hits import recommended_hits
from sleuth.search.request import check_request
from sleuth.shards.gather import Gather, fetch_items
from sleuth.shards.group import ShardGroup
from sleuth.shards.layout import ROUTING, Layout, route, shard_of
from sleuth.shards.learning import ShardedLearning
from sleuth.shards.recs import ShardedRecs
from sleuth.shards.writes import ShardWriter
from sleuth.store.clicks import is_search
from sleuth.store.event_batch import parse_event_batch
from sleuth.store.sqlite import WriteResult
from sleuth.types import Hit, Item

__all__ = ["ShardedCollection"]


def _summed(reports: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The shards' nested reports (``usage``, ``indexes``, ``spaces``) with their counts added
    up key by key; other values (kinds, names) are the first shard's."""
    out: dict[str, Any] = {}
    for report in reports:
        for key, value in report.items():
            if isinstance(value, dict):
                out[key] = _summed([out.get(key, {}), value])
            elif isinstance(value, int | float) and not isinstance(value, bool):
                out[key] = out.get(key, 0) + value
            else:
                out.setdefault(key, value)
    return out


def _indexes(reports: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The shards' index reports summed (``_summed``), BM25's vocabulary sizes listed."""
    out = _summed(reports)
    if "terms" in out.get("bm25", {}):
        out["bm25"].pop("terms")
        out["bm25"]["terms_per_shard"] = [r.get("bm25", {}).get("terms", 0) for r in reports]
    return out


class ShardedCollection:
    """The sharded collection in ``layout.folder`` whose shards ``group`` serves (``encoder``:
    the one the shards were opened with, when given as an object)."""

    def __init__(
        self,
        layout: Layout,
        group: ShardGroup,
        *,
        lock_timeout: float = 30.0,
        encoder: Encoder | None = None,
    ) -> None:
        if group.size != layout.shards:
            raise ValueError(f"{layout.shards} shards, a group of {group.size}")
        self.path = layout.folder
        self.layout = layout
        self.group = group
        self.config = config = layout.config
        # an encoder given as an object (its id is the configuration's) serves as it is
        self.encoder: Encoder = encoder or get_encoder(config.encoder, config.dim)
        self.dim = self.encoder.dim
        self.analyzer = Analyzer(config.bm25.stemmer, config.bm25.stopwords)
        self._writer = ShardWriter(
            self.path, group, config, self.encoder, self.dim, lock_timeout=lock_timeout
        )
        self._recs = ShardedRecs(group, config.recommend, self.path / "models")
        self._learning = ShardedLearning(
            self.path, group, config, self.encoder, self.analyzer, self._writer.lock
        )
        self._closed = False
        if self._writer.log.pending():
            self._writer.recover()  # a batch a crash or a failed shard left half applied

    @property
    def shards(self) -> int:
        return self.group.size

    @property
    def closed(self) -> bool:
        """Whether ``close()`` was called."""
        return self._closed

    @property
    def encoded_texts(self) -> int:
        """Texts the shards sent to the encoder (cache misses)."""
        return sum(self.group.scatter("encoded_texts", ((), {})))

    # -- lifecycle ---------------------------------------------------------------------------

    def close(self) -> None:
        """Close every shard (saving its indexes). Closing twice is fine."""
        if self._closed:
            return
        self._closed = True
        try:
            self.group.close()
        finally:
            self._writer.close()

    def __enter__(self) -> ShardedCollection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def save(self) -> None:
        self.group.scatter("save", ((), {}))

    def recover(self) -> int:
        """Apply the batches that a failed shard or a crash left on some shards only, on the
        rest (``sleuth.shards.intents``); returns how many were logged."""
        return self._writer.recover()

    # -- writes ------------------------------------------------------------------------------

    def add(
        self, items: Iterable[Any], *, vectors: Any = None, progress: bool | None = None
    ) -> WriteResult:
        """``Collection.add``: an id that exists on any shard is a ``Conflict``. ``seq``: the
        sum of the shards' sequence numbers."""
        return self._writer.upsert(self._writer.items(items, vectors), must_be_new=True)

    def upsert(
        self, items: Iterable[Any], *, vectors: Any = None, progress: bool | None = None
    ) -> WriteResult:
        """``Collection.upsert``, each item on the shard its id routes to."""
        return self._writer.upsert(self._writer.items(items, vectors), must_be_new=False)

    def delete(self, ids: Sequence[str], *, missing_ok: bool = False) -> int:
        """``Collection.delete`` over the shards."""
        if isinstance(ids, str):
            ids = [ids]
        return self._writer.delete(list(ids), missing_ok=missing_ok)

    # -- reads -------------------------------------------------------------------------------

    def count(self) -> int:
        return sum(self.group.scatter("count", ((), {})))

    def __len__(self) -> int:
        return self.count()

    def get(self, item_id: str) -> Item:
        if not isinstance(item_id, str):
            raise NotFound(f"no item with id {item_id!r}", id=repr(item_id)[:80])
        item: Item = self.group.call(shard_of(item_id, self.shards), "get", item_id)
        return item

    def vectors(self, ids: Sequence[str], *, space: str | None = None) -> np.ndarray:
        """``Collection.vectors``, each read from its shard."""
        name = check_vector_ids(ids, space, self.config.spaces)
        routed = route(list(ids), self.shards)
        found = self.group.scatter(
            "vectors", [(([ids[i] for i in rows], name), {}) for rows in routed]
        )
        out = np.zeros((len(ids), self._space_dim(name)), np.float32)
        for rows, part in zip(routed, found):
            if rows:
                out[rows] = part
        return out

    def _space_dim(self, space: str | None) -> int:
        return self.dim if space is None else self.config.spaces[space].dim

    def info(self, *, tables: bool = False) -> dict[str, Any]:
        """``Collection.info`` over the shards: items, sequence numbers, index rows and sizes
        summed, except BM25's vocabulary: a term held by several shards is one term, so its
        size is given per shard (``terms_per_shard``), not summed; ``per_shard`` (each
        shard's own ``info()``), ``shards``, ``routing`` and the batches still logged
        (``intents``)."""
        parts = self.group.scatter("info", ((), {"tables": tables}))
        usage = _summed([part["usage"] for part in parts])
        return {
            "path": str(self.path),
            "items": sum(p["items"] for p in parts),
            "shards": self.shards,
            "routing": ROUTING,
            "encoder": self.encoder.id,
            "dim": self.dim,
            "spaces": _summed([p["spaces"] for p in parts]),
            "attributes": {k: v for p in parts for k, v in p["attributes"].items()},
            "seq": sum(p["seq"] for p in parts),  # the shards' sequence numbers summed
            "indexes": _indexes([p["indexes"] for p in parts]),
            "config": self.config.to_dict(),
            "intents": [i.name for i in self._writer.log.pending()],
            "problems": [p for part in parts for p in part.get("problems", [])],
            "usage": usage,
            "per_shard": parts,
        }

    # -- search ------------------------------------------------------------------------------

    def search(self, query: str | None = None, k: int = 10, **options: Any) -> Hits:
        """``Collection.search`` (the same arguments) over every shard, with the same hits as
        one collection holding every item (see the module doc)."""
        vector = options.pop("vector", None)
        return self.search_batch(
            None if query is None else [query],
            k,
            vectors=None if vector is None else [vector],
            **options,
        )[0]

    def search_batch(
        self,
        queries: Sequence[str] | None = None,
        k: int = 10,
        *,
        where: dict[str, Any] | None = None,
        fusion: FusionConfig | None = None,
        **options: Any,
    ) -> list[Hits]:
        """``Collection.search_batch`` (the same arguments) over every shard."""
        request = check_request(
            queries,
            k,
            spaces=self.config.spaces,
            default=(self.dim, self.encoder.id),
            late=False,
            fusion=fusion,
            **options,
        )
        learning = self._learning
        calibrator = calib.calibrator_for(
            learning.calibration, request.mode, request.final.needs_probability
        )
        space = request.args.space
        gather = Gather(
            self.group,
            request.plan.retrievers,
            where,
            space and space[0],
            self.analyzer,
            self.config.bm25.k1,
        )
        context, candidates = learning.context(gather, request.args.texts, fusion)
        outcome = request.outcome(context, None)
        if request.final.diversity or request.final.max_per:  # they read the hits' vectors
            candidates.expect([int(d) for docnos, _ in outcome.results for d in docnos])
        served = request.finish(context, outcome, calibrator, self._fetch)
        return request.hits(self._fetch, outcome, served)

    def similar(
        self, item_id: str, k: int = 10, *, where: dict[str, Any] | None = None
    ) -> list[Hit]:
        """``Collection.similar`` over every shard: the nearest items by dense vector (itself
        excluded), fused with co-visitation once events are recorded."""
        check_k(k)
        t0 = time.perf_counter()
        found = self._recs.similar(item_id, k, where)
        return self._hits([found], None, {}, t0)[0]

    # -- events and recommendations (``sleuth.shards.recs``) ---------------------------------

    def record(self, events: Iterable[Any]) -> RecordResult:
        """``Collection.record``: each event stored on the shard of its user, a batch
        spanning shards all or nothing as item writes are (``sleuth.shards.writes``). Search
        events (the learned ranker's log) are not recorded on a sharded collection."""
        if isinstance(events, list | tuple) and any(is_search(e) for e in events):
            raise InvalidInput(
                'search events (kind "search") are not recorded on a sharded collection: '
                "the learned ranker is not trained on one; record item events"
            )
        batch = parse_event_batch(events, self.config.recommend.event_weights)
        return RecordResult(*self._writer.record(batch))

    def recommend(self, user: str, k: int = 10, **options: Any) -> list[Hit]:
        """``Collection.recommend`` (the same arguments) over every shard, with the same hits
        as one collection holding the same items and events (``sleuth.shards.recs`` says for
        which sources)."""
        return self.recommend_batch([user], k, **options)[0]

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
        """``Collection.recommend_batch`` over every shard."""
        check_k(k)
        check_recommend(users, diversity, exclude_seen, explain)
        weights = self.config.recommend.sources
        if sources is not None:
            weights = check_sources(sources)
            self._recs.check_sources(weights)
        t0 = time.perf_counter()
        served = self._recs.recommend_batch(
            users,
            k,
            weights,
            where=where,
            exclude_seen=exclude_seen,
            diversity=diversity,
            explain=explain,
        )
        return self._hits(served.results, served.per_source, served.timings, t0)

    def train(self, **options: Any) -> dict[str, Any]:
        """Not on a sharded collection: an ``InvalidInput`` saying so (see ``recommend``)."""
        raise InvalidInput(
            "the sequential source (SASRec) is not trained on a sharded collection; its "
            "recommendations come from co-visit, EASE, content, multi-interest and popularity"
        )

    def refit(self, *, ray: bool = False, address: str | None = None) -> int:
        """Fit the learned sources on every shard's events now; with ``ray``, co-visitation
        and popularity by a Ray Data group-by over the shards' event tables, now and at every
        later refit (``address``: the cluster, as for ``sleuth.distributed.connect``).
        Returns how many events they were fitted on."""
        return self._recs.refit(ray=ray, address=address)

    def _hits(
        self,
        results: list[tuple[np.ndarray, np.ndarray]],
        per_source: dict[str, list[Any]] | None,
        timings: dict[str, float],
        t0: float,
    ) -> list[list[Hit]]:
        return recommended_hits(self._fetch, results, per_source, timings, t0)

    # -- the ranking stage (``sleuth.shards.learning``) ----------------------------------------

    def train_ranker(
        self, qrels: Any = None, queries: Any = None, **options: Any
    ) -> dict[str, Any]:
        """``Collection.train_ranker`` (the same arguments) from judgments, on the shards'
        merged lists with the features one collection reads; saved in this folder."""
        return self._learning.train_ranker(qrels, queries, **options)

    def calibrate(
        self,
        qrels: dict[str, dict[str, int]] | None = None,
        queries: dict[str, str] | None = None,
        *,
        modes: Sequence[str] | None = None,
        method: str = "platt",
    ) -> dict[str, Any]:
        """``Collection.calibrate`` over every shard; saved in this folder."""
        return self._learning.calibrate(qrels, queries, modes=modes, method=method)

    def _fetch(self, docnos: list[int]) -> Any:
        return fetch_items(self.group, docnos)
