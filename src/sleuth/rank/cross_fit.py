"""``Collection.train_reranker`` end to end: check the input, gather the groups under the read
lock, train (writes go on meanwhile), choose the blend on the held-out queries, then write the
model folder and switch the collection to it under the writer lock. Nothing is written before
the input checks out; the checkpoints are removed once the model is in place."""

from __future__ import annotations

import math
import time
from typing import Any

from sleuth.errors import InvalidInput
from sleuth.rank.cross import CrossModel
from sleuth.rank.cross_saved import RerankerState, TrainedReranker, use_reranker
from sleuth.rank.cross_train import (
    CrossTraining,
    choose_blend,
    groups_of,
    manifest_of,
    train_cross,
    write_reranker,
)
from sleuth.rank.trainer import collection_id, labels

__all__ = ["train_reranker"]


def train_reranker(
    col: Any,
    qrels: Any,
    queries: Any,
    *,
    minutes: float,
    seed: int,
    keep_checkpoints: bool,
    progress: bool | None,
    **options: Any,
) -> dict[str, Any]:
    """See ``Collection.train_reranker``."""
    started = time.perf_counter()
    if (
        isinstance(minutes, bool)
        or not isinstance(minutes, int | float)
        or not (minutes > 0 and math.isfinite(minutes))
    ):
        raise InvalidInput(f"minutes must be a positive number, got {minutes!r}", field="minutes")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise InvalidInput(f"seed must be a non-negative integer, got {seed!r}", field="seed")
    unknown = sorted(set(options) - set(CrossTraining.__dataclass_fields__))
    if unknown:
        raise InvalidInput(
            f"unknown reranker option {unknown[0]!r}; allowed: "
            f"{', '.join(CrossTraining.__dataclass_fields__)}",
            option=unknown[0],
        )
    given: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in options.items()}
    config = CrossTraining(**given)
    from sleuth.encoders.sentence import bundled_minilm

    base = bundled_minilm()
    col._refresh(wait=False)
    with col._rw.read():
        texts, _, source, by_docno = labels(col.store, qrels, queries)
        context = col._context(col._ix)
        groups = groups_of(context, texts, by_docno, config, seed)
        seq = col.store.last_seq()
    models = col.path / "models"
    model, run = train_cross(
        base,
        groups,
        config,
        models / "checkpoints",
        seed=seed,
        minutes=minutes,
        progress=progress,
    )
    serve = choose_blend(CrossModel(model, base), groups, col.store.items, config)
    with col._apply, col._writer:
        manifest = manifest_of(
            base,
            config,
            seed,
            groups,
            {**source, "seq": seq},
            run,
            serve,
            time.perf_counter() - started,
        )
        manifest["collection_id"] = collection_id(col.store)
        folder = write_reranker(models, model, manifest)
        use_reranker(models, folder)
        col._reranker = RerankerState(TrainedReranker(folder, manifest))
    if not keep_checkpoints:
        run["checkpoints"].remove()
    return {**manifest, "path": str(folder)}
