"""``sleuth tune``: label-free tuning of a collection's text encoder (``Collection.tune``)."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from sleuth.cli.shell import Collection, app, open_collection
from sleuth.tune import SOURCES


@app.command("tune")
def tune(
    collection: Collection,
    minutes: Annotated[
        float, typer.Option(help="Time budget in minutes (mining, training, validation).")
    ] = 30.0,
    epochs: Annotated[int, typer.Option(help="Passes over the mined pairs (1 to 100).")] = 2,
    seed: Annotated[int, typer.Option(help="Random seed (tuning is deterministic).")] = 0,
    compatible: Annotated[
        bool,
        typer.Option(help="Also train the new queries to search the vectors already stored."),
    ] = False,
    sources: Annotated[
        str, typer.Option(help=f"Training pairs, comma separated: {', '.join(SOURCES)}.")
    ] = ",".join(SOURCES),
    base: Annotated[
        str | None,
        typer.Option(
            help="The model to start from (minilm or a model folder; default: the "
            "collection's encoder)."
        ),
    ] = None,
) -> None:
    """Fine-tune the collection's sentence-transformers encoder on its own items, with no
    labels, and save it as models/encoder-<id>/ in the collection (use it as --encoder PATH;
    the collection keeps its encoder). Prints the model's manifest. An interrupted run resumes
    from its last epoch."""
    with open_collection(collection) as col:
        manifest = col.tune(
            minutes=minutes,
            epochs=epochs,
            seed=seed,
            compatible=compatible,
            sources=[s.strip() for s in sources.split(",") if s.strip()],
            base=base,
            progress=None,
        )
    print(json.dumps(manifest, indent=1))
