"""The ``where`` filter language, validated once against the attribute types, then evaluated
as a numpy mask over docnos that every retriever applies inside its search.

::

    {"module": "os"}                                  equality shorthand
    {"year": {"gte": 2000, "lt": 2010}}               several operators on one attribute: and
    {"tags": {"in": ["a", "b"]}}                      list attributes: eq = contains, in = any of
    {"and": [...]}, {"or": [...]}, {"not": {...}}     combinators
    {"note": {"exists": true}}

``ne`` and ``nin`` are the negations of ``eq`` and ``in``, so they also match items without the
attribute. Datetimes compare with ISO 8601 strings, parsed by the same ``parse_datetime`` as
stored values (a string that is not a real date-time in range is an error, not a non-match).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import numpy as np

from sleuth.errors import InvalidInput
from sleuth.store.attributes import AttributeTable, Column
from sleuth.types import attr_type_of
from sleuth.values import check_number, check_text, to_timestamp

__all__ = ["OPERATORS", "Filter", "compile_filter"]

MAX_DEPTH = 16
OPERATORS: dict[str, tuple[str, ...]] = {
    "str": ("eq", "ne", "in", "nin", "exists"),
    "bool": ("eq", "ne", "exists"),
    "number": ("eq", "ne", "in", "nin", "gt", "gte", "lt", "lte", "exists"),
    "datetime": ("eq", "ne", "in", "nin", "gt", "gte", "lt", "lte", "exists"),
    "list": ("eq", "ne", "in", "nin", "exists"),
}
_BOUNDS = ("gt", "gte", "lt", "lte")
ALL_OPERATORS = ("eq", "ne", "in", "nin", "gt", "gte", "lt", "lte", "exists", "and", "or", "not")

Filter = Callable[[AttributeTable], np.ndarray]


def compile_filter(where: Any, types: dict[str, str]) -> Filter:
    """Validate ``where`` against the attribute ``types``; return table -> bool mask (live only)."""
    node = _compile(where, types, 0)
    return lambda table: node(table) & table.live


def _compile(where: Any, types: dict[str, str], depth: int) -> Filter:
    if depth > MAX_DEPTH:
        raise InvalidInput(f"filter is nested deeper than {MAX_DEPTH} levels")
    if not isinstance(where, dict) or not where:
        raise InvalidInput(
            f"a filter must be a non-empty JSON object, got {where!r:.80}; "
            'e.g. {"module": "os"} or {"year": {"gte": 2000}}'
        )
    parts: list[Filter] = []
    for key, value in where.items():
        if isinstance(key, str):  # it is echoed in errors, which must encode as UTF-8
            check_text(key, f"filter key {key!r:.80}")
        if key in ("and", "or"):
            if not isinstance(value, list) or not value:
                raise InvalidInput(f"'{key}' takes a non-empty list of filters, got {value!r:.80}")
            subs = [_compile(v, types, depth + 1) for v in value]
            parts.append(_all(subs) if key == "and" else _any(subs))
        elif key == "not":
            parts.append(_negate(_compile(value, types, depth + 1)))
        elif key in types:
            parts.extend(_attribute(key, types[key], value))
        else:
            known = ", ".join(sorted(types)) or "none yet"
            raise InvalidInput(
                f"unknown attribute {key!r} in filter; known attributes: {known}; "
                "combinators: and, or, not",
                attribute=key,
            )
    return _all(parts)


def _all(parts: list[Filter]) -> Filter:
    if len(parts) == 1:
        return parts[0]

    def both(t: AttributeTable) -> np.ndarray:
        mask = parts[0](t)
        for part in parts[1:]:
            mask = mask & part(t)
        return mask

    return both


def _negate(part: Filter) -> Filter:
    return lambda t: ~part(t)


def _any(parts: list[Filter]) -> Filter:
    def either(t: AttributeTable) -> np.ndarray:
        mask = parts[0](t)
        for part in parts[1:]:
            mask = mask | part(t)
        return mask

    return either


def _attribute(name: str, kind: str, spec: Any) -> list[Filter]:
    if not isinstance(spec, dict):
        spec = {"eq": spec}
    if not spec:
        raise InvalidInput(
            f"filter on {name!r} has no operator; allowed: {', '.join(OPERATORS[kind])}"
        )
    out = []
    # At most one lower and one upper bound become one range: one run of the sorted column.
    lows = [op for op in spec if op in ("gt", "gte")]
    highs = [op for op in spec if op in ("lt", "lte")]
    together = len(lows) <= 1 and len(highs) <= 1
    bounds: dict[str, Any] = {}
    for op, value in spec.items():
        if isinstance(op, str):
            check_text(op, f"filter operator {op!r:.80} on {name!r}")
        if op not in OPERATORS[kind]:
            what = (
                "unknown operator" if op not in ALL_OPERATORS else f"operator not allowed on {kind}"
            )
            raise InvalidInput(
                f"{what} {op!r} on attribute {name!r} ({kind}); "
                f"allowed: {', '.join(OPERATORS[kind])}",
                attribute=name,
                operator=op,
                allowed=list(OPERATORS[kind]),
            )
        if together and op in _BOUNDS:
            bounds[op] = value
        else:
            out.append(_operator(name, kind, op, value))
    if bounds:
        out.append(_range(name, kind, bounds))
    return out


def _range(name: str, kind: str, bounds: dict[str, Any]) -> Filter:
    """Values within ``bounds`` ({"gt"|"gte": low, "lt"|"lte": high}, either side optional)."""
    lower = upper = None
    for op, value in bounds.items():
        scalar = _scalar(name, kind, value)
        if op in ("gt", "gte"):
            lower = (scalar, op == "gte")
        else:
            upper = (scalar, op == "lte")
    return lambda t: _column(t, name).between(lower, upper, t.capacity)


def _operator(name: str, kind: str, op: str, value: Any) -> Filter:
    if op == "exists":
        if not isinstance(value, bool):
            raise InvalidInput(f"'exists' on {name!r} takes true or false, got {value!r}")
        if value:
            return lambda t: _column(t, name).present(t.capacity)
        return _negate(lambda t: _column(t, name).present(t.capacity))
    if op in ("ne", "nin"):
        return _negate(_operator(name, kind, "eq" if op == "ne" else "in", value))
    if op == "in":
        if not isinstance(value, list) or not value:
            raise InvalidInput(f"'in' on {name!r} takes a non-empty list, got {value!r:.80}")
        scalars = [_scalar(name, kind, v) for v in value]
        if kind == "list":
            return lambda t: _column(t, name).contains_any(scalars, t.capacity)
        return _one_of(name, kind, scalars)
    scalar = _scalar(name, kind, value)
    if op == "eq":
        if kind == "list":
            return lambda t: _column(t, name).contains_any([scalar], t.capacity)
        return _one_of(name, kind, [scalar])
    return _range(name, kind, {op: value})


def _scalar(name: str, kind: str, value: Any) -> Any:
    """A filter value converted to the column's representation, or a clear type error."""
    what = f"filter value for attribute {name!r}"
    want = "str" if kind == "list" else kind
    try:
        if isinstance(value, str):
            check_text(value, what)
        elif want == "number" and isinstance(value, int | float) and not isinstance(value, bool):
            check_number(value, what)  # says why a number does not fit
        if want == "datetime" and attr_type_of(value) == "datetime":
            return to_timestamp(value)
    except InvalidInput as exc:
        message = exc.message if exc.message.startswith(what) else f"{what}: {exc.message}"
        raise InvalidInput(message, attribute=name, expected=kind) from None
    got = attr_type_of(value)
    ok = (
        got == want
        or (want == "str" and got == "datetime")
        or (want == "datetime" and isinstance(value, dt.datetime))
    )
    if not ok:
        shown = "an ISO 8601 date-time string" if want == "datetime" else want
        raise InvalidInput(
            f"filter value {value!r:.60} for attribute {name!r} must be {shown} "
            f"(the attribute is {kind}), got {type(value).__name__}",
            attribute=name,
            expected=kind,
        )
    if want == "number":
        return float(value)
    return value


def _one_of(name: str, kind: str, scalars: list[Any]) -> Filter:
    """Values equal to any of ``scalars`` (strings compare by their codes, looked up at
    evaluation time: a compaction renumbers them)."""

    def test(t: AttributeTable) -> np.ndarray:
        column = _column(t, name)
        if kind == "str":
            wanted = [column.code(v) for v in scalars]
        else:
            wanted = [int(v) if kind == "bool" else v for v in scalars]
        return column.equal_to(wanted, t.capacity)

    return test


def _column(table: AttributeTable, name: str) -> Column:
    return table.columns[name]
