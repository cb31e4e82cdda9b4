"""``sleuth eval``: the BEIR and recommendation harnesses."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
import typer.core

from sleuth.cli.shell import (
    AsJson,
    Columns,
    eval_app,
)


@eval_app.command("beir")
def eval_beir(
    path: Annotated[
        Path, typer.Argument(help="A BEIR folder (corpus.jsonl, queries.jsonl, qrels/test.tsv).")
    ],
    mode: Annotated[
        str,
        typer.Option(
            help="Comma-separated modes (lexical, dense, hybrid, hybrid+maxsim, muvera, "
            "maxsim-exact, ranked), or all. A late-interaction mode builds the collection with "
            "token vectors; ranked trains a ranker first (--ranker-qrels)."
        ),
    ] = "lexical,dense,hybrid",
    ranker_qrels: Annotated[
        str | None,
        typer.Option(
            help="The qrels split mode ranked trains its ranker on (qrels/SPLIT.tsv, e.g. "
            "train); never the test split it is scored on."
        ),
    ] = None,
    encoder: Annotated[str, typer.Option(help="minilm, hashing, or a model folder.")] = "minilm",
    cache_dir: Annotated[
        Path | None,
        typer.Option(help="Where built collections are kept (default $SLEUTH_CACHE/eval)."),
    ] = None,
    as_json: AsJson = False,
) -> None:
    """nDCG@10, Recall@100, MRR@10, latency and indexing throughput per mode."""
    from sleuth.evaluate.beir import evaluate_beir, parse_modes

    report = evaluate_beir(
        path,
        parse_modes(mode, trained=ranker_qrels is not None),
        encoder=encoder,
        cache_dir=cache_dir,
        progress=True,
        ranker_qrels=ranker_qrels,
    )
    if as_json:
        print(json.dumps(report))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(
        "mode",
        "nDCG@10",
        "Recall@100",
        "MRR@10",
        "p50 ms",
        "p95 ms",
        "bytes/item",
        title=f"{report['dataset']}: {report['docs']} docs, {report['queries']} queries, "
        f"indexed at {report['index']['items_per_s']} items/s",
    )
    for name, r in report["runs"].items():
        table.add_row(
            name,
            f"{r['ndcg@10']:.4f}",
            f"{r['recall@100']:.4f}",
            f"{r['mrr@10']:.4f}",
            f"{r['p50_ms']:.1f}",
            f"{r['p95_ms']:.1f}",
            f"{r['bytes_per_item']:,}",
        )
    Console().print(table)


@eval_app.command("recs")
def eval_recs(
    path: Annotated[
        Path,
        typer.Argument(
            help="Events: MovieLens u.data / ratings.dat / ratings.csv (or their folder), SASRec "
            "'user item' lines (.txt), or CSV / JSONL with user,item[,kind,value,ts] (or any "
            "columns --columns maps)."
        ),
    ],
    format: Annotated[str, typer.Option(help="auto, movielens, sasrec, csv or jsonl.")] = "auto",
    columns: Columns = None,
    split: Annotated[str, typer.Option(help="loo (leave last out) or time.")] = "loo",
    sources: Annotated[
        str,
        typer.Option(
            help="Comma-separated sources to run besides popularity and item-knn: ease, "
            "co-visit, multi-interest, sasrec (trains a model: minutes), content (needs item "
            "texts); 'default' (all but sasrec and content) or 'all'."
        ),
    ] = "default",
    items: Annotated[
        Path | None,
        typer.Option(help="Item texts for the content source (default: the MovieLens folder)."),
    ] = None,
    encoder: Annotated[str, typer.Option(help="Encoder of the item texts (content).")] = "minilm",
    as_json: AsJson = False,
) -> None:
    """HR@10, NDCG@10, coverage, diversity and training time of every recommendation source,
    leave-one-out with full ranking; popularity and item-kNN baselines in the same run."""
    from sleuth.evaluate.recs import DEFAULT_SOURCES, SOURCES, evaluate_recs

    named = {"all": SOURCES, "default": DEFAULT_SOURCES}
    names = named.get(sources) or [s.strip() for s in sources.split(",") if s.strip()]
    report = evaluate_recs(
        path,
        format=format,
        columns=columns,
        split=split,
        sources=names,
        items=items,
        encoder=encoder,
        progress=True,
    )
    if as_json:
        print(json.dumps(report))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(
        "source",
        "HR@10",
        "NDCG@10",
        "coverage",
        "diversity",
        "train s",
        title=f"{report['dataset']}: {report['users']} users, {report['items']} items, "
        f"{report['events']} events, split {report['split']}",
    )
    for name, r in report["runs"].items():
        table.add_row(
            name,
            f"{r['hr@10']:.4f}",
            f"{r['ndcg@10']:.4f}",
            f"{r['coverage']:.3f}",
            f"{r['diversity']:.3f}",
            f"{r['train_s']:.2f}",
        )
    Console().print(table)
