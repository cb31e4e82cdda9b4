"""Read interaction events: MovieLens (``u.data``, ``ratings.dat``), SASRec-style ``user item``
lines, and generic CSV / JSONL with the columns of ``Event``.

As with items, a file is parsed whole before anything is returned, and a bad line names its file
and line (``ratings.dat:12: ...``), so a caller that records only on success commits nothing.
"""

from __future__ import annotations

import contextlib
import csv
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sleuth.errors import InvalidInput
from sleuth.io.readers import _FLOAT, _existing, _jsonl_objects, _located
from sleuth.io.text import open_text
from sleuth.types import Event, parse_event

__all__ = ["EVENT_FORMATS", "read_events"]

EVENT_FORMATS = ("movielens", "sasrec", "csv", "jsonl")


def read_events(
    path: str | Path, *, format: str = "auto", kinds: Mapping[str, float] | None = None
) -> list[Event]:
    """Every event of ``path``. ``format``: "auto" (from the name), or one of
    ``EVENT_FORMATS``. MovieLens lines become ``rating`` events with the rating as ``value``;
    SASRec lines (already in time order) get their line number as ``ts``.

    >>> events = read_events("ml-100k/u.data")  # doctest: +SKIP
    """
    path = _existing(path)
    if path.is_dir():
        for name in ("u.data", "ratings.dat"):
            if (path / name).is_file():
                return read_events(path / name, format=format, kinds=kinds)
        raise InvalidInput(f"{path} is a folder without u.data or ratings.dat", path=str(path))
    if format == "auto":
        format = _guess(path)
    if format not in EVENT_FORMATS:
        raise InvalidInput(
            f"unknown events format {format!r}; allowed: auto, {', '.join(EVENT_FORMATS)}",
            format=format,
        )
    if format == "jsonl":
        return [_parse(raw, kinds, path, n) for n, raw in _jsonl_objects(path)]
    if format == "csv":
        return _read_csv(path, kinds)
    return _read_columns(path, format, kinds)


def _guess(path: Path) -> str:
    name = path.name.lower()
    if name in ("u.data", "ratings.dat") or name.endswith((".data", ".dat")):
        return "movielens"
    if name.endswith((".jsonl", ".ndjson")):
        return "jsonl"
    if name.endswith(".csv"):
        return "csv"
    if name.endswith(".txt"):
        return "sasrec"
    raise InvalidInput(
        f"{path}: cannot tell the events format from the name; pass format= one of "
        f"{', '.join(EVENT_FORMATS)}",
        path=str(path),
    )


def _read_columns(path: Path, format: str, kinds: Mapping[str, float] | None) -> list[Event]:
    events = []
    with open_text(path) as f:
        for n, line in enumerate(f, 1):
            text = line.strip()
            if not text:
                continue
            if format == "sasrec":
                cells = text.split()
                if len(cells) != 2:
                    raise _located(path, n, f"expected 'user item', got {text[:80]!r}")
                raw: dict[str, Any] = {"user": cells[0], "item": cells[1], "ts": float(n)}
            else:
                cells = text.split("::") if "::" in text else text.split()
                if len(cells) != 4:
                    raise _located(
                        path, n, f"expected 'user item rating timestamp', got {text[:80]!r}"
                    )
                if not (_FLOAT.match(cells[2]) and _FLOAT.match(cells[3])):
                    raise _located(
                        path, n, f"rating and timestamp must be numbers, got {text[:80]!r}"
                    )
                rating, ts = float(cells[2]), float(cells[3])
                raw = {
                    "user": cells[0],
                    "item": cells[1],
                    "kind": "rating",
                    "value": rating,
                    "ts": ts,
                }
            events.append(_parse(raw, kinds, path, n))
    return events


def _read_csv(path: Path, kinds: Mapping[str, float] | None) -> list[Event]:
    events = []
    with open_text(path) as f:
        reader = csv.DictReader(f)
        try:
            header = reader.fieldnames
            if not header or not {"user", "item"} <= set(header):
                raise _located(path, 1, f"the header must name 'user' and 'item'; got {header!r}")
            line = reader.line_num + 1  # a quoted cell may span lines: name the first
            for row in reader:
                if None in row:
                    raise _located(
                        path, line, f"row has more cells than the header's {len(header)}"
                    )
                raw: dict[str, Any] = {k: v for k, v in row.items() if v not in (None, "")}
                for name in ("value", "ts"):
                    if name in raw:  # ts may be ISO 8601; parse_event says what is wrong otherwise
                        with contextlib.suppress(ValueError):
                            raw[name] = float(raw[name])
                events.append(_parse(raw, kinds, path, line))
                line = reader.line_num + 1
        except csv.Error as exc:
            raise _located(path, reader.line_num, f"malformed CSV: {exc}") from None
    return events


def _parse(raw: Any, kinds: Mapping[str, float] | None, path: Path, line: int) -> Event:
    try:
        return parse_event(raw, kinds)
    except InvalidInput as exc:
        raise _located(path, line, exc.message, **exc.details) from None
