"""Co-visitation and popularity fitted with Ray Data: a distributed group-by over event logs
(one part per shard, say), giving the tables the local fit gives.

::

    parts (user, item, kind, ts, seq) ─► group by user ─► each history in time order ─►
        pairs (a, b, decay^(gap-1)) for gap 1..window ─► group by (a, b): sum ─► t[a, b]
    parts ─► weight by kind ─► group by item: sum(weight), sum(decayed weight) ─► counts

Items are numbered in sorted id order, as ``Interactions`` numbers them, so ``CoVisit``
fitted on ``t`` (``fit_pairs``) and ``Popularity`` on the counts (``fit_counts``) are the
sources ``Collection`` fits on one node: the same tables, the same recommendations (the
co-visit weights are sums of powers of two, exact in any order; popularity counts are sums
in another order, equal within float rounding).

A user's events may sit in any part; within a user, events of equal time keep the order of
``seq`` (the arrival order: the store's event sequence), as the local log keeps arrival.

>>> tables = fit_events([events_of(shard) for shard in shards])  # doctest: +SKIP
>>> sources = tables.sources()  # {"co-visit": CoVisit, "popularity": Popularity}
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
import scipy.sparse as sp

from sleuth.distributed.cluster import connect, import_ray
from sleuth.errors import InvalidInput
from sleuth.recommend.source import Source
from sleuth.recommend.sources import CoVisit, Popularity
from sleuth.store.events import EventRows

__all__ = ["COLUMNS", "EventTables", "events_of", "fit_events"]

COLUMNS = ("user", "item", "kind", "ts", "seq")


@dataclass(frozen=True)
class EventTables:
    """What the group-by produced. ``item_ids``: sorted; ``pairs``: ``float32[items, items]``
    co-visit weights (``CoVisit.fit_pairs``); ``counts``: ``float64[items]`` summed event
    weights, ``decayed`` the same with the half-life (None without one); ``events``: how many
    were read. ``window``, ``decay``, ``half_life_days``: what it was fitted with."""

    item_ids: list[str]
    pairs: sp.csr_matrix
    counts: np.ndarray
    decayed: np.ndarray | None
    events: int
    window: int
    decay: float
    half_life_days: float | None

    def covisit(self, *, recent: int = 5, recency: float = 0.6) -> CoVisit:
        covisit = CoVisit(self.window, self.decay, recent, recency)
        return covisit.fit_pairs(self.item_ids, self.pairs)

    def popularity(self) -> Popularity:
        return Popularity(self.half_life_days).fit_counts(self.item_ids, self.counts, self.decayed)

    def sources(self) -> dict[str, Source]:
        """The fitted sources by the name ``RecommendConfig.sources`` weighs them by, with the
        serving parameters ``Collection`` uses (``sleuth.recommend.registry``)."""
        return {"co-visit": self.covisit(), "popularity": self.popularity()}


def events_of(rows: Sequence[EventRows] | Any) -> Any:
    """A ``pyarrow.Table`` of ``COLUMNS`` from a store's event chunks (``[rows for _, rows in
    store.iter_event_rows()]``) or a ``Store`` itself; ``seq`` numbers them in order."""
    import pyarrow as pa

    if hasattr(rows, "iter_event_rows"):
        rows = [r for _, r in rows.iter_event_rows()]
    columns: dict[str, list[Any]] = {name: [] for name in COLUMNS}
    start = 0
    for chunk in rows:
        n = len(chunk)
        for name, coded in (("user", chunk.users), ("item", chunk.items), ("kind", chunk.kinds)):
            columns[name].append(np.asarray(coded.ids, object)[coded.codes])
        columns["ts"].append(chunk.ts)
        columns["seq"].append(np.arange(start, start + n, dtype=np.int64))
        start += n
    if not start:
        return pa.table(
            {
                "user": pa.array([], pa.string()),
                "item": pa.array([], pa.string()),
                "kind": pa.array([], pa.string()),
                "ts": pa.array([], pa.float64()),
                "seq": pa.array([], pa.int64()),
            }
        )
    return pa.table({name: np.concatenate(parts) for name, parts in columns.items()})


def fit_events(
    parts: Sequence[Any],
    *,
    event_weights: Mapping[str, float] | None = None,
    window: int = 5,
    decay: float = 0.5,
    half_life_days: float | None = None,
    address: str | None = None,
) -> EventTables:
    """Group the events of ``parts`` (``pyarrow.Table``s, or mappings of column arrays, with
    ``user``, ``item``, ``ts``, and optionally ``kind`` (default ``"view"``) and ``seq``
    (default: the row's place in its part)) on Ray; ``event_weights`` by kind (1.0 for a
    kind not listed), ``window`` and ``decay`` as ``CoVisit``'s, ``half_life_days`` as
    ``Popularity``'s. ``address``: as for ``sleuth.distributed.connect``."""
    ray = import_ray()
    import pyarrow as pa
    import pyarrow.compute as pc

    tables = [_table(part, i) for i, part in enumerate(parts)]
    tables = [t for t in tables if t.num_rows]
    if not tables:
        return _empty(window, decay, half_life_days)
    weights = dict(event_weights or {})
    n_events = sum(t.num_rows for t in tables)
    # the catalog's ids and the newest time: column scans of the parts, no shuffle needed
    seen = pc.unique(pa.chunked_array([t.column("item") for t in tables]))
    item_ids = sorted(str(i) for i in seen.to_pylist())
    code = {item: i for i, item in enumerate(item_ids)}
    newest = max(float(pc.max(t.column("ts")).as_py()) for t in tables)
    with connect(address) as cluster:
        shards = max(1, int(cluster.cpus))  # partitions of each shuffle
        events = ray.data.from_arrow(tables)
        pairs = (
            events.groupby("user", num_partitions=shards)
            .map_groups(partial(_user_pairs, window=window, decay=decay), batch_format="numpy")
            .groupby(["a", "b"], num_partitions=shards)
            .sum("w")
        )
        t = _pair_matrix(pairs, code)
        counts, decayed = _counts(events, code, weights, half_life_days, newest, shards)
    return EventTables(item_ids, t, counts, decayed, n_events, window, decay, half_life_days)


def _user_pairs(
    group: dict[str, np.ndarray], *, window: int, decay: float
) -> dict[str, np.ndarray]:
    """One user's events → the (earlier item, later item, weight) pairs ``CoVisit`` counts."""
    order = np.lexsort((group["seq"], group["ts"]))
    items = np.asarray(group["item"])[order]
    a, b, w = [], [], []
    for gap in range(1, min(window, items.size - 1) + 1):
        a.append(items[:-gap])
        b.append(items[gap:])
        w.append(np.full(items.size - gap, decay ** (gap - 1), np.float64))
    if not a:
        empty = np.zeros(0, object)
        return {"a": empty, "b": empty, "w": np.zeros(0, np.float64)}
    return {"a": np.concatenate(a), "b": np.concatenate(b), "w": np.concatenate(w)}


def _pair_matrix(pairs: Any, code: Mapping[str, int]) -> sp.csr_matrix:
    rows, cols, vals = [], [], []
    for batch in pairs.iter_batches(batch_size=None, batch_format="numpy"):
        rows.append(np.fromiter((code[str(x)] for x in batch["a"]), np.int64, len(batch["a"])))
        cols.append(np.fromiter((code[str(x)] for x in batch["b"]), np.int64, len(batch["b"])))
        vals.append(np.asarray(batch["sum(w)"], np.float64))
    n = len(code)
    if not rows:
        return sp.csr_matrix((n, n), dtype=np.float32)
    m = sp.csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n)
    )
    return m.astype(np.float32).tocsr()


def _counts(
    events: Any,
    code: Mapping[str, int],
    weights: Mapping[str, float],
    half_life_days: float | None,
    newest: float,
    shards: int,
) -> tuple[np.ndarray, np.ndarray | None]:
    def weigh(batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        # float32 weights, as the local log holds them, summed in float64
        w = np.array([weights.get(str(k), 1.0) for k in batch["kind"]], np.float32)
        w64 = w.astype(np.float64)
        out = {"item": batch["item"], "w": w64}
        if half_life_days:
            age_days = (newest - np.asarray(batch["ts"], np.float64)) / 86400.0
            out["dw"] = w64 * 0.5 ** (age_days / half_life_days)
        return out

    columns = ["w", "dw"] if half_life_days else ["w"]
    summed = (
        events.map_batches(weigh, batch_format="numpy")
        .groupby("item", num_partitions=shards)
        .sum(columns)
    )
    counts = np.zeros(len(code), np.float64)
    decayed = np.zeros(len(code), np.float64) if half_life_days else None
    for batch in summed.iter_batches(batch_size=None, batch_format="numpy"):
        at = np.fromiter((code[str(x)] for x in batch["item"]), np.int64, len(batch["item"]))
        counts[at] = batch["sum(w)"]
        if decayed is not None:
            decayed[at] = batch["sum(dw)"]
    return counts, decayed


def _table(part: Any, index: int) -> Any:
    """A part as a ``pyarrow.Table`` of ``COLUMNS`` (``InvalidInput`` naming what is missing)."""
    import pyarrow as pa

    table = part if isinstance(part, pa.Table) else pa.table(dict(part))
    missing = [c for c in ("user", "item", "ts") if c not in table.column_names]
    if missing:
        raise InvalidInput(
            f"event part {index} has no {', '.join(missing)} column; it needs user, item and "
            f"ts, and may have kind and seq; it has {', '.join(table.column_names) or 'none'}",
            part=index,
        )
    n = table.num_rows
    kind = table.column("kind") if "kind" in table.column_names else pa.array(["view"] * n)
    seq = table.column("seq") if "seq" in table.column_names else pa.array(np.arange(n))
    return pa.table(
        {
            "user": table.column("user").cast(pa.string()),
            "item": table.column("item").cast(pa.string()),
            "kind": kind.cast(pa.string()),
            "ts": table.column("ts").cast(pa.float64()),
            "seq": seq.cast(pa.int64()),
        }
    )


def _empty(window: int, decay: float, half_life_days: float | None) -> EventTables:
    return EventTables(
        [],
        sp.csr_matrix((0, 0), dtype=np.float32),
        np.zeros(0, np.float64),
        np.zeros(0, np.float64) if half_life_days else None,
        0,
        window,
        decay,
        half_life_days,
    )
