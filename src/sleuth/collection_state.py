"""What ``Collection``'s parts share: the state ``Collection.__init__`` (``sleuth.engine``) sets
and the helpers its parts define, declared once so that the mixins in ``collection_recs`` and
``collection_learning`` type-check against them. Declarations only: nothing here runs."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from sleuth.config import CollectionConfig, FusionConfig
from sleuth.encoders import Encoder
from sleuth.encoders.late import LateInteraction
from sleuth.indexes.set import IndexSet
from sleuth.rank.cross_saved import RerankerState
from sleuth.rank.learned import RankerState
from sleuth.recommend.service import RecommendService
from sleuth.search import Context
from sleuth.search import calibration as calib
from sleuth.search.trust import FusionTrust
from sleuth.store import ReadWriteLock, Store, StoredItem, WriterLock
from sleuth.store.bulk import BulkRows
from sleuth.types import Hit

__all__ = ["CollectionState"]


class CollectionState:
    """The attributes and helpers of ``Collection`` that its mixins use (see ``sleuth.engine``
    for what each is and the order its three locks are taken in)."""

    path: Path
    store: Store
    config: CollectionConfig
    encoder: Encoder
    late: LateInteraction | None
    _apply: threading.RLock
    _writer: WriterLock
    _rw: ReadWriteLock
    _recs: RecommendService
    _ix: IndexSet
    _calibration: calib.Calibration | None
    _trust: FusionTrust | None
    _ranker: RankerState
    _reranker: RerankerState

    if TYPE_CHECKING:  # defined in ``sleuth.engine``; the signatures are checked there

        def _refresh(
            self, *, wait: bool = True, written: Sequence[StoredItem] | BulkRows = ()
        ) -> None: ...

        def _load_models(self) -> None: ...  # in ``sleuth.collection_learning``

        def _context(self, ix: IndexSet, fusion: FusionConfig | None = None) -> Context: ...

        @staticmethod
        def _mask(ix: IndexSet, where: dict[str, Any] | None) -> np.ndarray: ...

        def _hits(
            self,
            results: list[tuple[np.ndarray, np.ndarray]],
            per_source: dict[str, list[Any]] | None,
            timings: dict[str, float],
            t0: float,
        ) -> list[list[Hit]]: ...
