"""Label-free domain tuning of a collection's text encoder (``Collection.tune``, ``sleuth
tune``): training pairs mined from the collection's own items (``pairs``, ``data``), the loss
with a guide's veto and the backward-compatibility term (``loss``), the training loop with
checkpoints and a deadline (``train``, ``checkpoint``), the label-free validation signal
(``validate``), and the run that writes ``models/encoder-<id>/`` (``run``)."""

from __future__ import annotations

from sleuth.tune.config import MIN_ITEMS, SOURCES, TuneConfig
from sleuth.tune.run import tune_collection

__all__ = ["MIN_ITEMS", "SOURCES", "TuneConfig", "tune_collection"]
