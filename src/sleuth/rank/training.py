"""Training the learned ranker: judged queries -> their candidates (the very plan mode
``ranked`` runs before its ranker) -> features -> LightGBM LambdaMART.

``training_set`` runs under the collection's read lock (it searches); ``fit`` and
``cross_validate`` only read the arrays it returns. Everything is seeded and LightGBM runs
deterministic on one thread, so the same data trains the same model.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sleuth.errors import InvalidInput
from sleuth.rank.features import FeatureSpec, Featurizer, FieldCache
from sleuth.rank.learned import TrainedRanker
from sleuth.retrieve.base import QueryBatch, Ranked
from sleuth.search.hits import Trace
from sleuth.search.plans import PLANS

__all__ = [
    "DEFAULT_PARAMS",
    "GRID",
    "TrainingSet",
    "check_judgments",
    "cross_validate",
    "fit",
    "training_set",
]

# Chosen by 5-fold cross-validation over SciFact's 809 train queries (8 settings of rounds,
# learning rate, leaves, leaf size: 0.770-0.789 nDCG@10; this one best), never on test.
DEFAULT_PARAMS: dict[str, Any] = {
    "rounds": 500,
    "learning_rate": 0.03,
    "num_leaves": 31,
    "min_data_in_leaf": 50,
}
# What ``tune=True`` tries (3-fold cross-validation over the training queries only).
GRID: tuple[dict[str, Any], ...] = (
    {"rounds": 150, "learning_rate": 0.05, "num_leaves": 7, "min_data_in_leaf": 50},
    {"rounds": 300, "learning_rate": 0.05, "num_leaves": 15, "min_data_in_leaf": 50},
    {"rounds": 300, "learning_rate": 0.05, "num_leaves": 31, "min_data_in_leaf": 50},
    {"rounds": 500, "learning_rate": 0.03, "num_leaves": 31, "min_data_in_leaf": 50},
)
DEPTH = 100  # fused candidates the model reorders
LISTS = ("lexical", "dense", "hybrid")
_CHUNK = 256  # queries searched per batch while collecting candidates


@dataclass
class TrainingSet:
    """Per judged query: ``x`` (``float32[n, features]``) and ``labels`` (``int32[n]``) of its
    candidates (``docnos``); ``qrels`` by docno (for cross-validation's metrics, which count
    the relevant items the candidates missed too)."""

    spec: FeatureSpec
    depth: int
    qids: list[str]
    docnos: list[np.ndarray]
    x: list[np.ndarray]
    labels: list[np.ndarray]
    qrels: dict[str, dict[str, int]]
    source: dict[str, Any] = field(default_factory=dict)


def check_judgments(
    qrels: Any, queries: Any, docnos_of: Callable[[Sequence[str]], Mapping[str, int]]
) -> tuple[dict[str, str], dict[str, dict[int, int]]]:
    """The judged queries' texts and their judgments by docno; an ``InvalidInput`` names the
    first query or document the judgments name that is not there, or says none is positive."""
    if not isinstance(qrels, Mapping) or not qrels:
        raise InvalidInput("qrels must be a non-empty mapping query id -> {document id: grade}")
    if not isinstance(queries, Mapping) or not queries:
        raise InvalidInput("queries must be a non-empty mapping query id -> text")
    missing = [q for q in qrels if q not in queries]
    if missing:
        raise InvalidInput(
            f"the qrels name query {missing[0]!r} ({len(missing)} such), which is not among "
            f"the {len(queries)} queries given; every judged query needs its text",
            query=missing[0],
        )
    docs = sorted({d for judged in qrels.values() for d in judged})
    known = docnos_of(docs)
    unknown = [d for d in docs if d not in known]
    if unknown:
        raise InvalidInput(
            f"the qrels name document {unknown[0]!r} ({len(unknown)} such), which is not in "
            "the collection; nothing was trained",
            id=unknown[0],
        )
    by_docno: dict[str, dict[int, int]] = {}
    for qid, judged in qrels.items():
        for doc, grade in judged.items():
            if isinstance(grade, bool) or not isinstance(grade, int):
                raise InvalidInput(
                    f"query {qid!r}, document {doc!r}: a grade must be an integer, got {grade!r}"
                )
        by_docno[qid] = {known[d]: max(int(g), 0) for d, g in judged.items()}
    if not any(g > 0 for judged in by_docno.values() for g in judged.values()):
        raise InvalidInput("the qrels hold no positive judgment (grade > 0): nothing to learn")
    texts = {}
    for qid in by_docno:
        text = queries[qid]
        if not isinstance(text, str) or not text.strip():
            raise InvalidInput(f"query {qid!r} needs a non-empty text, got {text!r}", query=qid)
        texts[qid] = text
    return texts, by_docno


def collect(
    ctx: Any, texts: list[str]
) -> Iterable[tuple[QueryBatch, list[Ranked], dict[str, Any]]]:
    """Per chunk of queries: the batch, its fused top ``DEPTH`` and every stage's list, as mode
    ``ranked`` gives its ranker (``ctx``: a ``sleuth.search.Context``)."""
    plan = PLANS["hybrid"]
    encoder = ctx.encoder
    for start in range(0, len(texts), _CHUNK):
        chunk = texts[start : start + _CHUNK]
        vectors = encoder.encode_queries(chunk)
        outcome = plan.run(ctx, chunk, DEPTH, None, Trace("hybrid", DEPTH, len(chunk)), vectors)
        tokens = encoder.encode_query_tokens if ctx.late is not None else None
        batch = QueryBatch(chunk, encoder.encode_queries, tokens, given=vectors)
        yield batch, outcome.results, {**outcome.lists, "hybrid": outcome.results}


def featurizer(ctx: Any, cache: FieldCache) -> Featurizer:
    return Featurizer(
        ctx.index("bm25"), ctx.index("dense"), ctx.fetch, cache, ctx.late, ctx.index("tokens")
    )


def training_set(
    ctx: Any,
    texts: Mapping[str, str],
    grades: Callable[[str, np.ndarray], np.ndarray],
    *,
    fields: Sequence[str],
    attributes: Sequence[str] = (),
    source: dict[str, Any] | None = None,
    qrels: Mapping[str, Mapping[int, int]] | None = None,
) -> TrainingSet:
    """The features and labels (``grades(qid, docnos)``) of each query's candidates."""
    qids = list(texts)
    cache = FieldCache()
    feats = featurizer(ctx, cache)
    base = FeatureSpec(
        lists=LISTS,
        fields=tuple(fields),
        attributes=tuple(attributes),
        maxsim=ctx.late is not None and ctx.index("tokens") is not None,
    )
    chunks = list(collect(ctx, [texts[q] for q in qids]))
    # each field's mean length among the candidates: BM25's avgdl for the field features
    every = sorted({int(d) for _, found, _ in chunks for docnos, _ in found for d in docnos})
    analyzed = cache.terms(feats.bm25, base.fields, ctx.fetch(every))
    lengths = tuple(
        float(np.mean([doc[f][2] for doc in analyzed.values()])) if analyzed else 1.0
        for f in range(len(base.fields))
    )
    spec = FeatureSpec(
        lists=base.lists,
        fields=base.fields,
        field_lengths=lengths,
        attributes=base.attributes,
        maxsim=base.maxsim,
    )
    docnos: list[np.ndarray] = []
    xs: list[np.ndarray] = []
    labels: list[np.ndarray] = []
    for batch, found, lists in chunks:
        xs.extend(feats.matrix(spec, batch, found, lists))
        docnos.extend(d for d, _ in found)
    for qid, d in zip(qids, docnos):
        labels.append(grades(qid, d))
    by_docno = {q: {str(d): g for d, g in judged.items()} for q, judged in (qrels or {}).items()}
    return TrainingSet(spec, DEPTH, qids, docnos, xs, labels, by_docno, dict(source or {}))


def check_params(params: Mapping[str, Any] | None) -> dict[str, Any]:
    out = dict(DEFAULT_PARAMS)
    for key, value in (params or {}).items():
        if key not in DEFAULT_PARAMS:
            raise InvalidInput(
                f"unknown ranker option {key!r}; allowed: {', '.join(DEFAULT_PARAMS)}", option=key
            )
        kind = float if key == "learning_rate" else int
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            raise InvalidInput(f"{key} must be a positive number, got {value!r}", option=key)
        out[key] = kind(value)
    return out


def _booster(data: TrainingSet, keep: Sequence[int], params: Mapping[str, Any], seed: int) -> Any:
    import lightgbm as lgb

    keep = [i for i in keep if data.labels[i].size and data.labels[i].max() > 0]
    if not keep:
        raise InvalidInput(
            "no judged query has a relevant item among its candidates: nothing to learn"
        )
    x = np.concatenate([data.x[i] for i in keep])
    y = np.concatenate([data.labels[i] for i in keep])
    settings = {
        "objective": "lambdarank",
        "learning_rate": params["learning_rate"],
        "num_leaves": params["num_leaves"],
        "min_data_in_leaf": params["min_data_in_leaf"],
        "seed": seed,
        "deterministic": True,
        "force_row_wise": True,
        "num_threads": 1,
        "verbosity": -1,
    }
    dataset = lgb.Dataset(
        x,
        y,
        group=[data.labels[i].size for i in keep],
        feature_name=data.spec.names(),
        free_raw_data=True,
    )
    return lgb.train(settings, dataset, num_boost_round=params["rounds"])


def fit(
    data: TrainingSet, params: Mapping[str, Any] | None = None, *, seed: int = 0, seq: int = 0
) -> TrainedRanker:
    """A model trained on every query of ``data``."""
    import lightgbm as lgb

    chosen = check_params(params)
    start = time.perf_counter()
    booster = _booster(data, range(len(data.qids)), chosen, seed)
    used = sum(1 for y in data.labels if y.size and y.max() > 0)
    info = {
        "lightgbm": lgb.__version__,
        "seq": seq,
        "params": chosen,
        "seed": seed,
        "trained_from": {
            **data.source,
            "queries": len(data.qids),
            "queries_used": used,
            "pairs": int(sum(y.size for y in data.labels)),
        },
        "seconds": round(time.perf_counter() - start, 2),
        "trained_at": time.time(),
    }
    return TrainedRanker(booster, data.spec, data.depth, info)


def cross_validate(
    data: TrainingSet, grid: Sequence[Mapping[str, Any]], *, folds: int = 5, seed: int = 0
) -> list[dict[str, Any]]:
    """Mean nDCG@10 over ``folds`` query folds (seeded) of each setting of ``grid``; the
    metric counts the relevant items the candidates missed (ranx, full qrels)."""
    from ranx import Qrels, Run, evaluate

    order = np.random.default_rng(seed).permutation(len(data.qids))
    parts = np.array_split(order, folds)
    qrels = Qrels({q: data.qrels[q] for q in data.qids if data.qrels.get(q)})
    out = []
    for params in grid:
        chosen = check_params(params)
        run: dict[str, dict[str, float]] = {}
        for held in parts:
            train = np.setdiff1d(order, held)
            booster = _booster(data, train.tolist(), chosen, seed)
            for i in held.tolist():
                scores = booster.predict(data.x[i], num_threads=1) if data.x[i].size else []
                run[data.qids[i]] = {str(d): float(s) for d, s in zip(data.docnos[i], scores)}
        run = {q: r for q, r in run.items() if q in qrels.qrels}
        value = evaluate(qrels, Run(run), "ndcg@10", make_comparable=True)
        out.append({"params": chosen, "ndcg@10": round(float(value), 4)})
    return out
