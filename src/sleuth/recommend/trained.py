"""The trained sequential source of a collection: SASRec over its events, with item ids mapped to
embedding rows by a bounded, collisionless ``IdTable``, kept in ``<collection>/models/``.

Rows are stable across trainings (an id keeps its row until it is evicted), so a retrain warm-
starts from the previous weights row for row; a row whose id was evicted is re-initialised. An
item without a row (not yet admitted, or evicted) is left to the other sources, content among
them. Training writes a checkpoint after every epoch, so an interrupted ``sleuth train`` resumes.
"""

from __future__ import annotations

import inspect
import json
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from sleuth.config import DenseConfig
from sleuth.errors import InvalidInput
from sleuth.indexes.dense import DenseIndex
from sleuth.recommend.idtable import IdTable
from sleuth.recommend.interactions import History, Interactions
from sleuth.recommend.sequential import SASRec
from sleuth.recommend.source import Batch, Ranked, Source, in_mask
from sleuth.types import Event

__all__ = ["TrainedSequential"]

MODEL, TABLE, META, CHECKPOINT = "sasrec.pt", "items.npz", "sequential.json", "checkpoint.pt"
OBSERVE_CHUNK = 10_000


class TrainedSequential(Source):
    """A trained SASRec, its ID table, and a dense index over the embeddings of the items that
    own a row: a user's state vector is searched against it (exact below 20,000 items, HNSW
    above), as any dense query is. It is learned by ``train``, not ``fit``; its items are the
    table's rows."""

    name = "sequential"

    def __init__(self, folder: Path, model: SASRec, table: IdTable, meta: dict[str, Any]) -> None:
        self.folder, self.model, self.table, self.meta = folder, model, table, meta
        embeddings = model.item_embeddings
        owners = table.owners(np.arange(embeddings.shape[0]))
        self.owners = [o or "" for o in owners]
        self.n_items = len(self.owners)
        rows = np.array([r for r, o in enumerate(owners) if o is not None], np.int64)
        self.index = DenseIndex(DenseConfig(), embeddings.shape[1])
        self.index.add(rows, embeddings[rows])

    @classmethod
    def load(cls, folder: Path) -> TrainedSequential | None:
        if not (folder / META).exists():
            return None
        meta = json.loads((folder / META).read_text())
        return cls(folder, SASRec.load(folder / MODEL), IdTable.load(folder / TABLE), meta)

    @classmethod
    def train(
        cls,
        folder: Path,
        events: Sequence[Event],
        weights: dict[str, float],
        *,
        previous: TrainedSequential | None = None,
        capacity: int | None = None,
        min_count: int = 1,
        progress: bool | None = None,
        **options: Any,
    ) -> TrainedSequential:
        """Fit on ``events`` (all of the collection's, in recorded order). ``previous``: warm
        start from it, its ID table included; ``capacity``: rows of a new ID table (default
        twice the distinct items, at least 1,024); ``options``: ``SASRec`` settings."""
        _check_options(options, capacity, min_count)
        if not events:
            raise InvalidInput("no events recorded: record some before training")
        folder.mkdir(parents=True, exist_ok=True)
        start = time.perf_counter()
        if previous is not None:
            table, seen = previous.table, int(previous.meta["events"])
        else:
            n_items = len({e.item for e in events})
            table = IdTable(capacity or max(1024, 2 * n_items), 1, min_count=min_count)
            seen = 0
        new = sorted(events[seen:], key=lambda e: e.ts or 0.0)
        reset: list[np.ndarray] = []
        for i in range(0, len(new), OBSERVE_CHUNK):
            chunk = new[i : i + OBSERVE_CHUNK]
            table.observe([e.item for e in chunk], now=chunk[-1].ts or 0.0)
            reset.append(table.last_reset)
        rows = table.lookup([e.item for e in events])
        keep = rows >= 0
        users = sorted({e.user for e in events})
        uidx = {u: i for i, u in enumerate(users)}
        owners = [
            o if o is not None else f"\0free{r}"
            for r, o in enumerate(table.owners(np.arange(table.capacity)))
        ]
        data = Interactions(
            users,
            owners,
            np.array([uidx[e.user] for e in events], np.int64)[keep],
            rows[keep],
            np.array([weights.get(e.kind, 1.0) for e in events], np.float32)[keep],
            np.array([e.ts or 0.0 for e in events], np.float64)[keep],
        )
        warm = None
        if previous is not None:
            warm = previous.model
            evicted = np.unique(np.concatenate(reset)) if reset else np.zeros(0, np.int64)
            warm.reset_items(evicted)
        model = SASRec(progress=progress, **options).fit(
            data, checkpoint=folder / CHECKPOINT, warm_start=warm
        )
        meta = {
            "events": len(events),
            "trained_on": int(keep.sum()),
            "items_with_rows": len(table),
            "capacity": table.capacity,
            "epochs": model.epoch,
            "best_epoch": model.best_epoch,
            "validation_ndcg@10": model.best_ndcg,
            "train_s": round(time.perf_counter() - start, 2),
            "warm_start": previous is not None,
        }
        model.save(folder / MODEL)
        table.save(folder / TABLE)
        _write_json(folder / META, meta)
        (folder / CHECKPOINT).unlink(missing_ok=True)
        return cls(folder, model, table, meta)

    def fit(self, data: Interactions) -> TrainedSequential:
        raise InvalidInput("the sequential source is learned by train(), not fit()")

    def score(self, histories: Sequence[History]) -> np.ndarray:
        """Over the table's rows (``histories`` coded as rows, see ``rows_of``)."""
        return self.model.score(histories)

    def rows_of(self, events: Sequence[Event]) -> History:
        """The events' items as table rows (items without a row left out)."""
        rows = self.table.lookup([e.item for e in events])
        rows = rows[rows >= 0]
        return History(rows, np.ones(rows.size, np.float32), np.zeros(rows.size))

    def candidates(self, batch: Batch) -> list[Ranked | None]:
        tops = [
            self.top(h, batch.depth, exclude_seen=batch.exclude_seen) if h else None
            for h in batch.histories
        ]
        found = batch.catalog.docnos_of(sorted({i for t in tops if t for i in t[0]}))
        return [None if t is None else in_mask(t, found, m) for t, m in zip(tops, batch.masks)]

    def top(
        self, history: Sequence[Event], depth: int, *, exclude_seen: bool
    ) -> tuple[list[str], np.ndarray]:
        """The model's best ``depth`` item ids after this history (read now, not at training)."""
        coded = self.rows_of(history)
        rows = coded.items
        if rows.size == 0:
            return [], np.zeros(0, np.float32)
        user = self.model.user_vectors([coded])
        mask = None
        if exclude_seen:
            mask = np.ones(len(self.owners), bool)
            mask[rows] = False
        found = self.index.search_batch(user, depth, mask)
        top, scores = found.row(0)
        return [self.owners[r] for r in top.tolist()], scores


def _check_options(options: dict[str, Any], capacity: Any, min_count: Any) -> None:
    known = [p for p in inspect.signature(SASRec).parameters if p != "progress"]
    unknown = sorted(set(options) - set(known))
    if unknown:
        raise InvalidInput(
            f"unknown training option {unknown[0]!r}; allowed: "
            f"{', '.join([*known, 'capacity', 'min_count'])}",
            option=unknown[0],
        )
    for key, value in (("capacity", capacity), ("min_count", min_count)):
        if value is None and key == "capacity":
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise InvalidInput(f"{key} must be a positive integer, got {value!r}", **{key: value})


def _write_json(path: Path, value: dict[str, Any]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(value, indent=1))
    os.replace(tmp, path)
