"""Writes to a sharded collection: a batch checked whole in the coordinator, routed by id, each
shard's part applied in one transaction of that shard, and a batch spanning shards logged
first (``sleuth.shards.intents``: why a log and not a two-phase commit).

A batch that failed on a shard is a ``ShardUnavailable`` that says which shards applied it
(``applied``) and which did not (``pending``); the next write, ``recover()`` or opening the
collection applies it on the rest before anything else is written.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from sleuth.config import CollectionConfig
from sleuth.encoders import Encoder
from sleuth.errors import Conflict, InvalidInput, NotFound
from sleuth.limits import parse_write
from sleuth.shards.group import ShardGroup, ShardUnavailable, unavailable
from sleuth.shards.intents import Intent, IntentLog
from sleuth.shards.layout import route
from sleuth.store import WriterLock
from sleuth.store.event_batch import EventBatch
from sleuth.store.sqlite import WriteResult
from sleuth.types import Item
from sleuth.vectors import check_dim, check_matrix

__all__ = ["ShardWriter"]

Part = dict[str, Any]


def _label(i: int, item: Item) -> str:
    return f"item {i} ({item.id!r})"


class ShardWriter:
    """The write path of the sharded collection in ``folder`` over ``group``."""

    def __init__(
        self,
        folder: Path,
        group: ShardGroup,
        config: CollectionConfig,
        encoder: Encoder,
        dim: int,
        *,
        lock_timeout: float = 30.0,
    ) -> None:
        self.group, self.config, self.encoder, self.dim = group, config, encoder, dim
        self.log = IntentLog(folder)
        self.lock = WriterLock(folder / "write.lock", timeout=lock_timeout)
        self._pool = ThreadPoolExecutor(max(group.size, 1), thread_name_prefix="shard-write")

    def close(self) -> None:
        self._pool.shutdown(wait=True)

    # -- checks in the coordinator: nothing a shard would refuse gets logged --------------------

    def items(self, items: Any, vectors: Any) -> list[Item]:
        """The batch's items, checked as one collection checks them, each carrying its own
        vectors (a bulk ``vectors=`` array is split into the items it gives vectors to)."""
        parsed, default, named = parse_write(items, vectors, self.config)
        owner = f"this collection (encoder {self.encoder.id})"
        if default is not None:
            given = next((i for i, it in enumerate(parsed) if it.vector is not None), None)
            if given is not None:
                raise InvalidInput(
                    f'{_label(given, parsed[given])} has a "vector" and vectors= gives one too; '
                    "give each item's vector one way",
                    index=given,
                    id=parsed[given].id,
                )
            matrix = check_matrix(
                default, len(parsed), self.dim, lambda i: _label(i, parsed[i]), owner
            )
            parsed = [dataclasses.replace(it, vector=v) for it, v in zip(parsed, matrix)]
        for i, it in enumerate(parsed):
            if it.vector is not None:
                check_dim(it.vector, self.dim, f"{_label(i, it)}: its vector", owner)
            elif not self.encoder.encodes_text:
                raise InvalidInput(
                    f"{_label(i, it)} has no vector: {owner} has no text encoder, so every "
                    f'item brings its "vector" ({self.dim} numbers) or vectors= gives them all',
                    index=i,
                    id=it.id,
                )
        if named is not None:
            parsed = [
                dataclasses.replace(
                    it, vectors={n: np.frombuffer(b, np.float32) for n, b in spaces.items()}
                )
                for it, spaces in zip(parsed, named)
            ]
        return parsed

    def _existing(self, ids: Sequence[str]) -> set[str]:
        parts = route(ids, self.group.size)
        calls: list[tuple[tuple[Any, ...], dict[str, Any]]] = [
            (([ids[i] for i in part],), {}) for part in parts
        ]
        return {i for found in self.group.scatter("docnos", calls) for i in found}

    # -- the write ---------------------------------------------------------------------------

    def upsert(self, items: list[Item], *, must_be_new: bool) -> WriteResult:
        routed = route([it.id for it in items], self.group.size)
        parts = {
            s: {"items": [items[i] for i in rows], "must_be_new": must_be_new}
            for s, rows in enumerate(routed)
            if rows
        }
        with self.lock:
            self._replay()
            if must_be_new and items:
                taken = self._existing([it.id for it in items])
                if taken:
                    first = next(it.id for it in items if it.id in taken)
                    raise Conflict(
                        f"item {first!r} already exists; use upsert() to replace it; nothing "
                        "was written",
                        id=first,
                    )
            return self._apply(parts)

    def delete(self, ids: Sequence[str], *, missing_ok: bool) -> int:
        routed = route(list(ids), self.group.size)
        parts = {s: {"deletes": [ids[i] for i in rows]} for s, rows in enumerate(routed) if rows}
        with self.lock:
            self._replay()
            if not missing_ok:
                found = self._existing(list(ids))
                missing = [i for i in ids if i not in found]
                if missing:
                    raise NotFound(
                        f"no item with id {missing[0]!r} ({len(missing)} missing); nothing "
                        "was deleted",
                        ids=missing[:20],
                    )
            return self._apply(parts).deleted

    def recover(self) -> int:
        """Apply the logged batches on the shards that have not applied them; how many."""
        with self.lock:
            return self._replay()

    def _replay(self) -> int:
        intents = self.log.pending()
        for intent in intents:
            parts = {s: {**intent.part(s), "must_be_new": False} for s in intent.pending()}
            self._run(parts, intent)
        return len(intents)

    def record(self, batch: EventBatch) -> tuple[int, int]:
        """Checked events, each on the shard of its user; (recorded, duplicates). The events
        of a batch spanning shards that have no ``event_id`` are given one (``sleuth:`` and
        a random token), so that replaying the logged batch skips what a shard had recorded."""
        routed = route(batch.users, self.group.size)
        ids: list[str | None] = list(batch.event_ids)
        if sum(1 for rows in routed if rows) > 1:
            token = uuid.uuid4().hex
            ids = [i if i is not None else f"sleuth:{token}:{n}" for n, i in enumerate(ids)]
        events = [
            {"user": u, "item": it, "kind": kd, "ts": t, "value": v, "event_id": i}
            for u, it, kd, v, t, i in zip(
                batch.users, batch.items, batch.kinds, batch.values, batch.ts.tolist(), ids
            )
        ]
        parts = {
            s: {"events": [{k: v for k, v in events[i].items() if v is not None} for i in rows]}
            for s, rows in enumerate(routed)
            if rows
        }
        with self.lock:
            self._replay()
            totals = self._summed(self._commit(parts), ("recorded", "duplicates"))
        return totals["recorded"], totals["duplicates"]

    def _apply(self, parts: Mapping[int, Part]) -> WriteResult:
        fields = [f.name for f in dataclasses.fields(WriteResult)]
        return WriteResult(**self._summed(self._commit(parts), fields))

    @staticmethod
    def _summed(results: Mapping[int, Mapping[str, int]], names: Sequence[str]) -> dict[str, int]:
        return {name: sum(int(r[name]) for r in results.values()) for name in names}

    def _commit(self, parts: Mapping[int, Part]) -> dict[int, dict[str, int]]:
        """Each shard's part applied, a batch spanning shards logged first."""
        if not parts:
            return {}
        intent = self.log.record(parts) if len(parts) > 1 else None
        return self._run(parts, intent)

    def _run(self, parts: Mapping[int, Part], intent: Intent | None) -> dict[int, dict[str, int]]:
        """Each shard's part, in parallel; with ``intent``, each shard that applied its part
        is marked in the log, and the log entry removed once every shard has."""
        futures = {s: self._pool.submit(self.group.call, s, "apply", p) for s, p in parts.items()}
        results: dict[int, dict[str, int]] = {}
        failed: dict[int, BaseException] = {}
        for s, future in futures.items():
            try:
                results[s] = future.result()
            except BaseException as exc:
                failed[s] = exc
                continue
            if intent is not None:
                intent.mark_applied(s)
        if not failed:
            if intent is not None:
                intent.remove()
            return results
        shard, first = min(failed.items())
        if intent is None:  # one shard's transaction: nothing was applied
            raise first
        error = first if isinstance(first, ShardUnavailable) else unavailable(shard, first)
        applied, pending = intent.applied(), intent.pending()
        raise ShardUnavailable(
            f"{error.message}. The batch was applied on shards {applied or 'none'} and not "
            f"on {pending}; it is logged ({intent.name}) and applied on those by the next "
            "write, recover() or opening the collection",
            shard=shard,
            reason=error.details.get("reason"),
            applied=applied,
            pending=pending,
            batch=intent.name,
        ) from first
