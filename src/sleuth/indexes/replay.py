"""The change log, replayed: one read of the store's changes after the oldest index's ``seq``
becomes one ``Delta`` that every index takes its part of (the changes after its own ``seq``).

A bulk write of this process (``sleuth.store.bulk``) that follows the indexes' ``seq`` directly
is its own delta: the indexes take its columns (``BulkRows``) as they are, nothing is read back."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from sleuth.store import Change, Store, StoredItem
from sleuth.store.bulk import BulkRows

__all__ = ["Added", "Delta", "Replayer", "added_docnos"]

# The item versions an index adds: stored items, or a bulk write's columns.
Added = list[StoredItem] | BulkRows


def added_docnos(added: Added) -> np.ndarray:
    """``int64[m]``: their docnos."""
    if isinstance(added, BulkRows):
        return added.docnos
    return np.array([s.docno for s in added], np.int64)


@dataclass(frozen=True)
class Delta:
    """The changes after ``since`` up to ``seq``, with the items they added that are still live
    (an item added and deleted within the delta is absent from ``items``)."""

    since: int
    seq: int
    changes: list[Change]
    items: dict[int, StoredItem]
    bulk: BulkRows | None = None  # the whole delta, when it is one bulk write (then no changes)

    def after(self, seq: int) -> tuple[np.ndarray, Added]:
        """What an index at ``seq`` must do: the docnos to remove (``int64[r]``), then the
        live items to add, in change-log order. An upsert is a delete and an add."""
        if seq < self.since:
            raise ValueError(f"this delta starts at {self.since}, after {seq}")
        if self.bulk is not None:  # every index is at ``since`` (see ``Replayer.since``)
            return self.bulk.removed, self.bulk
        mine = [c for c in self.changes if c.seq > seq]
        removed = np.array([c.docno for c in mine if c.op == "del"], np.int64)
        added = [self.items[c.docno] for c in mine if c.op == "add" and c.docno in self.items]
        return removed, added


class Replayer:
    """Reads a store's change log into deltas."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def last_seq(self) -> int:
        """The sequence number of the store's latest change."""
        return self.store.last_seq()

    def since(self, seq: int, known: Sequence[StoredItem] | BulkRows = ()) -> Delta:
        """Every change after ``seq`` (one read snapshot) and the items it added. ``known``:
        item versions this process just wrote (a docno names one version for ever, so they
        are what the store holds): only the others are read back from the store. A bulk
        write that is every change after ``seq`` is the delta itself (the caller holds the
        writer lock, so no other write comes between)."""
        if isinstance(known, BulkRows):
            if known.first == seq + 1 and self.store.last_seq() == known.last:
                return Delta(seq, known.last, [], {}, known)
            known = known.stored()
        changes, last = self.store.changes_since(seq)
        held = {s.docno: s for s in known}
        added = {c.docno for c in changes if c.op == "add"}
        added -= {c.docno for c in changes if c.op == "del"}  # deleted since: not live
        items = {d: held[d] for d in added if d in held}
        missing = sorted(added - items.keys())
        if missing:
            items.update(self.store.items(missing))
        return Delta(seq, last, changes, items)
