"""``sleuth calibrate``: fit each search mode's probability of relevance (what
``--min-relevance`` and ``--cutoff auto`` read), from judgments or from the collection; with
``--fusion``, first the hybrid's label-free trust in each retriever (``Collection.fit_fusion``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from sleuth.cli.shell import AsJson, Collection, app, open_collection
from sleuth.errors import InvalidInput
from sleuth.io.readers import read_judgments


@app.command()
def calibrate(
    collection: Collection,
    qrels: Annotated[
        Path | None,
        typer.Option(help="Judgments, BEIR qrels (query-id, corpus-id, score; tab separated)."),
    ] = None,
    queries: Annotated[
        Path | None, typer.Option(help="The judged queries, BEIR queries.jsonl (_id, text).")
    ] = None,
    mode: Annotated[
        str | None,
        typer.Option(
            help="Comma-separated modes (default lexical, dense, hybrid; and "
            "hybrid+maxsim with late interaction)."
        ),
    ] = None,
    method: Annotated[str, typer.Option(help="platt or isotonic.")] = "platt",
    fusion: Annotated[
        bool,
        typer.Option(
            "--fusion",
            help="First learn, from the collection's own items, how far the hybrid trusts "
            "each retriever (label-free; saved, read by every search).",
        ),
    ] = False,
    as_json: AsJson = False,
) -> None:
    """Calibrate from --qrels and --queries, or without them from the collection's own items
    (pseudo-queries). Bad judgments write nothing."""
    if (qrels is None) != (queries is None):
        raise InvalidInput("give both --qrels and --queries, or neither (label-free)")
    judged, texts = read_judgments(qrels, queries) if qrels and queries else (None, None)
    modes = [m.strip() for m in mode.split(",") if m.strip()] if mode else None
    with open_collection(collection) as col:
        trust = col.fit_fusion() if fusion else None
        manifest = col.calibrate(judged, texts, modes=modes, method=method)
    if as_json:
        print(json.dumps({**manifest, **({"fusion": trust} if trust else {})}, indent=1))
        return
    if trust is not None:
        mrr = trust["stats"]["mrr@10"]
        print(
            f"fusion: dense weight {trust['alpha']} (MRR@10 on {trust['stats']['pseudo_queries']} "
            f"pseudo-queries: lexical {mrr['lexical']}, dense {mrr['dense']})"
        )
    counts = ", ".join(
        f"{m} {manifest['stats'][m]['relevant']}/{manifest['stats'][m]['hits']}"
        for m in manifest["modes"]
    )
    print(
        f"calibrated {', '.join(manifest['modes'])} from {manifest['source']} "
        f"({manifest['stats']['queries']} queries; relevant/hits: {counts})"
    )
