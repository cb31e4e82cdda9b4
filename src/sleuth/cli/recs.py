"""Events and recommendations: record events, train the sequential model, recommend."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
import typer.core

from sleuth.cli.shell import (
    AsJson,
    Collection,
    Columns,
    K,
    Where,
    app,
    open_collection,
    parse_where,
    print_hits,
    train_app,
)


@app.command()
def record(
    collection: Collection,
    path: Annotated[Path, typer.Argument(help="An events file (see `sleuth eval recs --help`).")],
    format: Annotated[str, typer.Option(help="auto, movielens, sasrec, csv or jsonl.")] = "auto",
    columns: Columns = None,
) -> None:
    """Record interaction events, in one transaction (a bad line commits nothing)."""
    from sleuth.io.events import read_events

    with open_collection(collection) as col:
        kinds = col.config.recommend.event_weights
        events = read_events(path, format=format, kinds=kinds, columns=columns)
        result = col.record(events)
    print(f"recorded {result.recorded} events ({result.duplicates} already recorded)")


@train_app.command("sequential")
def train(
    collection: Collection,
    epochs: Annotated[int, typer.Option(help="At most this many epochs (early stopping).")] = 200,
    dim: Annotated[int, typer.Option(help="Embedding size.")] = 64,
    max_len: Annotated[int, typer.Option(help="Longest history the model reads.")] = 200,
    seed: Annotated[int, typer.Option(help="Random seed (training is deterministic).")] = 0,
) -> None:
    """Train the sequential recommender (SASRec) on the recorded events; resumes an
    interrupted run and warm-starts from the previous model."""
    with open_collection(collection) as col:
        summary = col.train(progress=True, epochs=epochs, dim=dim, max_len=max_len, seed=seed)
    print(json.dumps(summary, indent=1))


@app.command()
def recommend(
    collection: Collection,
    user: Annotated[str, typer.Argument(help="The user id.")],
    k: K = 10,
    where: Where = None,
    include_seen: Annotated[bool, typer.Option(help="Allow items the user has seen.")] = False,
    diversity: Annotated[float, typer.Option(help="0 (relevance) to 1 (variety), MMR.")] = 0.0,
    as_json: AsJson = False,
) -> None:
    """What ``user`` should see next."""
    with open_collection(collection) as col:
        hits = col.recommend(
            user, k, where=parse_where(where), exclude_seen=not include_seen, diversity=diversity
        )
    print_hits(hits, as_json)
