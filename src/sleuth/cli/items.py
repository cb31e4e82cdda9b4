"""Catalog commands: add items, search them, look one up, delete, inspect and repair."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
import typer.core

from sleuth.cli.distributed import (
    Batch,
    OptionalAddress,
    RayOption,
    WorkerCpus,
    WorkerGpus,
    Workers,
)
from sleuth.cli.shell import (
    AsJson,
    Collection,
    K,
    Where,
    app,
    open_collection,
    parse_where,
    print_hits,
)
from sleuth.cli.spaces import SpaceOption, VectorsOption, load_vectors, parse_spaces
from sleuth.errors import InvalidInput


@app.command(cls=OptionalAddress)
def add(
    collection: Collection,
    path: Annotated[
        Path,
        typer.Argument(help="JSONL/JSON/CSV of items, a BEIR folder, or a MovieLens folder."),
    ],
    encoder: Annotated[
        str | None,
        typer.Option(
            help="For a new collection: minilm, hashing, a model folder, or none (items bring "
            "their vectors; give --dim)."
        ),
    ] = None,
    dim: Annotated[
        int | None,
        typer.Option(help="For a new collection: the vectors' dimension (required with none)."),
    ] = None,
    vectors: VectorsOption = None,
    space: SpaceOption = None,
    replace: Annotated[
        bool, typer.Option("--upsert/--no-upsert", help="Replace items whose id exists.")
    ] = True,
    late: Annotated[
        bool,
        typer.Option(
            help="For a new collection: store token vectors for late interaction (modes "
            "hybrid+maxsim, muvera, maxsim-exact)."
        ),
    ] = False,
    progress: Annotated[
        bool | None,
        typer.Option(
            "--progress/--no-progress",
            help="Say on stderr what it is doing and how long each step took, with a bar for "
            "encoding (default: when stderr is a terminal; the bar also for a pipe).",
        ),
    ] = None,
    shards: Annotated[
        int | None,
        typer.Option(
            help="For a new collection: split it into this many shards (each item "
            "on the shard its id hashes to; see the README's sharded collections)."
        ),
    ] = None,
    ray: RayOption = None,
    workers: Workers = 2,
    worker_cpus: WorkerCpus = 1.0,
    worker_gpus: WorkerGpus = 0.0,
    batch: Batch = 64,
) -> None:
    """Add items from a file (JSONL/JSON/CSV items may carry a "vector" and named spaces'
    "vectors"; a Parquet file's vector columns are read as arrays). The whole file is
    validated first and committed in one batch; with --ray, validated first, encoded on Ray
    workers and committed in batches (a rerun resumes: cached texts are not encoded again)."""
    if ray is not None:
        from sleuth.cli import distributed

        unsupported = {
            "--vectors": vectors,
            "--space": space,
            "--late": late,
            "--dim": dim,
            "--shards": shards,
        }
        distributed.run(
            collection,
            path,
            address=ray,
            workers=workers,
            worker_cpus=worker_cpus,
            worker_gpus=worker_gpus,
            batch=batch,
            encoder=encoder,
            upsert=replace,
            progress=progress,
            unsupported=unsupported,
        )
        return
    from sleuth.config import CollectionConfig
    from sleuth.progress import stage
    from sleuth.shards.layout import is_sharded
    from sleuth.store.schema import FILENAME

    # A new collection is created only once the file has been read whole: a bad file leaves
    # no empty collection behind.
    read = None
    if not (collection / FILENAME).exists() and not is_sharded(collection):
        with stage(f"reading {path.name}", progress):
            read = _read_with_vectors(path, CollectionConfig().text_fields, vectors)
    col = open_collection(
        collection,
        encoder,
        must_exist=False,
        late=late,
        dim=dim,
        spaces=parse_spaces(space),
        shards=shards,
    )
    with col:
        if read is None:
            with stage(f"reading {path.name}", progress):
                read = _read_with_vectors(path, col.config.text_fields, vectors)
        items, given = read
        write = col.upsert if replace else col.add
        # encoding, if any, has its own bar; checking, storing and indexing are one step
        with stage(f"writing {len(items):,} items", progress):
            try:
                result = write(items, vectors=given, progress=progress is not False)
            except InvalidInput:
                if not isinstance(items, list):  # a Parquet table: say which row of the file
                    _read_with_vectors(path, col.config.text_fields, None, table=False)
                raise
        print(
            f"added {result.added}, updated {result.updated}, unchanged {result.unchanged}; "
            f"{col.count()} items in {collection}",
            file=sys.stderr,
        )


def _read_with_vectors(
    path: Path, text_fields: tuple[str, ...], vectors: list[str] | None, *, table: bool = True
) -> tuple[Any, Any]:
    """The file's items and the bulk vectors by space: the ``--vectors`` .npy files
    (memory-mapped) and a Parquet file's vector column; None when the items carry their own
    (or have none). A Parquet file without named spaces comes as one pyarrow Table
    (``table``), which the collection writes column by column."""
    from sleuth.io.parquet import read_parquet_table
    from sleuth.io.readers import read_items, read_parquet
    from sleuth.spaces import DEFAULT_SPACE

    arrays = load_vectors(vectors)
    default = DEFAULT_SPACE in arrays
    whole = None
    if path.suffix.lower() == ".parquet" and table and set(arrays) <= {DEFAULT_SPACE}:
        whole = read_parquet_table(path)
    if whole is not None:
        items, given = whole
    elif path.suffix.lower() == ".parquet":
        items, given = read_parquet(path, text_fields)
    else:
        items, given = read_items(path, text_fields, vectors_given=default), None
    if given is not None:
        if default:
            raise InvalidInput(f"{path} has a vector column and --vectors gives them too")
        arrays[DEFAULT_SPACE] = given
    return items, arrays or None


@app.command()
def search(
    collection: Collection,
    query: Annotated[
        str | None, typer.Argument(help="The query text (optional with --vector in mode dense).")
    ] = None,
    k: K = 10,
    mode: Annotated[
        str,
        typer.Option(
            help="lexical, dense, hybrid; ranked once a ranker is trained (sleuth train "
            "ranker); with late interaction also hybrid+maxsim, muvera, maxsim-exact."
        ),
    ] = "hybrid",
    where: Where = None,
    explain: Annotated[
        bool,
        typer.Option(
            help="Show each retriever's rank and score (JSON), and the stage timings on stderr."
        ),
    ] = False,
    as_json: AsJson = False,
    vector: Annotated[
        str | None,
        typer.Option(help="The query's own vector as a JSON array, e.g. '[0.1, -0.2, ...]'."),
    ] = None,
    space: Annotated[
        str | None,
        typer.Option(help="The named vector space --vector is in (default: the default one)."),
    ] = None,
    min_relevance: Annotated[
        float | None,
        typer.Option(
            help="Only hits of at least this probability of relevance (0 to 1; "
            "needs `sleuth calibrate`)."
        ),
    ] = None,
    cutoff: Annotated[
        str | None,
        typer.Option(
            help="auto (the length of best expected F1, at least one hit; needs `sleuth "
            "calibrate`) or autocut (Weaviate's: at the first jump of the score curve)."
        ),
    ] = None,
    diversity: Annotated[
        float, typer.Option(help="0 (relevance) to 1 (variety): MMR over the item vectors.")
    ] = 0.0,
    max_per: Annotated[
        list[str] | None,
        typer.Option(help="At most N hits per value of an attribute, e.g. brand=2 (repeatable)."),
    ] = None,
    rerank: Annotated[
        str | None,
        typer.Option(
            help="Rescore the top candidates with a cross-encoder: trained (sleuth train "
            "reranker) or cross-encoder:PATH (a CrossEncoder folder)."
        ),
    ] = None,
    rerank_depth: Annotated[
        int | None, typer.Option(help="Candidates the cross-encoder reads per query.")
    ] = None,
    rerank_weight: Annotated[
        float | None,
        typer.Option(help="The cross-encoder's share of the blend (0 to 1; 1: its score only)."),
    ] = None,
) -> None:
    """Search a collection by text, by vector, or both."""
    given = None
    if vector is not None:
        try:
            given = json.loads(vector)
        except json.JSONDecodeError as exc:
            raise InvalidInput(f"--vector is not a JSON array of numbers: {exc}") from None
    with open_collection(collection) as col:
        hits = col.search(
            query,
            k=k,
            vector=given,
            space=space,
            mode=mode,
            where=parse_where(where),
            explain=explain,
            min_relevance=min_relevance,
            cutoff=cutoff,
            diversity=diversity,
            max_per=_caps(max_per),
            rerank=None
            if rerank is None
            else {"model": rerank, "depth": rerank_depth, "weight": rerank_weight},
        )
    print_hits(hits, as_json or explain)
    if explain:
        trace = hits.trace
        found = ", ".join(f"{name} {n}" for name, n in trace.candidates.items())
        stages = ", ".join(f"{s.removesuffix('_ms')} {ms} ms" for s, ms in trace.timings_ms.items())
        print(f"{trace.mode}, k={trace.k}; candidates: {found}; {stages}", file=sys.stderr)


def _caps(specs: list[str] | None) -> dict[str, int] | None:
    """``["brand=2"]`` -> ``{"brand": 2}``."""
    if not specs:
        return None
    caps = {}
    for spec in specs:
        name, _, count = spec.partition("=")
        if not name.strip() or not count.strip().isdigit():
            raise InvalidInput(f"--max-per takes ATTRIBUTE=N (e.g. brand=2), got {spec!r}")
        caps[name.strip()] = int(count)
    return caps


@app.command()
def similar(
    collection: Collection, item_id: str, k: K = 10, where: Where = None, as_json: AsJson = False
) -> None:
    """Items similar to an item."""
    with open_collection(collection) as col:
        hits = col.similar(item_id, k=k, where=parse_where(where))
    print_hits(hits, as_json)


@app.command()
def get(collection: Collection, item_id: str) -> None:
    """Print one item as JSON."""
    with open_collection(collection) as col:
        print(json.dumps(col.get(item_id).to_dict(), ensure_ascii=False, indent=1))


@app.command()
def delete(
    collection: Collection,
    ids: Annotated[list[str], typer.Argument(help="Item ids.")],
    missing_ok: Annotated[bool, typer.Option(help="Ignore ids that do not exist.")] = False,
) -> None:
    """Delete items (all or none)."""
    with open_collection(collection) as col:
        n = col.delete(ids, missing_ok=missing_ok)
    print(f"deleted {n}", file=sys.stderr)


@app.command()
def info(
    collection: Collection,
    sizes: Annotated[
        bool | None,
        typer.Option(
            "--sizes/--no-sizes",
            help="Also print memory and disk per part in human units on stderr (default: when "
            "stderr is a terminal).",
        ),
    ] = None,
) -> None:
    """Sizes, encoder, attribute types, configuration, memory and disk per part, and problems,
    as JSON; what is wrong with a damaged collection and what can be done also on stderr, and
    (``--sizes``, or on a terminal) memory and disk in human units."""
    import warnings

    from sleuth.errors import InvalidCollection
    from sleuth.shards.layout import Layout, is_sharded
    from sleuth.store import FATAL, diagnose
    from sleuth.usage import describe

    shards = Layout.read(collection).shard_folders if is_sharded(collection) else [collection]
    problems = [p for folder in shards for p in diagnose(folder)]
    fatal = [p for p in problems if p.kind in FATAL]
    if fatal:
        print(json.dumps({"problems": [p.to_dict() for p in problems]}, indent=1))
        raise InvalidCollection(f"{fatal[0].message}; {fatal[0].fix}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # each damaged part is listed under "problems"
        with open_collection(collection) as col:
            report = col.info(tables=True)
    report["problems"] = [p.to_dict() for p in problems]
    print(json.dumps(report, indent=1))
    if sys.stderr.isatty() if sizes is None else sizes:
        print(f"{report['items']:,} items in {collection}", file=sys.stderr)
        for line in describe(report["usage"]):
            print(line, file=sys.stderr)
    for p in problems:
        print(f"problem: {p.message} — {p.fix}", file=sys.stderr)


@app.command()
def repair(
    collection: Collection,
    drop_bad_rows: Annotated[
        bool,
        typer.Option(
            "--drop-bad-rows",
            help="Delete damaged item rows (after a copy to quarantine/ in the collection).",
        ),
    ] = False,
) -> None:
    """Rebuild derived indexes and clear damaged caches; damaged item rows stay in place (left
    out of results) unless --drop-bad-rows."""
    from sleuth.store import repair as repair_collection

    report = repair_collection(collection, drop_bad_rows=drop_bad_rows)
    for row in report["damaged_rows"]:
        print(f"damaged row: item {row['id']!r}: {row['reason']}", file=sys.stderr)
    for line in report["done"]:
        print(line, file=sys.stderr)
    if report["damaged_rows"] and not drop_bad_rows:
        print(
            f"left {len(report['damaged_rows'])} damaged rows in place (no index or result uses "
            "them; an upsert of the same id replaces one); --drop-bad-rows deletes them after "
            "a copy to quarantine/",
            file=sys.stderr,
        )


@app.command()
def rebuild(collection: Collection) -> None:
    """Rebuild the derived indexes from the store (no re-encoding)."""
    with open_collection(collection) as col:
        col.rebuild()
        print(f"rebuilt the indexes of {collection} ({col.count()} items)", file=sys.stderr)
