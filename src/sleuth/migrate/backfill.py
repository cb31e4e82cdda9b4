"""The backfill: a daemon thread that encodes, in batches, the items that have no vector of the
new encoder yet, and stores each batch's vectors with the migration's progress in one
transaction (``Store.put_backfill``), so a crash or ``kill -9`` loses at most the batch being
encoded and the next open resumes after the last one stored.

Vectors are cached by (encoder id, content hash), the collection's embedding cache: a text
already encoded (a dual write, an earlier migration, a duplicate text) is not encoded again.
The main pass walks the items in docno order from the cursor; since every new item version gets
a larger docno and writes during a migration are encoded by both models, the pass ends once it
reaches the last item. A closing sweep from the start then catches items some process wrote
without the new encoder (one that opened the collection before the migration started).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from sleuth.encoders.base import Encoder
from sleuth.errors import Closed
from sleuth.migrate.state import META_KEY, State
from sleuth.store import Store
from sleuth.types import Item

__all__ = ["Backfill", "Holder", "progress"]


class Holder:
    """The migration's state, shared by the backfill thread and the collection's calls."""

    def __init__(self, state: State) -> None:
        self.lock = threading.RLock()  # held across a read, a store write and a set
        self._state = state

    @property
    def state(self) -> State:
        with self.lock:
            return self._state

    def set(self, state: State) -> None:
        with self.lock:
            self._state = state


class Backfill(threading.Thread):
    """Encode what ``encoder`` lacks, ``batch`` items at a time, until every item has its
    vector (then the phase becomes ``ready``) or ``stop()``. ``rate``: items per second of
    this run; ``error``: what ended it early, if anything did."""

    def __init__(
        self,
        store: Store,
        encoder: Encoder,
        text: Callable[[Item], str],
        holder: Holder,
        *,
        batch: int = 256,
    ) -> None:
        super().__init__(name="sleuth-backfill", daemon=True)
        self.store = store
        self.encoder = encoder
        self.text = text
        self.holder = holder
        self.batch = batch
        self.error: str | None = None
        self.items = 0  # processed by this run
        self.started = time.perf_counter()
        self._stop_event = threading.Event()

    @property
    def rate(self) -> float:
        return self.items / max(time.perf_counter() - self.started, 1e-9)

    def stop(self) -> None:
        """Ask the thread to end after the batch it is encoding (``join`` waits for it)."""
        self._stop_event.set()

    def run(self) -> None:
        try:
            self._run()
        except Closed:  # the collection closed under it: the next open resumes
            pass
        except Exception as exc:  # reported by status; the next open retries
            self.error = f"{type(exc).__name__}: {exc}"

    def _run(self) -> None:
        sweeping = False
        while not self._stop_event.is_set():
            state = self.holder.state
            after = -1 if sweeping else state.cursor
            todo = self.store.without_vector(self.encoder.id, after, self.batch)
            if not todo and not sweeping:
                sweeping = True
                continue
            if not todo:
                done = state.replace(phase="ready", backfilled=time.time())
                self.store.set_meta({META_KEY: done.to_dict()})
                self.holder.set(done)
                return
            texts = {s.hash: self.text(s.item) for s in todo}
            hashes = list(texts)
            vectors = self.encoder.encode([texts[h] for h in hashes]).vectors
            cursor = state.cursor if sweeping else max(s.docno for s in todo)
            with self.holder.lock:  # a cutover or rollback cannot interleave with this batch
                current = self.holder.state
                if current.phase != "backfill":
                    return
                after_batch = current.replace(cursor=cursor, encoded=current.encoded + len(hashes))
                self.store.put_backfill(
                    self.encoder.id, dict(zip(hashes, vectors)), {META_KEY: after_batch.to_dict()}
                )
                self.holder.set(after_batch)
            self.items += len(todo)


def progress(store: Store, state: State, run: Backfill | None) -> dict[str, Any]:
    """``done`` / ``total`` items (those after the cursor count as to do), and the rate."""
    total = store.count()
    remaining = 0 if state.phase != "backfill" else store.count_after(state.cursor)
    out: dict[str, Any] = {"done": total - remaining, "total": total}
    if run is not None:
        out["rate"] = round(run.rate, 1)
        out["running"] = run.is_alive()
        if run.error is not None:
            out["error"] = run.error
    return out
