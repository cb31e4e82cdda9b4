"""Named vector spaces on the command line: ``--space NAME:DIM[:METRIC]`` for a new collection
(``sleuth create``, ``sleuth add``), ``--vectors [NAME=]FILE.npy`` for bulk vectors per space,
and ``sleuth create`` itself."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from sleuth.cli.shell import Collection, app, open_collection
from sleuth.errors import InvalidInput

__all__ = ["SpaceOption", "VectorsOption", "load_vectors", "parse_spaces"]

SpaceOption = Annotated[
    list[str] | None,
    typer.Option(
        "--space",
        help="For a new collection: a named vector space NAME:DIM[:METRIC] (metric cosine, "
        "dot or l2; cosine by default), e.g. --space image:512:dot; repeat for more.",
    ),
]
VectorsOption = Annotated[
    list[str] | None,
    typer.Option(
        "--vectors",
        help="A .npy file of the items' vectors, one row per item in file order (memory-"
        "mapped, not loaded as lists); NAME=FILE.npy for a named vector space. Repeatable.",
    ),
]


def parse_spaces(specs: list[str] | None) -> dict[str, dict[str, Any]] | None:
    """``--space`` options as ``CollectionConfig.spaces`` (the engine checks them)."""
    if not specs:
        return None
    out: dict[str, dict[str, Any]] = {}
    for spec in specs:
        parts = spec.split(":")
        if len(parts) not in (2, 3) or not parts[1].isdigit():
            raise InvalidInput(
                f"--space {spec!r}: expected NAME:DIM or NAME:DIM:METRIC, e.g. image:512:dot"
            )
        if parts[0] in out:
            raise InvalidInput(f"--space: {parts[0]!r} is given twice")
        out[parts[0]] = {"dim": int(parts[1]), **({"metric": parts[2]} if len(parts) > 2 else {})}
    return out


def load_vectors(specs: list[str] | None) -> dict[str, Any]:
    """``--vectors`` options: space name (``default`` for a bare FILE) to a memory-mapped
    array."""
    import numpy as np

    from sleuth.spaces import DEFAULT_SPACE

    out: dict[str, Any] = {}
    for spec in specs or []:
        name, _, file = spec.rpartition("=") if "=" in spec else (DEFAULT_SPACE, "", spec)
        if name in out:
            raise InvalidInput(f"--vectors: space {name!r} is given twice")
        try:
            out[name] = np.load(Path(file), mmap_mode="r", allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise InvalidInput(f"{file}: not a readable .npy array ({exc})") from None
    return out


@app.command()
def create(
    collection: Collection,
    encoder: Annotated[
        str | None,
        typer.Option(
            help="minilm (default), hashing, a model folder, or none (items bring their "
            "vectors; give --dim)."
        ),
    ] = None,
    dim: Annotated[
        int | None, typer.Option(help="The default space's dimension (required with none).")
    ] = None,
    space: SpaceOption = None,
    late: Annotated[bool, typer.Option(help="Store token vectors for late interaction.")] = False,
) -> None:
    """Create an empty collection (an existing one is an error)."""
    from sleuth.store.schema import FILENAME

    if (collection / FILENAME).exists():
        raise InvalidInput(f"{collection} is a collection already")
    col = open_collection(
        collection, encoder, must_exist=False, late=late, dim=dim, spaces=parse_spaces(space)
    )
    with col:
        named = ", ".join(f"{n} ({s.dim}, {s.metric})" for n, s in col.config.spaces.items())
        print(
            f"created {collection}: encoder {col.encoder.id}, dim {col.dim}"
            + (f"; vector spaces {named}" if named else ""),
            file=sys.stderr,
        )
