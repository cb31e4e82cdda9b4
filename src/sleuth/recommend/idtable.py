"""A bounded, collisionless table from raw ids (strings) to rows of an embedding matrix.

The idea of Monolith's collisionless embedding table and Meta's MPZCH (multi-probe zero-collision
hashing): a new id is hashed with ``probes`` seeded hashes and takes the first probed row that is
free; when every probe is taken it falls back to the lowest free row, so two live ids never share a
row and every id gets one while rows are free. The table keeps each row's owner id exactly (plus a
dict id → row, which is the lookup fast path: a Python dict hit is cheaper than hashing a string in
numpy, so hashing is only paid when an id is placed).

An id is admitted only at its ``min_count``-th sighting; until then it counts in a bounded pending
counter and ``lookup`` returns -1 (the caller falls back, e.g. to the content embedding). When the
table is full, admitting evicts by ``policy``: ``"lru"`` (oldest last-seen) or ``"lfu"`` (lowest
count); ``evict_expired(now)`` evicts ids not seen for ``ttl``. An evicted row is re-initialised
at once; ``last_admitted`` / ``last_reset`` name the rows a training loop must reset optimizer
state for after each call.

>>> table = IdTable(capacity=4, dim=2, min_count=2)
>>> table.observe(["a", "b", "a"], now=0.0).tolist()
[-1, -1, 3]
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from itertools import repeat
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from sleuth.errors import CorruptIndex, InvalidInput
from sleuth.indexes.base import INDEX_FORMAT, pack_strings, read_npz, unpack_strings, write_npz
from sleuth.recommend.hashing import fingerprints, mix, smallest

if TYPE_CHECKING:
    import torch

__all__ = ["POLICIES", "IdTable"]

POLICIES = ("lfu", "lru")
_KIND = "idtable"
_FORMAT = 1
_ROW_ARRAYS = ("embeddings", "row_live", "row_count", "row_seen", "row_tick")


def _check_ids(ids: Sequence[str] | np.ndarray) -> Sequence[str]:
    if isinstance(ids, str):
        raise InvalidInput("ids must be a sequence of strings, not one string", got=ids)
    return ids.tolist() if isinstance(ids, np.ndarray) else ids


class IdTable:
    """``capacity`` rows of ``dim`` float32 embeddings, each owned by at most one raw id.

    ``embeddings`` is a numpy float32[capacity, dim] matrix that the table owns and re-initialises
    in place (so the table works, saves and loads without importing torch);
    ``torch_embedding()`` wraps the same memory in an ``nn.Embedding`` for training. ``now`` is
    any clock that only moves forward (seconds by convention, ``ttl`` in the same unit). Not
    thread-safe: one writer at a time.
    """

    embeddings: np.ndarray  # float32[capacity, dim]
    last_admitted: np.ndarray  # int64[k]: rows given a new owner by the last call
    last_reset: np.ndarray  # int64[k]: rows re-initialised (evicted) by the last call
    policies: ClassVar[tuple[str, ...]] = POLICIES

    def __init__(
        self,
        capacity: int,
        dim: int,
        *,
        probes: int = 4,
        min_count: int = 1,
        policy: str = "lru",
        ttl: float | None = None,
        seed: int = 0,
        max_pending: int | None = None,
        init_std: float = 0.01,
    ) -> None:
        for name, value, low in (
            ("capacity", capacity, 1),
            ("dim", dim, 1),
            ("probes", probes, 1),
            ("min_count", min_count, 1),
        ):
            if not isinstance(value, int | np.integer) or value < low:
                raise InvalidInput(f"{name} must be an integer ≥ {low}, got {value!r}")
        if policy not in POLICIES:
            raise InvalidInput(
                f"unknown eviction policy {policy!r}; allowed: {', '.join(POLICIES)}",
                policy=policy,
                allowed=list(POLICIES),
            )
        if ttl is not None and not ttl > 0:
            raise InvalidInput(f"ttl must be > 0 (or None for no expiry), got {ttl!r}")
        if max_pending is not None and max_pending < 1:
            raise InvalidInput(f"max_pending must be ≥ 1, got {max_pending!r}")
        if not init_std >= 0:
            raise InvalidInput(f"init_std must be ≥ 0, got {init_std!r}")
        self.capacity, self.dim, self.probes = int(capacity), int(dim), int(probes)
        self.min_count, self.policy, self.ttl, self.seed = int(min_count), policy, ttl, int(seed)
        self.max_pending = int(max_pending) if max_pending else max(4 * self.capacity, 1024)
        self.init_std = float(init_std)
        self._rng = np.random.default_rng(self.seed)
        self.embeddings = np.empty((self.capacity, self.dim), np.float32)
        self._index: dict[str, int] = {}
        self._row_ids: list[str | None] = [None] * self.capacity
        self._live = np.zeros(self.capacity, bool)
        self._count = np.zeros(self.capacity, np.int64)
        self._seen = np.zeros(self.capacity, np.float64)
        self._tick = np.zeros(self.capacity, np.int64)  # order of sightings: LRU's tie-break
        self._pending: dict[str, list[Any]] = {}  # id -> [count, last seen, last tick]
        self._clock = 0
        self.admitted_total = self.evicted_total = self.fallbacks = 0
        self.last_admitted = self.last_reset = np.zeros(0, np.int64)
        self.reinit_rows(np.arange(self.capacity))

    def __len__(self) -> int:
        return len(self._index)

    def __contains__(self, id_: object) -> bool:
        return id_ in self._index

    # -- reads ---------------------------------------------------------------------------------

    def lookup(self, ids: Sequence[str] | np.ndarray) -> np.ndarray:
        """int64[len(ids)]: each id's row, -1 if not admitted. No side effects."""
        ids = _check_ids(ids)
        try:
            return np.fromiter(map(self._index.get, ids, repeat(-1)), np.int64, count=len(ids))
        except TypeError:  # an unhashable element
            raise InvalidInput("ids must be a sequence of strings") from None

    def owners(self, rows: Sequence[int] | np.ndarray) -> list[str | None]:
        """The id owning each row (None for a free row)."""
        return [self._row_ids[r] for r in np.asarray(rows, np.int64).tolist()]

    def probe_rows(self, ids: Sequence[str] | np.ndarray) -> np.ndarray:
        """int64[len(ids), probes]: the rows each id would try, in order, if placed now."""
        fps = fingerprints(_check_ids(ids), self.seed)
        return np.stack([self._probe(fps, k) for k in range(self.probes)], axis=1)

    def stats(self) -> dict[str, Any]:
        return {
            "size": len(self._index),
            "capacity": self.capacity,
            "free": self.capacity - len(self._index),
            "admitted": self.admitted_total,
            "evicted": self.evicted_total,
            "pending": len(self._pending),
            "fallbacks": self.fallbacks,  # placements where every probe was taken
            "policy": self.policy,
        }

    def torch_embedding(self) -> torch.nn.Embedding:
        """An ``nn.Embedding`` sharing ``embeddings``' memory: training updates land in the table
        and ``reinit_rows`` shows in the module. Rebuild it after ``load``."""
        import torch

        weight = torch.from_numpy(self.embeddings)
        return torch.nn.Embedding.from_pretrained(weight, freeze=False)

    # -- writes --------------------------------------------------------------------------------

    def observe(self, ids: Sequence[str] | np.ndarray, now: float | None = None) -> np.ndarray:
        """Count one sighting per element of ``ids`` at time ``now`` (default ``time.time()``),
        admit ids at their ``min_count``-th sighting (evicting by policy when full), and return
        int64[len(ids)]: the row of each sighting, -1 before admission.

        Rows seen in this call are never evicted by it; if the call brings more admissible ids
        than the table can take, the excess stays pending (counted) and gets -1.
        """
        ids = _check_ids(ids)
        rows = self.lookup(ids)
        miss = np.flatnonzero(rows < 0).tolist()
        bad = next((p for p in miss if not isinstance(ids[p], str)), None)
        if bad is not None:  # checked before anything changes
            kind = type(ids[bad]).__name__
            raise InvalidInput(f"ids must be strings, got {kind} at {bad}", at=bad)
        now = time.time() if now is None else float(now)
        tick0, self._clock = self._clock, self._clock + len(ids)
        self.last_admitted = self.last_reset = np.zeros(0, np.int64)
        hit = np.flatnonzero(rows >= 0)
        hit_rows = rows[hit]
        np.add.at(self._count, hit_rows, 1)
        np.maximum.at(self._seen, hit_rows, now)
        np.maximum.at(self._tick, hit_rows, tick0 + hit)
        if not miss:
            return rows
        admit_at: dict[str, int] = {}  # id -> position of the sighting that admits it
        pending, min_count = self._pending, self.min_count
        for p in miss:
            x = ids[p]
            entry = pending.get(x)
            if entry is None:
                entry = pending[x] = [0, now, 0]
            entry[0] += 1
            if now > entry[1]:
                entry[1] = now
            entry[2] = tick0 + p
            if entry[0] >= min_count and x not in admit_at:
                admit_at[x] = p
        if admit_at:
            protected = np.zeros(self.capacity, bool)
            protected[hit_rows] = True
            self._admit(list(admit_at), protected)
            index = self._index
            for p in miss:
                x = ids[p]
                at = admit_at.get(x)
                if at is not None and p >= at and x in index:
                    rows[p] = index[x]
        if len(pending) > self.max_pending:
            self._prune_pending(self.max_pending // 2)
        return rows

    def evict(self, n: int) -> np.ndarray:
        """Evict the ``n`` (at most ``len(self)``) worst rows by policy; int64 rows evicted."""
        victims = self._victims(int(n), np.zeros(self.capacity, bool))
        self.last_admitted = np.zeros(0, np.int64)
        self._release(victims)
        return victims

    def remove(self, ids: Sequence[str] | np.ndarray) -> np.ndarray:
        """Evict these ids (and forget their pending counts); int64 rows freed."""
        ids = _check_ids(ids)
        rows = np.unique(self.lookup(ids))
        for x in ids:
            self._pending.pop(x, None)
        self.last_admitted = np.zeros(0, np.int64)
        self._release(rows[rows >= 0])
        return rows[rows >= 0]

    def evict_expired(self, now: float | None = None, ttl: float | None = None) -> np.ndarray:
        """Evict ids (and drop pending counts) not seen since ``now - ttl``; int64 rows evicted.
        ``ttl`` defaults to the table's."""
        ttl = self.ttl if ttl is None else ttl
        if ttl is None or not ttl > 0:
            raise InvalidInput("evict_expired needs a ttl > 0 (the table's or an argument)")
        cutoff = (time.time() if now is None else float(now)) - ttl
        stale = np.flatnonzero(self._live & (self._seen < cutoff))
        for x in [x for x, e in self._pending.items() if e[1] < cutoff]:
            del self._pending[x]
        self.last_admitted = np.zeros(0, np.int64)
        self._release(stale)
        return stale

    def reinit_rows(self, rows: Sequence[int] | np.ndarray) -> None:
        """Reset these rows' embeddings to fresh draws of the initializer, N(0, init_std²)."""
        rows = np.asarray(rows, np.int64)
        if rows.size and (rows.min() < 0 or rows.max() >= self.capacity):
            raise InvalidInput(f"rows must lie in [0, {self.capacity})")
        fresh = self._rng.standard_normal((rows.size, self.dim), np.float32)
        self.embeddings[rows] = fresh * np.float32(self.init_std)

    # -- internals -----------------------------------------------------------------------------

    def _admit(self, candidates: list[str], protected: np.ndarray) -> None:
        free = self.capacity - len(self._index)
        if len(candidates) > free:
            self._release(self._victims(len(candidates) - free, protected))
            candidates = candidates[: self.capacity - len(self._index)]
        if not candidates:
            return
        rows = self._place(fingerprints(candidates, self.seed))
        pending, index, row_ids = self._pending, self._index, self._row_ids
        counts, seens, ticks = zip(*(pending.pop(x) for x in candidates))
        for x, r in zip(candidates, rows.tolist()):
            index[x] = r
            row_ids[r] = x
        self._live[rows] = True
        self._count[rows] = counts
        self._seen[rows] = seens
        self._tick[rows] = ticks
        self.admitted_total += len(candidates)
        self.last_admitted = rows

    def _place(self, fps: np.ndarray) -> np.ndarray:
        """Free rows for these fingerprints (the caller made room for all of them): probe ``k``
        of every unplaced id at once; on a clash the earlier id wins; then the lowest free rows."""
        rows = np.full(fps.size, -1, np.int64)
        free = ~self._live
        for k in range(self.probes):
            todo = np.flatnonzero(rows < 0)
            if not todo.size:
                break
            slots = self._probe(fps[todo], k)
            ok = free[slots]
            slots, todo = slots[ok], todo[ok]
            slots, first = np.unique(slots, return_index=True)  # first index = earliest id
            rows[todo[first]] = slots
            free[slots] = False
        rest = np.flatnonzero(rows < 0)
        if rest.size:
            rows[rest] = np.flatnonzero(free)[: rest.size]
            self.fallbacks += int(rest.size)
        return rows

    def _probe(self, fps: np.ndarray, k: int) -> np.ndarray:
        salt = np.uint64(((k + 1) * 0xD6E8FEB86659FD93) & 0xFFFFFFFFFFFFFFFF)
        return (mix(fps ^ salt) % np.uint64(self.capacity)).astype(np.int64)

    def _victims(self, n: int, protected: np.ndarray) -> np.ndarray:
        """int64[≤ n]: the live, unprotected rows that rank lowest by the policy's keys."""
        keys = [self._seen, self._tick]  # lru: oldest sighting first
        if self.policy == "lfu":
            keys.insert(0, self._count)  # rarest first, then oldest
        return smallest(np.flatnonzero(self._live & ~protected), keys, max(n, 0))

    def _release(self, rows: np.ndarray) -> None:
        index, row_ids = self._index, self._row_ids
        for r in rows.tolist():
            x = row_ids[r]
            if x is not None:
                del index[x]
                row_ids[r] = None
        self._live[rows] = False
        self._count[rows] = 0
        self._seen[rows] = 0.0
        self._tick[rows] = 0
        self.reinit_rows(rows)
        self.evicted_total += int(rows.size)
        self.last_reset = rows

    def _prune_pending(self, keep: int) -> None:
        """Keep the ``keep`` most frequent pending ids (ties: most recently seen)."""
        items = list(self._pending.items())
        count = np.array([e[0] for _, e in items], np.int64)
        seen = np.array([e[1] for _, e in items], np.float64)
        tick = np.array([e[2] for _, e in items], np.int64)
        best = np.lexsort((-tick, -seen, -count))[:keep]
        self._pending = {items[i][0]: items[i][1] for i in np.sort(best).tolist()}

    # -- persistence ---------------------------------------------------------------------------

    def config(self) -> dict[str, Any]:
        return {
            "capacity": self.capacity,
            "dim": self.dim,
            "probes": self.probes,
            "min_count": self.min_count,
            "policy": self.policy,
            "ttl": self.ttl,
            "seed": self.seed,
            "max_pending": self.max_pending,
            "init_std": self.init_std,
        }

    def state_dict(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """(JSON-able manifest, arrays): everything, including counters, last-seen times and
        the initializer's random state, so a loaded table continues exactly as this one."""
        from sleuth._version import __version__

        live_rows = np.flatnonzero(self._live)
        owners = [self._row_ids[r] or "" for r in live_rows.tolist()]
        ids_blob, ids_offsets = pack_strings(owners)
        pend = list(self._pending.items())
        pend_blob, pend_offsets = pack_strings([x for x, _ in pend])
        manifest = {
            "format": INDEX_FORMAT,
            "kind": _KIND,
            "idtable_format": _FORMAT,
            "sleuth": __version__,
            "seq": self._clock,
            "config": self.config(),
            "counters": {
                "admitted": self.admitted_total,
                "evicted": self.evicted_total,
                "fallbacks": self.fallbacks,
            },
            "rng": self._rng.bit_generator.state,
        }
        arrays = {
            "embeddings": self.embeddings,
            "row_live": self._live,
            "row_count": self._count,
            "row_seen": self._seen,
            "row_tick": self._tick,
            "owner_rows": live_rows,
            "owner_blob": ids_blob,
            "owner_offsets": ids_offsets,
            "pending_blob": pend_blob,
            "pending_offsets": pend_offsets,
            "pending_count": np.array([e[0] for _, e in pend], np.int64),
            "pending_seen": np.array([e[1] for _, e in pend], np.float64),
            "pending_tick": np.array([e[2] for _, e in pend], np.int64),
        }
        return manifest, arrays

    @classmethod
    def from_state(cls, manifest: dict[str, Any], arrays: dict[str, np.ndarray]) -> IdTable:
        if manifest.get("kind") != _KIND or manifest.get("idtable_format") != _FORMAT:
            raise CorruptIndex(f"not an id table of format {_FORMAT}")
        table = cls(**manifest["config"])
        c = table.capacity
        shapes = {name: arrays[name].shape[0] for name in _ROW_ARRAYS}
        if any(size != c for size in shapes.values()) or arrays["embeddings"].shape[1:] != (
            table.dim,
        ):
            raise CorruptIndex(f"id table arrays do not match capacity {c}", shapes=shapes)
        table.embeddings = np.ascontiguousarray(arrays["embeddings"], np.float32).copy()
        table._live = arrays["row_live"].astype(bool)
        table._count = arrays["row_count"].astype(np.int64)
        table._seen = arrays["row_seen"].astype(np.float64)
        table._tick = arrays["row_tick"].astype(np.int64)
        owners = unpack_strings(arrays["owner_blob"], arrays["owner_offsets"])
        owner_rows = arrays["owner_rows"].tolist()
        if (
            len(owners) != len(owner_rows)
            or sorted(owner_rows) != np.flatnonzero(table._live).tolist()
        ):
            raise CorruptIndex("id table owners do not match its live rows")
        for x, r in zip(owners, owner_rows):
            table._index[x] = r
            table._row_ids[r] = x
        if len(table._index) != len(owner_rows):
            raise CorruptIndex("id table has one id on two rows")
        pend = unpack_strings(arrays["pending_blob"], arrays["pending_offsets"])
        table._pending = {
            x: [n, s, t]
            for x, n, s, t in zip(
                pend,
                arrays["pending_count"].tolist(),
                arrays["pending_seen"].tolist(),
                arrays["pending_tick"].tolist(),
            )
        }
        table._clock = int(manifest["seq"])
        counters = manifest["counters"]
        table.admitted_total = int(counters["admitted"])
        table.evicted_total = int(counters["evicted"])
        table.fallbacks = int(counters["fallbacks"])
        table._rng.bit_generator.state = manifest["rng"]
        return table

    def save(self, path: str | Path) -> None:
        """One ``.npz`` written to a temporary name and renamed into place (no pickle)."""
        manifest, arrays = self.state_dict()
        write_npz(Path(path), manifest, arrays)

    @classmethod
    def load(cls, path: str | Path) -> IdTable:
        manifest, arrays = read_npz(Path(path), _KIND, required=(*_ROW_ARRAYS, "owner_rows"))
        return cls.from_state(manifest, arrays)
