"""A migration as a collection holds it while open: its state (``Holder``), the encoder that is
not the active one (writes encode with it too: the dual write) and its embedding cache, the
encoder queries use while the old vectors are searched, and the backfill thread."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sleuth.encoders import Encoder, get_encoder
from sleuth.encoders.cache import EmbeddingCache
from sleuth.errors import InvalidInput
from sleuth.migrate.backfill import Backfill, Holder, progress
from sleuth.migrate.qmap import MappedQueries, QueryMap
from sleuth.migrate.state import Side, State
from sleuth.store import Store

__all__ = ["MAP_FILE", "Migration", "compatible_with"]

MAP_FILE = "migration-map.npz"  # in the collection's models/ folder


def compatible_with(spec: str) -> str | None:
    """The old encoder id a tuned model folder declares its queries compatible with
    (``manifest.json``: ``"compatible_with"``, written by ``sleuth tune --compatible``)."""
    manifest = Path(spec).expanduser() / "manifest.json"
    if not manifest.is_file():
        return None
    try:
        found = json.loads(manifest.read_text()).get("compatible_with")
    except (OSError, ValueError, AttributeError):
        return None
    return found if isinstance(found, str) else None


class Migration:
    """One collection's migration (any phase). ``other``: the encoder that is not active
    (None once finished); ``queries``: what dense queries are encoded by (None: the active
    encoder)."""

    def __init__(
        self,
        store: Store,
        state: State,
        *,
        models: Path,
        text_fields: tuple[str, ...],
        active: Encoder,
        other: Encoder | None = None,
    ) -> None:
        self.store = store
        self.holder = Holder(state)
        self.models = models
        self.text_fields = text_fields
        self.backfill: Backfill | None = None
        self.other: Encoder | None = None
        self.other_cache: EmbeddingCache | None = None
        self.queries: Encoder | None = None
        self.paused: str | None = None  # why the other encoder is not loaded
        if state.active:
            side = self.needs
            self.other = other if other is not None else self._load(side)
            if self.other is not None:
                self.other_cache = EmbeddingCache(store, self.other, side.dim, text_fields, None)
        self.arrange(active)

    @property
    def needs(self) -> Side:
        """The encoder that is not active (the new one until the cutover)."""
        state = self.state
        return state.old if state.phase == "switched" else state.new

    def _load(self, side: Side) -> Encoder | None:
        """The other encoder from its spec, or None (the migration is paused: no backfill,
        no dual write, queries by the active encoder) with the reason in ``paused``; the
        closing sweep of a resumed backfill encodes what was written meanwhile."""
        try:
            encoder = get_encoder(side.spec)
        except InvalidInput as exc:
            why = exc.message
        else:
            if encoder.id == side.id:
                return encoder
            why = f"{side.spec!r} now loads as {encoder.id!r}"
        self.paused = (
            f"the migration's encoder {side.id!r} cannot be loaded ({why}); call "
            "migrate() with that encoder object to resume"
        )
        return None

    @property
    def state(self) -> State:
        return self.holder.state

    def arrange(self, active: Encoder) -> None:
        """Set ``queries`` for the phase (the mapped or compatible new encoder while the old
        vectors are searched)."""
        state = self.state
        if state.phase not in ("backfill", "ready") or state.query == "old" or self.other is None:
            self.queries = None
            return
        qmap = None
        if state.query == "mapped":
            qmap = QueryMap.load(self.models / MAP_FILE, (state.new.dim, state.old.dim))
        self.queries = MappedQueries(self.other, qmap, active.dim)

    def start(self, batch: int) -> None:
        """Run the backfill in its thread (phase ``backfill`` only)."""
        if self.state.phase != "backfill" or self.other is None or self.other_cache is None:
            return
        self.backfill = Backfill(
            self.store, self.other, self.other_cache.text, self.holder, batch=batch
        )
        self.backfill.start()

    def stop(self) -> None:
        if self.backfill is not None:
            self.backfill.stop()
            self.backfill.join()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the backfill to end; whether it did."""
        if self.backfill is not None:
            self.backfill.join(timeout)
            return not self.backfill.is_alive()
        return True

    def status(self) -> dict[str, Any]:
        state = self.state
        out = state.to_dict()
        out["progress"] = progress(self.store, state, self.backfill)
        if self.paused is not None:
            out["paused"] = self.paused
        return out
