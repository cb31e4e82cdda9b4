"""``sleuth add ... --ray [ADDRESS]``: the options of a distributed ingest and the run
(``sleuth.distributed.add``; the command itself is ``sleuth.cli.items.add``)."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import typer
import typer.core

from sleuth.errors import InvalidInput

LOCAL = "local"


class OptionalAddress(typer.core.TyperCommand):
    """``--ray`` with its address optional: a bare ``--ray`` (last, or before another
    option) means a local cluster. Typer has no options of optional value, so the bare
    form is spelled ``--ray=local`` before parsing."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        args = list(args)
        for i, arg in enumerate(args):
            if arg == "--":
                break
            if arg == "--ray" and (i + 1 == len(args) or args[i + 1].startswith("-")):
                args[i] = f"--ray={LOCAL}"
        return list(super().parse_args(ctx, args))


RayOption = Annotated[
    str | None,
    typer.Option(
        "--ray",
        metavar="[ADDRESS]",
        help="Encode on Ray workers: a cluster's address (ray://host:10001 or host:6379), or "
        "none for RAY_ADDRESS, else a local cluster started and stopped by the job (--ray "
        "alone goes after COLLECTION PATH, or write --ray=ADDRESS). Needs the ray extra: "
        "pip install 'sleuth\\[ray]'.",
    ),
]
Workers = Annotated[int, typer.Option(help="With --ray: encoder workers (Ray actors).")]
WorkerCpus = Annotated[
    float, typer.Option(help="With --ray: CPUs per worker (torch threads: one per CPU).")
]
WorkerGpus = Annotated[float, typer.Option(help="With --ray: GPUs per worker.")]
Batch = Annotated[int, typer.Option(help="With --ray: texts per worker task.")]


def run(
    collection: Path,
    path: Path,
    *,
    address: str,
    workers: int,
    worker_cpus: float,
    worker_gpus: float,
    batch: int,
    encoder: str | None,
    upsert: bool,
    progress: bool | None,
    unsupported: Mapping[str, object],
) -> None:
    """Run the job and say what it did on stderr."""
    from sleuth.distributed import add

    given = [name for name, value in unsupported.items() if value]
    if given:
        raise InvalidInput(
            f"--ray encodes the items' texts on Ray workers; {', '.join(given)} cannot be "
            "combined with it (add such items without --ray)"
        )
    report = add(
        collection,
        path,
        address=None if address == LOCAL else address,
        workers=workers,
        worker_cpus=worker_cpus,
        worker_gpus=worker_gpus,
        batch=batch,
        upsert=upsert,
        encoder=encoder,
        progress=progress is not False,
    )
    r, t = report.result, report.timings
    if report.encoded:
        each = ", ".join(str(n) for n in report.per_worker.values())
        restarted = f"; {report.restarts} restarted" if report.restarts else ""
        encoded = (
            f"encoded {report.encoded} texts on {report.workers} workers ({each}{restarted}), "
            f"{t.get('cluster', 0.0):.1f} s of it starting Ray"
        )
    else:
        encoded = "nothing to encode"
    print(
        f"added {r.added}, updated {r.updated}, unchanged {r.unchanged} in {report.batches} "
        f"batches; {encoded}; {report.cached} texts were cached; {t.get('total', 0.0):.1f} s",
        file=sys.stderr,
    )
