"""Read interaction events: MovieLens (``u.data``, ``ratings.dat``, and the current releases'
``ratings.csv``), SASRec-style ``user item`` lines, and generic CSV / JSONL with the columns of
``Event`` or any columns a mapping names (``columns={"user": "customer_id", "item": "sku"}``).

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
from sleuth.io._files import FLOAT, existing, jsonl_objects, located
from sleuth.io.text import open_text
from sleuth.store.event_batch import parse_event_batch
from sleuth.types import _EVENT_KEYS, Event, parse_event

__all__ = ["EVENT_FORMATS", "read_events"]

EVENT_FORMATS = ("movielens", "sasrec", "csv", "jsonl")
EVENT_FILES = ("u.data", "ratings.dat", "ratings.csv")  # what a MovieLens folder holds
# The header of ratings.csv in every current MovieLens release (ml-latest, ml-25m, ml-32m).
MOVIELENS_CSV = {"userId": "user", "movieId": "item", "rating": "value", "timestamp": "ts"}
Columns = Mapping[str, str] | str | None


def read_events(
    path: str | Path,
    *,
    format: str = "auto",
    kinds: Mapping[str, float] | None = None,
    columns: Columns = None,
) -> list[Event]:
    """Every event of ``path``. ``format``: "auto" (from the name), or one of
    ``EVENT_FORMATS``. MovieLens lines, and the rows of a CSV whose header is MovieLens'
    ``userId,movieId,rating,timestamp``, become ``rating`` events with the rating as ``value``;
    SASRec lines (already in time order) get their line number as ``ts``.

    ``columns`` maps event fields (``user``, ``item``, ``kind``, ``value``, ``ts``,
    ``event_id``) to a CSV's columns or a JSONL file's keys, as a dict or as the CLI's text
    ``"user=customer_id,item=sku"``. With a mapping, an event reads the mapped columns and those
    already named after an unmapped field; the file's other columns are ignored.

    >>> events = read_events("ml-100k/u.data")  # doctest: +SKIP
    >>> mapping = {"user": "customer_id", "item": "sku", "ts": "time"}
    >>> events = read_events("orders.csv", columns=mapping)  # doctest: +SKIP
    """
    path = existing(path)
    if path.is_dir():
        for name in EVENT_FILES:
            if (path / name).is_file():
                return read_events(path / name, format=format, kinds=kinds, columns=columns)
        raise InvalidInput(
            f"{path} is a folder without {', '.join(EVENT_FILES[:-1])} or {EVENT_FILES[-1]}",
            path=str(path),
        )
    if format == "auto":
        format = _guess(path)
    if format not in EVENT_FORMATS:
        raise InvalidInput(
            f"unknown events format {format!r}; allowed: auto, {', '.join(EVENT_FORMATS)}",
            format=format,
        )
    if format == "movielens" and path.suffix.lower() == ".csv":
        format = "csv"  # ratings.csv: its header says it is MovieLens
    if columns is not None and format not in ("csv", "jsonl"):
        raise InvalidInput(
            f"{path}: a column mapping applies to CSV and JSONL events, not {format}",
            path=str(path),
        )
    if format == "jsonl":
        return _read_jsonl(path, kinds, columns)
    if format == "csv":
        return _read_csv(path, kinds, columns)
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
    rows: list[tuple[int, dict[str, Any]]] = []
    with open_text(path) as f:
        for n, line in enumerate(f, 1):
            text = line.strip()
            if not text:
                continue
            if format == "sasrec":
                cells = text.split()
                if len(cells) != 2:
                    raise located(path, n, f"expected 'user item', got {text[:80]!r}")
                raw: dict[str, Any] = {"user": cells[0], "item": cells[1], "ts": float(n)}
            else:
                cells = text.split("::") if "::" in text else text.split()
                if len(cells) != 4:
                    raise located(
                        path, n, f"expected 'user item rating timestamp', got {text[:80]!r}"
                    )
                if not (FLOAT.match(cells[2]) and FLOAT.match(cells[3])):
                    raise located(
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
            rows.append((n, raw))
    return _checked(rows, kinds, path)


def _read_csv(path: Path, kinds: Mapping[str, float] | None, columns: Columns) -> list[Event]:
    rows: list[tuple[int, dict[str, Any]]] = []
    with open_text(path) as f:
        reader = csv.DictReader(f)
        try:
            header = list(reader.fieldnames or [])
            fixed: dict[str, Any] = {}
            if columns is None and header == list(MOVIELENS_CSV):
                columns, fixed = {v: k for k, v in MOVIELENS_CSV.items()}, {"kind": "rating"}
            mapping = None if columns is None else _mapping(columns, header, path, 1)
            named = set(header) if mapping is None else {*mapping, *header}
            if not {"user", "item"} <= named:
                raise located(
                    path,
                    1,
                    "the header must name 'user' and 'item', or map columns to them with "
                    f"--columns user=COLUMN,item=COLUMN (columns= in Python); "
                    f"{_found(header)}; allowed targets: {', '.join(_EVENT_KEYS)}",
                )
            line = reader.line_num + 1  # a quoted cell may span lines: name the first
            for row in reader:
                if None in row:
                    raise located(path, line, f"row has more cells than the header's {len(header)}")
                raw: dict[str, Any] = {**fixed, **_renamed(row, mapping)}
                raw = {k: v for k, v in raw.items() if v not in (None, "")}
                for name in ("value", "ts"):
                    if name in raw:  # ts may be ISO 8601; parse_event says what is wrong otherwise
                        with contextlib.suppress(ValueError):
                            raw[name] = float(raw[name])
                rows.append((line, raw))
                line = reader.line_num + 1
        except csv.Error as exc:
            raise located(path, reader.line_num, f"malformed CSV: {exc}") from None
    return _checked(rows, kinds, path)


def _read_jsonl(path: Path, kinds: Mapping[str, float] | None, columns: Columns) -> list[Event]:
    if columns is None:
        return _checked(list(jsonl_objects(path)), kinds, path)
    objects = list(jsonl_objects(path))  # the mapping is checked against every key found
    found = list(dict.fromkeys(key for _, raw in objects for key in raw))
    mapping = _mapping(columns, found, path, None)
    return _checked([(n, _renamed(raw, mapping)) for n, raw in objects], kinds, path)


def _mapping(
    columns: Mapping[str, str] | str, found: list[str], path: Path, line: int | None
) -> dict[str, str]:
    """``columns`` (a dict, or ``"user=customer_id,item=sku"``) as field -> column, checked
    against the columns (or keys) ``found`` in the file."""

    def bad(message: str) -> InvalidInput:
        message = f"{message}; {_found(found)}; allowed targets: {', '.join(_EVENT_KEYS)}"
        if line is None:
            return InvalidInput(f"{path}: {message}", path=str(path))
        return located(path, line, message)

    if isinstance(columns, str):
        pairs = []
        for piece in (p.strip() for p in columns.split(",")):
            target, sep, column = piece.partition("=")
            if piece and (not sep or not target.strip() or not column.strip()):
                raise bad(f"column mapping {piece!r:.80} is not target=column")
            if piece:
                pairs.append((target.strip(), column.strip()))
        targets = [t for t, _ in pairs]
        twice = next((t for t in targets if targets.count(t) > 1), None)
        if twice is not None:
            raise bad(f"column mapping names {twice!r:.80} twice")
        columns = dict(pairs)
    if not columns:
        raise bad("the column mapping is empty")
    for target, column in columns.items():
        if target not in _EVENT_KEYS:
            raise bad(f"unknown column-mapping target {target!r:.80}")
        if not isinstance(column, str) or column not in found:
            raise bad(f"column {column!r:.80} (mapped to {target!r}) is not in the file")
    return dict(columns)


def _renamed(row: Mapping[str, Any], mapping: dict[str, str] | None) -> dict[str, Any]:
    """A row's cells under their event fields: the mapped columns, and the columns already
    named after a field the mapping leaves alone."""
    if mapping is None:
        return dict(row)
    out = {k: v for k, v in row.items() if k in _EVENT_KEYS and k not in mapping}
    out.update({target: row.get(column) for target, column in mapping.items()})
    return out


def _found(columns: list[str]) -> str:
    shown = ", ".join(repr(c)[:40] for c in columns[:50])
    more = f" and {len(columns) - 50} more" if len(columns) > 50 else ""
    return f"columns found: {shown or '(none)'}{more}"


def _checked(
    rows: list[tuple[int, Any]], kinds: Mapping[str, float] | None, path: Path
) -> list[Event]:
    """The rows' events (dicts), checked as one batch (``parse_event_batch``: column by column);
    a bad one is named by its file and line. An event without a time keeps none (recording
    gives it one)."""
    raws = [raw for _, raw in rows]
    try:
        batch = parse_event_batch(raws, kinds)
    except InvalidInput as exc:
        n, raw = rows[exc.details["index"]]
        _parse(raw, kinds, path, n)  # raises the event's own error, located
        raise  # the batch check and parse_event agree: not reached
    return [
        Event(
            user=user,
            item=item,
            kind=kind,
            value=value,
            ts=None if raw.get("ts") is None else ts,
            event_id=event_id,
        )
        for user, item, kind, value, ts, event_id, raw in zip(
            batch.users,
            batch.items,
            batch.kinds,
            batch.values,
            batch.ts.tolist(),
            batch.event_ids,
            raws,
        )
    ]


def _parse(raw: Any, kinds: Mapping[str, float] | None, path: Path, line: int) -> Event:
    try:
        return parse_event(raw, kinds)
    except InvalidInput as exc:
        raise located(path, line, exc.message, **exc.details) from None
