"""The collection's trained cross-encoder (``Collection.train_reranker``) on disk and as loaded.

On disk: ``<collection>/models/reranker-<id>/``, a sentence-transformers CrossEncoder folder
with ``manifest.json`` (base, data, hyperparameters, seed, the collection's id and change-log
sequence number, the depth and blend chosen on held-out training queries), written under a
temporary name and renamed; ``models/reranker.json`` names the one in use (replaced
atomically, so a reader sees the old reranker or the new one). On open only the manifest is
read and checked (a reranker trained for another collection is refused when used, with the
reason); the weights load on first use, so collections that never rerank never import torch.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sleuth.errors import InvalidInput
from sleuth.rank.cross import CrossModel, load_cross

__all__ = ["FORMAT", "RerankerState", "TrainedReranker", "load_reranker", "use_reranker"]

FORMAT = 1
POINTER = "reranker.json"


@dataclass
class TrainedReranker:
    """A saved reranker: its folder, manifest, and the depth and blend weight it serves with."""

    path: Path
    manifest: dict[str, Any]
    _model: CrossModel | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def depth(self) -> int:
        return int(self.manifest["serve"]["depth"])

    @property
    def weight(self) -> float:
        return float(self.manifest["serve"]["weight"])

    def model(self) -> CrossModel:
        with self._lock:
            if self._model is None:
                self._model = load_cross(self.path)
            return self._model


@dataclass(frozen=True)
class RerankerState:
    """The collection's reranker as loaded (None: there is none, or ``problem`` says why the
    saved one cannot serve)."""

    model: TrainedReranker | None = None
    problem: str | None = None

    def usable(self) -> TrainedReranker:
        if self.model is None:
            raise InvalidInput(
                self.problem
                or 'rerank="trained" needs a trained reranker and this collection has none: '
                "train one with `sleuth train reranker COLLECTION --qrels FILE --queries "
                'FILE` or Collection.train_reranker(...), or use rerank="cross-encoder:PATH"',
                field="rerank",
            )
        return self.model


def load_reranker(collection: Path, collection_id: str | None) -> RerankerState:
    """The reranker ``models/reranker.json`` names (an empty state when there is none)."""
    pointer = collection / "models" / POINTER
    if not pointer.exists():
        return RerankerState()
    try:
        name = json.loads(pointer.read_text())["active"]
        folder = collection / "models" / str(name)
        manifest = json.loads((folder / "manifest.json").read_text())
        where = f"the reranker {folder}"
        if manifest.get("format") != FORMAT or manifest.get("kind") != "cross-encoder":
            return RerankerState(
                problem=f"{where} is of kind {manifest.get('kind')!r} format "
                f"{manifest.get('format')!r}; this version reads cross-encoder format "
                f"{FORMAT}: train it again"
            )
        if manifest.get("collection_id") != collection_id:
            return RerankerState(
                problem=f"{where} was trained for another collection (id "
                f"{manifest.get('collection_id')!r}, this one is {collection_id!r}): train "
                "one for this collection"
            )
        int(manifest["serve"]["depth"]), float(manifest["serve"]["weight"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return RerankerState(
            problem=f"the reranker {pointer} cannot be read ({exc}): train it again"
        )
    return RerankerState(TrainedReranker(folder, manifest))


def use_reranker(models: Path, folder: Path) -> None:
    """Make ``folder`` (a finished ``models/reranker-<id>``) the collection's reranker."""
    tmp = models / f".{POINTER}.tmp"
    with open(tmp, "w") as out:
        out.write(json.dumps({"active": folder.name}))
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, models / POINTER)
