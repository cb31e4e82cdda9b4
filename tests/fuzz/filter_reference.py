"""The ``where`` language in plain Python, evaluated item by item over the catalog: what a
filtered search must select (see ``sleuth.retrieve.filters`` for the language)."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from typing import Any

from fuzzing import CATALOG_TYPES, OPERATORS_BY_TYPE


class NotAFilter(Exception):
    """The reference's verdict that a ``where`` is invalid."""


def reference_filter(where: Any, depth: int = 0) -> Callable[[dict[str, Any]], bool]:
    """The filter language evaluated item by item in plain Python (see retrieve/filters.py's
    docstring); raises ``NotAFilter`` where the engine must answer ``InvalidInput``."""
    if depth > 16 or not isinstance(where, dict) or not where:
        raise NotAFilter(where)
    parts: list[Callable[[dict[str, Any]], bool]] = []
    for key, value in where.items():
        if key in ("and", "or"):
            if not isinstance(value, list) or not value:
                raise NotAFilter(where)
            subs = [reference_filter(v, depth + 1) for v in value]
            combine = all if key == "and" else any
            parts.append(lambda item, subs=subs, combine=combine: combine(s(item) for s in subs))
        elif key == "not":
            sub = reference_filter(value, depth + 1)
            parts.append(lambda item, sub=sub: not sub(item))
        elif key in CATALOG_TYPES:
            spec = value if isinstance(value, dict) else {"eq": value}
            if not spec:
                raise NotAFilter(where)
            parts.extend(_reference_op(key, op, arg) for op, arg in spec.items())
        else:
            raise NotAFilter(where)
    return lambda item: all(p(item) for p in parts)


def _reference_op(name: str, op: str, arg: Any) -> Callable[[dict[str, Any]], bool]:
    kind = CATALOG_TYPES[name]
    if op not in OPERATORS_BY_TYPE[kind]:
        raise NotAFilter(op)
    if op == "exists":
        if not isinstance(arg, bool):
            raise NotAFilter(arg)
        return lambda item: (name in item) == arg
    if op in ("ne", "nin"):
        positive = _reference_op(name, "eq" if op == "ne" else "in", arg)
        return lambda item: not positive(item)
    wanted = arg if op == "in" else [arg]
    if op == "in" and (not isinstance(arg, list) or not arg):
        raise NotAFilter(arg)
    scalars = [_reference_scalar(kind, v) for v in wanted]
    if op in ("eq", "in"):
        if kind == "list":
            return lambda item: name in item and any(w in item[name] for w in scalars)
        return lambda item: name in item and _plain(kind, item[name]) in scalars
    compare = {"gt": float.__gt__, "gte": float.__ge__, "lt": float.__lt__, "lte": float.__le__}[op]
    return lambda item: name in item and compare(float(_plain(kind, item[name])), scalars[0])


def _reference_scalar(kind: str, value: Any) -> Any:
    want = "str" if kind == "list" else kind
    got = _json_type(value)
    if not (got == want or (want == "str" and got == "datetime")):
        raise NotAFilter(value)
    return _plain(kind, value)


def _json_type(value: Any) -> str | None:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number" if math.isfinite(value) else None
    if isinstance(value, str):
        try:
            _timestamp(value)
        except ValueError:
            return "str"
        return "datetime"
    return None


def _plain(kind: str, value: Any) -> Any:
    if kind == "datetime":
        return _timestamp(value)
    if kind == "number":
        return float(value)
    return value


def _timestamp(text: str) -> float:
    # Only the shapes the catalog and the generators use; anything else is a plain string.
    if len(text) not in (10, 25) or text[4] != "-":
        raise ValueError(text)
    moment = dt.datetime.fromisoformat(text if len(text) > 10 else text + "T00:00:00+00:00")
    return moment.timestamp()
