"""What a value a client sends may be, checked to the depth the engine later uses it: the
limits on items, the one ISO 8601 parser (calendar-valid, offsets and years in range), text that
UTF-8 can encode and numbers that a float64 holds exactly. Items, events, filters and the
attribute columns all call these; nothing else parses dates."""

from __future__ import annotations

import datetime as dt
import math
import re
from typing import Any

from sleuth.errors import InvalidInput

__all__ = [
    "DATE_RANGE",
    "MAX_ATTR_LIST",
    "MAX_ATTR_STRING",
    "MAX_EXACT_INT",
    "MAX_ID_LENGTH",
    "MAX_NAME_LENGTH",
    "MAX_TEXT_CHARS",
    "MAX_TIMESTAMP",
    "MIN_TIMESTAMP",
    "check_number",
    "check_text",
    "looks_like_datetime",
    "parse_datetime",
    "to_timestamp",
]

# Limits on what one item may hold (README, "Limits"): each bounds memory a client could make
# the engine allocate. Attribute values live in memory for filters, hence the tighter bounds.
MAX_ID_LENGTH = 512
MAX_NAME_LENGTH = 256  # field and attribute names
MAX_TEXT_CHARS = 1_000_000  # all text fields of one item together
MAX_ATTR_STRING = 4096  # a str attribute, or one element of a list attribute
MAX_ATTR_LIST = 1000  # elements of a list attribute
# Attributes are float64 columns: integers beyond 2**53 would silently lose exactness.
MAX_EXACT_INT = 2**53

# Date-times: ISO 8601, a calendar date from 0001-01-02 to 9999-12-30 and a UTC offset of
# whole minutes below a day (RFC 3339's and Python's bound). With any such offset the instant stays
# within datetime's years 1..9999, so the conversion to UTC seconds can never overflow.
MIN_DATE = dt.date(1, 1, 2)
MAX_DATE = dt.date(9999, 12, 30)
MAX_OFFSET = dt.timedelta(hours=23, minutes=59)
DATE_RANGE = "dates from 0001-01-02 to 9999-12-30, UTC offsets up to +-23:59"
# The instants those allow, in epoch seconds (also the range of a numeric event ``ts``).
MIN_TIMESTAMP = (dt.datetime.combine(MIN_DATE, dt.time(), dt.UTC) - MAX_OFFSET).timestamp()
MAX_TIMESTAMP = (dt.datetime.combine(MAX_DATE, dt.time.max, dt.UTC) + MAX_OFFSET).timestamp()

# ASCII digits only (``\d`` would take other scripts' digits, which fromisoformat refuses).
_ISO = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}"
    r"([T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,6})?)?(Z|[+-][0-9]{2}(:?[0-9]{2})?)?)?"
)
_SURROGATE = re.compile("[\ud800-\udfff]")


def looks_like_datetime(text: str) -> bool:
    """True when ``text`` has the shape of an ISO 8601 date or date-time (valid or not)."""
    return _ISO.fullmatch(text) is not None


def parse_datetime(value: str | dt.datetime) -> dt.datetime:
    """The one ISO 8601 parser: an aware datetime (naive times are UTC) of a string or datetime,
    or ``InvalidInput`` unless it is a real calendar date-time within ``DATE_RANGE``.

    >>> parse_datetime("2024-02-29T12:00+01:00").isoformat()
    '2024-02-29T12:00:00+01:00'
    """
    if isinstance(value, str):
        if not looks_like_datetime(value):
            raise InvalidInput(f"{value!r:.80} is not an ISO 8601 date or date-time")
        text = value[:-1] + "+00:00" if value.endswith("Z") else value
        try:
            parsed = dt.datetime.fromisoformat(text)
        except ValueError as exc:
            raise InvalidInput(
                f"{value!r} is not a valid date-time ({exc}); allowed: {DATE_RANGE}"
            ) from None
    elif isinstance(value, dt.datetime):
        parsed = value
    else:
        raise InvalidInput(f"expected an ISO 8601 date-time, got {type(value).__name__}")
    offset = parsed.utcoffset()
    if offset is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    elif abs(offset) > MAX_OFFSET or offset % dt.timedelta(minutes=1):
        raise InvalidInput(
            f"{_shown(value)} has a UTC offset of {_offset(offset)}; allowed: whole minutes up "
            "to +-23:59"
        )
    if not MIN_DATE <= parsed.date() <= MAX_DATE:
        raise InvalidInput(f"{_shown(value)} is out of range; allowed: {DATE_RANGE}")
    return parsed


def _shown(value: str | dt.datetime) -> str:
    return repr(value) if isinstance(value, str) else value.isoformat()


def to_timestamp(value: str | dt.datetime) -> float:
    """Seconds since the epoch (UTC; naive times are taken as UTC) of a datetime or ISO string."""
    return float(parse_datetime(value).timestamp())


def check_text(value: str, what: str, limit: int | None = None) -> None:
    """``InvalidInput`` naming ``what`` if ``value`` cannot be stored as UTF-8 (a lone surrogate,
    e.g. from JSON ``"\\ud800"``) or is longer than ``limit`` characters."""
    found = _SURROGATE.search(value)
    if found is not None:
        raise InvalidInput(
            f"{what} is not valid Unicode text: it holds a lone surrogate "
            f"(U+{ord(found.group()):04X}) at position {found.start()}, which UTF-8 cannot encode"
        )
    if limit is not None and len(value) > limit:
        raise InvalidInput(
            f"{what} is {len(value)} characters long; the maximum is {limit}", limit=limit
        )


def check_number(value: Any, what: str) -> float:
    """``value`` as a float64 that holds it exactly, or ``InvalidInput`` naming ``what``:
    finite floats, integers within +-2**53 (bool is not a number)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidInput(f"{what} must be a number, got {type(value).__name__}")
    if isinstance(value, int):
        if abs(value) > MAX_EXACT_INT:
            raise InvalidInput(
                f"{what} is out of range (an integer of {value.bit_length()} bits): numbers are "
                "stored as float64, so integers must be within +-2**53 (9007199254740992)"
            )
        return float(value)
    if not math.isfinite(value):
        raise InvalidInput(f"{what} must be a finite number, got {value!r}")
    return value


def _offset(offset: dt.timedelta) -> str:
    """``+05:30`` / ``-18:22`` (a timedelta prints -18:22 as "-1 day, 5:38:00")."""
    sign = "-" if offset < dt.timedelta(0) else "+"
    seconds = int(abs(offset).total_seconds())
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{sign}{hours:02d}:{minutes:02d}" + (f":{seconds:02d}" if seconds else "")
