"""One shard of a sharded collection: an ordinary collection folder, opened with
``sleuth.open``, and the operations the coordinator (``sleuth.shards.collection``) calls on it.

Every method takes and returns plain picklable values (dicts, lists, numpy arrays, ``Item``s),
so that the same server runs in the coordinator's process (``LocalGroup``) or behind a Ray
actor (``RayGroup``), called by method name. Docnos are the shard's own; the coordinator
makes them global.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from sleuth.encoders import Encoder
from sleuth.errors import InvalidInput
from sleuth.indexes.bm25_stats import BM25Stats
from sleuth.opening import open_collection
from sleuth.retrieve import LexicalRetriever, QueryBatch
from sleuth.store.events import EventRows
from sleuth.types import Item

__all__ = ["ShardServer"]


class ShardServer:
    """The shard in ``folder`` (an ordinary collection, which also opens alone)."""

    def __init__(
        self,
        folder: str | Path,
        *,
        encoder: str | Encoder | None = None,
        lock_timeout: float = 30.0,
    ) -> None:
        self.collection = open_collection(folder, encoder=encoder, lock_timeout=lock_timeout)
        # the BM25 terms by id, as last read (``postings``), and the vocabulary they are of
        self._terms: tuple[tuple[int, int], list[str]] = ((0, -1), [])

    def ping(self) -> dict[str, Any]:
        """The process serving this shard and its items (a liveness probe)."""
        return {"pid": os.getpid(), "items": self.collection.count()}

    def count(self) -> int:
        return self.collection.count()

    def encoded_texts(self) -> int:
        return self.collection.encoded_texts

    def close(self) -> None:
        self.collection.close()

    def save(self) -> None:
        self.collection.save()

    def info(self, *, tables: bool = False) -> dict[str, Any]:
        return self.collection.info(tables=tables)

    # -- search ------------------------------------------------------------------------------

    def stats(self, texts: list[str]) -> dict[str, Any]:
        """BM25's statistics here (``BM25Stats.to_dict``) with the frequencies of ``texts``'s
        terms; the coordinator sums them over the shards."""
        with self.collection.reading() as (ctx, _):
            lexical = ctx.retrievers["lexical"]
            if not isinstance(lexical, LexicalRetriever):
                raise TypeError(f"the lexical retriever is {lexical!r}")
            return lexical.index.statistics(texts).to_dict()

    def retrieve(
        self, part: dict[str, Any], stats: dict[str, Any] | None = None
    ) -> dict[str, list[tuple[np.ndarray, np.ndarray]]]:
        """Each of ``part["retrievers"]``'s top ``part["k"]`` per query, best first, with raw
        scores: ``{name: [(docnos: int64[n], scores: float32[n]), ...]}``.

        ``part``: ``texts`` (None: vectors only), ``vectors`` (the queries' checked vectors,
        ``float32[nq, dim]``; None: encode the texts here), ``where`` (the filter),
        ``space`` (a named vector space, or None). ``stats``: the summed BM25 statistics
        (``BM25Stats.to_dict``) the lexical retriever scores with (None: this shard's own)."""
        col = self.collection
        name = part.get("space")
        space = None if name is None else (name, col.config.spaces[name])
        batch = QueryBatch(part.get("texts"), col.encoder.encode_queries, given=part.get("vectors"))
        out = {}
        with col.reading(part.get("where"), space) as (ctx, mask):
            for retriever_name in part["retrievers"]:
                retriever = ctx.retrievers[retriever_name]
                if isinstance(retriever, LexicalRetriever) and stats is not None:
                    retriever = LexicalRetriever(retriever.index, BM25Stats.from_dict(stats))
                out[retriever_name] = retriever.retrieve(batch, int(part["k"]), mask).lists
        return out

    def items(self, docnos: Sequence[int]) -> list[dict[str, Any]]:
        """The live items of ``docnos`` (deleted ones are left out): ``docno``, ``item``
        (an ``Item``, without vectors) and ``hash``."""
        found = self.collection.store.items([int(d) for d in docnos])
        return [{"docno": d, "item": s.item, "hash": s.hash} for d, s in found.items()]

    def vectors_by_docno(self, docnos: Sequence[int]) -> list[np.ndarray | None]:
        """The default space's vector of each docno (None: it has none)."""
        with self.collection.reading() as (ctx, _):
            dense = ctx.index("dense")
            return [None if dense is None else dense.vector_of(int(d)) for d in docnos]

    # -- recommendations: the events of this shard's users, masks and vectors of its items ----

    def event_rows(self, after: int) -> list[tuple[int, EventRows]]:
        """The events recorded here after sequence number ``after``, in chunks (``Store
        .iter_event_rows``): what the coordinator's merged log catches up from."""
        return list(self.collection.store.iter_event_rows(after))

    def event_table(self) -> Any:
        """Every event here as a ``pyarrow.Table`` (``sleuth.distributed.fits.events_of``): a
        part of the Ray group-by fit."""
        from sleuth.distributed.fits import events_of

        return events_of(self.collection.store)

    def mask(self, where: dict[str, Any] | None) -> np.ndarray:
        """bool[docnos]: the live items here that ``where`` keeps."""
        with self.collection.viewing() as view:
            return view.mask(where)

    def dense(
        self, vectors: np.ndarray, k: int, mask: np.ndarray | None
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        """The top ``k`` docnos here (inside ``mask``) of each query vector, by the dense
        index: ``[(docnos int64[n], scores float32[n]), ...]``."""
        with self.collection.viewing() as view:
            found = view.search_batch(vectors, int(k), mask)
            return [found.row(i) for i in range(len(vectors))]

    # -- the ranking stage: what the learned ranker's features read (``sleuth.shards.features``)

    def postings(self, docnos: Sequence[int]) -> list[tuple[list[str], np.ndarray, float] | None]:
        """Each docno's BM25 forward postings: its terms, their frequencies (float32) and the
        item's analyzed length; None for a docno with no live item."""
        with self.collection.reading() as (ctx, _):
            index = ctx.index("bm25")
            words = self._words(index.vocab)
            rows = index.docno_row.rows_of(np.asarray(docnos, np.int64)).tolist()
            ptr, terms, tfs = index.fwd_ptr.view, index.fwd_terms.view, index.fwd_tfs.view
            out: list[tuple[list[str], np.ndarray, float] | None] = []
            for row in rows:
                if row < 0:
                    out.append(None)
                    continue
                lo, hi = int(ptr[row]), int(ptr[row + 1])
                found = [words[t] for t in terms[lo:hi].tolist()]
                out.append(
                    (found, np.array(tfs[lo:hi], np.float32), float(index.row_len.view[row]))
                )
            return out

    def _words(self, vocab: dict[str, int]) -> list[str]:
        """The terms by id, made again when the vocabulary is another or has grown."""
        key = (id(vocab), len(vocab))
        if self._terms[0] != key:
            words = [""] * len(vocab)
            for term, i in vocab.items():
                words[i] = term
            self._terms = (key, words)
        return self._terms[1]

    def attribute_types(self) -> dict[str, str]:
        return self.collection.store.attribute_types()

    def last_seq(self) -> int:
        return self.collection.store.last_seq()

    def collection_id(self, *, create: bool) -> str | None:
        """This shard's collection id (made now when ``create`` and there is none): the id a
        sharded collection's ranker names (its shard 0's)."""
        if not create:
            found = self.collection.store.get_meta("collection_id")
            return found if isinstance(found, str) else None
        from sleuth.rank.trainer import collection_id

        return collection_id(self.collection.store)

    # -- reads and writes by id --------------------------------------------------------------

    def get(self, item_id: str) -> Item:
        return self.collection.get(item_id)

    def vectors(self, ids: Sequence[str], space: str | None = None) -> np.ndarray:
        return self.collection.vectors(ids, space=space)

    def docnos(self, ids: Sequence[str]) -> dict[str, int]:
        """The docnos of the ``ids`` this shard holds."""
        return self.collection.store.docnos_of(list(ids))

    def apply(self, batch: dict[str, Any]) -> dict[str, int]:
        """One routed batch in one transaction: ``items`` (``Item``s or dicts) upserted, or added
        with ``must_be_new``, with ``vectors`` (as ``Collection.add``'s), or ``deletes`` (ids;
        missing ones are skipped), or ``events`` (recorded; one whose ``event_id`` is here is
        skipped). Returns the ``WriteResult`` (or ``RecordResult``) as a dict."""
        col = self.collection
        if batch.get("events") is not None:
            return dataclasses.asdict(col.record(batch["events"]))
        items, deletes = batch.get("items") or [], batch.get("deletes") or []
        if items and deletes:
            raise InvalidInput("a shard's batch upserts or deletes, not both")
        if deletes:
            deleted = col.delete(deletes, missing_ok=True)
            seq = col.store.last_seq()
            return {"added": 0, "updated": 0, "unchanged": 0, "deleted": deleted, "seq": seq}
        write = col.add if batch.get("must_be_new") else col.upsert
        result = write(items, vectors=batch.get("vectors"), progress=False)
        return dataclasses.asdict(result)
