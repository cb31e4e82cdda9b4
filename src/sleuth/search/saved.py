"""The small JSON models a collection keeps in ``models/`` (the calibration, the fusion trust):
written atomically (a temp file, then a rename), read back with a format check; an unreadable
one is warned about and treated as absent, and so is one fitted on another encoder's scores
(a migration's cutover or rollback changed the collection's encoder since)."""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

__all__ = ["load_json", "save_json"]

T = TypeVar("T")


def save_json(path: Path, body: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(body, indent=1))
    os.replace(tmp, path)
    return path


def load_json(
    path: Path, fmt: int, parse: Callable[[dict[str, Any]], T], again: str, encoder: str
) -> T | None:
    """``parse`` of the saved body, or None (absent; unreadable, of another format than
    ``fmt`` or fitted with another encoder than ``encoder``: warned, saying ``again`` — what
    makes a new one). A body without ``encoder`` (written before it was recorded) is read."""
    if not path.exists():
        return None
    try:
        raw = json.loads(path.read_text())
        if raw.get("format") != fmt:
            raise ValueError(f"format {raw.get('format')!r}, expected {fmt}")
        fitted = raw.get("encoder", encoder)
        if fitted != encoder:
            warnings.warn(
                f"{path} was fitted on the scores of encoder {fitted!r} and the collection "
                f"now searches with {encoder!r} (a migration switched it); {again}",
                stacklevel=3,
            )
            return None
        return parse(raw)
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        warnings.warn(f"{path} is unreadable ({exc}); {again}", stacklevel=3)
        return None
