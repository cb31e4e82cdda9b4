"""Progress bars (rich) for long jobs, shown when asked or when stderr is a terminal."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

__all__ = ["progress_bar", "stage"]


@contextmanager
def progress_bar(label: str, total: int, show: bool | None) -> Iterator[Callable[[int], None]]:
    """Yield ``advance(n)``. ``show=None``: only on an interactive terminal; never for tiny jobs."""
    if show is None:
        show = sys.stderr.isatty()
    if not show or total < 64:
        yield lambda n: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=False,
    ) as bar:
        task = bar.add_task(label, total=total)
        yield lambda n: bar.advance(task, n)


@contextmanager
def stage(label: str, show: bool | None) -> Iterator[None]:
    """A step of unknown length (reading a file, writing a batch): says on stderr when it starts
    and how long it took (plain lines, not a live display, so a progress bar may run inside;
    ``show`` as for ``progress_bar``)."""
    if show is None:
        show = sys.stderr.isatty()
    if not show:
        yield
        return
    print(f"{label}…", file=sys.stderr, flush=True)
    started = time.perf_counter()
    yield
    print(f"{label}: done in {time.perf_counter() - started:.1f} s", file=sys.stderr, flush=True)
