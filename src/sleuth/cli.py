"""The ``sleuth`` command: a thin shell over the Python API."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
import typer.core

from sleuth.errors import InvalidInput, SleuthError
from sleuth.limits import MAX_K


class _OneLineErrors(typer.core.TyperGroup):
    """Ends a command that fails on bad input or a file it cannot use with one line on stderr,
    ``error: <what was wrong>``, and exit code 1, instead of a traceback. Here rather than in
    ``main`` so that every way of running the app (``python -m``, the entry point, tests'
    ``CliRunner``) behaves alike. Other exceptions are bugs and keep their traceback."""

    def invoke(self, ctx: Any) -> Any:  # typer's vendored click.Context
        try:
            return super().invoke(ctx)
        except SleuthError as exc:
            _fail(exc.message)
        except BrokenPipeError:  # stdout piped into `head`: typer exits quietly
            raise
        except OSError as exc:  # a missing file, a folder given as a file, a full disk...
            where = f"{exc.filename}: " if exc.filename else ""
            _fail(f"{where}{exc.strerror or exc}")


# Every character str.splitlines breaks at, shown escaped (as repr shows it).
_LINE_BREAKS = {ord(c): repr(c)[1:-1] for c in "\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029"}


def _fail(message: str) -> NoReturn:
    # A message may quote user text; keep it on one line so scripts can grep and show it.
    print(f"error: {message}".translate(_LINE_BREAKS), file=sys.stderr)
    raise typer.Exit(1)


app = typer.Typer(
    cls=_OneLineErrors,
    help="sleuth: search and recommendations on embeddings.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
eval_app = typer.Typer(help="Evaluate on benchmark data.", no_args_is_help=True)
app.add_typer(eval_app, name="eval")

Collection = Annotated[Path, typer.Argument(help="The collection folder.")]
K = Annotated[int, typer.Option("--k", "-k", help=f"How many results (1 to {MAX_K}).")]
Where = Annotated[str | None, typer.Option(help='A JSON filter, e.g. \'{"kind": "function"}\'.')]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON on stdout.")]
Columns = Annotated[
    str | None,
    typer.Option(
        help="CSV / JSONL events: which columns are the event's fields, e.g. "
        "user=customer_id,item=sku,ts=time (targets: user, item, kind, value, ts, event_id)."
    ),
]


def _open(
    path: Path, encoder: str | None = None, *, must_exist: bool = True, late: bool = False
) -> Any:
    import sleuth
    from sleuth.store.sqlite import FILENAME

    exists = (path / FILENAME).exists()
    if must_exist and not exists:
        raise InvalidInput(f"{path} is not a sleuth collection (create one with `sleuth add`)")
    config = None
    if late and not exists:
        from sleuth.config import CollectionConfig, LateConfig

        config = CollectionConfig(late=LateConfig(enabled=True))
    return sleuth.open(path, encoder=encoder, config=config)


def _where(text: str | None) -> dict[str, Any] | None:
    if text is None:
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"--where is not valid JSON: {exc}") from None
    if not isinstance(value, dict):  # the engine would take [] or 0 for "no filter"
        raise InvalidInput(
            f"--where must be a JSON object, got {type(value).__name__}; "
            'e.g. \'{"kind": "function"}\''
        )
    return value


def _print_hits(hits: list[Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps([h.to_dict() for h in hits], ensure_ascii=False, indent=1))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("#", "id", "score", "title", "text", show_lines=False)
    for rank, hit in enumerate(hits, 1):
        fields = dict(hit.fields)
        title = fields.pop("title", "")
        text = " ".join(fields.values()).replace("\n", " ")
        table.add_row(str(rank), hit.id, f"{hit.score:.4f}", title[:60], text[:80])
    Console().print(table)


@app.command()
def add(
    collection: Collection,
    path: Annotated[
        Path,
        typer.Argument(help="JSONL/JSON/CSV of items, a BEIR folder, or a MovieLens folder."),
    ],
    encoder: Annotated[
        str | None, typer.Option(help="For a new collection: minilm, hashing, or a model folder.")
    ] = None,
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
) -> None:
    """Add items from a file. The whole file is validated first and committed in one batch."""
    from sleuth.config import CollectionConfig
    from sleuth.io.readers import read_items
    from sleuth.store.sqlite import FILENAME

    # A new collection is created only once the file has been read whole: a bad file leaves
    # no empty collection behind.
    items = (
        None
        if (collection / FILENAME).exists()
        else read_items(path, CollectionConfig().text_fields)
    )
    col = _open(collection, encoder, must_exist=False, late=late)
    with col:
        if items is None:
            items = read_items(path, col.config.text_fields)
        result = (col.upsert if replace else col.add)(items, progress=True)
        print(
            f"added {result.added}, updated {result.updated}, unchanged {result.unchanged}; "
            f"{col.count()} items in {collection}",
            file=sys.stderr,
        )


@app.command()
def search(
    collection: Collection,
    query: Annotated[str, typer.Argument(help="The query text.")],
    k: K = 10,
    mode: Annotated[
        str,
        typer.Option(
            help="lexical, dense, hybrid; with late interaction also hybrid+maxsim, muvera, "
            "maxsim-exact."
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
) -> None:
    """Search a collection."""
    with _open(collection) as col:
        hits = col.search(query, k=k, mode=mode, where=_where(where), explain=explain)
    _print_hits(hits, as_json or explain)
    if explain:
        trace = hits.trace
        found = ", ".join(f"{name} {n}" for name, n in trace.candidates.items())
        stages = ", ".join(f"{s.removesuffix('_ms')} {ms} ms" for s, ms in trace.timings_ms.items())
        print(f"{trace.mode}, k={trace.k}; candidates: {found}; {stages}", file=sys.stderr)


@app.command()
def similar(
    collection: Collection, item_id: str, k: K = 10, where: Where = None, as_json: AsJson = False
) -> None:
    """Items similar to an item."""
    with _open(collection) as col:
        hits = col.similar(item_id, k=k, where=_where(where))
    _print_hits(hits, as_json)


@app.command()
def get(collection: Collection, item_id: str) -> None:
    """Print one item as JSON."""
    with _open(collection) as col:
        print(json.dumps(col.get(item_id).to_dict(), ensure_ascii=False, indent=1))


@app.command()
def delete(
    collection: Collection,
    ids: Annotated[list[str], typer.Argument(help="Item ids.")],
    missing_ok: Annotated[bool, typer.Option(help="Ignore ids that do not exist.")] = False,
) -> None:
    """Delete items (all or none)."""
    with _open(collection) as col:
        n = col.delete(ids, missing_ok=missing_ok)
    print(f"deleted {n}", file=sys.stderr)


@app.command()
def info(collection: Collection) -> None:
    """Sizes, encoder, attribute types, configuration and problems, as JSON; what is wrong
    with a damaged collection, and what can be done, also on stderr."""
    import warnings

    from sleuth.errors import InvalidCollection
    from sleuth.store import FATAL, diagnose

    problems = diagnose(collection)
    fatal = [p for p in problems if p.kind in FATAL]
    if fatal:
        print(json.dumps({"problems": [p.to_dict() for p in problems]}, indent=1))
        raise InvalidCollection(f"{fatal[0].message}; {fatal[0].fix}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # each damaged part is listed under "problems"
        with _open(collection) as col:
            report = col.info()
    report["problems"] = [p.to_dict() for p in problems]
    print(json.dumps(report, indent=1))
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
    with _open(collection) as col:
        col.rebuild()
        print(f"rebuilt the indexes of {collection} ({col.count()} items)", file=sys.stderr)


@eval_app.command("beir")
def eval_beir(
    path: Annotated[
        Path, typer.Argument(help="A BEIR folder (corpus.jsonl, queries.jsonl, qrels/test.tsv).")
    ],
    mode: Annotated[
        str,
        typer.Option(
            help="Comma-separated modes (lexical, dense, hybrid, hybrid+maxsim, muvera, "
            "maxsim-exact), or all. A late-interaction mode builds the collection with token "
            "vectors."
        ),
    ] = "lexical,dense,hybrid",
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
        path, parse_modes(mode), encoder=encoder, cache_dir=cache_dir, progress=True
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


@app.command()
def demo(
    path: Annotated[Path, typer.Option(help="Where the demo collection lives.")] = Path(
        "demo-data/stdlib"
    ),
    encoder: Annotated[str, typer.Option(help="minilm or hashing.")] = "minilm",
) -> None:
    """Build the demo collection (the installed Python standard library's documentation) once,
    then run example searches."""
    import sleuth
    from sleuth.demo import stdlib_items

    with sleuth.open(path, encoder=encoder) as col:
        if col.count() == 0:
            items = stdlib_items()
            print(
                f"building the demo collection in {path}: {len(items)} documentation entries "
                "of the Python standard library",
                file=sys.stderr,
            )
            col.add(items, progress=True)
        examples = [
            ("how do I join two file paths", None),
            ("read a csv file row by row", None),
            ("parse command line arguments", {"kind": "class"}),
            ("run several coroutines concurrently", {"module": "asyncio"}),
        ]
        for query, where in examples:
            print(f"\n> {query}" + (f"   where {json.dumps(where)}" if where else ""))
            _print_hits(col.search(query, k=5, where=where), False)


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


@app.command()
def record(
    collection: Collection,
    path: Annotated[Path, typer.Argument(help="An events file (see `sleuth eval recs --help`).")],
    format: Annotated[str, typer.Option(help="auto, movielens, sasrec, csv or jsonl.")] = "auto",
    columns: Columns = None,
) -> None:
    """Record interaction events, in one transaction (a bad line commits nothing)."""
    from sleuth.io.events import read_events

    with _open(collection) as col:
        kinds = col.config.recommend.event_weights
        events = read_events(path, format=format, kinds=kinds, columns=columns)
        result = col.record(events)
    print(f"recorded {result.recorded} events ({result.duplicates} already recorded)")


@app.command()
def train(
    collection: Collection,
    epochs: Annotated[int, typer.Option(help="At most this many epochs (early stopping).")] = 200,
    dim: Annotated[int, typer.Option(help="Embedding size.")] = 64,
    max_len: Annotated[int, typer.Option(help="Longest history the model reads.")] = 200,
    seed: Annotated[int, typer.Option(help="Random seed (training is deterministic).")] = 0,
) -> None:
    """Train the sequential recommender (SASRec) on the recorded events; resumes an
    interrupted run and warm-starts from the previous model."""
    with _open(collection) as col:
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
    with _open(collection) as col:
        hits = col.recommend(
            user, k, where=_where(where), exclude_seen=not include_seen, diversity=diversity
        )
    _print_hits(hits, as_json)


@app.command()
def serve(
    data: Annotated[
        Path, typer.Option(help="The data folder: one subfolder per collection.")
    ] = Path("sleuth-data"),
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port (0: any free port).", min=0, max=65535)] = 8080,
    demo: Annotated[
        bool, typer.Option(help="Build the demo collection 'stdlib' first if it is absent.")
    ] = False,
    encoder: Annotated[
        str, typer.Option(help="Encoder of new collections that name none (and of the demo).")
    ] = "minilm",
    models: Annotated[
        Path | None,
        typer.Option(
            help="A directory of model folders that clients may name as a new collection's "
            "encoder (else only minilm and hashing).",
            exists=True,
            file_okay=False,
        ),
    ] = None,
    allowed_host: Annotated[
        list[str] | None,
        typer.Option(
            help="Another name clients reach this server by (checked in Host when no key is "
            "set, against DNS rebinding); repeatable."
        ),
    ] = None,
) -> None:
    """Run the HTTP server and web page. Set SLEUTH_API_KEY to require a key."""
    import os
    import threading
    import time

    import uvicorn

    from sleuth.catalog import Engine
    from sleuth.server import create_app
    from sleuth.server.guards import AllowedHosts

    engine = Engine(data, default_encoder=encoder)
    if demo and "stdlib" not in engine.names():
        from sleuth.demo import stdlib_items

        items = stdlib_items()
        print(
            f"building the demo collection {data / 'stdlib'}: {len(items)} documentation entries "
            "of the Python standard library (once)",
            file=sys.stderr,
        )
        engine.create("stdlib").add(items, progress=True)
        engine.close()
    if host not in ("127.0.0.1", "localhost", "::1") and not os.environ.get("SLEUTH_API_KEY"):
        print(
            f"warning: binding to {host} without an API key: anyone who can reach this address "
            "can read and change the data. Set SLEUTH_API_KEY to require one.",
            file=sys.stderr,
        )
    served = create_app(
        engine, models=models, allowed_hosts=AllowedHosts.for_bind(host, allowed_host or [])
    )
    config = uvicorn.Config(served, host=host, port=port, log_level="warning", access_log=False)
    server = uvicorn.Server(config)

    def announce() -> None:  # once bound, so port 0 prints the real port
        while not server.started:
            if server.should_exit:
                return
            time.sleep(0.05)
        for listener in server.servers:
            for sock in listener.sockets:
                bound_host, bound_port = sock.getsockname()[:2]
                shown = f"[{bound_host}]" if ":" in bound_host else bound_host
                print(f"sleuth is serving {data} at http://{shown}:{bound_port}/", flush=True)

    threading.Thread(target=announce, daemon=True).start()
    try:
        server.run()
    finally:
        server.should_exit = True  # also ends the announcer when binding failed


def main() -> None:
    app()


if __name__ == "__main__":
    main()
