"""Type and range checks for configuration values.

Each raises ``InvalidInput`` naming the field by its path in the configuration (``fusion.depth``)
and what is allowed, and returns the value in its canonical Python type (numpy scalars and ints
given for floats become plain ``int``/``float``), so a checked config serializes to JSON as is.
JSON has no separate integer type for floats, so an int is a valid float; but a bool is never a
number and a string never a bool: ``"no"`` must not turn a feature on.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from typing import Any

import numpy as np

from sleuth.errors import InvalidInput

__all__ = ["check_bool", "check_choice", "check_float", "check_int", "check_name", "is_int"]


def is_int(value: Any) -> bool:
    """A Python or numpy integer, not a bool."""
    return isinstance(value, int | np.integer) and not isinstance(value, bool | np.bool_)


def _fail(path: str, allowed: str, value: Any) -> InvalidInput:
    big = isinstance(value, int) and value.bit_length() > 256  # repr() of a huge int is slow
    shown = f"an integer of {value.bit_length()} bits" if big else f"{value!r:.80}"
    return InvalidInput(
        f"{path} must be {allowed}, got {shown} ({type(value).__name__})",
        field=path,
        allowed=allowed,
    )


def check_int(value: Any, path: str, lo: int, hi: int, *, optional: bool = False) -> int | None:
    """An integer in ``[lo, hi]`` (or None when ``optional``)."""
    if value is None and optional:
        return None
    allowed = f"an integer from {lo} to {hi}" + (" or null" if optional else "")
    if isinstance(value, bool | np.bool_) or not isinstance(value, int | np.integer):
        raise _fail(path, allowed, value)
    if not lo <= value <= hi:
        raise _fail(path, allowed, value)
    return int(value)


def check_float(
    value: Any,
    path: str,
    lo: float,
    hi: float,
    *,
    lo_open: bool = False,
    optional: bool = False,
) -> float | None:
    """A finite number in ``[lo, hi]`` (``(lo, hi]`` if ``lo_open``), or None if ``optional``."""
    if value is None and optional:
        return None
    bracket = "(" if lo_open else "["
    allowed = f"in {bracket}{lo:g}, {hi:g}]" + (" or null" if optional else "")
    if isinstance(value, bool | np.bool_) or not isinstance(value, int | float | np.number):
        raise _fail(path, f"a number {allowed}", value)
    # ints beyond float range overflow float(): they are out of range anyway
    number = float(value) if abs(value) < 1e300 else math.inf  # type: ignore[operator]
    if not math.isfinite(number) or not (lo < number if lo_open else lo <= number) or number > hi:
        raise _fail(path, allowed, value)
    return number


def check_bool(value: Any, path: str) -> bool:
    if not isinstance(value, bool | np.bool_):
        raise _fail(path, "true or false", value)
    return bool(value)


def check_choice(value: Any, path: str, choices: Collection[Any]) -> Any:
    """One of ``choices`` (None among them when it is allowed)."""
    if not any(value is c or (isinstance(value, str) and value == c) for c in choices):
        shown = ", ".join("null" if c is None else str(c) for c in choices)
        raise InvalidInput(
            f"{path} {value!r:.80} unknown; allowed: {shown}", field=path, allowed=shown
        )
    return value


def check_name(value: Any, path: str, max_length: int) -> str:
    """A non-empty string of at most ``max_length`` characters that UTF-8 can encode."""
    allowed = f"a non-empty string of at most {max_length} characters"
    if not isinstance(value, str) or not value or len(value) > max_length:
        raise _fail(path, allowed, value)
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise _fail(path, f"{allowed} (valid Unicode, no lone surrogates)", value) from None
    return value
