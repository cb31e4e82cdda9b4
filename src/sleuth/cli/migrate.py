"""``sleuth migrate COLLECTION --to ENCODER``: move a collection to another encoder while it is
served (``Collection.migrate``): backfill with a progress bar, evaluate, then ``--cutover``,
``--rollback``, ``--drop-old``; ``--status`` shows where it is."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from sleuth.cli.shell import AsJson, Collection, app, open_collection
from sleuth.errors import InvalidInput
from sleuth.progress import progress_bar

__all__ = ["migrate"]


def _print(report: Any, as_json: bool) -> None:
    if as_json:
        print(json.dumps(report, indent=1, default=str))
        return
    if report is None:
        print("no migration")
        return
    progress = report.get("progress", {})
    print(
        f"{report['old']['id']} -> {report['new']['id']}: phase {report['phase']}, queries "
        f"{report['query']}, {progress.get('done')}/{progress.get('total')} items backfilled"
    )
    if report.get("paused"):
        print(f"paused: {report['paused']}")
    if report.get("map"):
        m = report["map"]
        print(f"query map {m['chosen']} on {m['sample']} items (held-out MRR {m['heldout']})")
    evaluation = report.get("evaluation")
    if evaluation:
        _print_evaluation(evaluation)


def _print_evaluation(report: dict[str, Any]) -> None:
    print(f"evaluation, {report['metric']} over {report['queries']} queries:")
    print(f"  {'mode':8} {'old':>8} {'mapped':>8} {'new':>8}")
    for mode in ("dense", "hybrid"):
        row = report[mode]
        print(f"  {mode:8} {row['old']:8.4f} {row['mapped']:8.4f} {row['new']:8.4f}")


def _backfill(col: Any) -> dict[str, Any]:
    """Wait for the backfill, with a progress bar on a terminal."""
    status = col.migration()
    total = status["progress"]["total"]
    shown = status["progress"]["done"]
    with progress_bar("backfill", total, None) as advance:
        advance(shown)
        while status["phase"] == "backfill" and status["progress"].get("running"):
            status = col.wait_migration(0.5)
            done = status["progress"]["done"]
            advance(max(done - shown, 0))
            shown = max(done, shown)
    if status["phase"] == "backfill":
        raise InvalidInput(
            f"the backfill stopped: {status['progress'].get('error') or status.get('paused')}"
        )
    return dict(status)


def _flag(name: str, help_text: str) -> Any:
    return typer.Option(name, help=help_text)


@app.command()
def migrate(
    collection: Collection,
    to: Annotated[
        str | None, typer.Option(help="Start migrating to this encoder (a name or model folder).")
    ] = None,
    query: Annotated[
        str,
        typer.Option(
            help="Until the cutover: mapped (the new model through a query map), compatible "
            "(a model tuned --compatible), old (the old model), auto."
        ),
    ] = "auto",
    map_kind: Annotated[
        str, typer.Option("--map", help="The query map: auto, lstsq or procrustes.")
    ] = "auto",
    batch: Annotated[int, typer.Option(help="Items encoded per backfill batch.")] = 256,
    qrels: Annotated[
        Path | None, typer.Option(help="Evaluate with BEIR qrels (with --queries): nDCG@10.")
    ] = None,
    queries: Annotated[Path | None, typer.Option(help="BEIR queries.jsonl for --qrels.")] = None,
    status: Annotated[bool, _flag("--status", "Show the migration.")] = False,
    evaluate: Annotated[bool, _flag("--evaluate", "Evaluate again (backfill done).")] = False,
    cutover: Annotated[bool, _flag("--cutover", "Switch to the new encoder.")] = False,
    rollback: Annotated[bool, _flag("--rollback", "Switch back to the old encoder.")] = False,
    drop_old: Annotated[bool, _flag("--drop-old", "Delete the old vectors.")] = False,
    cancel: Annotated[bool, _flag("--cancel", "End it before the cutover.")] = False,
    as_json: AsJson = False,
) -> None:
    """Migrate COLLECTION to another encoder without stopping it: --to ENCODER backfills the
    new vectors (resumable; writes go on, encoded by both), then evaluates old vs new (nDCG@10
    with --qrels/--queries, else agreement of their result lists); --cutover switches
    atomically, --rollback switches back, --drop-old deletes the old vectors; --cancel ends it
    before the cutover (deleting the new vectors)."""
    actions = [
        a
        for a, on in (
            ("--to", to is not None),
            ("--status", status),
            ("--evaluate", evaluate),
            ("--cutover", cutover),
            ("--rollback", rollback),
            ("--drop-old", drop_old),
        )
        if on
    ]
    if len(actions) != 1:
        raise InvalidInput(
            "give one of --to ENCODER, --status, --evaluate, --cutover, --rollback, --drop-old, "
            "--cancel" + (f" (got {' '.join(actions)})" if actions else "")
        )
    judgments = None
    if qrels is not None or queries is not None:
        if qrels is None or queries is None:
            raise InvalidInput("--qrels and --queries go together")
        from sleuth.io.readers import read_judgments

        judgments = read_judgments(qrels, queries)
    with open_collection(collection) as col:
        if status:
            _print(col.migration(), as_json)
            return
        chosen = [
            f
            for f, on in (
                (col.cutover, cutover),
                (col.rollback, rollback),
                (col.drop_old, drop_old),
                (col.cancel_migration, cancel),
            )
            if on
        ]
        if chosen:
            _print(chosen[0](), as_json)
            return
        if to is not None:
            start = time.perf_counter()
            col.migrate(to, query=query, map=map_kind, batch=batch)
            _backfill(col)
            print(f"backfilled in {time.perf_counter() - start:.1f} s", file=sys.stderr)
        col.evaluate_migration(*(judgments or (None, None)))
        _print(col.migration(), as_json)
