"""What the readers share: locating an error in a file, JSON lines, number syntax."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sleuth.errors import InvalidInput
from sleuth.io.text import open_text

FLOAT = re.compile(r"^[+-]?((0|[1-9][0-9]*)(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?$")


def jsonl_objects(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) for each non-blank line; a line that is no JSON object raises."""
    with open_text(path) as f:
        for line_no, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except json.JSONDecodeError as exc:
                raise located(
                    path, line_no, f"invalid JSON: {exc.msg} (column {exc.colno})"
                ) from None
            except (ValueError, RecursionError) as exc:
                raise located(path, line_no, json_limit(exc)) from None
            if not isinstance(value, dict):
                raise located(path, line_no, f"expected a JSON object, got {type(value).__name__}")
            yield line_no, value


def json_limit(exc: ValueError | RecursionError) -> str:
    # Valid JSON that Python's parser still refuses: an integer of more than 4300 digits
    # (ValueError) or arrays/objects nested about a thousand deep (RecursionError).
    if isinstance(exc, RecursionError):
        return "JSON nested too deeply (at most about 1000 levels of arrays and objects)"
    return f"a JSON number has too many digits ({sys.get_int_max_str_digits()} at most)"


def located(path: Path, line_no: int, message: str, **details: Any) -> InvalidInput:
    return InvalidInput(
        f"{path}:{line_no}: {message}", **{**details, "path": str(path), "line": line_no}
    )


def existing(path: str | Path) -> Path:
    path = Path(path)
    if not path.exists():
        raise InvalidInput(f"{path} does not exist", path=str(path))
    return path
