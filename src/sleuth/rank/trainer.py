"""``Collection.train_ranker``: judgments (mappings or BEIR files) or the recorded search clicks
-> a checked training set -> a fitted model. Nothing is written until the model is trained: bad
input is an ``InvalidInput`` and the collection's ranker stays as it was."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from sleuth.errors import InvalidInput
from sleuth.io.readers import read_qrels, read_queries
from sleuth.rank.learned import TrainedRanker
from sleuth.rank.training import (
    GRID,
    TrainingSet,
    check_judgments,
    cross_validate,
    fit,
    training_set,
)

__all__ = ["collection_id", "fit_model", "judgment_grades", "labels", "training_data"]


def _loaded(value: Any, read: Any) -> Any:
    return read(value) if isinstance(value, str | Path) else value


def judgment_grades(by_docno: Mapping[str, Mapping[int, int]]) -> Any:
    """``grades(qid, docnos) -> int32[n]``: each candidate's judged grade (unjudged: 0)."""

    def grades(qid: str, docnos: np.ndarray) -> np.ndarray:
        judged = by_docno.get(qid, {})
        return np.fromiter((judged.get(int(d), 0) for d in docnos), np.int32, docnos.size)

    return grades


def training_data(
    ctx: Any,
    store: Any,
    fields: Sequence[str],
    qrels: Any,
    queries: Any,
    *,
    attributes: Sequence[str] = (),
) -> TrainingSet:
    """What ``Collection.train_ranker`` learns from, read under its read lock (``ctx``: a
    ``sleuth.search.Context``)."""
    _check_attributes(attributes, store.attribute_types())
    texts, grades, source, by_docno = labels(store, qrels, queries)
    data = training_set(
        ctx, texts, grades, fields=fields, attributes=attributes, source=source, qrels=by_docno
    )
    data.source["seq"] = store.last_seq()
    return data


def labels(store: Any, qrels: Any, queries: Any) -> tuple[dict[str, str], Any, Any, Any]:
    """What a model trained on this collection learns from: judgments (``qrels`` and
    ``queries``, mappings or BEIR files, checked) or, with neither, the search clicks
    recorded: the query texts by id, ``grades(qid, docnos)``, the manifest's ``source`` and
    the grades by docno."""
    if qrels is None and queries is None:
        from sleuth.rank.clicks import click_training

        return click_training(store)
    if qrels is None or queries is None:
        raise InvalidInput("give both qrels and queries (judgments), or neither (clicks)")
    texts, by_docno = check_judgments(
        _loaded(qrels, read_qrels), _loaded(queries, read_queries), store.docnos_of
    )
    source = {"source": "judgments", "judgments": sum(len(j) for j in by_docno.values())}
    return texts, judgment_grades(by_docno), source, by_docno


def fit_model(
    data: TrainingSet,
    *,
    params: Mapping[str, Any] | None = None,
    tune: bool = False,
    seed: int = 0,
) -> TrainedRanker:
    """The model, with ``params`` or (``tune``) the best of ``GRID`` by cross-validation."""
    if not isinstance(tune, bool):
        raise InvalidInput(f"tune must be true or false, got {tune!r}")
    tuning = None
    if tune:
        if params is not None:
            raise InvalidInput("give params or tune=True, not both")
        tuning = cross_validate(data, GRID, folds=3, seed=seed)
        params = max(tuning, key=lambda row: row["ndcg@10"])["params"]
    model = fit(data, params, seed=seed, seq=int(data.source.pop("seq", 0)))
    if tuning is not None:
        model.info["tuning"] = {"folds": 3, "metric": "ndcg@10", "grid": tuning}
    return model


def _check_attributes(names: Sequence[str], types: Mapping[str, str]) -> None:
    if isinstance(names, str):
        raise InvalidInput("attributes must be a list of attribute names, not one string")
    numeric = sorted(n for n, kind in types.items() if kind in ("number", "bool", "datetime"))
    for name in names:
        if name not in numeric:
            raise InvalidInput(
                f"attribute {name!r} cannot be a ranker feature; the numeric attributes of "
                f"this collection: {', '.join(numeric) or '(none)'}",
                attribute=name,
            )


def collection_id(store: Any) -> str:
    """The collection's id, made on first use (the caller holds the writer lock): what a
    ranker names as the collection it was trained for."""
    found = store.get_meta("collection_id")
    if isinstance(found, str):
        return found
    made = uuid.uuid4().hex
    store.set_meta({"collection_id": made})
    return made
