"""The ``sleuth`` command's shell: the Typer app, one-line errors, and the options and
helpers every command shares."""

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
            fail(exc.message)
        except BrokenPipeError:  # stdout piped into `head`: typer exits quietly
            raise
        except OSError as exc:  # a missing file, a folder given as a file, a full disk...
            where = f"{exc.filename}: " if exc.filename else ""
            fail(f"{where}{exc.strerror or exc}")


# Every character str.splitlines breaks at, shown escaped (as repr shows it).
_LINE_BREAKS = {ord(c): repr(c)[1:-1] for c in "\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029"}


def fail(message: str) -> NoReturn:
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


class _TrainGroup(typer.core.TyperGroup):
    """``sleuth train ranker COLLECTION``, ``sleuth train sequential COLLECTION``, and, as
    before there were two, ``sleuth train COLLECTION`` (the sequential recommender): a first
    argument that names no command is the collection."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if args and not args[0].startswith("-") and args[0] not in self.commands:
            args = ["sequential", *args]
        return list(super().parse_args(ctx, args))


train_app = typer.Typer(
    cls=_TrainGroup, help="Train the sequential recommender or the ranker.", no_args_is_help=True
)
app.add_typer(train_app, name="train")

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


def open_collection(
    path: Path,
    encoder: str | None = None,
    *,
    must_exist: bool = True,
    late: bool = False,
    dim: int | None = None,
    spaces: dict[str, Any] | None = None,
    shards: int | None = None,
) -> Any:
    import sleuth
    from sleuth.shards.layout import is_sharded
    from sleuth.store.schema import FILENAME

    exists = (path / FILENAME).exists() or is_sharded(path)
    if must_exist and not exists:
        raise InvalidInput(f"{path} is not a sleuth collection (create one with `sleuth add`)")
    config = None
    if late and not exists:
        from sleuth.config import CollectionConfig, LateConfig

        config = CollectionConfig(late=LateConfig(enabled=True))
    return sleuth.open(path, encoder=encoder, dim=dim, spaces=spaces, config=config, shards=shards)


def parse_where(text: str | None) -> dict[str, Any] | None:
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


def print_hits(hits: list[Any], as_json: bool) -> None:
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
