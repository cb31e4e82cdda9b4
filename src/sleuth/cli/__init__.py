"""The ``sleuth`` command: a thin shell over the Python API (``sleuth --help``)."""

from __future__ import annotations

from sleuth.cli import (  # noqa: F401  (each registers its commands)
    calibrate,
    evaluate,
    items,
    migrate,
    ranker,
    recs,
    serve,
    spaces,
    tune,
)
from sleuth.cli.shell import app

__all__ = ["app", "main"]


def main() -> None:
    app()
