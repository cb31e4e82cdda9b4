"""``sleuth train ranker`` (the learned ranker of mode ``ranked``) and ``sleuth train reranker``
(the cross-encoder of ``--rerank trained``), from judgments or clicks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from sleuth.cli.shell import Collection, open_collection, train_app

Qrels = Annotated[
    Path | None, typer.Option(help="BEIR qrels (query-id, corpus-id, score; tab separated).")
]
Queries = Annotated[
    Path | None, typer.Option(help="BEIR queries.jsonl (_id, text) of the judged queries.")
]


@train_app.command("ranker")
def train_ranker(
    collection: Collection,
    qrels: Qrels = None,
    queries: Queries = None,
    attribute: Annotated[
        list[str] | None, typer.Option(help="A numeric attribute to use as a feature (repeat).")
    ] = None,
    tune: Annotated[
        bool, typer.Option(help="Choose the settings by 3-fold cross-validation.")
    ] = False,
    seed: Annotated[int, typer.Option(help="Random seed (training is deterministic).")] = 0,
) -> None:
    """Train the ranker of search mode ``ranked`` (LightGBM LambdaMART) from judgments
    (--qrels and --queries) or, with neither, from the search events recorded, and save it in
    the collection. Bad judgments change nothing."""
    with open_collection(collection) as col:
        manifest = col.train_ranker(
            qrels, queries, attributes=attribute or [], tune=tune, seed=seed
        )
    print(json.dumps(manifest, indent=1))


@train_app.command("reranker")
def train_reranker(
    collection: Collection,
    qrels: Qrels = None,
    queries: Queries = None,
    minutes: Annotated[float, typer.Option(help="Time budget for training, in minutes.")] = 30.0,
    epochs: Annotated[int, typer.Option(help="Passes over the training groups.")] = 1,
    seed: Annotated[int, typer.Option(help="Random seed (training is deterministic).")] = 0,
) -> None:
    """Fine-tune a cross-encoder from the bundled MiniLM on judgments (--qrels and --queries)
    or, with neither, the search clicks recorded, with hard negatives from the collection's
    hybrid lists; save it as models/reranker-<id>/ (search --rerank trained uses it). An
    interrupted run resumes from its last epoch. Bad judgments change nothing."""
    with open_collection(collection) as col:
        manifest = col.train_reranker(
            qrels, queries, minutes=minutes, epochs=epochs, seed=seed, progress=None
        )
    print(json.dumps(manifest, indent=1))
